-- WebSocket protocol behaviour seen from raw sockets: clients that break
-- RFC 6455 get the right close code while the server keeps serving others;
-- autoping, autoclose and heartbeat on the server side.
local core = require "luatest.core"
local web = require "luatest.web"

local UPGRADE = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

local wsframes = dofile(core.srcdir .. "/spec/support/wsframes.lua")
local frame, close_frame, server_frames = wsframes.frame, wsframes.close_frame, wsframes.server_frames

-- Upgrades a raw connection, sends `after` (client frames) and returns
-- what came back and how the exchange ended ("closed" or "timeout").
local function upgrade_and_send(client, after, timeout)
  return core.tcp_exchange("127.0.0.1", client.port, UPGRADE .. (after or ""), { timeout = timeout or 5 })
end

-- Echoes text; records how each connection ended.
local function echo_app(log, ws_opts)
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse(ws_opts)
    ws:prepare(request)
    while true do
      local msg = ws:receive()
      if msg.type == "text" then
        ws:send_str("echo: " .. msg.data)
      else
        log[#log + 1] = { type = msg.type, data = msg.data, extra = msg.extra, close_code = ws.close_code }
        if msg.type ~= "ping" and msg.type ~= "pong" then
          break
        end
      end
    end
    return ws
  end)
  app.router:add_get("/hello", function()
    return web.Response { text = "still serving" }
  end)
  return app
end

function test_protocol_violations_close_with_the_right_code(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log))
  -- A well-behaved connection stays open through all of it.
  local good = client:ws_connect("/ws")
  local ping126 = string.rep("p", 126)
  local cases = {
    { "unmasked client frame", frame(0x81, "hi", false), 1002 },
    { "reserved opcode 3", frame(0x83, "x"), 1002 },
    { "reserved control opcode 0xB", frame(0x8B, "x"), 1002 },
    { "RSV1 without an extension", frame(0xC1, "x"), 1002 },
    { "invalid UTF-8", frame(0x81, "\255\254ok"), 1007 },
    { "invalid UTF-8 across fragments", frame(0x01, "caf\195") .. frame(0x80, "("), 1007 },
    { "oversized ping", frame(0x89, ping126), 1002 },
    { "oversized close", frame(0x88, "\3\232" .. string.rep("r", 124)), 1002 },
    { "fragmented ping", frame(0x09, "x"), 1002 },
  }
  for i, case in ipairs(cases) do
    local name, bad, code = case[1], case[2], case[3]
    local got, how = upgrade_and_send(client, frame(0x81, "first") .. bad)
    assert(how == "closed", name .. ": the server did not close the connection (" .. tostring(how) .. ")")
    local frames = server_frames(got)
    assert(#frames == 2, name .. ": " .. #frames .. " frames")
    assert(frames[1].op == 1 and frames[1].payload == "echo: first", name)
    assert(frames[2].op == 8 and frames[2].code == code,
      string.format("%s: close code %s, expected %d", name, tostring(frames[2].code), code))
    -- The handler saw the violation as an error message, and the close code.
    local entry = log[i]
    assert(entry and entry.type == "error" and entry.close_code == code and entry.extra == code, name)
    assert(type(entry.data) == "string" and #entry.data > 0, name)
    good:send_str("still there " .. i)
    assert(good:receive(5).data == "echo: still there " .. i)
  end
  assert(client:get("/hello"):text() == "still serving")
  good:close()
end

function test_a_violation_in_the_first_read_after_the_upgrade(aiohttp_client)
  -- The bad frame arrives in the same segment as the upgrade request.
  local client = aiohttp_client(echo_app({}))
  local got, how = upgrade_and_send(client, frame(0x81, "x", false))
  assert(how == "closed")
  local frames = server_frames(got)
  assert(#frames == 1 and frames[1].code == 1002, #frames)
end

function test_a_clean_close_from_a_raw_client(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log))
  local got, how = upgrade_and_send(client, frame(0x81, "hi") .. close_frame(4005, "raw bye"))
  assert(how == "closed")
  local frames = server_frames(got)
  assert(frames[1].payload == "echo: hi")
  assert(frames[2].op == 8 and frames[2].code == 4005, tostring(frames[2].code))
  assert(log[1].type == "close" and log[1].data == 4005 and log[1].extra == "raw bye")
end

function test_autoping_off_delivers_pings_to_the_handler(aiohttp_client)
  local log = {}
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse { autoping = false }
    ws:prepare(request)
    local msg = ws:receive(5)
    log.first = msg
    ws:pong("by hand: " .. msg.data)
    log.second = ws:receive(5)
    return ws
  end)
  local client = aiohttp_client(app)
  local got = upgrade_and_send(client, frame(0x89, "anyone?") .. close_frame(1000))
  assert(log.first.type == "ping" and log.first.data == "anyone?", log.first.type)
  local frames = server_frames(got)
  -- Only our pong answered the ping: libwebsockets never saw it.
  assert(frames[1].op == 10 and frames[1].payload == "by hand: anyone?", frames[1].op)
  assert(frames[2].op == 8 and #frames == 2)
  assert(log.second.type == "close")
end

function test_autoping_on_answers_pings_and_hides_them(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log))
  local got = upgrade_and_send(client, frame(0x89, "anyone?") .. frame(0x81, "after") .. close_frame(1000))
  local frames = server_frames(got)
  local pong, echo
  for _, f in ipairs(frames) do
    if f.op == 10 then
      pong = f.payload
    elseif f.op == 1 then
      echo = f.payload
    end
  end
  assert(pong == "anyone?" and echo == "echo: after")
  assert(#log == 1 and log[1].type == "close", log[1] and log[1].type)
end

function test_autoclose_off_lets_the_handler_answer_the_close(aiohttp_client)
  local log = {}
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse { autoclose = false }
    ws:prepare(request)
    local msg = ws:receive(5)
    log.msg = msg
    log.closed_before_answer = ws.closed
    ws:send_str("one last word")
    ws:close { code = 4006, message = "answered" }
    log.close_code = ws.close_code
    return ws
  end)
  local client = aiohttp_client(app)
  local got, how = upgrade_and_send(client, close_frame(4005, "going"))
  assert(how == "closed")
  assert(log.msg.type == "close" and log.msg.data == 4005 and log.msg.extra == "going")
  assert(log.closed_before_answer == false)
  local frames = server_frames(got)
  assert(#frames == 2, #frames)
  assert(frames[1].op == 1 and frames[1].payload == "one last word")
  assert(frames[2].op == 8 and frames[2].code == 4006 and frames[2].reason == "answered")
  assert(log.close_code == 4005)
end

function test_autoclose_on_echoes_the_close_at_once(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log))
  local got = upgrade_and_send(client, close_frame(4005, "going"))
  local frames = server_frames(got)
  assert(#frames == 1 and frames[1].code == 4005)
end

function test_server_heartbeat_drops_a_silent_client(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log, { heartbeat = 0.2 }))
  local started = core.time()
  -- This client completes the upgrade and then never answers anything.
  local got, how = upgrade_and_send(client)
  local took = core.time() - started
  assert(how == "closed", how)
  assert(took >= 0.25 and took < 2, took)
  local frames = server_frames(got)
  assert(frames[1].op == 9, "the server sent no ping")
  assert(log[1].type == "close" and log[1].data == 1006, log[1].type .. " " .. tostring(log[1].data))
  assert(log[1].close_code == 1006)
end

function test_server_heartbeat_keeps_a_live_client(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log, { heartbeat = 0.05 }))
  local ws = client:ws_connect("/ws")
  core.sleep(0.4) -- several heartbeats, each answered by the client
  ws:send_str("alive")
  assert(ws:receive(5).data == "echo: alive")
  assert(not ws.closed)
  ws:close()
  assert(log[1].type == "close" and log[1].data == 1000)
