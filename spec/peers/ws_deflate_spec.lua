-- permessage-deflate (RFC 7692) on our WebSocket server, against real
-- peers: aiohttp's and python3-websockets' clients, a raw socket client
-- that reads the frames' RSV1 bit itself, and aiohttp's own negotiation
-- (ws_ext_parse, ws_ext_gen) side by side with ours.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local function ws_app(log)
  local app = web.Application()
  local function echo(opts)
    return function(request)
      local ws = web.WebSocketResponse(opts)
      ws:prepare(request)
      log[#log + 1] = ws.compress
      for msg in ws:messages() do
        if msg.type == "text" then
          local plain = msg.data:match("^plain:(.*)")
          if plain then
            ws:send_str("echo: " .. plain, { compress = false })
          else
            ws:send_str("echo: " .. msg.data)
          end
        elseif msg.type == "binary" then
          ws:send_bytes(msg.data)
        end
      end
      log.close_code = ws.close_code
      return ws
    end
  end
  app.router:add_get("/echo", echo())
  app.router:add_get("/plain", echo { compress = false })
  app.router:add_get("/small", echo { max_msg_size = 1024 * 1024 })
  return app
end

local AIOHTTP_CLIENT = [[
import asyncio, sys, aiohttp
async def main(url):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, compress=15, max_msg_size=0) as ws:
            print(ws.compress, ws._response.headers.get("Sec-WebSocket-Extensions"))
            await ws.send_str("hello")
            print((await ws.receive()).data)
            await ws.send_bytes(b"\x00\x01\xff")
            print(repr((await ws.receive()).data))
            big = "0123456789abcdef" * 65536
            await ws.send_str(big)
            print((await ws.receive()).data == "echo: " + big)
            ok = True
            for i in range(300):
                text = "message %d %s" % (i, "x" * (i % 50))
                await ws.send_str(text)
                ok = ok and (await ws.receive()).data == "echo: " + text
            print(ok)
asyncio.run(main(sys.argv[1]))
]]

function test_aiohttp_client_negotiates_and_echoes(aiohttp_client)
  local log = {}
  local client = aiohttp_client(ws_app(log))
  local out = python.run(AIOHTTP_CLIENT, string.format("http://127.0.0.1:%d/echo", client.port))
  luatest.eq(out, "15 permessage-deflate\necho: hello\nb'\\x00\\x01\\xff'\nTrue\nTrue\n")
  luatest.eq(log[1], 15)
end

function test_compress_false_refuses_and_messages_still_flow(aiohttp_client)
  local log = {}
  local client = aiohttp_client(ws_app(log))
  local out = python.run(AIOHTTP_CLIENT, string.format("http://127.0.0.1:%d/plain", client.port))
  luatest.eq(out, "0 None\necho: hello\nb'\\x00\\x01\\xff'\nTrue\nTrue\n")
  luatest.eq(log[1], false)
  local script = [[
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url) as ws:
        print(ws.response_headers.get("Sec-WebSocket-Extensions"), ws.extensions)
        await ws.send("hi")
        print(await ws.recv())
asyncio.run(main(sys.argv[1]))
]]
  out = python.run(script, string.format("ws://127.0.0.1:%d/plain", client.port))
  luatest.eq(out, "None []\necho: hi\n")
  out = python.run(script, string.format("ws://127.0.0.1:%d/echo", client.port))
  luatest.eq(out, "permessage-deflate [PerMessageDeflate(remote_no_context_takeover=False, " ..
    "local_no_context_takeover=False, remote_max_window_bits=15, local_max_window_bits=15)]\necho: hi\n")
end

function test_websockets_client_with_its_default_offer_and_with_narrow_windows(aiohttp_client)
  local client = aiohttp_client(ws_app({}))
  -- Random blocks repeated 2000 bytes apart: a compressor with a larger
  -- window than negotiated, or keeping its context when asked not to,
  -- makes frames the client cannot inflate.
  local script = [[
import asyncio, os, random, sys, websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
async def main(url, kind):
    ext = None
    if kind == "narrow":
        ext = [ClientPerMessageDeflateFactory(server_max_window_bits=10,
                                              server_no_context_takeover=True,
                                              client_max_window_bits=True)]
    async with websockets.connect(url, extensions=ext, max_size=None) as ws:
        print(ws.response_headers.get("Sec-WebSocket-Extensions"))
        rnd = random.Random(7)
        block = bytes(rnd.randrange(256) for _ in range(2000))
        ok = True
        for i in range(50):
            data = block * (1 + i % 5) + bytes([i])
            await ws.send(data)
            ok = ok and await ws.recv() == data
            text = "text %d " % i + "y" * i
            await ws.send(text)
            ok = ok and await ws.recv() == "echo: " + text
        big = block * 500
        await ws.send(big)
        ok = ok and await ws.recv() == big
        print(ok)
asyncio.run(main(sys.argv[1], sys.argv[2]))
]]
  local url = string.format("ws://127.0.0.1:%d/echo", client.port)
  luatest.eq(python.run(script, url, "default"), "permessage-deflate\nTrue\n")
  luatest.eq(python.run(script, url, "narrow"),
    "permessage-deflate; server_max_window_bits=10; server_no_context_takeover\nTrue\n")
end

