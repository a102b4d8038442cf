-- Passing, failing, erroring and skipped tests of every form, interleaved.
local luatest = require "luatest"

function test_pass()
  luatest.eq(1 + 1, 2)
end

describe("block", function()
  it("passes", function()
    luatest.same({ a = { 1, 2 } }, { a = { 1, 2 } })
  end)
  it("fails with eq", function()
    local got = 41
    luatest.eq(got, 42)
  end)
end)

function test_plain_assert()
  local answer = 41
  assert(answer == 42)
end

function test_error()
  local t = nil
  return t.field
end

function test_skipped()
  luatest.skip("not today")
end

function test_same_diff()
  luatest.same({ a = { 1, { b = "x" } } }, { a = { 1, { b = "y" } } })
end
