-- WebSockets on libwebsockets, on the same loop: the server side adopted
-- from our HTTP server after it parsed the upgrade request, and the client.
local core = require "luatest.core"
local json = require "luatest.json"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local function ws_app(log)
  local app = web.Application()
  app.router:add_get("/echo", function(request)
    local ws = web.WebSocketResponse { protocols = { "chat.v2", "chat.v1" } }
    ws:prepare(request)
    for msg in ws:messages() do
      if msg.type == "text" then
        if msg.data == "close please" then
          ws:close { code = 4001, message = "server bye" }
        elseif msg.data:sub(1, 1) == "{" then
          ws:send_json { got = json.decode(msg.data) }
        else
          ws:send_str("echo: " .. msg.data)
        end
      elseif msg.type == "binary" then
        ws:send_bytes(msg.data)
      end
    end
    if log then
      log.close_code = ws.close_code
    end
    return ws
  end)
  app.router:add_get("/hello", function()
    return "plain http"
  end)
  app.router:add_get("/cookie", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    ws:send_str("cookie=" .. tostring(request.cookies.sid) .. " header=" .. tostring(request.headers["X-Token"]))
    ws:receive()
    return ws
  end)
  return app
end

function test_text_binary_and_json_echo(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo")
  ws:send_str("hello")
  local msg = ws:receive()
  assert(msg.type == "text" and msg.data == "echo: hello")
  ws:send_bytes("\0\1\2\255")
  msg = ws:receive()
  assert(msg.type == "binary" and msg.data == "\0\1\2\255")
  ws:send_json { n = 1 }
  assert(json.decode(ws:receive().data).got.n == 1)
  assert(ws:close() == true)
  assert(ws.closed)
end

function test_one_mebibyte_both_ways(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo")
  local big = string.rep("abcdefgh", 128 * 1024)
  ws:send_bytes(big)
  local msg = ws:receive(10)
  assert(msg.type == "binary" and #msg.data == #big and msg.data == big)
  ws:close()
end

-- Sends faster than the socket drains: the writes that find it full wait
-- (in lws, then in our queue) and every message arrives whole and in order.
function test_many_big_messages_sent_without_waiting_arrive_in_order(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo")
  local n, size = 64, 200 * 1024
  for i = 1, n do
    ws:send_bytes(string.char(i) .. string.rep(string.char(i % 7 + 65), size))
  end
  for i = 1, n do
    local msg = ws:receive(10)
    assert(msg.type == "binary" and #msg.data == size + 1, msg.type)
    assert(msg.data:byte(1) == i and msg.data:byte(-1) == i % 7 + 65, i)
  end
  ws:close()
end

function test_server_initiated_close_code_and_reason(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo")
  ws:send_str("close please")
  local msg = ws:receive(5)
  assert(msg.type == "close", msg.type)
  assert(msg.data == 4001 and msg.extra == "server bye", tostring(msg.data) .. " " .. tostring(msg.extra))
  assert(ws.close_code == 4001)
end

function test_client_close_code_seen_by_the_server(aiohttp_client)
  local log = {}
  local client = aiohttp_client(ws_app(log))
  local ws = client:ws_connect("/echo")
  ws:send_str("x")
  ws:receive()
  ws:close { code = 4000, message = "client bye" }
  for _ = 1, 100 do
    if log.close_code then
      break
    end
    core.sleep(0.01)
  end
  assert(log.close_code == 4000, tostring(log.close_code))
end

function test_subprotocol_negotiation(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo", { protocols = { "chat.v1", "chat.v2" } })
  assert(ws.protocol == "chat.v1", tostring(ws.protocol))
  ws:close()
  ws = client:ws_connect("/echo", { protocols = { "unknown" } })
  assert(ws.protocol == nil)
  ws:close()
end

function test_headers_and_cookies_go_with_the_upgrade(aiohttp_client)
  local client = aiohttp_client(ws_app())
  client.cookie_jar:update_cookies { sid = "abc" }
  local ws = client:ws_connect("/cookie", { headers = { ["X-Token"] = "t1" } })
  assert(ws:receive().data == "cookie=abc header=t1")
  ws:close()
end

function test_plain_request_is_refused_with_400_and_http_still_works(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local resp = client:get("/echo")
  assert(resp.status == 400 and resp:text():find("No WebSocket UPGRADE", 1, true))
  assert(client:get("/hello"):text() == "plain http")
  require("luatest.test_utils").take_handler_errors()
end

function test_http_then_upgrade_on_one_keep_alive_connection(aiohttp_server)
  local server = aiohttp_server(ws_app())
  local got = core.tcp_exchange("127.0.0.1", server.port,
    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" ..
    "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" ..
    -- a masked text frame "hi" right behind the request
    "\129\130\0\0\0\0hi", { timeout = 1 })
  assert(got:find("^HTTP/1.1 200 OK"), got)
  assert(got:find("plain http", 1, true))
  assert(got:find("HTTP/1.1 101 Switching Protocols", 1, true), got)
  assert(got:find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 1, true))
  assert(got:find("echo: hi", 1, true), got)
end

function test_python_websockets_client_against_our_server(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local script = [[
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url, subprotocols=["chat.v2"]) as ws:
        await ws.send("from python")
        print(await ws.recv())
        await ws.send(b"\x00\x01")
        print(repr(await ws.recv()))
        print(ws.subprotocol)
asyncio.run(main(sys.argv[1]))
]]
  local url = string.format("ws://127.0.0.1:%d/echo", client.port)
  local out = python.run(script, url)
  assert(out == "echo: from python\nb'\\x00\\x01'\nchat.v2\n", out)
end

function test_python_aiohttp_ws_client_against_our_server(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local script = [[
import asyncio, sys, aiohttp
async def main(url):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            await ws.send_str("from aiohttp")
            msg = await ws.receive()
            print(msg.data)
            await ws.send_str("close please")
            msg = await ws.receive()
            print(msg.type.name, msg.data, msg.extra)
asyncio.run(main(sys.argv[1]))
]]
  local url = string.format("http://127.0.0.1:%d/echo", client.port)
  local out = python.run(script, url)
  assert(out == "echo: from aiohttp\nCLOSE 4001 server bye\n", out)
end

function test_max_msg_size_closes_with_1009(aiohttp_client)
  local app = web.Application()
  local seen = {}
  app.router:add_get("/small", function(request)
    local ws = web.WebSocketResponse { max_msg_size = 1024 }
    ws:prepare(request)
    for msg in ws:messages() do
      seen[#seen + 1] = #msg.data
    end
    return ws
  end)
  local client = aiohttp_client(app)
  local ws = client:ws_connect("/small")
  ws:send_str(string.rep("a", 100))
  ws:send_str(string.rep("b", 5000))
  local msg = ws:receive(5)
  assert(msg.type == "close" and msg.data == 1009, msg.type .. " " .. tostring(msg.data))
  assert(seen[1] == 100 and seen[2] == nil)
end

function test_abnormal_drop_is_1006(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/drop", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    ws:send_str("bye")
    return nil -- the handler ends without closing: the connection is dropped
  end)
  local client = aiohttp_client(app)
  local ws = client:ws_connect("/drop")
  assert(ws:receive(5).data == "bye")
  local msg = ws:receive(5)
  assert((msg.type == "close" or msg.type == "closed") and msg.data == 1006, msg.type .. " " .. tostring(msg.data))
  require("luatest.test_utils").take_handler_errors()
end

function test_ping_is_answered(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo")
  ws:ping("are you there")
  ws:send_str("after ping")
  assert(ws:receive(5).data == "echo: after ping")
  ws:close()
end

function test_our_client_against_python_websockets_server()
  local script = [[
import asyncio, websockets
async def echo(ws, path=None):
    async for message in ws:
        if message == "fragments":
            await ws.send(iter(["frag", "mented ", "reply"]))
        elif message == "close":
            await ws.close(4002, "python bye")
        else:
            await ws.send("py: " + (message if isinstance(message, str) else message.hex()))
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, subprotocols=["chat.v1"]) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(30)
asyncio.run(main())
]]
  local port, stop = python.serve(script)
  local ws = assert(core.ws_connect("127.0.0.1", port, "/", { protocols = "chat.v1" }))
  local wrapped = require("luatest.websocket").wrap(ws)
  assert(wrapped.protocol == "chat.v1")
  wrapped:send_str("hi")
  assert(wrapped:receive(5).data == "py: hi")
  wrapped:send_bytes("\1\2")
  assert(wrapped:receive(5).data == "py: 0102")
  wrapped:send_str("fragments")
  assert(wrapped:receive(5).data == "fragmented reply")
  wrapped:send_str("close")
  local msg = wrapped:receive(5)
  assert(msg.type == "close" and msg.data == 4002 and msg.extra == "python bye", tostring(msg.data))
  ws:_release()
  stop()
end


function test_a_refused_upgrade_names_the_status_and_leaves_nothing_open(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/guarded", function(request)
    if request.headers["X-Token"] ~= "secret" then
      return web.Response { status = 403, text = "no" }
    end
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    ws:receive()
    return ws
  end)
  local client = aiohttp_client(app)
  local ok, err = pcall(client.ws_connect, client, "/guarded")
  assert(not ok and err:find("client:ws_connect: the server answered 403 instead of 101", 1, true), err)
  -- The runner's leak check fails this test if the refused WebSocket stayed
  -- open; a good upgrade still works afterwards.
  local ws = client:ws_connect("/guarded", { headers = { ["X-Token"] = "secret" } })
  ws:close()
end

function test_client_heartbeat_detects_a_server_that_stopped_answering(aiohttp_client)
  local app = web.Application()
  local seen = {}
  app.router:add_get("/mute", function(request)
    -- With autoping off the server leaves pings unanswered.
    local ws = web.WebSocketResponse { autoping = false }
    ws:prepare(request)
    for _ = 1, 3 do
      local msg = ws:receive(5)
      seen[#seen + 1] = msg.type
      if msg.type ~= "ping" then
        break
      end
    end
    return ws
  end)
  local client = aiohttp_client(app)
  local ws = client:ws_connect("/mute", { heartbeat = 0.2 })
  local started = core.time()
  local msg = ws:receive(5)
  local took = core.time() - started
  assert(msg.type == "close" and msg.data == 1006, msg.type .. " " .. tostring(msg.data))
  assert(took >= 0.25 and took < 2, took)
  assert(ws.closed and ws.close_code == 1006)
  assert(seen[1] == "ping", tostring(seen[1]))
end

function test_client_autoping_off_sees_pongs(aiohttp_client)
  local client = aiohttp_client(ws_app())
  local ws = client:ws_connect("/echo", { autoping = false })
  ws:ping("are you there")
  local msg = ws:receive(5)
  assert(msg.type == "pong" and msg.data == "are you there", msg.type)
  ws:close()
end

function test_python_websockets_keepalive_pings_after_text(aiohttp_client)
  -- websockets' keepalive pings carry random binary payloads; each must be
  -- answered with its payload while text messages flow.
  local client = aiohttp_client(ws_app())
  local script = [[
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url, ping_interval=0.05, ping_timeout=2) as ws:
        await ws.send("one")
        print(await ws.recv())
        for payload in (b"\xff\xfe\x00\x80", b"\xc3"):
            pong = await ws.ping(payload)
            await asyncio.wait_for(pong, 2)
        await asyncio.sleep(0.3)
        await ws.send("two")
        print(await ws.recv())
        print(ws.close_code)
asyncio.run(main(sys.argv[1]))
]]
  local url = string.format("ws://127.0.0.1:%d/echo", client.port)
  local out = python.run(script, url)
  assert(out == "echo: one\necho: two\nNone\n", out)
end

function test_our_client_fails_invalid_utf8_from_a_server_with_1007()
  -- A raw server: the handshake, then a text frame that is not UTF-8; it
  -- reports the close code our client answers with.
  local script = [[
import base64, hashlib, socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.settimeout(5)
head = b""
while b"\r\n\r\n" not in head:
    head += conn.recv(4096)
key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + b"\x81\x02\xff\xfe")
data = b""
while len(data) < 8:
    chunk = conn.recv(4096)
    if not chunk:
        break
    data += chunk
mask = data[2:6]
payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[6:8]))
conn.sendall(b"\x88\x02" + payload)
print(int.from_bytes(payload, "big"), flush=True)
]]
  local port, stop, output = python.serve(script)
  local ws = assert(core.ws_connect("127.0.0.1", port, "/", {}))
  local wrapped = require("luatest.websocket").wrap(ws)
  local msg = wrapped:receive(5)
  assert(msg.type == "error" and msg.extra == 1007, msg.type)
  assert(wrapped.close_code == 1007)
  ws:_release()
  local printed = output()
  assert(printed:match("\n(%d+)\n$") == "1007", printed)
  stop()
end

function test_receive_timeout_on_both_sides(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/quiet", function(request)
    local ws = web.WebSocketResponse { receive_timeout = 0.1 }
    ws:prepare(request)
    local ok, err = pcall(ws.receive, ws)
    ws:send_str(ok and "got something" or err)
    ws:receive(5)
    return ws
  end)
  local client = aiohttp_client(app)
  local ws = client:ws_connect("/quiet", { receive_timeout = 0.05 })
  local started = core.time()
  local ok, err = pcall(ws.receive, ws)
  assert(not ok and err:find("ws:receive: timed out after 0.05s", 1, true), err)
  assert(core.time() - started < 1)
  -- An explicit timeout wins over the option.
  local msg = ws:receive(5)
  assert(msg.data:find("ws:receive: timed out after 0.1s", 1, true), msg.data)
  ws:close()
end

-- As aiohttp: close() from another task while one waits in receive() gives
-- that one a "closing" message, and the close goes on; on both sides.
function test_close_from_another_task_wakes_the_receiver_on_both_sides(aiohttp_client)
  local luatest = require "luatest"
  local server_saw = {}
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    if ws:receive().data ~= "close yourself" then
      return ws
    end
    local receiver = luatest.spawn(function()
      return ws:receive().type
    end)
    core.sleep(0) -- one turn: the spawned task runs up to its receive
    assert(not receiver:done())
    server_saw.closed = ws:close { code = 4002, message = "server side" }
    server_saw.receiver = receiver:wait()
    server_saw.after = ws:receive().type
    return ws
  end)
  local client = aiohttp_client(app)

  -- the server closes while a task of its own receives
  local ws = client:ws_connect("/ws")
  ws:send_str("close yourself")
  local msg = ws:receive()
  luatest.eq(msg.type, "close")
  luatest.eq(msg.data, 4002)

  -- the client closes while a task of its own receives
  local ws2 = client:ws_connect("/ws")
  local receiving = luatest.spawn(function()
    return ws2:receive().type
  end)
  core.sleep(0)
  assert(not receiving:done())
  luatest.eq(ws2:close(), true)
  luatest.eq(receiving:wait(), "closing")
  luatest.eq(ws2:receive().type, "closed")
  assert(ws2.closed)
  luatest.eq(server_saw.closed, true)
  luatest.eq(server_saw.receiver, "closing")
  luatest.eq(server_saw.after, "closed")
end

-- libwebsockets 4.1 answers a ping to the client itself and has no
-- callback for it, so with autoping = false the client still does not see
-- pings (aiohttp's would): pinned here, to fail when lws changes it.
function test_the_lws_client_answers_pings_itself_even_with_autoping_off(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/ping", function(request)
    local ws = web.WebSocketResponse { autoping = false }
    ws:prepare(request)
    ws:ping("are you there")
    local msg = ws:receive(5)
    ws:send_str(msg.type .. " " .. tostring(msg.data))
    ws:receive(5)
    return ws
  end)
  local client = aiohttp_client(app)
  local ws = client:ws_connect("/ping", { autoping = false })
  local msg = ws:receive(5)
  assert(msg.type == "text" and msg.data == "pong are you there", msg.type .. " " .. tostring(msg.data))
  ws:close()
end
