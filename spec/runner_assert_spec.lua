-- The assertion helpers and luatest's misuse errors, in this process.
local luatest = require "luatest"
local eq, contains, match, raises, same, near = luatest.eq, luatest.contains, luatest.match, luatest.raises,
  luatest.same, luatest.near

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")

local function message(fn)
  local err = raises(fn)
  return tostring(err)
end

function test_eq_shows_both_values()
  eq(eq(1, 1), 1)
  local m = message(function() eq("a", 1) end)
  match(m, "^spec/runner_assert_spec%.lua:%d+: eq: values differ\n  left:  \"a\"\n  right: 1$")
end

function test_same_names_the_path_of_the_first_difference()
  same({ 1, { x = { y = 2 } } }, { 1, { x = { y = 2 } } })
  local cyc_a, cyc_b = {}, {}
  cyc_a.self, cyc_b.self = cyc_a, cyc_b
  same(cyc_a, cyc_b)
  contains(message(function() same({ 1, { x = { y = 2 } } }, { 1, { x = { y = 3 } } }) end),
    "same: values differ at [2].x.y\n  left:  2\n  right: 3")
  contains(message(function() same({ a = 1 }, { a = 1, ["b c"] = true }) end), "at [\"b c\"]\n  left:  nil\n  right: true")
  contains(message(function() same(1, "1") end), "same: values differ\n  left:  1\n  right: \"1\"")
end

function test_match_contains_near_raises()
  eq(match("key=value", "^(%w+)="), "key")
  contains(message(function() match("abc", "^b") end), "match: \"abc\" does not match the pattern \"^b\"")
  contains("hello (world)", "(world)")
  contains({ "a", { 1 } }, { 1 })
  contains(message(function() contains({ 1, 2 }, 3) end), "contains: {1, 2} does not contain 3")
  contains(message(function() contains("abc", "%a") end), "contains: \"abc\" does not contain \"%a\"")
  near(1.0, 1.05, 0.1)
  contains(message(function() near(1, 2, 0.5) end), "near: values differ by 1, more than the tolerance 0.5")
  contains(message(function() raises(function() end) end), "raises: the function did not raise an error")
  contains(message(function() raises(function() error("x") end, "y") end), "raises: the error")
  local e = raises(function() error({ code = 7 }) end)
  eq(e.code, 7)
end

function test_misuse_is_an_error_not_a_failure()
  local err = raises(function() contains(42, 1) end)
  eq(type(err), "string")
  contains(err, "contains: expected a string or a table as argument 1, got number")
  contains(raises(function() luatest.spawn(42) end), "spawn: expected a function as argument 1, got number")
  contains(raises(function() luatest.gather(function() end, 1) end), "gather: argument 2 is not a function")
  contains(raises(function() luatest.fixture("x", 1) end), "fixture 'x': expected a function as argument 2")
  contains(raises(function() luatest.fixture("x", function() end, { scope = "module" }) end),
    "scope must be \"function\", \"file\" or \"session\"")
  contains(raises(function() luatest.it("late", function() end) end), "it: must be called while luatest loads")
  contains(raises(function() luatest.it("x", function() end, { timeout = -1 }) end),
    "it: expected a number of seconds >= 0 (0 = no limit), got -1")
  contains(raises(function() luatest.it("x", function() end, { time = 1 }) end), "it: unknown option 'time'")
  contains(raises(function() luatest.timeout("soon") end), "timeout: expected a number of seconds >= 0")
  contains(raises(function() luatest.timeout(1) end), "timeout: must be called while luatest loads")
end

function test_web_and_test_utils_are_fields()
  eq(luatest.web, require "luatest.web")
  eq(luatest.test_utils, require "luatest.test_utils")
end