function test_the_answer_to_each_offer_is_aiohttps(aiohttp_server)
  local offers = {
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12",
    "permessage-deflate; server_max_window_bits=16, permessage-deflate",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate;  server_no_context_takeover; server_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; unknown_param, permessage-deflate; server_max_window_bits=11",
    "permessage-deflate; server_max_window_bits=\"10\"",
    "permessage-deflate ; client_max_window_bits",
    "x-webkit-deflate-frame",
    "foo, permessage-deflate; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits",
  }
  local expected = python.run([[
import sys
from aiohttp.http_websocket import ws_ext_parse, ws_ext_gen
for offer in sys.argv[1:]:
    compress, notakeover = ws_ext_parse(offer, isserver=True)
    print(ws_ext_gen(compress=compress, isserver=True, server_notakeover=notakeover) if compress else "-")
]], require("luatest.compat").unpack(offers))
  local server = aiohttp_server(ws_app({}))
  local got = {}
  for _, offer in ipairs(offers) do
    local head = core.tcp_exchange("127.0.0.1", server.port,
      "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" ..
      "Sec-WebSocket-Extensions: " .. offer .. "\r\n\r\n", { timeout = 0.3 })
    assert(head:find("^HTTP/1.1 101"), head)
    got[#got + 1] = head:match("\r\nSec%-WebSocket%-Extensions: ([^\r]*)\r\n") or "-"
  end
  luatest.eq(table.concat(got, "\n") .. "\n", expected)
end

-- A client on a bare socket: it sends frames compressed or not and prints
-- each answer's opcode, RSV1 and inflated payload.
local RAW_CLIENT = [[
import base64, os, socket, struct, sys, zlib
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
           % (path, base64.b64encode(os.urandom(16)).decode())).encode())
f = s.makefile("rb")
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += f.read(1)
print([l for l in head.decode().split("\r\n") if l.startswith("Sec-WebSocket-Extensions")])
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
dec = zlib.decompressobj(-15)
def frame(first, data):
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        hdr = bytes([first, 0x80 | n])
    elif n < 65536:
        hdr = bytes([first, 0x80 | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([first, 0x80 | 127]) + struct.pack(">Q", n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
def packed(data):
    return (comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
def send(op, data, compress=True):
    if compress:
        s.sendall(frame(0xC0 | op, packed(data)))
    else:
        s.sendall(frame(0x80 | op, data))
def recv():
    b0, b1 = f.read(2)
    n = b1 & 127
    if n == 126:
        n = struct.unpack(">H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", f.read(8))[0]
    data = f.read(n)
    if b0 & 0x40:
        data = dec.decompress(data + b"\x00\x00\xff\xff")
    if b0 & 15 == 8:
        data = struct.unpack(">H", data[:2])[0]
    print(b0 & 15, "rsv1" if b0 & 0x40 else "plain", data)
]]

function test_per_message_compress_false_and_control_frames_go_uncompressed(aiohttp_server)
  local log = {}
  local server = aiohttp_server(ws_app(log))
  local out = python.run(RAW_CLIENT .. [[
send(1, b"hello")
recv()
send(1, b"plain:not packed")
recv()
send(1, b"sent plain", compress=False)
recv()
s.sendall(frame(0x89, b"ping!"))
recv()
send(2, b"\x00" * 1000)
b0, b1 = f.read(2)
n = struct.unpack(">H", f.read(2))[0] if b1 & 127 == 126 else b1 & 127
print(b0 & 0x40 != 0, n < 100, len(dec.decompress(f.read(n) + b"\x00\x00\xff\xff")))
# fragmented: RSV1 on the first frame only, one deflate stream across them
data = packed(b"in two frames")
s.sendall(frame(0x41, data[:5]) + frame(0x80, data[5:]))
recv()
# RSV1 on a continuation frame breaks the protocol
s.sendall(frame(0x41, packed(b"a")) + frame(0xC0, b""))
recv()
]], server.port, "/echo")
  luatest.eq(out, table.concat({
    "['Sec-WebSocket-Extensions: permessage-deflate']",
    "1 rsv1 b'echo: hello'",
    "1 plain b'echo: not packed'",
    "1 rsv1 b'echo: sent plain'",
    "10 plain b'ping!'",
    "True True 1000",
    "1 rsv1 b'echo: in two frames'",
    "8 plain 1002",
  }, "\n") .. "\n")
end

function test_rsv1_without_the_extension_is_a_protocol_error(aiohttp_server)
  local server = aiohttp_server(ws_app({}))
  local out = python.run(RAW_CLIENT .. [[
send(1, b"hello")
recv()
]], server.port, "/plain")
  luatest.eq(out, "[]\n8 plain 1002\n")
end

function test_a_compression_bomb_closes_with_1009(aiohttp_server)
  local log = {}
  local server = aiohttp_server(ws_app(log))
  -- 64 MiB of zeros in about 64 KiB on the wire, against a 1 MiB limit.
  local out = python.run(RAW_CLIENT .. [[
send(1, b"small")
recv()
bomb = packed(b"\x00" * (64 << 20))
print(len(bomb) < (1 << 20))
s.sendall(frame(0xC2, bomb))
recv()
]], server.port, "/small")
  luatest.eq(out, "['Sec-WebSocket-Extensions: permessage-deflate']\n1 rsv1 b'echo: small'\nTrue\n8 plain 1009\n")
  -- aiohttp's client: just past the limit once inflated.
  local script = [[
import asyncio, sys, aiohttp
async def main(url):
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, compress=15) as ws:
            await ws.send_str("a" * (1024 * 1024 + 1))
            msg = await ws.receive()
            print(msg.type.name, msg.data)
asyncio.run(main(sys.argv[1]))
]]
  luatest.eq(python.run(script, string.format("http://127.0.0.1:%d/small", server.port)), "CLOSE 1009\n")
  for _ = 1, 200 do
    if log.close_code then
      break
    end
    core.sleep(0.01)
  end
  luatest.eq(log.close_code, 1009)
end
