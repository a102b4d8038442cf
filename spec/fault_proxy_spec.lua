-- FaultProxy: Toxiproxy's toxics between a client and a server, on real
-- sockets, and the client errors each one produces (API.md section 13).
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local errors = require "luatest.client_exceptions"
local eq = luatest.eq

local FaultProxy = test_utils.FaultProxy
local BODY = string.rep("0123456789", 2000) -- 20000 bytes

local function app()
  local a = web.Application()
  a.router:add_get("/", function()
    return "hello"
  end)
  a.router:add_get("/big", function()
    return BODY
  end)
  a.router:add_post("/echo", function(request)
    return request:text()
  end)
  a.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    for msg in ws:messages() do
      if msg.type == "text" then
        ws:send_str("echo: " .. msg.data)
      end
    end
    return ws
  end)
  return a
end

-- A client through a proxy with these toxics to a server of app().
local function through(aiohttp_server, aiohttp_client, toxics)
  local server = aiohttp_server(app())
  local proxy = FaultProxy(server, toxics)
  return aiohttp_client(proxy), proxy, server
end

-- Seconds fn takes, on the loop's clock.
local function timed(fn)
  local t0 = core.time()
  fn()
  return core.time() - t0
end

function test_without_toxics_the_exchange_passes_unchanged(aiohttp_server, aiohttp_client)
  local c, proxy = through(aiohttp_server, aiohttp_client)
  local resp = c:get("/big")
  eq(resp.status, 200)
  eq(resp:text(), BODY)
  eq(c:post("/echo", { data = "ping" }):text(), "ping")
  assert(proxy.port ~= c.server.target.port)
  eq(proxy:make_url("/x"), "http://127.0.0.1:" .. proxy.port .. "/x")
end

function test_a_url_target_and_a_test_client_of_the_proxy(aiohttp_server)
  local server = aiohttp_server(app())
  local proxy = FaultProxy("http://127.0.0.1:" .. server.port)
  local c = test_utils.TestClient(proxy)
  eq(c:get("/"):text(), "hello")
  c:close()
  assert(proxy.closed and proxy.port == nil)
end

function test_a_url_target_by_host_name(aiohttp_server)
  local server = aiohttp_server(app())
  local proxy = FaultProxy("http://localhost:" .. server.port)
  local c = test_utils.TestClient(proxy)
  eq(c:get("/"):text(), "hello")
  c:close()
  local ok, err = pcall(FaultProxy, "http://nosuch.invalid:" .. server.port)
  eq(ok, false)
  luatest.contains(tostring(err), "EAI_")
end

function test_latency_delays_each_direction(aiohttp_server, aiohttp_client)
  local c, proxy = through(aiohttp_server, aiohttp_client, { downstream = { latency = { ms = 150 } } })
  local took = timed(function()
    eq(c:get("/"):text(), "hello")
  end)
  assert(took >= 0.14, took)
  proxy:set { upstream = { latency = { ms = 120, jitter = 10 } } }
  took = timed(function()
    eq(c:get("/"):text(), "hello")
  end)
  assert(took >= 0.10, took)
end

function test_bandwidth_limits_throughput(aiohttp_server, aiohttp_client)
  -- 800 kbit/s is 100 000 bytes a second: 20 000 bytes take 0.2 s.
  local c = through(aiohttp_server, aiohttp_client, { downstream = { bandwidth = { kbps = 800 } } })
  local body
  local took = timed(function()
    body = c:get("/big"):text()
  end)
  eq(body, BODY)
  assert(took >= 0.18, took)
end

