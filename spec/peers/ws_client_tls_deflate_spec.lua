-- The WebSocket client (ws_connect, libwebsockets underneath) over wss and
-- with permessage-deflate, against real peers: our own https TestServer,
-- Python websockets serving wss with the test certificate, aiohttp's
-- compressing server, and a raw socket server that reads each frame's RSV1
-- bit and inflates with the window the client was told to use.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local client = require "luatest.client"
local errors = require "luatest.client_exceptions"
local test_utils = require "luatest.test_utils"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local function echo_app()
  local app = web.Application()
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    for msg in ws:messages() do
      if msg.type == "text" then
        ws:send_str(msg.data .. " " .. tostring(ws.compress) .. " " .. tostring(request.secure))
      elseif msg.type == "binary" then
        ws:send_bytes(msg.data)
      end
    end
    return ws
  end)
  return app
end

local function write_file(pem)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(pem)
  f:close()
  return path
end

luatest.fixture("wss_server", function()
  local server = test_utils.TestServer(echo_app(), { scheme = "https" })
  server:start_server()
  return server, function()
    server:close()
  end
end)

local function wss_url(server, path)
  return (server:make_url(path):gsub("^https", "wss"))
end

function test_the_test_client_of_an_https_server_reaches_its_websockets_over_wss(aiohttp_client, wss_server)
  local tc = aiohttp_client(wss_server)
  local ws = tc:ws_connect("/ws")
  luatest.eq(ws.compress, false) -- off unless asked for, as aiohttp's client
  ws:send_str("hello")
  luatest.eq(ws:receive().data, "hello false true")
  local blob = {}
  for i = 0, 255 do
    blob[#blob + 1] = string.char(i)
  end
  blob = table.concat(blob):rep(1024)
  ws:send_bytes(blob)
  luatest.eq(ws:receive().data == blob, true)
  ws:close()
  luatest.eq(ws.close_code, 1000)
  -- wss:// and https:// URLs alike, and localhost (a name in the certificate).
  local s = client.ClientSession { ssl = { ca_pem = wss_server.certificate } }
  ws = s:ws_connect(wss_url(wss_server, "/ws"))
  ws:send_str("again")
  luatest.eq(ws:receive().data, "again false true")
  ws:close()
  ws = s:ws_connect("wss://localhost:" .. wss_server.port .. "/ws")
  ws:send_str("by name")
  luatest.eq(ws:receive().data, "by name false true")
  ws:close()
  s:close()
end

function test_wss_verifies_the_certificate_unless_ssl_is_false(wss_server)
  local s = client.ClientSession()
  local ok, err = pcall(s.ws_connect, s, wss_url(wss_server, "/ws"))
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.ClientConnectorCertificateError), true, tostring(err))
  luatest.contains(tostring(err), "client:ws_connect: ETLS: handshake: certificate verify failed (self-signed certificate)")
  local ws = s:ws_connect(wss_url(wss_server, "/ws"), { ssl = false })
  ws:send_str("unverified")
  luatest.eq(ws:receive().data, "unverified false true")
  ws:close()
  local path = write_file(wss_server.certificate)
  ws = s:ws_connect(wss_url(wss_server, "/ws"), { ssl = { cafile = path } })
  os.remove(path)
  ws:send_str("from a file")
  luatest.eq(ws:receive().data, "from a file false true")
  ws:close()
  -- A plain ws:// connection to the TLS port fails as a handshake error.
  ok, err = pcall(s.ws_connect, s, "ws://127.0.0.1:" .. wss_server.port .. "/ws")
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.WSServerHandshakeError), true, tostring(err))
  s:close()
end

