-- luatest.json: numbers, arrays, null and strings as aiohttp's json does
-- them, on every runtime (integers past 2^53 only on 5.3+).
local luatest = require "luatest"
local json = require "luatest.json"
local eq = luatest.eq

local wide_ints = math.type ~= nil and _VERSION ~= "Lua 5.1" and not jit

function test_integers_decode_as_integers_and_round_trip()
  local v = json.decode('{"id": 4, "neg": -17, "zero": 0}')
  eq(v.id, 4)
  eq("/todos/" .. v.id, "/todos/4")
  eq(json.encode(v, { sort_keys = true }), '{"id":4,"neg":-17,"zero":0}')
  if wide_ints then
    local big = json.decode("[9007199254740993, 1234567890123456789, -9223372036854775808]")
    eq(math.type(big[1]), "integer")
    eq(json.encode(big), "[9007199254740993,1234567890123456789,-9223372036854775808]")
  else
    -- doubles: exact to 2^53, and a whole number is written as an integer
    eq(json.encode(json.decode("[9007199254740992]")), "[9007199254740992]")
    eq(json.encode({ 4.0 }), "[4]")
  end
end

function test_floats_are_written_in_the_shortest_form_that_reads_back()
  -- as Python's repr writes them
  eq(json.encode({ 0.1, 1.5, 1 / 3, 2 / 3, 123456.789 }), "[0.1,1.5,0.3333333333333333,0.6666666666666666,123456.789]")
  -- a whole number is an integer where numbers have one type
  eq(json.encode(1e16), wide_ints and "1e+16" or "10000000000000000")
  eq(json.decode(json.encode(1 / 3)), 1 / 3)
  if wide_ints then
    eq(json.encode(100.0), "100.0") -- a float stays a float, as Python writes it
  end
  for _, bad in ipairs({ 0 / 0, math.huge, -math.huge }) do
    local ok, err = pcall(json.encode, { x = bad })
    eq(ok, false)
    assert(err:find("json.encode: cannot encode .* at .x %(JSON has no NaN or infinity%)"), err)
  end
end

function test_arrays_objects_and_the_empty_table()
  eq(json.encode({}), "{}")
  eq(json.encode({ items = json.array() }), '{"items":[]}')
  eq(json.encode({ 1, 2, 3 }), "[1,2,3]")
  eq(json.encode({ [1] = "a", [3] = "c" }, { sort_keys = true }), '{"1":"a","3":"c"}')
  -- (keys given one by one live in the hash part, in any order)
  eq(json.encode({ [1] = "a", [2] = "b", [5] = "e" }, { sort_keys = true }), '{"1":"a","2":"b","5":"e"}')
  eq(json.encode({ [2] = "b", [1] = "a" }), '["a","b"]')
  local decoded = json.decode('{"empty": [], "list": [1, [2]], "obj": {}}')
  assert(json.is_array(decoded.empty) and json.is_array(decoded.list) and json.is_array(decoded.list[2]))
  assert(not json.is_array(decoded.obj))
  eq(json.encode(decoded, { sort_keys = true }), '{"empty":[],"list":[1,[2]],"obj":{}}')
  eq(json.encode(json.array({ 1, nil, 3 })), "[1,null,3]")
end

function test_null_is_cjson_null_and_nil()
  local v = json.decode('{"a": null, "b": [null]}')
  eq(v.a, json.null)
  eq(v.b[1], json.null)
  local ok, cjson = pcall(require, "cjson")
  if ok then
    eq(json.null, cjson.null)
  end
  eq(json.encode({ json.null }), "[null]")
  eq(json.encode(nil), "null")
end

function test_strings_keep_slash_and_utf8_and_escape_controls()
  eq(json.encode("a/b é \"q\" \\ \n\t\1"), '"a/b é \\"q\\" \\\\ \\n\\t\\u0001"')
  eq(json.decode('"a\\/b \\u00e9 \\ud83d\\ude00"'), "a/b é \240\159\152\128")
  eq(json.decode('"nul\\u0000inside"'), "nul\0inside")
  local ok, err = pcall(json.encode, { name = "bad \255 byte" })
  eq(ok, false)
  assert(err:find("json.encode: cannot encode a string that is not UTF-8 (byte 5) at .name", 1, true), err)
end

function test_sort_keys_and_indent_as_python_writes_them()
  eq(json.encode({ b = 1, a = { d = json.array(), c = 2 } }, { sort_keys = true, indent = 2 }),
    '{\n  "a": {\n    "c": 2,\n    "d": []\n  },\n  "b": 1\n}')
  local ok, err = pcall(json.encode, {}, { sortkeys = true })
  eq(ok, false)
  assert(err:find("json.encode: unknown option 'sortkeys'", 1, true), err)
end

function test_what_cannot_be_encoded_is_named_with_where_it_is()
  local ok, err = pcall(json.encode, { handlers = { 1, print } })
  eq(ok, false)
  assert(err:find("json.encode: cannot encode a function at .handlers[2]", 1, true), err)
  local t = {}
  t.self = t
  ok, err = pcall(json.encode, t)
  eq(ok, false)
  assert(err:find("nested more than 1000 deep", 1, true), err)
end

function test_invalid_json_is_an_error_with_line_and_column()
  local ok, err = pcall(json.decode, '{"a": 1,\n "b": }')
  eq(ok, false)
  assert(err:find("json.decode: .* %(line 2, column %d+%)"), err)
  eq(json.decode("  42 "), 4 * 10 + 2)
end
