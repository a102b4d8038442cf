-- AioHTTPTestCase methods, interleaved with the other forms.
local luatest = require "luatest"
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local calls = {}

function test_first()
  calls[#calls + 1] = "test_first"
end

Case = test_utils.AioHTTPTestCase:extend("Case")

function Case:get_application()
  local app = web.Application()
  app.router:add_get("/", function() return "case" end)
  return app
end

function Case:setup()
  calls[#calls + 1] = "setup"
end

function Case:teardown()
  calls[#calls + 1] = "teardown"
end

function Case:test_one()
  calls[#calls + 1] = "Case.test_one"
  luatest.eq(self.client:get("/"):text(), "case")
end

function Case:test_two()
  calls[#calls + 1] = "Case.test_two"
  luatest.eq(1, 2)
end

function Case:test_skipped()
  calls[#calls + 1] = "Case.test_skipped"
  luatest.skip("case skip")
end

function test_last()
  io.stdout:write("CALLS<", table.concat(calls, ","), ">\n")
end
