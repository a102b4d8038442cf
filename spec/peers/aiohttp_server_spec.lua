-- The TestClient against a real aiohttp server (Debian's python3-aiohttp,
-- run by /usr/bin/python3): redirects, cookies and WebSockets.
local luatest = require "luatest"
local core = require "luatest.core"
local test_utils = require "luatest.test_utils"
local json = require "luatest.json"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local twin = core.srcdir .. "/spec/peers/py/twin.py"
local app = core.srcdir .. "/spec/peers/py/aiohttp_server.py"

-- The server prints "listening PORT" first and serves for 120 s at most.
luatest.fixture("aiohttp_peer", function()
  local port, stop = python.serve(twin, { app, 120 }, { timeout = 150 })
  local client = test_utils.TestClient(test_utils.RawTestServer(function() end, { skip_url_asserts = true }))
  client:start_server()
  local base = "http://127.0.0.1:" .. port
  return { client = client, base = base }, function()
    client:close()
    stop()
  end
end)

function test_redirects_followed_with_history(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  local resp = client:get(base .. "/redirect/3")
  assert(resp.status == 200 and resp:text() == "arrived after redirects")
  assert(#resp.history == 3)
  assert(resp.history[1].status == 302 and resp.history[1].headers["Location"] == "/redirect/2")
  assert(resp.url == base .. "/redirect/0")
  local ok, err = pcall(client.get, client, base .. "/redirect/5", { max_redirects = 2 })
  assert(not ok and err:find("too many redirects", 1, true), err)
end

function test_see_other_turns_post_into_get_and_307_keeps_it(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  assert(client:post(base .. "/see-other", { data = "payload" }):text() == "GET body=")
  assert(client:post(base .. "/temporary", { data = "payload" }):text() == "POST body=payload")
end

function test_cookies_from_aiohttp_are_kept_and_sent_back(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  local resp = client:get(base .. "/set-cookie")
  assert(resp.cookies.srv == "from-aiohttp")
  local seen = client:get(base .. "/echo-cookies"):json()
  assert(seen.srv == "from-aiohttp" and seen.scoped == nil)
  seen = client:get(base .. "/scoped/echo"):json()
  assert(seen.srv == "from-aiohttp" and seen.scoped == "only-here")
end

-- ---- our WebSocket client against aiohttp's web.WebSocketResponse ------------------

-- A WebSocket to an absolute URL on the aiohttp server.
local function ws_open(peer, path, opts)
  return peer.client:ws_connect(peer.base .. path, opts)
end

-- The next message, failing rather than hanging when nothing comes.
local function recv(ws)
  return ws:receive(5)
end

local function show(msg)
  return string.format("%s %q %q", msg.type, tostring(msg.data), tostring(msg.extra))
end

local ws_ids = 0

-- A name under which the aiohttp server keeps how a WebSocket ended.
local function new_ws_id()
  ws_ids = ws_ids + 1
  return "ws" .. ws_ids
end

-- How the aiohttp server saw the WebSocket `id` end: {close_code=,
-- peer_code=, peer_reason=, messages=, protocol=}.
local function server_close_record(peer, id)
  local resp = peer.client:get(peer.base .. "/ws/closed/" .. id)
  assert(resp.status == 200, resp.status .. " " .. resp:text())
  return resp:json()
end

function test_ws_text_echo_over_a_ws_url(aiohttp_peer)
  local ws = aiohttp_peer.client:ws_connect(aiohttp_peer.base:gsub("^http:", "ws:") .. "/ws/echo")
  ws:send_str("hello aiohttp")
  local msg = recv(ws)
  assert(msg.type == "text" and msg.data == "echo: hello aiohttp", show(msg))
  ws:send_str("h\195\169llo \240\159\152\128")
  msg = recv(ws)
  assert(msg.type == "text" and msg.data == "echo: h\195\169llo \240\159\152\128", show(msg))
  assert(ws:close() == true and ws.closed)
end

-- The bytes 0, 1, ..., n - 1.
local function byte_values(n)
  local out = {}
  for i = 0, n - 1 do
    out[#out + 1] = string.char(i)
  end
  return table.concat(out)
end

function test_ws_binary_echo_of_every_byte_value(aiohttp_peer)
  local ws = ws_open(aiohttp_peer, "/ws/echo")
  local all = byte_values(256)
  ws:send_bytes(all)
  local msg = recv(ws)
  assert(msg.type == "binary" and #msg.data == 256 and msg.data == all, show(msg))
  ws:send_bytes("")
  msg = recv(ws)
  assert(msg.type == "binary" and msg.data == "", show(msg))
  ws:close()
end

function test_ws_send_json_gets_a_json_reply(aiohttp_peer)
  local ws = ws_open(aiohttp_peer, "/ws/echo")
  ws:send_json { n = 42, s = "caf\195\169", list = { 1, 2, 3 }, nested = { ok = true } }
  local msg = recv(ws)
  assert(msg.type == "text", show(msg))
  local got = json.decode(msg.data).got
  assert(got.n == 42 and got.s == "caf\195\169" and got.nested.ok == true, msg.data)
  assert(#got.list == 3 and got.list[1] == 1 and got.list[3] == 3, msg.data)
  ws:close()
end

function test_ws_subprotocol_chosen_by_aiohttp(aiohttp_peer)
  local ws = ws_open(aiohttp_peer, "/ws/protocol", { protocols = { "chat.v1" } })
  assert(ws.protocol == "chat.v1", tostring(ws.protocol))
  local msg = recv(ws)
  assert(msg.type == "text" and msg.data == "chat.v1", show(msg))
  ws:close()
  -- aiohttp takes the first offered that it knows.
  ws = ws_open(aiohttp_peer, "/ws/protocol", { protocols = { "chat.v3", "chat.v2", "chat.v1" } })
  assert(ws.protocol == "chat.v2", tostring(ws.protocol))
  assert(recv(ws).data == "chat.v2")
  ws:close()
  -- Nothing in common: aiohttp goes on without a subprotocol.
  ws = ws_open(aiohttp_peer, "/ws/protocol", { protocols = { "unknown" } })
  assert(ws.protocol == nil, tostring(ws.protocol))
  assert(recv(ws).data == "none")
  ws:close()
end

function test_ws_close_started_by_aiohttp_with_4001(aiohttp_peer)
  local id = new_ws_id()
  local ws = ws_open(aiohttp_peer, "/ws/echo?id=" .. id)
  ws:send_str("close 4001 server says bye")
  local msg = recv(ws)
  assert(msg.type == "close" and msg.data == 4001 and msg.extra == "server says bye", show(msg))
  assert(ws.close_code == 4001, tostring(ws.close_code))
  assert(ws.closed)
  -- Our client answered the close frame at once: aiohttp's close() got the
  -- reply (it would wait 10 s and record 1006 without one).
  local record = server_close_record(aiohttp_peer, id)
  assert(record.close_code == 4001, json.encode(record))
  -- Then the end, with the code kept: one close message, then closed.
  msg = recv(ws)
  assert(msg.type == "closed" and msg.data == 4001, show(msg))
  assert(ws.close_code == 4001, tostring(ws.close_code))
  assert(ws:close() == false)
end

function test_ws_close_started_by_us_with_4000(aiohttp_peer)
  local id = new_ws_id()
  local ws = ws_open(aiohttp_peer, "/ws/echo?id=" .. id)
  ws:send_str("first")
  assert(recv(ws).data == "echo: first")
  assert(ws:close { code = 4000, message = "client bye" } == true)
  assert(ws.closed)
  -- As with aiohttp's own client, close_code is the server's answer: our
  -- close waited for it (aiohttp answers 1000).
  assert(ws.close_code == 1000, tostring(ws.close_code))
  local record = server_close_record(aiohttp_peer, id)
  assert(record.peer_code == 4000 and record.peer_reason == "client bye", json.encode(record))
  assert(record.close_code == 4000 and record.messages == 1, json.encode(record))
  assert(ws:close() == false)
end

function test_ws_fragmented_messages_from_aiohttp_are_reassembled(aiohttp_peer)
  local ws = ws_open(aiohttp_peer, "/ws/fragments")
  ws:send_str("go")
  local msg = recv(ws)
  assert(msg.type == "text" and msg.data == "fragmented r\195\169ply", show(msg))
  msg = recv(ws)
  assert(msg.type == "binary" and msg.data == "\0\1\2\253\254\255", show(msg))
  msg = recv(ws)
  assert(msg.type == "text" and msg.data == "after", show(msg))
  -- The ping between the fragments was answered with its payload.
  msg = recv(ws)
  assert(msg.type == "text" and msg.data == "pong: in between", show(msg))
  ws:send_str("still there")
  assert(recv(ws).data == "echo: still there")
  ws:close()
end

function test_ws_one_mebibyte_binary_echo(aiohttp_peer)
  local ws = ws_open(aiohttp_peer, "/ws/big")
  -- 251 is prime: a chunk dropped, doubled or moved shows in the echo.
  local size = 1024 * 1024
  local data = string.rep(byte_values(251), math.floor(size / 251) + 1):sub(1, size)
  ws:send_bytes(data)
  local msg = recv(ws)
  assert(msg.type == "text" and msg.data == size .. " bytes", show(msg))
  msg = recv(ws)
  assert(msg.type == "binary" and #msg.data == size, msg.type .. " " .. #tostring(msg.data))
  assert(msg.data == data, "the echoed mebibyte differs")
  ws:close()
end

function test_ws_ping_answered_by_aiohttp(aiohttp_peer)
  -- aiohttp's autoping answers; the pong is no message for us and the
  -- connection goes on.
  local ws = ws_open(aiohttp_peer, "/ws/echo")
  ws:ping("are you there")
  ws:ping()
  ws:send_str("after pings")
  local msg = recv(ws)
  assert(msg.type == "text" and msg.data == "echo: after pings", show(msg))
  ws:close()
  -- With autoping off the handler sees each ping and its payload.
  ws = ws_open(aiohttp_peer, "/ws/pings")
  ws:ping("payload 1")
  msg = recv(ws)
  assert(msg.type == "text" and msg.data == "ping: payload 1", show(msg))
  ws:send_str("next")
  assert(recv(ws).data == "echo: next")
  ws:close()
end

function test_ws_cookies_from_the_jar_follow_the_url(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  assert(client:get(base .. "/set-cookie").status == 200)
  local ws = ws_open(aiohttp_peer, "/ws/cookies")
  local seen = json.decode(recv(ws).data)
  assert(seen.srv == "from-aiohttp" and seen.scoped == nil, json.encode(seen))
  ws:close()
  ws = ws_open(aiohttp_peer, "/scoped/ws-cookies")
  seen = json.decode(recv(ws).data)
  assert(seen.srv == "from-aiohttp" and seen.scoped == "only-here", json.encode(seen))
  ws:close()
end

function test_ws_connect_errors_name_the_call(aiohttp_peer)
  local client, base = aiohttp_peer.client, aiohttp_peer.base
  local ok, err = pcall(client.ws_connect, client, "ftp://127.0.0.1:1/ws/echo")
  assert(not ok and err:find("client:ws_connect: only ws://, wss://, http:// and https:// URLs", 1, true), err)
  -- Without skip_url_asserts an absolute URL is refused, as by make_url.
  local strict = test_utils.TestClient(test_utils.RawTestServer(function() end))
  strict:start_server()
  ok, err = pcall(strict.ws_connect, strict, base .. "/ws/echo")
  strict:close()
  assert(not ok and err:find("client:ws_connect: expected a path starting with '/'", 1, true), err)
end