end

function test_fragmented_client_messages_are_reassembled(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log))
  -- "café!" in two fragments split inside the two-byte é, with a ping
  -- between them.
  local stream = frame(0x01, "caf\195") .. frame(0x89, "between") .. frame(0x80, "\169!")
    .. close_frame(1000)
  local got = upgrade_and_send(client, stream)
  local frames = server_frames(got)
  local texts, pongs = {}, {}
  for _, f in ipairs(frames) do
    if f.op == 1 then
      texts[#texts + 1] = f.payload
    elseif f.op == 10 then
      pongs[#pongs + 1] = f.payload
    end
  end
  assert(#texts == 1 and texts[1] == "echo: caf\195\169!", texts[1])
  assert(#pongs == 1 and pongs[1] == "between")
  assert(frames[#frames].op == 8 and frames[#frames].code == 1000)
end

function test_a_binary_pong_after_text_is_not_taken_for_text(aiohttp_client)
  -- libwebsockets 4.1 checks a pong after a text frame as UTF-8 (and would
  -- close with 1007); pongs never reach it.
  local client = aiohttp_client(echo_app({}))
  local stream = frame(0x81, "a") .. frame(0x8A, "\255\254") .. frame(0x81, "b") .. close_frame(1000)
  local frames = server_frames(upgrade_and_send(client, stream))
  assert(#frames == 3, #frames)
  assert(frames[1].payload == "echo: a" and frames[2].payload == "echo: b")
  assert(frames[3].op == 8 and frames[3].code == 1000, tostring(frames[3].code))
end

function test_many_connections_at_once_and_abrupt_ends(aiohttp_client)
  local log = {}
  local client = aiohttp_client(echo_app(log))
  local luatest = require "luatest"
  local tasks = {}
  for i = 1, 100 do
    tasks[i] = luatest.spawn(function()
      local ws = client:ws_connect("/ws")
      for j = 1, 10 do
        ws:send_str(i .. ":" .. j)
        assert(ws:receive(10).data == "echo: " .. i .. ":" .. j)
      end
      if i % 2 == 0 then
        ws:close()
      else
        rawget(ws, "_ws"):_release() -- dropped without a closing handshake
      end
    end)
  end
  for _, t in ipairs(tasks) do
    t:wait()
  end
  -- Raw clients that vanish right after the upgrade, or mid-frame.
  for _ = 1, 10 do
    upgrade_and_send(client, nil, 0.01)
    upgrade_and_send(client, frame(0x81, "cut short"):sub(1, 5), 0.01)
  end
  for _ = 1, 200 do
    if #log >= 120 then
      break
    end
    core.sleep(0.01)
  end
  local closes, drops = 0, 0
  for _, entry in ipairs(log) do
    if entry.close_code == 1000 then
      closes = closes + 1
    elseif entry.close_code == 1006 then
      drops = drops + 1
    end
  end
  assert(closes == 50 and drops == 70, closes .. " clean closes, " .. drops .. " drops")
  assert(client:get("/hello"):text() == "still serving")
end
