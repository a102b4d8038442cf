-- client_max_size on a real server, as aiohttp 3.8 checks it: Lua handlers
-- run whatever the body's size and meet HTTPRequestEntityTooLarge (413) when
-- they read it; the server keeps only the limit's worth of the body; C
-- handlers, which cannot raise, are answered 413 before they run. The
-- connection serves the next request either way.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")
local measure = dofile(core.srcdir .. "/spec/support/measure.lua")

local TOO_LARGE = "Maximum request body size 10 exceeded, actual body size "

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do
    n = n + 1
  end
  return n
end

local function post(path, body, extra)
  return "POST " .. path .. " HTTP/1.1\r\nHost: x\r\nContent-Length: " .. #body .. "\r\n" .. (extra or "")
    .. "\r\n" .. body
end

local function limited_app(limit)
  local app = web.Application { client_max_size = limit or 10 }
  app.router:add_post("/ignore", function()
    return "ignored"
  end)
  app.router:add_post("/read", function(request)
    return "read " .. #request:read()
  end)
  app.router:add_get("/", function()
    return "Hello, world"
  end)
  return app
end

function test_a_handler_that_ignores_an_oversized_body_runs_on_a_kept_connection(aiohttp_server)
  local server = aiohttp_server(limited_app())
  local got, how = core.tcp_exchange("127.0.0.1", server.port,
    post("/ignore", ("x"):rep(100)) .. "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeout = 5 })
  luatest.eq(how, "closed")
  luatest.eq(count(got, "HTTP/1.1 200 OK\r\n"), 2)
  assert(got:find("\r\n\r\nignored", 1, true), got)
  assert(got:find("Hello, world$"), got)
  luatest.eq(count(got, "Connection: close"), 1)
end

function test_reading_it_raises_413_and_the_next_request_is_served(aiohttp_server)
  local server = aiohttp_server(limited_app())
  local got = core.tcp_exchange("127.0.0.1", server.port,
    post("/read", ("x"):rep(11)) .. post("/read", ("y"):rep(10)) .. post("/read", ("z"):rep(9))
    .. "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeout = 5 })
  luatest.eq(count(got, "HTTP/1.1 413 Request Entity Too Large\r\n"), 2)
  assert(got:find(TOO_LARGE .. "11", 1, true), got)
  -- aiohttp's rule: a body of the limit itself is too large.
  assert(got:find(TOO_LARGE .. "10", 1, true), got)
  assert(got:find("\r\n\r\nread 9", 1, true), got)
  assert(got:find("Hello, world$"), got)
end

function test_a_content_length_over_the_limit_reaches_the_handler(aiohttp_client)
  local seen = {}
  local app = web.Application { client_max_size = 10 }
  app.router:add_post("/", function(request)
    seen.length = request.content_length
    local ok, err = pcall(request.read, request)
    seen.ok, seen.err = ok, err
    if not ok then
      error(err)
    end
    return "read " .. #err
  end)
  local client = aiohttp_client(app)
  local resp = client:post("/", { data = ("x"):rep(5000) })
  luatest.eq(resp.status, 413)
  luatest.eq(seen.length, 5000)
  luatest.eq(seen.ok, false)
  luatest.eq(getmetatable(seen.err), web.HTTPRequestEntityTooLarge)
  assert(resp:text():find(TOO_LARGE, 1, true), resp:text())
  luatest.eq(client:post("/", { data = "" }):text(), "read 0")
end

function test_every_way_of_reading_raises_413(aiohttp_client)
  local errors = {}
  local app = web.Application { client_max_size = 10 }
  local readers = {
    read = function(r) return r:read() end,
    text = function(r) return r:text() end,
    json = function(r) return r:json() end,
    post = function(r) return r:post() end,
    multipart = function(r) return r:multipart() end,
    content = function(r) return r.content:read() end,
  }
  app.router:add_post("/{how}", function(request)
    local how = request.match_info.how
    local ok, err = pcall(readers[how], request)
    errors[how] = not ok and type(err) == "table" and err.status
    return "done"
  end)
  local client = aiohttp_client(app)
  local bodies = {
    read = { data = ("x"):rep(20) },
    text = { data = ("x"):rep(20) },
    json = { json = { pad = ("x"):rep(20) } },
    post = { data = { a = ("x"):rep(20) } },
    multipart = { data = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n",
      headers = { ["Content-Type"] = "multipart/form-data; boundary=b" } },
    content = { data = ("x"):rep(20) },
  }
  for how, opts in pairs(bodies) do
    luatest.eq(client:post("/" .. how, opts):text(), "done")
    luatest.eq(errors[how], 413, how)
  end
end

function test_no_limit_reads_everything(aiohttp_client)
  local client = aiohttp_client(limited_app(0))
  local body = ("x"):rep(3 * 1024 * 1024)
  luatest.eq(client:post("/read", { data = body }):text(), "read " .. #body)
end

-- A peer streams 20 MiB at a 1 KiB limit over one connection, then asks
-- again: the handler ran with no more than the limit kept, and the rest went
-- by without the server growing by anything like it.
function test_memory_stays_at_the_limit_for_a_20_mib_body(aiohttp_server)
  local kept = {}
  local app = web.Application { client_max_size = 1024 }
  app.router:add_post("/", function(request)
    kept[#kept + 1] = #request:_body()
    return request:read()
  end)
  app.router:add_get("/", function()
    return "Hello, world"
  end)
  local server = aiohttp_server(app)
  collectgarbage()
  local before = measure.rss_kb()
  local peer = luatest.spawn(python.run, [[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
size = 20 * 1024 * 1024
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
chunk = b"x" * 65536
for _ in range(size // len(chunk)):
    s.sendall(chunk)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
got = b""
while True:
    data = s.recv(65536)
    if not data:
        break
    got += data
print(got.decode())
]], server.port)
  local got = peer:wait()
  local grown = measure.rss_kb() - before
  luatest.eq(count(got, "HTTP/1.1 413 Request Entity Too Large\r\n"), 1)
  assert(got:find("Maximum request body size 1024 exceeded, actual body size %d+"), got)
  assert(got:find("Hello, world"), got)
  luatest.eq(#kept, 1)
  assert(kept[1] <= 1024, kept[1])
  assert(grown < 8 * 1024, "the server grew by " .. grown .. " KB")
end

-- ---- C handlers ----------------------------------------------------------------------

local function hello_c()
  package.cpath = (os.getenv("LUATEST_MODULES") or "build/modules") .. "/?.so;" .. package.cpath
  return require "hello_c"
end

local function c_app(middlewares)
  local app = web.Application { client_max_size = 10, middlewares = middlewares }
  app.router:add_post("/echo", hello_c().echo)
  app.router:add_get("/", function()
    return "Hello, world"
  end)
  return app
end

function test_a_c_handler_is_answered_413_before_it_runs_and_the_connection_stays(aiohttp_server)
  local server = aiohttp_server(c_app())
  local got, how = core.tcp_exchange("127.0.0.1", server.port,
    post("/echo", ("x"):rep(10)) .. post("/echo", "small")
    .. "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeout = 5 })
  luatest.eq(how, "closed")
  luatest.eq(count(got, "HTTP/1.1 413 Request Entity Too Large\r\n"), 1)
  assert(got:find(TOO_LARGE .. "10", 1, true), got)
  -- The echo handler answers 201: it did not run for the first request.
  luatest.eq(count(got, "HTTP/1.1 201 Created\r\n"), 1)
  assert(got:find("len=5\nsmall", 1, true), got)
  assert(got:find("Hello, world$"), got)
end

function test_a_c_handler_behind_a_middleware_is_answered_413_too(aiohttp_client)
  local client = aiohttp_client(c_app { function(request, handler)
    return handler(request)
  end })
  local resp = client:post("/echo", { data = ("x"):rep(50) })
  luatest.eq(resp.status, 413)
  luatest.eq(resp:text(), TOO_LARGE .. "50")
  luatest.eq(client:post("/echo", { data = "ok" }).status, 201)
  luatest.eq(client._client:stats().connects, 1)
end
