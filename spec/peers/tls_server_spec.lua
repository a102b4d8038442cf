-- HTTPS test servers with the certificate made for the test: real TLS
-- clients (curl, Python's aiohttp and websockets, run by Debian's
-- /usr/bin/python3) trust it from its PEM and nothing else.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local function app()
  local a = web.Application()
  a.router:add_get("/", function(request)
    return request.scheme .. " " .. tostring(request.secure) .. " " .. request.url
  end)
  a.router:add_post("/echo", function(request)
    return web.Response { body = request:read() }
  end)
  a.router:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    ws:prepare(request)
    while true do
      local msg = ws:receive()
      if msg.type ~= "text" then
        break
      end
      ws:send_str("echo " .. msg.data)
    end
    return ws
  end)
  return a
end

luatest.fixture("https_server", function()
  local server = test_utils.TestServer(app(), { scheme = "https" })
  server:start_server()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(server.certificate)
  f:close()
  server.ca_file = path
  return server, function()
    server:close()
    os.remove(path)
  end
end)

local function curl(...)
  return assert(core.exec({ "curl", "-sS", "--max-time", "10", ... }, { timeout = 20 }))
end

function test_curl_trusts_the_test_certificate_and_only_with_it(https_server)
  local url = https_server:make_url("/")
  luatest.match(url, "^https://127%.0%.0%.1:%d+/$")
  -- Two requests on one kept-alive TLS connection.
  local r = curl("--cacert", https_server.ca_file, url, url)
  luatest.eq(r.status, 0, r.stderr)
  luatest.eq(r.stdout, ("https true " .. url):rep(2))
  local port = https_server.port
  r = curl("--cacert", https_server.ca_file, "--resolve", "localhost:" .. port .. ":127.0.0.1",
    "https://localhost:" .. port .. "/")
  luatest.eq(r.status, 0, r.stderr)
  r = curl(url)
  luatest.eq(r.status, 60, "curl without --cacert must refuse the certificate")
  luatest.contains(r.stderr, "self-signed certificate")
  -- A body of 960 KB both ways.
  local body = os.tmpname()
  local f = assert(io.open(body, "wb"))
  f:write(("0123456789abcdef"):rep(60000)) -- (under the 1 MiB client_max_size)
  f:close()
  r = curl("--cacert", https_server.ca_file, "--data-binary", "@" .. body, https_server:make_url("/echo"))
  os.remove(body)
  luatest.eq(r.status, 0, r.stderr)
  luatest.eq(#r.stdout, 960000)
end

function test_a_plain_http_request_on_the_tls_port_is_dropped_and_the_server_goes_on(https_server)
  local r = curl(("http://127.0.0.1:%d/"):format(https_server.port))
  luatest.eq(r.status ~= 0, true)
  r = curl("--cacert", https_server.ca_file, https_server:make_url("/"))
  luatest.eq(r.status, 0, r.stderr)
end

local PY_CLIENT = [[
import asyncio, ssl, sys
import aiohttp
import websockets

async def main(url, wsurl, ca):
    ctx = ssl.create_default_context(cafile=ca)
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            async with s.get(url, ssl=ctx) as r:
                print(r.status, await r.text())
        async with s.post(url + "echo", data=b"x" * 200000, ssl=ctx) as r:
            print(len(await r.read()))
        async with s.ws_connect(wsurl, ssl=ctx) as ws:
            await ws.send_str("from aiohttp")
            print((await ws.receive()).data)
    async with websockets.connect(wsurl, ssl=ctx) as ws:
        await ws.send("from websockets")
        print(await ws.recv())
    try:
        async with aiohttp.ClientSession() as s:
            await s.get(url, ssl=ssl.create_default_context())
        print("trusted without the certificate")
    except aiohttp.ClientConnectorCertificateError:
        print("refused without the certificate")

asyncio.run(main(*sys.argv[1:]))
]]

function test_python_aiohttp_and_websockets_over_tls(https_server)
  local url = https_server:make_url("/")
  local out = python.run(PY_CLIENT, url, "wss://127.0.0.1:" .. https_server.port .. "/ws", https_server.ca_file)
  luatest.eq(out, table.concat({
    "200 https true " .. url, "200 https true " .. url, "200000", "echo from aiohttp",
    "echo from websockets", "refused without the certificate", "" }, "\n"))
end

function test_the_callers_certificate_from_pem_or_files()
  local cert, key = core.tls_test_cert()
  local cert_path, key_path = os.tmpname(), os.tmpname()
  for path, pem in pairs { [cert_path] = cert, [key_path] = key } do
    local f = assert(io.open(path, "w"))
    f:write(pem)
    f:close()
  end
  local server = test_utils.RawTestServer(function()
    return "raw over tls"
  end, { scheme = "https", ssl = { cert = cert_path, key = key_path } })
  server:start_server()
  luatest.eq(server.certificate, cert)
  local r = curl("--cacert", cert_path, server:make_url("/"))
  server:close()
  os.remove(cert_path)
  os.remove(key_path)
  luatest.eq(r.stdout, "raw over tls", r.stderr)
end

function test_bad_tls_options_name_the_call()
  local ok, err = pcall(test_utils.TestServer, app(), { scheme = "https", ssl = { cert = "/nonexistent.pem" } })
  luatest.eq(ok, false)
  luatest.contains(err, "TestServer: ssl.cert: /nonexistent.pem")
  ok, err = pcall(test_utils.TestServer, app(), { scheme = "gopher" })
  luatest.contains(err, "TestServer: scheme 'gopher' is not supported")
  ok, err = pcall(test_utils.TestServer, app(), { ssl = {} })
  luatest.contains(err, "TestServer: ssl is for scheme \"https\"")
  local cert = core.tls_test_cert()
  local server = test_utils.TestServer(app(), { scheme = "https", ssl = { cert = cert, key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" } })
  ok, err = pcall(server.start_server, server)
  luatest.eq(ok, false)
  luatest.contains(err, "TLS: key")
  server:close()
end

-- ---- our own client over TLS ----------------------------------------------------------

local client = require "luatest.client"
local errors = require "luatest.client_exceptions"

local function tls_app()
  local a = app()
  a.router:add_get("/set-secure", function()
    local resp = web.Response { text = "set" }
    resp:set_cookie("s", "1", { secure = true })
    return resp
  end)
  a.router:add_get("/cookies", function(request)
    return tostring(request.cookies.s)
  end)
  return a
end

function test_the_test_client_of_an_https_server_trusts_it(aiohttp_client)
  local c = aiohttp_client(tls_app(), { server_kwargs = { scheme = "https" } })
  local resp = c:get("/")
  luatest.eq(resp:text(), "https true " .. c.server:make_url("/"))
  luatest.eq(resp.url, c.server:make_url("/"))
  -- A body both ways, sent whole and in pieces, on the kept-alive connection.
  local big = ("0123456789"):rep(30000)
  luatest.eq(c:post("/echo", { data = big }):read(), big)
  local pieces = { "a", ("b"):rep(70000), "c" }
  local i = 0
  luatest.eq(c:post("/echo", { data = function()
    i = i + 1
    return pieces[i]
  end }):read(), table.concat(pieces))
  -- Secure cookies are kept and sent over https.
  c:get("/set-secure")
  luatest.eq(c:get("/cookies"):text(), "1")
end

function test_a_session_verifies_unless_told_what_to_trust(https_server)
  local url = https_server:make_url("/")
  local session = client.ClientSession()
  local ok, err = pcall(session.get, session, url)
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.ClientConnectorCertificateError), true, tostring(err))
  luatest.eq(errors.is(err, errors.ClientSSLError), true)
  luatest.contains(tostring(err), "certificate verify failed")
  luatest.eq(session:get(url, { ssl = false }):text(), "https true " .. url)
  luatest.eq(session:get(url, { ssl = { ca_pem = https_server.certificate } }):text(), "https true " .. url)
  luatest.eq(session:get(url, { ssl = { cafile = https_server.ca_file } }):text(), "https true " .. url)
  ok, err = pcall(session.get, session, url, { ssl = { cert = "x" } })
  luatest.contains(err, "client:get: unknown ssl option 'cert'")
  session:close()
  local trusting = client.ClientSession { ssl = { ca_pem = https_server.certificate } }
  luatest.eq(trusting:get(url):text(), "https true " .. url)
  trusting:close()
  local lax = client.ClientSession { ssl = false }
  luatest.eq(lax:get(url):text(), "https true " .. url)
  lax:close()
end

-- Python's ssl with suppress_ragged_eofs off raises SSLEOFError when a
-- connection ends without TLS's close_notify: our server sends one before
-- it closes, after a "Connection: close" answer and after a WebSocket
-- close.
local READ_TO_CLOSE_NOTIFY = [[
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF  # (on by default with OpenSSL 3)
for request in (b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                b"\x88\x82\x00\x00\x00\x00\x03\xe8"):
    raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    s.sendall(request)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        print("close_notify", got.split(b"\r\n")[0].decode())
    except ssl.SSLError as e:
        print("cut", got.split(b"\r\n")[0].decode(), e)
    s.close()
]]

function test_the_server_ends_tls_connections_with_close_notify(https_server)
  local out = python.run(READ_TO_CLOSE_NOTIFY, https_server.port, https_server.ca_file)
  luatest.eq(out, "close_notify HTTP/1.1 200 OK\nclose_notify HTTP/1.1 101 Switching Protocols\n")
end

-- And our client, closing its session, ends its kept-alive TLS connection
-- with close_notify too.
local SERVE_ONE_KEPT_ALIVE = [[
import socket, ssl, sys
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
raw, _ = listener.accept()
s = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
got = b""
while b"\r\n\r\n" not in got:
    got += s.recv(65536)
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
try:
    rest = s.recv(65536)
    print("close_notify" if rest == b"" else "more bytes", flush=True)
except ssl.SSLError as e:
    print("cut", e, flush=True)
]]

function test_the_client_ends_tls_connections_with_close_notify()
  local cert, key = core.tls_test_cert()
  local paths = {}
  for i, pem in ipairs { cert, key } do
    paths[i] = os.tmpname()
    local f = assert(io.open(paths[i], "w"))
    f:write(pem)
    f:close()
  end
  local port, stop, output = python.serve(SERVE_ONE_KEPT_ALIVE, paths)
  local client = require "luatest.client"
  local session = client.ClientSession { ssl = { ca_pem = cert } }
  local resp = session:get("https://127.0.0.1:" .. port .. "/")
  luatest.eq(resp:text(), "ok")
  session:close()
  local out = output()
  stop()
  for _, p in ipairs(paths) do
    os.remove(p)
  end
  luatest.eq(out:match("\n(.*)$"), "close_notify\n")
end