function test_wss_checks_the_name_in_the_certificate(aiohttp_client)
  local dir = os.tmpname()
  os.remove(dir)
  assert(core.exec({ "mkdir", dir }))
  local r = assert(core.exec({ "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-days", "1", "-subj", "/CN=other.test", "-addext", "subjectAltName=DNS:other.test",
    "-keyout", dir .. "/key.pem", "-out", dir .. "/cert.pem" }))
  luatest.eq(r.status, 0, r.stderr)
  local server = test_utils.TestServer(echo_app(), { scheme = "https",
    ssl = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" } })
  local tc = aiohttp_client(server)
  local ok, err = pcall(tc.ws_connect, tc, "/ws")
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.ClientConnectorCertificateError), true, tostring(err))
  luatest.contains(tostring(err), "certificate verify failed (IP address mismatch)")
  -- The HTTP client checks the name the same way.
  ok, err = pcall(tc.get, tc, "/ws")
  luatest.eq(ok, false)
  luatest.contains(tostring(err), "certificate verify failed (IP address mismatch)")
  local ws = tc:ws_connect("/ws", { ssl = false })
  ws:send_str("any name")
  luatest.eq(ws:receive().data, "any name false true")
  ws:close()
  assert(core.exec({ "rm", "-r", dir }))
end

function test_ws_connect_offers_permessage_deflate_when_asked(aiohttp_client, wss_server)
  local tc = aiohttp_client(wss_server)
  local ws = tc:ws_connect("/ws", { compress = true })
  luatest.eq(ws.compress, 15)
  ws:send_str("small")
  luatest.eq(ws:receive().data, "small 15 true")
  local big = ("0123456789abcdef"):rep(65536) -- 1 MiB, in many deflate blocks
  ws:send_str(big)
  luatest.eq(ws:receive().data == big .. " 15 true", true)
  ws:send_str("plain", { compress = false })
  luatest.eq(ws:receive().data, "plain 15 true")
  for i = 1, 200 do
    ws:send_str("message " .. i)
  end
  local ok = true
  for i = 1, 200 do
    ok = ok and ws:receive().data == "message " .. i .. " 15 true"
  end
  luatest.eq(ok, true)
  ws:close()
  luatest.eq(ws.close_code, 1000)
  -- Window bits asked of the server: our server compresses with 10.
  ws = tc:ws_connect("/ws", { compress = 10 })
  luatest.eq(ws.compress, 15)
  ws:send_str("ten")
  luatest.eq(ws:receive().data, "ten 10 true")
  ws:close()
  for _, bad in ipairs { 8, 16, "yes", 12.5 } do
    local okc, err = pcall(tc.ws_connect, tc, "/ws", { compress = bad })
    luatest.eq(okc, false)
    luatest.contains(tostring(err), "client:ws_connect: compress must be a boolean or window bits from 9 to 15")
  end
end

-- Python websockets serving wss with the test certificate and its default
-- compression (it asks for 12-bit windows both ways).
local WEBSOCKETS_WSS = [[
import asyncio, ssl, sys, websockets
async def echo(ws):
    ext = ws.extensions[0] if ws.extensions else None
    desc = "none" if ext is None else "%s/%s" % (ext.local_max_window_bits, ext.remote_max_window_bits)
    async for msg in ws:
        await ws.send(msg if isinstance(msg, bytes) else "echo %s %s" % (desc, msg))
async def main(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main(sys.argv[1], sys.argv[2]))
]]

