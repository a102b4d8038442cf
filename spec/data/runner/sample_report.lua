-- Text that machine-readable reports must escape.
local luatest = require "luatest"

function test_pass() end

describe("names with <tags> & \"quotes\"", function()
  it("fails with 'special' characters", function()
    luatest.eq("<a href=\"x\">&amp;</a>", "\1\27[31m\255")
  end)
end)

function test_error()
  error("plain error")
end

function test_skip()
  luatest.skip("skipped: <because> & so")
end
