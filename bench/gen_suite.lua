-- Writes a suite of N seed-style tests (an app, aiohttp_client(app), a GET
-- and its asserts) into DIR, in files of 100 tests.
-- usage: lua5.4 bench/gen_suite.lua DIR [N] [style]   style: functions | case
local dir, n, style = arg[1], tonumber(arg[2]) or 1000, arg[3] or "functions"
os.execute("mkdir -p " .. dir)
local per_file = 100
for f = 1, math.ceil(n / per_file) do
  local out = assert(io.open(string.format("%s/test_gen_%02d.lua", dir, f), "w"))
  out:write('local web = require "luatest.web"\n')
  local first, last = (f - 1) * per_file + 1, math.min(f * per_file, n)
  if style == "case" then
    out:write('local AioHTTPTestCase = require("luatest.test_utils").AioHTTPTestCase\n')
    out:write('Case = AioHTTPTestCase:extend("Case")\n')
    out:write([[
function Case:get_application()
  local app = web.Application()
  app.router:add_get("/", function() return web.Response { text = "Hello, world" } end)
  return app
end
]])
    for i = first, last do
      out:write(string.format([[
function Case:test_%d()
  local resp = self.client:get("/")
  assert(resp.status == 200)
  assert(resp:text():find("Hello, world", 1, true))
end
]], i))
    end
  else
    for i = first, last do
      out:write(string.format([[
function test_%d(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function() return web.Response { text = "Hello, world %d" } end)
  local client = aiohttp_client(app)
  local resp = client:get("/")
  assert(resp.status == 200)
  assert(resp:text():find("Hello, world", 1, true))
end
]], i, i))
    end
  end
  out:close()
end
