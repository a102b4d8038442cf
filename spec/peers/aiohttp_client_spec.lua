-- Python's aiohttp client (Debian's python3-aiohttp, /usr/bin/python3) gets
-- exactly the answers the Lua TestClient gets, from a TestServer and from a
-- RawTestServer.
local core = require "luatest.core"
local json = require "luatest.json"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local script = core.srcdir .. "/spec/peers/py/aiohttp_client.py"

local function handlers()
  local routes = {}
  routes["GET /hello/python"] = function(request)
    local resp = web.Response { text = "Hello, " .. request.path:match("[^/]+$") }
    resp.headers["X-Custom"] = "custom value"
    return resp
  end
  routes["POST /form"] = function(request)
    local form = request:post()
    return web.json_response { value = form["value"], other = form["other"] }
  end
  routes["POST /json"] = function(request)
    local data = request:json()
    return web.json_response { doubled = data.n * 2, count = #data.list }
  end
  routes["GET /cookie"] = function()
    local resp = web.Response { text = "cookie set" }
    resp.headers["Set-Cookie"] = "flavour=oat; Path=/"
    return resp
  end
  routes["GET /whoami"] = function(request)
    return "flavour=" .. tostring(request.cookies.flavour)
  end
  return routes
end

local function app()
  local a = web.Application()
  for key, fn in pairs(handlers()) do
    local method, path = key:match("^(%S+) (.+)$")
    a.router:add_route(method, path, fn)
  end
  return a
end

local function raw_handler()
  local routes = handlers()
  return function(request)
    local fn = routes[request.method .. " " .. request.path]
    if fn then
      return fn(request)
    end
    if request.path == "/hello/python" then
      error(web.HTTPMethodNotAllowed(request.method, { "GET", "HEAD" }))
    end
    error(web.HTTPNotFound())
  end
end

local function python_sees(base)
  return json.decode(python.run(script, base))
end

local function lua_sees(client)
  local out = {}
  local calls = {
    { "get", "/hello/python" },
    { "post", "/form", { data = { value = "from aiohttp", other = "x y" } } },
    { "post", "/json", { json = { n = 21, list = { 1, 2 } } } },
    { "get", "/cookie" },
    { "get", "/whoami" },
    { "get", "/missing" },
    { "delete", "/hello/python" },
  }
  for i, call in ipairs(calls) do
    local resp = client[call[1]](client, call[2], call[3])
    out[i] = {
      status = resp.status,
      reason = resp.reason,
      content_type = resp.headers["Content-Type"],
      allow = resp.headers["Allow"],
      x_custom = resp.headers["X-Custom"],
      body = resp:text(),
      cookies = resp.cookies,
    }
  end
  return out
end

local function compare(python, lua)
  assert(#python == #lua)
  for i = 1, #lua do
    for _, field in ipairs { "status", "reason", "content_type", "allow", "x_custom", "body" } do
      local p = python[i][field]
      if p == json.null then
        p = nil
      end
      assert(p == lua[i][field], string.format("request %d, %s: python %s, lua %s", i, field,
        tostring(p), tostring(lua[i][field])))
    end
    for k, v in pairs(lua[i].cookies) do
      assert(python[i].cookies[k] == v, "cookie " .. k)
    end
  end
end

function test_python_aiohttp_client_against_a_test_server(aiohttp_client)
  local client = aiohttp_client(app())
  local python = python_sees(string.format("http://127.0.0.1:%d", client.port))
  compare(python, lua_sees(client))
  assert(python[2].body == '{"other":"x y","value":"from aiohttp"}' or
    json.decode(python[2].body).value == "from aiohttp")
  assert(python[5].body == "flavour=oat", "python did not send the cookie back")
  assert(python[6].status == 404 and python[7].status == 405)
end

function test_python_aiohttp_client_against_a_raw_server(aiohttp_raw_server, aiohttp_client)
  local server = aiohttp_raw_server(raw_handler())
  local client = aiohttp_client(server)
  local base = string.format("http://127.0.0.1:%d", server.port)
  compare(python_sees(base), lua_sees(client))
end