function test_a_delaying_toxic_holds_the_sender_back_rather_than_buffering(aiohttp_server, aiohttp_client)
  local huge = string.rep("abcdefgh", 256 * 1024) -- 2 MiB
  local a = web.Application()
  a.router:add_get("/huge", function()
    return huge
  end)
  local proxy = FaultProxy(aiohttp_server(a), { downstream = { latency = { ms = 30 } } })
  local c = aiohttp_client(proxy)
  local body = c:get("/huge"):text()
  assert(body == huge, #body)
  local held = proxy:stats().max_queued
  assert(held > 0 and held < 512 * 1024, held)
end

function test_a_one_byte_slicer_keeps_a_keep_alive_exchange_intact(aiohttp_server, aiohttp_client)
  local slice = { slicer = { bytes = 1, delay_ms = 1 } }
  local c, proxy = through(aiohttp_server, aiohttp_client, { downstream = slice, upstream = slice })
  local took = timed(function()
    eq(c:get("/"):text(), "hello")
    eq(c:post("/echo", { data = "two requests, one connection" }):text(), "two requests, one connection")
  end)
  eq(proxy:stats().connections, 1)
  assert(took >= 0.1, took) -- (hundreds of bytes, each a millisecond apart)
end

function test_a_one_byte_slicer_keeps_a_websocket_conversation_intact(aiohttp_server, aiohttp_client)
  local slice = { slicer = { bytes = 1, delay_ms = 1 } }
  local c = through(aiohttp_server, aiohttp_client, { downstream = slice, upstream = slice })
  local took = timed(function()
    local ws = c:ws_connect("/ws")
    for i = 1, 3 do
      ws:send_str("message " .. i .. string.rep("!", 20 * i))
      local msg = ws:receive()
      eq(msg.type, "text")
      eq(msg.data, "echo: message " .. i .. string.rep("!", 20 * i))
    end
    assert(ws:close() == true)
  end)
  assert(took >= 0.1, took)
end

function test_limit_data_cuts_a_body_short_or_the_head(aiohttp_server, aiohttp_client)
  local c = through(aiohttp_server, aiohttp_client, { downstream = { limit_data = { bytes = 1000 } } })
  luatest.raises(function()
    c:get("/big"):text()
  end, errors.ClientPayloadError)
  local c2 = through(aiohttp_server, aiohttp_client, { downstream = { limit_data = { bytes = 5 } } })
  luatest.raises(function()
    c2:get("/")
  end, errors.ServerDisconnectedError)
end

function test_timeout_stalls_then_closes(aiohttp_server, aiohttp_client)
  local c = through(aiohttp_server, aiohttp_client, { downstream = { timeout = { ms = 0 } } })
  luatest.raises(function()
    c:get("/", { timeout = 0.2 })
  end, errors.ServerTimeoutError)
  local c2 = through(aiohttp_server, aiohttp_client, { upstream = { timeout = { ms = 100 } } })
  local err
  local took = timed(function()
    err = luatest.raises(function()
      c2:get("/")
    end, errors.ServerDisconnectedError)
  end)
  assert(took >= 0.09, took)
  assert(tostring(err):find("client:get", 1, true), tostring(err))
end

function test_reset_peer_is_a_disconnect(aiohttp_server, aiohttp_client)
  local c = through(aiohttp_server, aiohttp_client, { downstream = { reset_peer = { after_ms = 0 } } })
  luatest.raises(function()
    c:get("/")
  end, errors.ServerDisconnectedError)
  local c2 = through(aiohttp_server, aiohttp_client,
    { downstream = { latency = { ms = 300 }, reset_peer = { after_ms = 50 } } })
  local err = luatest.raises(function()
    c2:get("/")
  end, errors.ServerDisconnectedError)
  assert(tostring(err):find("ECONNRESET", 1, true), tostring(err))
end

function test_slow_close_delays_the_end_of_the_stream()
  -- A body delimited by the close: the client has it all only at the end.
  local responder = core.responder("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", { close = true })
  local proxy = FaultProxy("http://127.0.0.1:" .. responder:port(), { downstream = { slow_close = { ms = 200 } } })
  local c = test_utils.TestClient(proxy)
  local body
  local took = timed(function()
    body = c:get("/"):text()
  end)
  eq(body, "until the end")
  assert(took >= 0.18, took)
  c:close()
  responder:close()
end

function test_set_and_clear_apply_to_open_connections(aiohttp_server, aiohttp_client)
  local c, proxy = through(aiohttp_server, aiohttp_client)
  eq(c:get("/"):text(), "hello")
  proxy:set { downstream = { timeout = { ms = 0 } } }
  luatest.raises(function()
    c:get("/", { timeout = 0.2 })
  end, errors.ServerTimeoutError)
  proxy:set { downstream = { latency = { ms = 150 } } }
  local took = timed(function()
    eq(c:get("/"):text(), "hello")
  end)
  assert(took >= 0.14, took)
  proxy:clear()
  eq(c:get("/"):text(), "hello")
end

function test_bad_toxics_are_errors_naming_the_call_and_the_option(aiohttp_server)
  local server = aiohttp_server(app())
  local function fails(expected, toxics)
    local ok, err = pcall(FaultProxy, server, toxics)
    assert(not ok and tostring(err):find(expected, 1, true), tostring(err))
  end
  fails("FaultProxy: unknown toxic 'latncy'", { downstream = { latncy = { ms = 1 } } })
  fails("FaultProxy: unknown direction 'down'", { down = { latency = { ms = 1 } } })
  fails("FaultProxy: latency: unknown option 'msec'", { upstream = { latency = { msec = 1 } } })
  fails("FaultProxy: latency.ms must be a number >= 0, got -1", { upstream = { latency = { ms = -1 } } })
  fails("FaultProxy: bandwidth needs kbps", { upstream = { bandwidth = {} } })
  fails("FaultProxy: slicer.bytes must be > 0", { upstream = { slicer = { bytes = 0 } } })
  fails("FaultProxy: toxics must be a table, got string", "latency")
  local ok, err = pcall(FaultProxy, 42)
  assert(not ok and err:find("FaultProxy: expected a server or a URL", 1, true), err)
  local proxy = FaultProxy(server)
  ok, err = pcall(proxy.set, proxy, { downstream = { timeuot = {} } })
  assert(not ok and err:find("proxy:set: unknown toxic 'timeuot'", 1, true), err)
  proxy:close()
  ok, err = pcall(proxy.set, proxy, {})
  assert(not ok and err:find("proxy:set: attempt to use a closed proxy", 1, true), err)
end

function test_an_open_proxy_is_an_open_object_until_closed(aiohttp_server)
  local server = aiohttp_server(app())
  local proxy = FaultProxy(server)
  local function listed()
    for _, entry in ipairs(core.open_objects()) do
      if entry[1] == proxy._p then
        return entry[2]
      end
    end
  end
  assert(tostring(listed()):find("proxy created at", 1, true), tostring(listed()))
  proxy:close()
  proxy:close()
  eq(listed(), nil)
end

function test_an_https_server_behind_the_proxy(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function(request)
    return request.scheme
  end)
  local server = test_utils.TestServer(app, { scheme = "https" })
  server:start_server()
  local proxy = test_utils.FaultProxy(server, { downstream = { slicer = { bytes = 7, delay_ms = 0 } } })
  local client = aiohttp_client(proxy)
  luatest.eq(client:get("/"):text(), "https")
  luatest.eq(client:get("/"):text(), "https")
  server:close()
end

-- A proxy closes with the test that made it (API.md section 13): the next
-- test finds it closed, and leaving it open did not fail the first.
local left_open

function test_a_proxy_left_open_by_a_test()
  local app = web.Application()
  app.router:add_get("/", function()
    return "ok"
  end)
  local server = test_utils.TestServer(app)
  server:start_server()
  left_open = test_utils.FaultProxy(server, {})
  server:close()
end

function test_is_closed_once_that_test_ended()
  luatest.eq(left_open._p:closed(), true)
end
