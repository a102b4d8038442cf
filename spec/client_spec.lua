-- The HTTP client: verbs, params, headers, bodies, response framing
-- (Content-Length, chunked, close-delimited), errors and timeouts.
local core = require "luatest.core"
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"

local function inspect_app()
  local app = web.Application()
  app.router:add_route("*", "/inspect", function(request)
    return web.json_response {
      method = request.method,
      path = request.path,
      query = request.query_string,
      ctype = request.headers["Content-Type"] or "",
      agent = request.headers["User-Agent"] or "",
      custom = request.headers["X-Custom"] or "",
      body = request:read(),
    }
  end)
  return app
end

function test_every_verb(aiohttp_client)
  local client = aiohttp_client(inspect_app())
  for _, verb in ipairs { "get", "post", "put", "patch", "delete", "options" } do
    local resp = client[verb](client, "/inspect")
    assert(resp.status == 200, verb)
    assert(resp:json().method == verb:upper())
    assert(resp.method == verb:upper())
  end
  local resp = client:request("PATCH", "/inspect")
  assert(resp:json().method == "PATCH")
end

function test_params_map_and_pairs(aiohttp_client)
  local client = aiohttp_client(inspect_app())
  local data = client:get("/inspect", { params = { b = "2", a = "x y" } }):json()
  assert(data.query == "a=x+y&b=2", data.query)
  data = client:get("/inspect?z=0", { params = { { "k", "1" }, { "k", "2" } } }):json()
  assert(data.query == "z=0&k=1&k=2", data.query)
end

function test_headers_and_bodies(aiohttp_client)
  local client = aiohttp_client(inspect_app())
  local data = client:post("/inspect", { headers = { ["X-Custom"] = "yes" }, data = { name = "a&b" } }):json()
  assert(data.custom == "yes")
  assert(data.ctype == "application/x-www-form-urlencoded")
  assert(data.body == "name=a%26b")
  assert(data.agent:find("^luatest/"))
  data = client:put("/inspect", { json = { 1, 2, 3 } }):json()
  assert(data.ctype == "application/json")
  assert(data.body == "[1,2,3]")
end

function test_response_fields(aiohttp_client)
  local client = aiohttp_client(inspect_app())
  local resp = client:get("/inspect")
  assert(resp.status == 200)
  assert(resp.reason == "OK")
  assert(resp.content_type == "application/json")
  assert(resp.charset == "utf-8")
  assert(resp.url == client:make_url("/inspect"))
  assert(resp.headers["content-type"] == "application/json; charset=utf-8")
  assert(type(resp:read()) == "string")
end

function test_chunked_response()
  local responder = core.responder(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n")
  local client = core.client()
  local resp = assert(client:request("GET", "127.0.0.1", responder:port(), "/"))
  assert(resp.body == "Wikipedia")
  client:close()
  responder:close()
end

function test_close_delimited_response()
  local responder = core.responder("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
  local client = core.client()
  local resp = assert(client:request("GET", "127.0.0.1", responder:port(), "/"))
  assert(resp.body == "until close")
  assert(resp.keep_alive == false)
  client:close()
  responder:close()
end

function test_keep_alive_reuse_against_a_plain_responder()
  local responder = core.responder("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", { close = false })
  local client = core.client()
  for _ = 1, 3 do
    assert(client:request("GET", "127.0.0.1", responder:port(), "/").body == "ok")
  end
  assert(client:stats().connects == 1)
  assert(responder:count() == 3)
  client:close()
  responder:close()
end

function test_connection_refused_names_host_and_port(aiohttp_unused_port)
  local port = aiohttp_unused_port()
  local app = web.Application()
  local client = test_utils.TestClient(test_utils.TestServer(app))
  client:start_server()
  client.port = port
  local ok, err = pcall(client.get, client, "/")
  client.port = client.server.port
  client:close()
  assert(not ok)
  assert(err:find("client:get: ", 1, true), err)
  assert(err:find("connection refused (127.0.0.1:" .. port .. ")", 1, true), err)
end

function test_timeout_is_a_clear_error(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/slow", function()
    require("luatest").sleep(5)
    return "late"
  end)
  local client = aiohttp_client(app)
  local t0 = core.hrtime()
  local ok, err = pcall(client.get, client, "/slow", { timeout = 0.1 })
  assert(not ok)
  assert(err:find("client:get: timed out after 0.1s", 1, true), err)
  assert(core.hrtime() - t0 < 1)
end

function test_redirects_are_followed(aiohttp_client)
  local app = web.Application()
  app.router:add_post("/old", function()
    error(web.HTTPFound("/new"))
  end)
  app.router:add_get("/new", function(request)
    return "now at " .. request.method .. " " .. request.path
  end)
  local client = aiohttp_client(app)
  local resp = client:post("/old", { data = "x" })
  assert(resp.status == 200)
  assert(resp:text() == "now at GET /new")
  assert(#resp.history == 1 and resp.history[1].status == 302)
  resp = client:post("/old", { allow_redirects = false })
  assert(resp.status == 302)
  assert(resp.headers["Location"] == "/new")
end

function test_raise_for_status(aiohttp_client)
  local client = aiohttp_client(web.Application())
  local resp = client:get("/missing")
  assert(resp.status == 404)
  local ok, err = pcall(resp.raise_for_status, resp)
  assert(not ok and err.status == 404)
  assert(tostring(err):find("404", 1, true))
end

function test_absolute_urls_are_refused(aiohttp_client)
  local client = aiohttp_client(web.Application())
  local ok, err = pcall(client.get, client, "http://example.com/")
  assert(not ok and err:find("expected a path starting with '/'", 1, true), err)
  ok, err = pcall(client.make_url, client, "http://example.com/")
  assert(not ok)
end

function test_closed_client_refuses_requests(aiohttp_client)
  local client = aiohttp_client(web.Application())
  client:close()
  local ok, err = pcall(client.get, client, "/")
  assert(not ok and err:find("attempt to use a closed client", 1, true), err)
end
