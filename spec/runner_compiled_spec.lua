-- Spec files and conftest.lua files are loaded from the chunks their last
-- load compiled (.luatest_cache/compiled/), only for the same source text
-- and runtime, and never at the cost of what the source says.
local luatest = require "luatest"
local eq, contains, same = luatest.eq, luatest.contains, luatest.same

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, read_file = support.run, support.write_file, support.read_file
local core = require "luatest.core"

luatest.fixture("tmpdir", support.tmpdir)

-- The entries of the cache in dir: { name = text }.
local function entries(dir)
  local out, n = {}, 0
  for _, e in ipairs(core.listdir(dir .. "/.luatest_cache/compiled") or {}) do
    if e[1]:find("%.luac$") then
      out[e[1]] = read_file(dir .. "/.luatest_cache/compiled/" .. e[1])
      n = n + 1
    end
  end
  return out, n
end

local function only_entry(dir)
  local list, n = entries(dir)
  eq(n, 1)
  local name, text = next(list)
  return dir .. "/.luatest_cache/compiled/" .. name, text
end

local SPEC = [[
luatest.fixture("answer", function() return 42 end)
function test_answer(answer)
  assert(answer == 42)
end
function test_fails()
  local x = 1
  assert(x == 2, "x is " .. x)
end
]]

function test_a_second_run_loads_the_kept_chunk_and_reports_the_same(tmpdir)
  write_file(tmpdir .. "/a_spec.lua", "local luatest = require 'luatest'\n" .. SPEC)
  local first = run({ "a_spec.lua" }, nil, tmpdir)
  eq(first.last, "1 passed, 1 failed")
  local path, text = only_entry(tmpdir)
  contains(text, "\na_spec.lua\n")
  -- (the kept chunk is what runs: the failure points at the same line, the
  -- fixture is found by the parameter's name)
  local second = run({ "a_spec.lua" }, nil, tmpdir)
  eq(second.last, "1 passed, 1 failed")
  contains(second.out, "a_spec.lua:8")
  contains(second.out, "x is 1")
  eq(read_file(path), text)
end

function test_a_changed_source_is_compiled_again_even_of_the_same_size(tmpdir)
  write_file(tmpdir .. "/b_spec.lua", "function test_one() assert(1 == 1) end\n")
  eq(run({ "b_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
  local _, before = only_entry(tmpdir)
  write_file(tmpdir .. "/b_spec.lua", "function test_one() assert(1 == 2) end\n")
  local r = run({ "b_spec.lua" }, nil, tmpdir)
  eq(r.last, "0 passed, 1 failed")
  local _, after = only_entry(tmpdir)
  assert(after ~= before, "the entry was not replaced")
end

function test_a_damaged_entry_is_not_loaded(tmpdir)
  write_file(tmpdir .. "/c_spec.lua", "function test_one() assert(1 == 1) end\n")
  eq(run({ "c_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
  local path, text = only_entry(tmpdir)
  -- flip a byte of the chunk (past the five lines of its head), and cut one
  local at = 0
  for _ = 1, 5 do
    at = text:find("\n", at + 1, true)
  end
  local pos = at + math.floor((#text - at) / 2)
  local byte = text:byte(pos)
  write_file(path, text:sub(1, pos - 1) .. string.char((byte + 1) % 256) .. text:sub(pos + 1))
  eq(run({ "c_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
  eq(read_file(path), text)
  write_file(path, text:sub(1, #text - 7))
  eq(run({ "c_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
  eq(read_file(path), text)
end

function test_an_entry_of_another_runtime_is_not_loaded(tmpdir)
  write_file(tmpdir .. "/d_spec.lua", "function test_one() assert(1 == 1) end\n")
  eq(run({ "d_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
  local path, text = only_entry(tmpdir)
  local other = text:gsub("^([^\n]*\n)[^\n]*", "%1Lua 0.0.0", 1)
  write_file(path, other)
  eq(run({ "d_spec.lua" }, nil, tmpdir).last, "1 passed, 0 failed")
  eq(read_file(path), text)
end

function test_entries_of_spec_files_that_are_gone_are_pruned(tmpdir)
  write_file(tmpdir .. "/e_spec.lua", "function test_one() end\n")
  write_file(tmpdir .. "/f_spec.lua", "function test_two() end\n")
  eq(run({ "." }, nil, tmpdir).last, "2 passed, 0 failed")
  local _, n = entries(tmpdir)
  eq(n, 2)
  os.remove(tmpdir .. "/e_spec.lua")
  write_file(tmpdir .. "/g_spec.lua", "function test_three() end\n")
  eq(run({ "." }, nil, tmpdir).last, "2 passed, 0 failed")
  local list
  list, n = entries(tmpdir)
  eq(n, 2)
  for _, text in pairs(list) do
    assert(not text:find("e_spec.lua", 1, true), "the entry of the removed file is still there")
  end
end

function test_conftest_files_are_kept_too_and_a_first_line_that_loadfile_skips_still_works(tmpdir)
  write_file(tmpdir .. "/conftest.lua", "local luatest = require 'luatest'\n"
    .. "luatest.fixture('word', function() return 'hi' end)\n")
  write_file(tmpdir .. "/h_spec.lua", "#!/usr/bin/env luatest\nfunction test_word(word) assert(word == 'hi') end\n")
  eq(run({ "." }, nil, tmpdir).last, "1 passed, 0 failed")
  local list = entries(tmpdir)
  local names = {}
  for _, text in pairs(list) do
    names[#names + 1] = text:match("^[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*\n([^\n]*)")
  end
  table.sort(names)
  -- (a file whose first line loadfile skips is loaded by loadfile, as before)
  same(names, { "conftest.lua" })
  eq(run({ "." }, nil, tmpdir).last, "1 passed, 0 failed")
end

function test_a_cache_that_cannot_be_written_only_loses_the_speed(tmpdir)
  write_file(tmpdir .. "/i_spec.lua", "function test_one() assert(1 == 1) end\n")
  -- (a file where the cache's directory would be)
  write_file(tmpdir .. "/.luatest_cache", "not a directory\n")
  local r = run({ "i_spec.lua" }, nil, tmpdir)
  eq(r.last, "1 passed, 0 failed")
  eq(read_file(tmpdir .. "/.luatest_cache"), "not a directory\n")
end

function test_a_syntax_error_is_reported_as_before(tmpdir)
  write_file(tmpdir .. "/j_spec.lua", "function test_one()\n  assert(1 == \nend\n")
  local r = run({ "j_spec.lua" }, nil, tmpdir)
  eq(r.code, 2)
  contains(r.out .. r.err, "j_spec.lua:3:")
  local _, n = entries(tmpdir)
  eq(n, 0)
end