function test_ws_connect_to_python_websockets_over_wss_with_and_without_compression()
  local cert, key = core.tls_test_cert()
  local cert_path, key_path = write_file(cert), write_file(key)
  local port, stop = python.serve(WEBSOCKETS_WSS, { cert_path, key_path })
  local s = client.ClientSession { ssl = { cafile = cert_path } }
  local url = "wss://127.0.0.1:" .. port .. "/"
  local ws = s:ws_connect(url)
  luatest.eq(ws.compress, false)
  ws:send_str("plain")
  luatest.eq(ws:receive().data, "echo none plain")
  ws:close()
  ws = s:ws_connect(url, { compress = true })
  luatest.eq(ws.compress, 12) -- the server's client_max_window_bits=12
  ws:send_str("compressed")
  luatest.eq(ws:receive().data, "echo 12/12 compressed")
  local big = {}
  for i = 1, 20000 do
    big[#big + 1] = tostring(i * 7919 % 10007)
  end
  big = table.concat(big, ",")
  ws:send_str(big)
  local got = ws:receive().data
  luatest.eq(#got, #big + 11)
  -- (Its last bytes were freed memory while libwebsockets still compressed
  -- from it.)
  luatest.eq(got:sub(-40), ("echo 12/12 " .. big):sub(-40))
  luatest.eq(got == "echo 12/12 " .. big, true)
  ws:send_bytes(big)
  luatest.eq(ws:receive().data == big, true)
  ws:close()
  luatest.eq(ws.close_code, 1000)
  s:close()
  stop()
  os.remove(cert_path)
  os.remove(key_path)
end

local AIOHTTP_SERVER = [[
import asyncio, sys
from aiohttp import web
async def handler(request):
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str("echo %s %s" % (ws.compress, msg.data))
    return ws
async def main():
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
]]

function test_ws_connect_compresses_with_an_aiohttp_server()
  local port, stop = python.serve(AIOHTTP_SERVER)
  local s = client.ClientSession()
  local ws = s:ws_connect("http://127.0.0.1:" .. port .. "/ws", { compress = 15 })
  luatest.eq(ws.compress, 15)
  ws:send_str("hello")
  luatest.eq(ws:receive().data, "echo 15 hello")
  local big = ("abcdefghij"):rep(50000)
  ws:send_str(big)
  luatest.eq(ws:receive().data == "echo 15 " .. big, true)
  ws:send_str("not compressed", { compress = false })
  luatest.eq(ws:receive().data, "echo 15 not compressed")
  ws:close()
  -- Not offered: aiohttp's server answers without the extension.
  ws = s:ws_connect("http://127.0.0.1:" .. port .. "/ws")
  luatest.eq(ws.compress, false)
  ws:send_str("hi")
  luatest.eq(ws:receive().data, "echo 0 hi")
  ws:close()
  s:close()
  stop()
end

-- A server that answers the handshake itself with the extension line it was
-- given, then reports for each client frame its RSV1 bit and the payload,
-- inflated with the client's window it announced (zlib refuses a distance
-- beyond the window: "invalid distance too far back").
local RAW_SERVER = [[
import asyncio, base64, hashlib, struct, sys, zlib
answer = sys.argv[1]
bits = int(sys.argv[2])
async def frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4)
    data = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(n)))
    return b0, data
def send(writer, text):
    data = text.encode()
    head = bytes([0x81, len(data)]) if len(data) < 126 else bytes([0x81, 126]) + struct.pack("!H", len(data))
    writer.write(head + data)
async def serve(reader, writer):
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    headers = dict(l.split(": ", 1) for l in head.split("\r\n")[1:] if ": " in l)
    key = headers["Sec-WebSocket-Key"]
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    ext = "" if answer == "-" else "Sec-WebSocket-Extensions: %s\r\n" % answer
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept, ext)).encode())
    send(writer, "offer " + headers.get("Sec-WebSocket-Extensions", ""))
    inflater = zlib.decompressobj(-bits)
    while True:
        b0, data = await frame(reader)
        if b0 & 0x0f == 8:
            writer.write(bytes([0x88, 2]) + data[:2])
            await writer.drain()
            break
        rsv1 = (b0 >> 6) & 1
        try:
            text = (inflater.decompress(data + b"\x00\x00\xff\xff") if rsv1 else data).decode()
            send(writer, "rsv1=%d len=%d head=%s" % (rsv1, len(text), text[:12]))
        except zlib.error as e:
            send(writer, "rsv1=%d zlib: %s" % (rsv1, e))
    writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
]]

-- 600 random letters twice: the second copy refers 600 bytes back, which a
-- 9-bit (512-byte) window cannot reach.
local function far_repeat()
  local letters = {}
  local x = 12345
  for i = 1, 600 do
    x = (x * 1103515245 + 12345) % 2147483648
    letters[i] = string.char(97 + x % 26)
  end
  local block = table.concat(letters)
  return block .. block
end

