-- Time limits: a request that never answers, a sleep past the limit of
-- one it block, a file-level limit, and the run going on afterwards.
local luatest = require "luatest"
local web = luatest.web

luatest.timeout(0.3)

local function app()
  local a = web.Application()
  a.router:add_get("/slow", function() luatest.sleep(30) return "late" end)
  return a
end

luatest.fixture("log", function()
  return {}, function() io.stdout:write("TEARDOWN log\n") end
end)

function test_slow_request(aiohttp_client, log)
  local client = aiohttp_client(app())
  local resp = client:get("/slow")
end

describe("block", function()
  after_each(function() io.stdout:write("AFTER EACH ran\n") end)
  it("sleeps past its own limit", function()
    luatest.sleep(5)
  end, { timeout = 0.1 })
  it("may take longer than the file's limit", function()
    luatest.sleep(0.4)
  end, { timeout = 5 })
end)

function test_after_the_timeouts(aiohttp_client)
  local client = aiohttp_client(app())
  luatest.eq(client:get("/nowhere").status, 404)
end
