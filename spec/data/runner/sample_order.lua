-- Definition order across forms, hooks and fixture scopes and teardown order.
local luatest = require "luatest"
local log = {}
_G.runner_sample_log = log

luatest.fixture("sess", function()
  log[#log + 1] = "setup sess"
  return "S", function() io.stdout:write("TEARDOWN sess\n") end
end, { scope = "session" })

luatest.fixture("filefix", function(sess)
  log[#log + 1] = "setup filefix"
  return sess .. "F", function() io.stdout:write("TEARDOWN filefix\n") end
end, { scope = "file" })

luatest.fixture("base", function()
  log[#log + 1] = "setup base"
  return "B", function() log[#log + 1] = "teardown base" end
end)

luatest.fixture("derived", function(base, filefix)
  log[#log + 1] = "setup derived"
  return base .. filefix, function() log[#log + 1] = "teardown derived" end
end)

function test_a(derived)
  log[#log + 1] = "test_a " .. derived
end

describe("outer", function()
  before_each(function(base)
    log[#log + 1] = "outer before " .. base
  end)
  after_each(function()
    log[#log + 1] = "outer after"
  end)
  describe("inner", function()
    before_each(function()
      log[#log + 1] = "inner before"
    end)
    after_each(function(derived)
      log[#log + 1] = "inner after " .. derived
    end)
    it("x", function(base)
      log[#log + 1] = "it x " .. base
      error("boom")
    end)
  end)
end)

function test_b()
  log[#log + 1] = "test_b"
end

function test_z_print_log()
  -- printed so that the runner spec can check it
  io.stdout:write("LOG<", table.concat(log, "|"), ">\n")
end