function test_the_client_marks_compressed_frames_and_honours_the_window_it_is_given()
  local port, stop = python.serve(RAW_SERVER, { "permessage-deflate; client_max_window_bits=9", 9 })
  local s = client.ClientSession()
  local ws = s:ws_connect("ws://127.0.0.1:" .. port .. "/", { compress = 11 })
  luatest.eq(ws.compress, 9)
  luatest.eq(ws:receive().data,
    "offer permessage-deflate; client_max_window_bits; server_max_window_bits=11")
  local text = far_repeat()
  ws:send_str(text)
  luatest.eq(ws:receive().data, "rsv1=1 len=1200 head=" .. text:sub(1, 12))
  ws:send_str(text, { compress = false })
  luatest.eq(ws:receive().data, "rsv1=0 len=1200 head=" .. text:sub(1, 12))
  ws:send_str(text) -- the context carries over the uncompressed message
  luatest.eq(ws:receive().data, "rsv1=1 len=1200 head=" .. text:sub(1, 12))
  ws:close()
  s:close()
  stop()
end

function test_a_server_that_declines_gets_uncompressed_frames()
  local port, stop = python.serve(RAW_SERVER, { "-", 15 })
  local s = client.ClientSession()
  local ws = s:ws_connect("ws://127.0.0.1:" .. port .. "/", { compress = true })
  luatest.eq(ws.compress, false)
  luatest.eq(ws:receive().data, "offer permessage-deflate; client_max_window_bits")
  ws:send_str("abcabcabcabc")
  luatest.eq(ws:receive().data, "rsv1=0 len=12 head=abcabcabcabc")
  ws:close()
  s:close()
  stop()
end

function test_an_extension_the_client_did_not_offer_fails_the_handshake()
  local port, stop = python.serve(RAW_SERVER, { "x-not-offered", 15 })
  local s = client.ClientSession()
  local ok, err = pcall(s.ws_connect, s, "ws://127.0.0.1:" .. port .. "/")
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.WSServerHandshakeError), true, tostring(err))
  s:close()
  stop()
end

-- Frames without RSV1 under permessage-deflate: messages sent with
-- compress = false and control frames, both ways (libwebsockets 4.1 left
-- to itself delivers such a frame to the client for ever).
function test_uncompressed_and_control_frames_under_deflate(aiohttp_client)
  local app = web.Application()
  local log = {}
  app.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse { autoping = false }
    ws:prepare(request)
    ws:send_str("first, not compressed", { compress = false })
    ws:ping("server ping")
    for msg in ws:messages() do
      log[#log + 1] = msg.type .. ":" .. tostring(msg.data)
      if msg.type == "text" then
        ws:send_str(msg.data, { compress = msg.data ~= "plain" })
      elseif msg.type == "ping" then
        ws:pong(msg.data)
      end
    end
    return ws
  end)
  local tc = aiohttp_client(app)
  local ws = tc:ws_connect("/ws", { compress = true, autoping = false })
  luatest.eq(ws.compress, 15)
  luatest.eq(ws:receive().data, "first, not compressed")
  -- (libwebsockets answers the server's ping itself.)
  ws:send_str("plain", { compress = false })
  luatest.eq(ws:receive().data, "plain")
  ws:send_str("squeezed")
  luatest.eq(ws:receive().data, "squeezed")
  ws:ping("client ping")
  local pong = ws:receive()
  luatest.same({ pong.type, pong.data }, { "pong", "client ping" })
  ws:close()
  luatest.eq(ws.close_code, 1000)
  luatest.same(log, { "pong:server ping", "text:plain", "text:squeezed", "ping:client ping" })
end

function test_no_server_is_a_connector_error_for_ws_and_wss()
  local port = test_utils.unused_port()
  local s = client.ClientSession()
  for _, scheme in ipairs { "ws", "wss" } do
    local ok, err = pcall(s.ws_connect, s, scheme .. "://127.0.0.1:" .. port .. "/")
    luatest.eq(ok, false)
    luatest.eq(errors.is(err, errors.ClientConnectorError), true, tostring(err))
    luatest.contains(tostring(err), "client:ws_connect: ECONNECT: cannot connect")
  end
  s:close()
end
