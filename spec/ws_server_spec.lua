-- The WebSocket server runs on the HTTP connection the upgrade came on:
-- our own 101 (aiohttp's headers, in its order), the answer after any
-- earlier pipelined ones, one descriptor per connection, and
-- libwebsockets left to the client side.
local unpack = table.unpack or unpack
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local KEY = "dGhlIHNhbXBsZSBub25jZQ=="
local ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" -- RFC 6455 section 1.3's example

local function upgrade(path, extra)
  return "GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    .. "Sec-WebSocket-Key: " .. KEY .. "\r\nSec-WebSocket-Version: 13\r\n" .. (extra or "") .. "\r\n"
end

local frame = dofile(core.srcdir .. "/spec/support/wsframes.lua").frame

local function echo_app(ws_opts, log)
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse(ws_opts)
    ws:prepare(request)
    if log then
      log[#log + 1] = ws
    end
    for msg in ws:messages() do
      ws:send_str("echo: " .. msg.data)
    end
    return ws
  end)
  app.router:add_get("/big", function()
    return web.Response { body = ("b"):rep(1024 * 1024) }
  end)
  package.cpath = (os.getenv("LUATEST_MODULES") or core.srcdir .. "/build/modules") .. "/?.so;" .. package.cpath
  app.router:add_get("/cws", require("hello_c").ws_echo)
  return app
end

local function head_lines(bytes)
  local head = assert(bytes:match("^(.-)\r\n\r\n"), "no answer head: " .. bytes)
  local lines = {}
  for line in (head .. "\r\n"):gmatch("(.-)\r\n") do
    lines[#lines + 1] = line
  end
  return lines
end

function test_the_101_is_ours_with_aiohttps_headers_in_its_order(aiohttp_client)
  local client = aiohttp_client(echo_app { protocols = { "chat" }, headers = { ["X-Room"] = "7" } })
  local got = core.tcp_exchange("127.0.0.1", client.port,
    upgrade("/ws", "Sec-WebSocket-Protocol: x, chat\r\n") .. frame(0x81, "hi") .. frame(0x88, "\3\232"),
    { timeout = 5 })
  local lines = head_lines(got)
  luatest.same({ unpack(lines, 1, 6) }, {
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: upgrade",
    "Sec-WebSocket-Accept: " .. ACCEPT,
    "Sec-WebSocket-Protocol: chat",
    "X-Room: 7",
  })
  assert(lines[7]:find("^Date: %a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"), lines[7])
  assert(lines[8]:find("^Server: luatest/%d"), lines[8])
  luatest.eq(#lines, 8)
  -- The frame that came in the same read as the request was answered.
  assert(got:find("\129\8echo: hi", 1, true), got)
end

function test_a_c_handlers_101_is_ours_too(aiohttp_client)
  local client = aiohttp_client(echo_app())
  local got = core.tcp_exchange("127.0.0.1", client.port, upgrade("/cws") .. frame(0x81, "hi")
    .. frame(0x88, "\3\232"), { timeout = 5 })
  luatest.eq(head_lines(got)[4], "Sec-WebSocket-Accept: " .. ACCEPT)
  assert(got:find("\129\8C got hi", 1, true), got)
end

function test_a_bad_server_header_is_refused_by_name(aiohttp_client)
  local app = web.Application()
  local err
  app.router:add_get("/ws", function(request)
    local ok, e = pcall(function()
      web.WebSocketResponse({ headers = { ["X-A"] = "1\r\nX-Injected: 2" } }):prepare(request)
    end)
    err = not ok and tostring(e)
    return web.Response { text = "refused" }
  end)
  local client = aiohttp_client(app)
  local got = core.tcp_exchange("127.0.0.1", client.port, upgrade("/ws"), { timeout = 5 })
  assert(got:find("^HTTP/1.1 200"), got)
  assert(err and err:find("ws:prepare: invalid header \"X-A\"", 1, true), tostring(err))
end

function test_an_upgrade_pipelined_behind_a_big_answer_gets_its_101_after_it(aiohttp_client)
  -- Both requests and a frame in one write: the 1 MiB answer goes out
  -- first, then the 101 on the same connection, then the echo.
  local client = aiohttp_client(echo_app())
  for _, path in ipairs { "/ws", "/cws" } do
    local out = python.run([[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
key = bytes([0x11, 0x22, 0x33, 0x44])
hi = bytes(b ^ key[i % 4] for i, b in enumerate(b"hi"))
s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" + sys.argv[2].encode().replace(b"\\r\\n", b"\r\n")
          + b"\x81\x82" + key + hi)
data = b""
while data.count(b"hi") < 1 or b"101 Switching" not in data:
    more = s.recv(65536)
    if not more:
        break
    data += more
first = data.index(b"\r\n\r\n") + 4
print(data.startswith(b"HTTP/1.1 200"), data[first:first + 1048576] == b"b" * 1048576,
      data[first + 1048576:].startswith(b"HTTP/1.1 101"), data.endswith(b"hi"))
]], client.port, upgrade(path):gsub("\r\n", "\\r\\n"))
    luatest.eq(out, "True True True True\n", path)
  end
end

local measure = dofile(core.srcdir .. "/spec/support/measure.lua")
local open_descriptors = measure.open_descriptors

function test_a_websocket_costs_the_server_one_descriptor(aiohttp_client)
  -- No socketpair and no second socket in front of libwebsockets: 20 open
  -- WebSockets from a python peer hold 20 descriptors here.
  local log, state = {}, {}
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    ws:send_str("echo: " .. ws:receive().data)
    log[#log + 1] = ws
    while not state.release do
      luatest.sleep(0.01)
    end
    ws:close { code = 4000 }
    return ws
  end)
  local client = aiohttp_client(app)
  local before = open_descriptors()
  local peer = luatest.spawn(python.run, [[
import asyncio, sys, websockets
async def main():
    conns = [await websockets.connect("ws://127.0.0.1:%s/ws" % sys.argv[1]) for _ in range(20)]
    for c in conns:
        await c.send("x")
        assert await c.recv() == "echo: x"
    for c in conns:
        await c.wait_closed()
    print(sorted(set(c.close_code for c in conns)))
asyncio.run(main())
]], client.port)
  for _ = 1, 500 do
    if #log == 20 then
      break
    end
    luatest.sleep(0.01)
  end
  luatest.eq(#log, 20)
  -- (Two more are the pipes of the peer's output.)
  local grown = open_descriptors() - before
  assert(grown >= 20 and grown <= 22, "20 WebSockets hold " .. grown .. " descriptors")
  state.release = true
  luatest.eq(peer:wait(), "[4000]\n")
end

function test_libwebsockets_is_included_by_the_client_file_only()
  local result = assert(core.exec({ "grep", "-rlE", "#include *[<\"]libwebsockets\\.h", core.srcdir .. "/src",
    core.srcdir .. "/include" }, { timeout = 10 }))
  luatest.eq(result.stdout, core.srcdir .. "/src/core/ws_client.c\n")
  -- Its version check passes on this libwebsockets and stops a build
  -- against any other (as if it had been written for 4.2).
  local function syntax_check(written_for)
    local r = assert(core.exec({ "cc", "-std=c11", "-fsyntax-only", "-I" .. core.srcdir .. "/include",
      "-I" .. core.srcdir .. "/src/core", "-D_GNU_SOURCE", "-DLT_LWS_WRITTEN_FOR=" .. written_for,
      core.srcdir .. "/src/core/ws_client.c" }, { timeout = 30 }))
    return r.status, r.stderr
  end
  luatest.eq(syntax_check(4001), 0)
  local status, err = syntax_check(4002)
  assert(status ~= 0 and err:find("written for libwebsockets 4.1", 1, true), err)
end

function test_a_close_nobody_answers_ends_after_the_timeout_with_1006(aiohttp_client)
  -- aiohttp's WebSocketResponse(timeout=): how long close() waits for the
  -- client's close frame; without one the code is 1006.
  local state = {}
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse { timeout = 0.2 }
    ws:prepare(request)
    local t0 = core.hrtime()
    state.closed = ws:close { code = 4001 }
    state.took, state.code = core.hrtime() - t0, ws.close_code
    return ws
  end)
  local client = aiohttp_client(app)
  -- The raw client takes the 101 and our close frame and says nothing.
  local got = core.tcp_exchange("127.0.0.1", client.port, upgrade("/ws"), { timeout = 2 })
  assert(got:find("\136\2\15\161", 1, true), got) -- our close frame, code 4001
  measure.wait_for(function()
    return state.code
  end, "the handler's close")
  luatest.eq(state.closed, true)
  luatest.eq(state.code, 1006)
  assert(state.took >= 0.15 and state.took < 1, "close took " .. tostring(state.took) .. " s")
end
