-- Hostile and careless peers on real sockets: whatever one connection does,
-- the server answers it as nginx or aiohttp would and keeps serving others.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local function hello_app()
  local app = web.Application()
  app.router:add_get("/", function()
    return "Hello, world"
  end)
  app.router:add_post("/", function(request)
    return "got " .. #request:read()
  end)
  return app
end

local function timed_exchange(server, bytes, half_close)
  local t0 = core.hrtime()
  local got, how = core.tcp_exchange("127.0.0.1", server.port, bytes, { timeout = 5, half_close = half_close })
  return got, how, core.hrtime() - t0
end

-- ---- deadlines -------------------------------------------------------------------------

local TIMEOUTS = { header_timeout = 0.2, keepalive_timeout = 0.3 }

local stalled = {
  silent_connection = "",
  unfinished_head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
  blank_lines_forever = "\r\n\r\n\r\n",
  stalled_body = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
}

for name, bytes in pairs(stalled) do
  _ENV["test_" .. name .. "_gets_408_after_the_header_timeout"] = function(aiohttp_client)
    local client = aiohttp_client(hello_app(), { server_kwargs = TIMEOUTS })
    local got, how, took = timed_exchange(client.server, bytes)
    assert(got:find("^HTTP/1.1 408 Request Timeout\r\n"), got)
    assert(got:find("\r\nConnection: close\r\n", 1, true), got)
    luatest.eq(how, "closed")
    assert(took >= 0.19 and took < 2, took)
    luatest.eq(client:get("/"):text(), "Hello, world")
  end
end

function test_a_slowloris_gains_nothing_by_dribbling_bytes(aiohttp_server)
  local server = aiohttp_server(hello_app(), { header_timeout = 0.3 })
  -- One byte every 20 ms, for up to 3 s: the deadline counts from the
  -- first byte, so the server cuts it off after 0.3 s with a 408.
  local out = python.run([[
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setblocking(False)
head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: " + b"a" * 1000
t0, got = time.time(), b""
for byte in head:
    try:
        s.send(bytes([byte]))
    except OSError:
        break
    time.sleep(0.02)
    try:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    except BlockingIOError:
        pass
    if time.time() - t0 > 3:
        break
print(round(time.time() - t0, 2), got.split(b"\r\n")[0].decode())
]], server.port)
  local took, line = out:match("^(%S+) ([^\n]*)\n$")
  luatest.eq(line, "HTTP/1.1 408 Request Timeout")
  assert(tonumber(took) < 1.5, out)
end

function test_an_idle_keep_alive_connection_is_closed_after_keepalive_timeout(aiohttp_server)
  local server = aiohttp_server(hello_app(), TIMEOUTS)
  local got, how, took = timed_exchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
  assert(got:find("^HTTP/1.1 200 OK\r\n"), got)
  assert(got:find("Hello, world$"), got) -- nothing after the answer: no 408
  luatest.eq(how, "closed")
  assert(took >= 0.29 and took < 2, took)
end

function test_the_test_client_reconnects_after_the_server_closed_an_idle_connection(aiohttp_client)
  local client = aiohttp_client(hello_app(), { server_kwargs = { keepalive_timeout = 0.05 } })
  luatest.eq(client:get("/"):text(), "Hello, world")
  luatest.sleep(0.2)
  luatest.eq(client:get("/"):text(), "Hello, world")
end

function test_a_handler_slower_than_the_timeouts_is_not_cut_off(aiohttp_client)
  local app = hello_app()
  app.router:add_get("/slow", function()
    luatest.sleep(0.5)
    return "slow but fine"
  end)
  local client = aiohttp_client(app, { server_kwargs = TIMEOUTS })
  luatest.eq(client:get("/slow"):text(), "slow but fine")
end

function test_bad_timeout_options_are_refused_by_name()
  local test_utils = require "luatest.test_utils"
  local server = test_utils.TestServer(hello_app(), { keepalive_timeout = -1 })
  luatest.raises(function()
    server:start_server()
  end, "keepalive_timeout must be a number of seconds >= 0, got %-1")
end

-- ---- requests that are not HTTP/1.x ----------------------------------------------------

