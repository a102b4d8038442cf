-- make_mocked_request and make_mocked_coro.
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local make_mocked_request, make_mocked_coro = test_utils.make_mocked_request, test_utils.make_mocked_coro

function test_mocked_request_is_a_real_request()
  local app = web.Application()
  app["setting"] = "on"
  local request = make_mocked_request("GET", "/users/7?verbose=1", {
    headers = { ["X-Token"] = "secret" },
    match_info = { id = "7" },
    app = app,
  })
  assert(request.method == "GET" and request.path == "/users/7")
  assert(request.query["verbose"] == "1")
  assert(request.headers["x-token"] == "secret")
  assert(request.match_info.id == "7")
  assert(request.app == app and request.app.setting == "on")
  assert(request.version == "1.1" and request.keep_alive == true)
  assert(getmetatable(request) == getmetatable(make_mocked_request("GET", "/")))
end

function test_mocked_request_payload_reads_like_a_body()
  local request = make_mocked_request("POST", "/", {
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
    payload = "a=1&b=two+words",
  })
  assert(request:read() == "a=1&b=two+words")
  assert(request:text() == "a=1&b=two+words")
  assert(request:post()["b"] == "two words")
  assert(request.content_length == 15)
  local json_request = make_mocked_request("PUT", "/", { payload = '{"n": 3}' })
  assert(json_request:json().n == 3)
end

function test_mocked_request_over_client_max_size_raises_413_when_read()
  local request = make_mocked_request("POST", "/", { payload = string.rep("x", 100), client_max_size = 10,
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
  local ok, err = pcall(request.read, request)
  assert(not ok and getmetatable(err) == web.HTTPRequestEntityTooLarge, tostring(err))
  assert(err.status == 413 and err.reason == "Request Entity Too Large")
  assert(err.text == "Maximum request body size 10 exceeded, actual body size 100", err.text)
  for _, how in ipairs { "text", "json", "post" } do
    ok, err = pcall(request[how], request)
    assert(not ok and err.status == 413, how)
  end
  ok, err = pcall(function()
    return request.content
  end)
  assert(not ok and err.status == 413)
  -- aiohttp's rule: the limit itself is too large, one byte less is not.
  ok, err = pcall(request.read, make_mocked_request("POST", "/", { payload = "0123456789", client_max_size = 10 }))
  assert(not ok and err.text:find("actual body size 10$"), tostring(err))
  assert(make_mocked_request("POST", "/", { payload = "012345678", client_max_size = 10 }):read() == "012345678")
end

function test_mocked_request_client_max_size_defaults_as_aiohttps()
  -- 1024^2 unless given, whatever the app's; 0 means no limit.
  local mib = 1024 * 1024
  local big = make_mocked_request("POST", "/", { payload = string.rep("x", mib) })
  local ok, err = pcall(big.read, big)
  assert(not ok and err.status == 413)
  assert(#make_mocked_request("POST", "/", { payload = string.rep("x", mib - 1) }):read() == mib - 1)
  local app = web.Application { client_max_size = 10 }
  assert(make_mocked_request("POST", "/", { payload = string.rep("x", 100), app = app }):read() == string.rep("x", 100))
  assert(#make_mocked_request("POST", "/", { payload = string.rep("x", mib), client_max_size = 0 }):read() == mib)
  ok, err = pcall(make_mocked_request, "POST", "/", { client_max_size = "big" })
  assert(not ok and err:find("make_mocked_request: client_max_size must be", 1, true), err)
end

function test_mocked_request_version_and_closing()
  local request = make_mocked_request("GET", "/", { version = "1.0", closing = true })
  assert(request.version == "1.0")
  assert(request.keep_alive == false)
end

function test_handler_called_directly_with_a_mocked_request()
  local function handler(request)
    return web.json_response { hello = request.match_info.name }
  end
  local resp = handler(make_mocked_request("GET", "/hello/ada", { match_info = { name = "ada" } }))
  assert(resp.status == 200)
  assert(resp.text == '{"hello":"ada"}')
end

function test_mocked_coro_records_calls()
  local mock = make_mocked_coro("result")
  mock:assert_not_called()
  assert(mock(1, "two", { three = 3 }) == "result")
  assert(mock.call_count == 1)
  assert(mock.calls[1].n == 3 and mock.calls[1][2] == "two")
  mock:assert_called_with(1, "two", { three = 3 })
  mock:assert_called_once_with(1, "two", { three = 3 })
  local ok, err = pcall(mock.assert_called_with, mock, 1)
  assert(not ok and err:find('expected call %(1%), last call was %(1, "two"'), err)
  mock()
  ok, err = pcall(mock.assert_called_once_with, mock)
  assert(not ok and err:find("expected 1 call, got 2", 1, true), err)
  ok, err = pcall(mock.assert_not_called, mock)
  assert(not ok and err:find("expected no call, got 2", 1, true), err)
end

function test_mocked_coro_as_handler_and_signal(aiohttp_client)
  local handler = make_mocked_coro(web.Response { text = "from a mock" })
  local on_startup = make_mocked_coro()
  local app = web.Application()
  app.router:add_get("/", handler)
  table.insert(app.on_startup, on_startup)
  local client = aiohttp_client(app)
  assert(client:get("/"):text() == "from a mock")
  assert(handler.call_count == 1)
  assert(handler.calls[1][1].path == "/")
  on_startup:assert_called_once_with(app)
end

function test_mocked_coro_can_raise()
  local mock = make_mocked_coro(nil, web.HTTPForbidden())
  local ok, err = pcall(mock)
  assert(not ok and err.status == 403)
end

function test_request_clone_keeps_what_it_is_not_told_to_change()
  local tu = require "luatest.test_utils"
  local web = require "luatest.web"
  local r = tu.make_mocked_request("POST", "/items/7?x=1", { headers = { ["X-A"] = "a" }, payload = "body",
    match_info = { id = "7" } })
  r.user = "u"
  local _ = r.headers -- (a cached field must not carry over to a clone with other headers)
  local c = r:clone { headers = { ["X-B"] = "b" }, scheme = "https", remote = "10.0.0.1" }
  assert(c.method == "POST" and c.path_qs == "/items/7?x=1" and c.match_info.id == "7")
  assert(c:read() == "body" and c.user == "u" and c.app == r.app)
  assert(c.headers["X-B"] == "b" and c.headers["X-A"] == nil)
  assert(c.scheme == "https" and c.remote == "10.0.0.1" and r.scheme == "http")
  assert(c.url == "https://localhost/items/7?x=1" or c.url:find("^https://"), c.url)
  local small = r:clone { client_max_size = 2 }
  local ok, err = pcall(small.read, small)
  assert(not ok and web.is_http_exception(err) and err.status == 413)
  ok, err = pcall(r.clone, r, { path = "/x" })
  assert(not ok and err:find("request:clone: unknown option 'path'", 1, true), err)
  ok, err = pcall(r.clone, r, { rel_url = "x" })
  assert(not ok and err:find("request:clone: rel_url must be a path", 1, true), err)
end

function test_mocked_request_with_an_sslcontext_is_secure()
  local tu = require "luatest.test_utils"
  local r = tu.make_mocked_request("GET", "/x", { sslcontext = true })
  assert(r.secure == true and r.scheme == "https" and r.url == "https://localhost/x", r.url)
  local plain = tu.make_mocked_request("GET", "/x")
  assert(plain.secure == false and plain.scheme == "http")
end
