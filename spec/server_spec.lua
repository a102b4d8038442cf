-- The HTTP/1.1 server: keep-alive, pipelining, bodies, HEAD, 100-continue,
-- and bad input answered with 400/413/431 while the server keeps serving.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"

local function echo_app()
  local app = web.Application()
  app.router:add_route("*", "/echo", function(request)
    local body = request:read()
    return web.Response {
      -- (concatenated: 5.1's format("%s") stops a short string at its first \0)
      text = request.method .. " " .. request.path_qs .. " len=" .. #body .. " body=" .. body,
    }
  end)
  app.router:add_get("/", function()
    return "Hello, world"
  end)
  return app
end

local function exchange(server, bytes, opts)
  local got, how = core.tcp_exchange("127.0.0.1", server.port, bytes, opts)
  return got, how
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do
    n = n + 1
  end
  return n
end

function test_keep_alive_reuses_one_connection(aiohttp_client)
  local client = aiohttp_client(echo_app())
  for _ = 1, 5 do
    assert(client:get("/"):text() == "Hello, world")
  end
  assert(client._client:stats().connects == 1)
end

function test_pipelined_requests_are_answered_in_order(aiohttp_server)
  local server = aiohttp_server(echo_app())
  local got, how = exchange(server,
    "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n" ..
    "POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" ..
    "GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
  assert(how == "closed", how)
  assert(count(got, "HTTP/1.1 200 OK") == 3)
  local a = got:find("GET /echo?n=1", 1, true)
  local b = got:find("POST /echo?n=2 len=3 body=abc", 1, true)
  local c = got:find("GET /echo?n=3", 1, true)
  assert(a and b and c and a < b and b < c, got)
  assert(got:find("Connection: close", 1, true))
end

function test_chunked_request_body(aiohttp_server)
  local server = aiohttp_server(echo_app())
  local got = exchange(server,
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" ..
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
  assert(got:find("POST /echo len=11 body=hello world", 1, true), got)
end

function test_content_length_body_with_nul_bytes(aiohttp_client)
  local client = aiohttp_client(echo_app())
  local resp = client:post("/echo", { data = "a\0b\0c" })
  assert(resp:text() == "POST /echo len=5 body=a\0b\0c")
end

function test_head_sends_length_but_no_body(aiohttp_server)
  local server = aiohttp_server(echo_app())
  local got = exchange(server, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
  assert(got:find("^HTTP/1.1 200 OK\r\n"), got)
  assert(got:find("Content-Length: 12\r\n", 1, true), got)
  assert(got:sub(-4) == "\r\n\r\n", "HEAD answered with a body: " .. got)
end

function test_head_from_the_client(aiohttp_client)
  local client = aiohttp_client(echo_app())
  local resp = client:head("/")
  assert(resp.status == 200)
  assert(resp.headers["Content-Length"] == "12")
  assert(resp:read() == "")
  -- The connection stays usable after a bodiless answer.
  assert(client:get("/"):text() == "Hello, world")
end

function test_expect_100_continue(aiohttp_server)
  local server = aiohttp_server(echo_app())
  local got = exchange(server,
    "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n" ..
    "Connection: close\r\n\r\nbody")
  assert(got:find("^HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), got)
  assert(got:find("body=body", 1, true))
end

function test_http_1_0_gets_a_1_0_answer_and_close(aiohttp_server)
  local server = aiohttp_server(echo_app())
  local got, how = exchange(server, "GET / HTTP/1.0\r\n\r\n")
  assert(how == "closed")
  assert(got:find("^HTTP/1.0 200 OK\r\n"), got)
end

local malformed = {
  request_line = "GARBAGE\r\n\r\n",
  header_without_colon = "GET / HTTP/1.1\r\nHost x\r\n\r\n",
  bad_chunk_size = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  bare_lf = "GET / HTTP/1.1\nHost: x\n\n",
  obs_fold = "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  two\r\n\r\n",
  length_and_chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  duplicate_lengths = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
  bad_percent_encoding = "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
}

for name, bytes in pairs(malformed) do
  _ENV["test_malformed_" .. name .. "_gets_400_and_the_server_keeps_serving"] = function(aiohttp_client)
    local client = aiohttp_client(echo_app())
    local got, how = exchange(client.server, bytes)
    assert(got:find("^HTTP/1.1 400 Bad Request\r\n"), name .. ": " .. got)
    assert(got:find("Connection: close", 1, true))
    assert(how == "closed", "the connection was not closed: " .. how)
    assert(client:get("/"):text() == "Hello, world")
  end
end

function test_oversized_header_gets_431(aiohttp_client)
  local client = aiohttp_client(echo_app())
  local got = exchange(client.server,
    "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " .. string.rep("a", 20000) .. "\r\n\r\n")
  assert(got:find("^HTTP/1.1 431 Request Header Fields Too Large\r\n"), got:sub(1, 200))
  assert(client:get("/"):text() == "Hello, world")
end

function test_body_over_client_max_size_gets_413(aiohttp_client)
  local app = web.Application { client_max_size = 10 }
  app.router:add_post("/", function(request)
    return request:read()
  end)
  local client = aiohttp_client(app)
  local resp = client:post("/", { data = string.rep("x", 11) })
  assert(resp.status == 413)
  assert(resp:text() == "Maximum request body size 10 exceeded, actual body size 11", resp:text())
  assert(client:post("/", { data = "small" }):text() == "small")
end

function test_handler_error_is_a_500_and_the_server_keeps_serving(aiohttp_client)
  local app = echo_app()
  app.router:add_get("/boom", function()
    error("the handler failed")
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/boom")
  assert(resp.status == 500)
  assert(resp:text():find("500 Internal Server Error", 1, true))
  local errors = require("luatest.test_utils").take_handler_errors()
  assert(#errors == 1)
  assert(errors[1]:find("the handler failed", 1, true))
  assert(errors[1]:find("server_spec.lua", 1, true), "no traceback into the spec: " .. errors[1])
  assert(client:get("/"):text() == "Hello, world")
end

function test_header_with_crlf_is_never_sent(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function()
    local resp = web.Response { text = "x" }
    resp.headers["X-Evil"] = "a\r\nSet-Cookie: injected=1"
    return resp
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/")
  assert(resp.status == 500)
  assert(resp.headers["Set-Cookie"] == nil)
  local errors = require("luatest.test_utils").take_handler_errors()
  assert(#errors == 1 and errors[1]:find("X-Evil", 1, true), errors[1])
end

function test_slow_handlers_on_many_connections(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/slow/{n}", function(request)
    luatest.sleep(0.01)
    return request.match_info.n
  end)
  local client = aiohttp_client(app)
  local fns = {}
  for i = 1, 20 do
    fns[i] = function()
      return client:get("/slow/" .. i):text()
    end
  end
  local results = luatest.gather(unpack(fns))
  for i = 1, 20 do
    assert(results[i] == tostring(i))
  end
end

function test_close_cancels_handlers_in_flight(aiohttp_server)
  local app = web.Application()
  local finished = false
  app.router:add_get("/forever", function()
    luatest.sleep(60)
    finished = true
    return "never"
  end)
  local server = aiohttp_server(app)
  local task = luatest.spawn(function()
    return core.tcp_exchange("127.0.0.1", server.port, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
  end)
  luatest.sleep(0.05)
  local t0 = core.hrtime()
  server:close()
  local got, how = task:wait()
  assert(core.hrtime() - t0 < 1, "close waited for the handler")
  assert(how == "closed" and got == "", how)
  assert(not finished)
end

function test_core_server_with_bad_options_raises_and_leaves_nothing_to_collect()
  local core = require "luatest.core"
  local cases = {
    { { handler = function() end }, "server: opts.dispatch must be a function" },
    { { dispatch = function() end }, "server: opts.router or opts.handler is required" },
    { { dispatch = function() end, router = 5 }, "server: opts.router must be a router, not number" },
  }
  for _ = 1, 3 do
    for _, case in ipairs(cases) do
      local ok, err = pcall(core.server, case[1])
      assert(not ok and err:find(case[2], 1, true), err)
    end
    -- A half-made server once crashed the collector here.
    collectgarbage()
    collectgarbage()
  end
end