function test_http_0_9_is_closed_at_once_without_an_answer(aiohttp_client)
  local client = aiohttp_client(hello_app(), { server_kwargs = TIMEOUTS })
  for _, bytes in ipairs { "GET /\r\n", "GET /\r\n\r\n" } do
    local got, how, took = timed_exchange(client.server, bytes)
    luatest.eq(got, "")
    luatest.eq(how, "closed")
    assert(took < 0.15, took)
  end
  luatest.eq(client:get("/"):text(), "Hello, world")
end

-- ---- header strictness (RFC 9112, aiohttp's limits) -------------------------------------

local refused = {
  space_before_colon = { "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "invalid header field name" },
  space_in_a_name = { "GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", 400, "invalid header field name" },
  empty_name = { "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", 400, nil },
  no_host_in_1_1 = { "GET / HTTP/1.1\r\n\r\n", 400, "no Host header in an HTTP/1.1 request" },
  two_hosts = { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header" },
  invalid_host = { "GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400, "invalid Host header" },
  http_2_0 = { "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "only HTTP/1.x is served" },
  http_3_1 = { "GET / HTTP/3.1\r\nHost: x\r\n\r\n", 505, nil },
  length_past_63_bits = { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n"
    .. "Expect: 100-continue\r\n\r\n", 400, "Content-Length does not fit in 63 bits" },
  length_of_64_bits = { "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n"
    .. "Expect: 100-continue\r\n\r\n", 400, nil },
  many_empty_headers = { "GET / HTTP/1.1\r\nHost: x\r\n" .. ("X:\r\n"):rep(16000) .. "\r\n", 431,
    "too many header fields" },
  a_16k_field = { "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " .. ("a"):rep(16384) .. "\r\n\r\n", 431,
    "a header field is too large" },
  a_long_request_line = { "GET /" .. ("a"):rep(9000) .. " HTTP/1.1\r\nHost: x\r\n\r\n", 414, nil },
}

for name, case in pairs(refused) do
  _ENV["test_" .. name .. "_is_refused_and_the_server_keeps_serving"] = function(aiohttp_client)
    local client = aiohttp_client(hello_app())
    local got, how = timed_exchange(client.server, case[1])
    assert(got:find("^HTTP/1.1 " .. case[2] .. " "), name .. ": " .. got:sub(1, 200))
    assert(not got:find("100 Continue", 1, true), got) -- refused before any 100 Continue
    if case[3] then
      assert(got:find(case[3], 1, true), got)
    end
    luatest.eq(how, "closed")
    luatest.eq(client:get("/"):text(), "Hello, world")
  end
end

function test_http_1_0_may_leave_out_host(aiohttp_server)
  local server = aiohttp_server(hello_app())
  local got = timed_exchange(server, "GET / HTTP/1.0\r\n\r\n")
  assert(got:find("^HTTP/1.0 200 OK\r\n"), got)
end

function test_the_limits_are_aiohttps_and_configurable(aiohttp_client)
  local client = aiohttp_client(hello_app(), { server_kwargs = { max_field_size = 100, max_headers = 3,
    max_line_size = 50 } })
  local function status(bytes)
    return timed_exchange(client.server, bytes):match("^HTTP/1.1 (%d+)")
  end
  luatest.eq(status("GET / HTTP/1.1\r\nHost: x\r\nX: " .. ("a"):rep(90) .. "\r\n\r\n"), "200")
  luatest.eq(status("GET / HTTP/1.1\r\nHost: x\r\nX: " .. ("a"):rep(101) .. "\r\n\r\n"), "431")
  luatest.eq(status("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n"), "200")
  luatest.eq(status("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), "431")
  luatest.eq(status("GET /" .. ("a"):rep(60) .. " HTTP/1.1\r\nHost: x\r\n\r\n"), "414")
  -- The defaults: 8190 bytes a field, as aiohttp.
  local plain = aiohttp_client(hello_app())
  luatest.eq(timed_exchange(plain.server, "GET / HTTP/1.1\r\nHost: x\r\nX: " .. ("a"):rep(8190)
    .. "\r\n\r\n"):match("^HTTP/1.1 (%d+)"), "200")
  luatest.eq(timed_exchange(plain.server, "GET / HTTP/1.1\r\nHost: x\r\nX: " .. ("a"):rep(8191)
    .. "\r\n\r\n"):match("^HTTP/1.1 (%d+)"), "431")
end

function test_obs_fold_is_refused_whatever_the_split(aiohttp_server)
  local server = aiohttp_server(hello_app())
  -- The fold's line break ends one write, its space starts the next.
  local out = python.run([[
import socket, sys, time
for split in (b"X-A: one\r\n", b"X-A: one\r", b"X-A: one\r\n "):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  two\r\n\r\n"
    cut = head.index(split) + len(split)
    s.sendall(head[:cut]); time.sleep(0.05); s.sendall(head[cut:])
    print(s.recv(4096).split(b"\r\n")[0].decode())
]], server.port)
  luatest.eq(out, ("HTTP/1.1 400 Bad Request\n"):rep(3))
end

function test_an_absolute_form_target_is_routed_by_its_path_and_names_the_host(aiohttp_server)
  local app = web.Application()
  app.router:add_get("/x", function(request)
    return table.concat({ request.path, request.path_qs, request.host, request.raw_path }, " ")
  end)
  local server = aiohttp_server(app)
  local got = timed_exchange(server, "GET http://Example.COM:8080/x?q=1 HTTP/1.1\r\nHost: other\r\n"
    .. "Connection: close\r\n\r\n")
  assert(got:find("^HTTP/1.1 200 OK\r\n"), got)
  assert(got:find("\r\n\r\n/x /x%?q=1 example%.com http://Example%.COM:8080/x%?q=1$"), got)
end

-- ---- WebSocket handshakes that are not one (RFC 6455 section 4.2.1) --------------------

local KEY = "dGhlIHNhbXBsZSBub25jZQ=="

local function ws_app()
  local app = hello_app()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    for msg in ws:messages() do
      ws:send_str(msg.data)
    end
    return ws
  end)
  package.cpath = (os.getenv("LUATEST_MODULES") or core.srcdir .. "/build/modules") .. "/?.so;" .. package.cpath
  app.router:add_get("/cws", require("hello_c").ws_echo)
  return app
end

local function handshake(headers)
  return "GET %s HTTP/1.1\r\nHost: x\r\n" .. headers .. "\r\n"
end

local bad_handshakes = {
  no_upgrade = { handshake("Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " .. KEY
    .. "\r\n"), 400, "No WebSocket UPGRADE hdr: None" },
  no_connection_upgrade = { handshake("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
    .. KEY .. "\r\n"), 400, "No CONNECTION upgrade hdr: None" },
  no_key = { handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"), 400,
    "Handshake error: None" },
  short_key = { handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    .. "Sec-WebSocket-Key: c2hvcnQ=\r\n"), 400, "Handshake error: c2hvcnQ=" },
  version_8 = { handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
    .. "Sec-WebSocket-Key: " .. KEY .. "\r\n"), 426, "Unsupported version: 8" },
  no_version = { handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " .. KEY .. "\r\n"),
    426, "Unsupported version: " },
}

local measure = dofile(core.srcdir .. "/spec/support/measure.lua")
local open_descriptors, rss_kb = measure.open_descriptors, measure.rss_kb

for name, case in pairs(bad_handshakes) do
  _ENV["test_a_websocket_handshake_with_" .. name .. "_is_refused_by_lua_and_c_handlers"] = function(aiohttp_client)
    local client = aiohttp_client(ws_app())
    local before = open_descriptors()
    for _, path in ipairs { "/ws", "/cws" } do
      for _ = 1, 3 do
        -- (Without an Upgrade the request may keep its connection: the
        -- client's end of the write side ends the exchange.)
        local got = timed_exchange(client.server, case[1]:format(path), true)
        assert(got:find("^HTTP/1.1 " .. case[2] .. " "), path .. ": " .. got)
        assert(got:find(case[3], 1, true), path .. ": " .. got)
        if case[2] == 426 then
          assert(got:find("\r\nSec-WebSocket-Version: 13\r\n", 1, true), got)
        end
      end
    end
    -- Nothing was handed over, so nothing is left open.
    luatest.eq(open_descriptors(), before)
    local ws = client:ws_connect("/ws")
    ws:send_str("still here")
    luatest.eq(ws:receive().data, "still here")
    ws:close()
  end
end

-- ---- memory stays bounded ---------------------------------------------------------------


-- A python3 peer with a small receive buffer (its script goes on from the
-- connected socket `s`) while the server's RSS is watched: returns what the
-- peer printed, how much the server grew in the first second, and what
-- at_mark() returned then.
local SLOW_PEER = "import socket, sys, time\n"
  .. "s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))\n"
  .. "s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)\n"

-- The writer of a slow-peer case ends (state.ended) once the peer left.
local function wait_until_ended(state)
  for _ = 1, 100 do
    if state.ended then
      return
    end
    luatest.sleep(0.02)
  end
end

local function slow_peer(port, script, at_mark)
  collectgarbage()
  local before = rss_kb()
  local peer = luatest.spawn(python.run, SLOW_PEER .. script, port)
  luatest.sleep(1)
  local grown, seen = rss_kb() - before, at_mark and at_mark()
  return peer:wait(), grown, seen
end

function test_a_frame_announcing_2_62_bytes_is_closed_with_1009_at_the_default_limit(aiohttp_client)
  local closed_with = {}
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse() -- max_msg_size 4 MiB by default, as aiohttp
    ws:prepare(request)
    for _ in ws:messages() do
    end
    closed_with[1] = ws.close_code
    return ws
  end)
  local client = aiohttp_client(app)
  local upgrade = handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    .. "Sec-WebSocket-Key: " .. KEY .. "\r\n"):format("/ws")
  local frame_head = string.char(0x82, 0x80 + 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4)
  local payload = ("x"):rep(6 * 1024 * 1024)
  collectgarbage()
  local before = rss_kb()
  local got, how = core.tcp_exchange("127.0.0.1", client.port, upgrade .. frame_head .. payload, { timeout = 10 })
  local frames = got:match("\r\n\r\n(.*)$")
  luatest.eq(frames:byte(1), 0x88)
  luatest.eq(frames:byte(3) * 256 + frames:byte(4), 1009)
  luatest.eq(how, "closed")
  luatest.eq(closed_with[1], 1009)
  assert(rss_kb() - before < 32 * 1024, "the server grew by " .. (rss_kb() - before) .. " KB")
end

local MiB = 1024 * 1024

function test_a_client_that_never_reads_a_128_mib_stream_holds_the_writer_not_memory(aiohttp_server)
  local state = { written = 0 }
  local app = web.Application()
  local chunk = ("s"):rep(64 * 1024)
  app.router:add_get("/stream", function(request)
    local resp = web.StreamResponse()
    resp:prepare(request)
    local ok = pcall(function()
      for _ = 1, 128 * MiB / #chunk do
        resp:write(chunk)
        state.written = state.written + #chunk
      end
    end)
    state.ended = ok and "finished" or "cut off"
    return resp
  end)
  local server = aiohttp_server(app)
  local out, grown, written = slow_peer(server.port, [[
s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(1.5)
print(len(s.recv(65536)) > 0)
]], function()
    return state.written
  end)
  luatest.eq(out, "True\n")
  assert(written < 16 * MiB, "the handler wrote " .. written .. " bytes to a client that reads nothing")
  assert(grown < 32 * 1024, "the server grew by " .. grown .. " KB")
  wait_until_ended(state)
  luatest.eq(state.ended, "cut off") -- the writer learns that the client went away
end

function test_pipelined_requests_for_big_answers_wait_for_the_client_to_read(aiohttp_server)
  local calls = 0
  local body = ("p"):rep(MiB)
  local app = web.Application()
  app.router:add_get("/big", function()
    calls = calls + 1
    return web.Response { body = body }
  end)
  local server = aiohttp_server(app)
  local out, grown, answered = slow_peer(server.port, [[
s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * 256)
time.sleep(1.5)
total = 0
while total < 256 * (1024 * 1024):
    data = s.recv(1 << 20)
    if not data:
        break
    total += len(data)
print(total >= 256 * 1024 * 1024)
]], function()
    return calls
  end)
  luatest.eq(out, "True\n")
  assert(answered < 32, answered .. " answers were made for a client that read none")
  assert(grown < 32 * 1024, "the server grew by " .. grown .. " KB")
  luatest.eq(calls, 256)
end

function test_pipelined_input_past_the_read_limit_is_read_again_once_answered(aiohttp_server)
  -- While the first request waits for its slow handler, the client sends
  -- 3 MiB of pipelined uploads: reading pauses at the 1 MiB limit and must
  -- go on once the answers catch up.
  local calls = 0
  local app = web.Application()
  app.router:add_post("/up", function(request)
    calls = calls + 1
    if calls == 1 then
      luatest.sleep(0.2)
    end
    return web.Response { text = tostring(#request:read()) }
  end)
  local server = aiohttp_server(app)
  local out = python.run([[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = b"u" * 100000
s.sendall((b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + body) * 30)
data = b""
s.settimeout(10)
while data.count(b"\r\n\r\n100000") < 30:
    more = s.recv(65536)
    if not more:
        break
    data += more
print(data.count(b"\r\n\r\n100000"))
]], server.port)
  luatest.eq(out, "30\n")
  luatest.eq(calls, 30)
end

function test_a_ping_flood_from_a_client_that_never_reads_does_not_pile_up_pongs(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse() -- autoping: the server answers each ping
    ws:prepare(request)
    for _ in ws:messages() do
    end
    return ws
  end)
  local client = aiohttp_client(app)
  -- Up to 64 MiB of pings (125-byte payloads) for 2 s, as fast as the
  -- server takes them, never reading a pong.
  local out, grown = slow_peer(client.port, [[
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
burst = (bytes([0x89, 0x80 | 125, 0, 0, 0, 0]) + b"p" * 125) * 1000
s.setblocking(False)
sent, t0 = 0, time.time()
while sent < 64 * 1024 * 1024 and time.time() - t0 < 2:
    try:
        sent += s.send(burst[sent % len(burst):])
    except BlockingIOError:
        time.sleep(0.01)
print(sent < 32 * 1024 * 1024)
]])
  luatest.eq(out, "True\n") -- the server stopped taking pings
  assert(grown < 32 * 1024, "the server grew by " .. grown .. " KB")
end

-- ---- WebSocket frames cut by the reads --------------------------------------------------

local function recording_ws_app(log)
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    for msg in ws:messages() do
      log[#log + 1] = msg.type .. " " .. #msg.data .. " " .. msg.data:sub(1, 3)
      ws:send_str("echo " .. #msg.data)
    end
    log.close_code = ws.close_code
    return ws
  end)
  return app
end

-- A python3 client that sends the frames its script builds in pieces of
-- `piece` bytes, `pause` seconds apart, then prints the opcodes, close code
-- and close reason of what the server answered.
local function cut_frames_client(port, piece, pause, frames_expr)
  return python.run([==[
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
def frame(op, payload, masked=True):
    n = len(payload)
    if n < 126: size = bytes([n])
    elif n < 65536: size = bytes([126]) + n.to_bytes(2, "big")
    else: size = bytes([127]) + n.to_bytes(8, "big")
    if not masked: return bytes([0x80 | op, size[0]]) + size[1:] + payload
    mask = b"\x01\x02\x03\x04"
    return bytes([0x80 | op, 0x80 | size[0]]) + size[1:] + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
data = ]==] .. frames_expr .. [==[

piece, pause = int(sys.argv[2]), float(sys.argv[3])
for i in range(0, len(data), piece):
    s.sendall(data[i:i + piece])
    if pause: time.sleep(pause)
s.settimeout(3)
got = b""
try:
    while True:
        d = s.recv(1 << 16)
        if not d: break
        got += d
except socket.timeout:
    print("timed out")
head_end = got.index(b"\r\n\r\n") + 4
at, out = head_end, []
while at < len(got):
    op, n = got[at] & 15, got[at + 1] & 127
    at += 2
    if n == 126: n, at = int.from_bytes(got[at:at + 2], "big"), at + 2
    payload = got[at:at + n]; at += n
    out.append(str(op) if op != 8 else "8 %d %s" % (int.from_bytes(payload[:2], "big"), payload[2:].decode()))
print(", ".join(out))
]==], port, piece, pause)
end

function test_a_bad_utf8_byte_past_64_kib_is_answered_with_1007_after_the_messages_before_it(aiohttp_client)
  local log = {}
  local client = aiohttp_client(recording_ws_app(log))
  local out = cut_frames_client(client.port, 1000, 0,
    [[frame(1, b"a" * 200000) + frame(9, b"pp") + frame(1, b"b" * 70000) ]]
      .. [[+ frame(1, b"x" * 70000 + b"\xff") + frame(1, b"never")]])
  -- The pong (10) goes out at once, the echoes (1) when the handler sends
  -- them: where it falls among them is the machine's choice.
  luatest.eq(out:gsub("10, ", "", 1), "1, 1, 8 1007 invalid UTF-8 in a text message\n")
  assert(out:find("10, ", 1, true), out)
  -- (ws:messages() ends at the error; ws.close_code says which.)
  luatest.same(log, { "text 200000 aaa", "text 70000 bbb", close_code = 1007 })
end

function test_a_client_sending_one_byte_at_a_time_gets_the_same_verdict(aiohttp_client)
  local log = {}
  local client = aiohttp_client(recording_ws_app(log))
  -- A good frame, then an unmasked one: its first byte went on before its
  -- second showed the violation.
  local out = cut_frames_client(client.port, 1, 0.002,
    [[frame(1, b"hello") + frame(1, b"unmasked", masked=False)]])
  luatest.eq(out, "1, 8 1002 unmasked client frame\n")
  luatest.same(log, { "text 5 hel", close_code = 1002 })
end

local function streaming_app()
  package.cpath = (os.getenv("LUATEST_MODULES") or core.srcdir .. "/build/modules") .. "/?.so;" .. package.cpath
  local streaming = require "streaming"
  local app = web.Application()
  app.router:add_get("/stream/{mib}", streaming.stream)
  return app, streaming
end

function test_a_c_handler_streams_with_backpressure_to_a_client_that_never_reads(aiohttp_server)
  local app, streaming = streaming_app()
  local server = aiohttp_server(app)
  local start = streaming.written()
  local out, grown, written = slow_peer(server.port, [[
s.sendall(b"GET /stream/128 HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(1.5)
print(len(s.recv(65536)) > 0)
]], function()
    return streaming.written() - start
  end)
  luatest.eq(out, "True\n")
  assert(written < 16 * MiB, "the C handler wrote " .. written .. " bytes to a client that reads nothing")
  assert(grown < 32 * 1024, "the server grew by " .. grown .. " KB")
end

function test_a_c_handler_streaming_with_backpressure_sends_the_whole_body(aiohttp_client)
  local client = aiohttp_client((streaming_app()))
  local body = client:get("/stream/8"):read()
  luatest.eq(#body, 8 * MiB)
  luatest.eq(body:sub(-3), "sss")
end

function test_ws_sends_to_a_client_that_never_reads_wait_instead_of_queueing(aiohttp_server)
  local state = { sent = 0 }
  local app = web.Application()
  local chunk = ("w"):rep(64 * 1024)
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    state.ended = pcall(function()
      for _ = 1, 128 * MiB / #chunk do
        ws:send_bytes(chunk)
        state.sent = state.sent + #chunk
      end
    end) and "finished" or "cut off"
    return ws
  end)
  local server = aiohttp_server(app)
  local out, grown, sent = slow_peer(server.port, [[
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
time.sleep(1.5)
print(s.recv(12) == b"HTTP/1.1 101")
]], function()
    return state.sent
  end)
  luatest.eq(out, "True\n")
  assert(sent < 16 * MiB, "the handler sent " .. sent .. " bytes to a client that reads nothing")
  assert(grown < 32 * 1024, "the server grew by " .. grown .. " KB")
  wait_until_ended(state)
  luatest.eq(state.ended, "cut off")
end
