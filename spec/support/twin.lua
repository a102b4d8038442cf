-- Side-by-side specs: the same requests sent to an aiohttp application
-- (Debian's python3-aiohttp, run by /usr/bin/python3 from a file in
-- spec/peers/py/ that defines make_app()) and to its luatest twin, with the
-- answers compared. Both are reached by one TestClient, so both see the
-- same client.
local core = require "luatest.core"
local test_utils = require "luatest.test_utils"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local M = {}

local TWIN = core.srcdir .. "/spec/peers/py/twin.py"

--- start(pyfile, app): serves pyfile's make_app() from python and app from
--- a TestServer. Returns a pair with :both(method, path, opts) and :close().
function M.start(pyfile, app, server_opts)
  if not pyfile:find("/", 1, true) then
    pyfile = core.srcdir .. "/spec/peers/py/" .. pyfile
  end
  local port, stop = python.serve(TWIN, { pyfile, 120 }, { timeout = 150 })
  local opts = { skip_url_asserts = true }
  for k, v in pairs(server_opts or {}) do
    opts[k] = v
  end
  local server = test_utils.TestServer(app, opts)
  local client = test_utils.TestClient(server)
  local ok, err = pcall(client.start_server, client)
  if not ok then
    stop()
    error(err, 2)
  end
  local pair = { client = client, server = server, python_base = "http://127.0.0.1:" .. port }
  function pair.close()
    client:close()
    stop()
  end

  -- One answer as plain values, so the two can be compared.
  local function answer(url, method, opts)
    opts = opts or {}
    local o = { allow_redirects = false }
    for k, v in pairs(opts) do
      o[k] = v
    end
    local resp = client:request(method, url, o)
    local body = resp:read()
    return { status = resp.status, reason = resp.reason, headers = resp.headers, body = body }
  end

  --- pair:both(method, path, opts) -> the python answer, the luatest answer
  function pair.both(_, method, path, opts)
    local py = answer(pair.python_base .. path, method, opts)
    local lt = answer(path, method, opts)
    return py, lt
  end
  return pair
end

--- fixture(name, pyfile, make_app): a luatest fixture giving a started
--- pair (make_app() builds the luatest app), closed after the test.
function M.fixture(name, pyfile, make_app, server_opts)
  require("luatest").fixture(name, function()
    local pair = M.start(pyfile, make_app(), server_opts)
    return pair, pair.close
  end)
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

--- same(py, lt, headers, what): status, reason and body must be equal, and
--- each header named in the list (a missing header must be missing in
--- both). what names the request in the message.
function M.same(py, lt, headers, what)
  local function check(name, a, b)
    if a ~= b then
      error(string.format("%s: %s differs: aiohttp %s, luatest %s", what or "answer", name, show(a), show(b)), 3)
    end
  end
  check("status", py.status, lt.status)
  check("reason", py.reason, lt.reason)
  check("body", py.body, lt.body)
  for _, h in ipairs(headers or {}) do
    check("header " .. h, py.headers[h], lt.headers[h])
  end
end

return M
