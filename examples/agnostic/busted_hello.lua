-- The same test under busted (Debian's lua-busted), with the paths
-- `luatest --env` prints:
--   eval "$(./luatest --env)" && busted --lua=lua5.4 examples/agnostic/busted_hello.lua
local test_utils = require "luatest.test_utils"
local web = require "luatest.web"

describe("a luatest server under busted", function()
  local loop, client

  before_each(function()
    loop = test_utils.setup_test_loop()
    local app = web.Application()
    app.router:add_get("/", function()
      return web.Response { text = "Hello, busted" }
    end)
    client = test_utils.TestClient(test_utils.TestServer(app), { loop = loop })
    loop:run_until_complete(function()
      client:start_server()
    end)
  end)

  after_each(function()
    loop:run_until_complete(function()
      client:close()
    end)
    test_utils.teardown_test_loop(loop)
  end)

  it("answers GET /", function()
    loop:run_until_complete(function()
      local resp = client:get("/")
      assert.are.equal(200, resp.status)
      assert.are.equal("Hello, busted", resp:text())
    end)
  end)

  it("answers 404 elsewhere", function()
    loop:run_until_complete(function()
      assert.are.equal(404, client:get("/nowhere").status)
    end)
  end)
end)
