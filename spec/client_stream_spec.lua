-- Client responses arrive with their head; the body is read as it comes,
-- and a body nobody reads holds the server's writer, not memory.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local MiB = 1024 * 1024

local measure = dofile(core.srcdir .. "/spec/support/measure.lua")
local rss_kb, wait_for = measure.rss_kb, measure.wait_for

function test_an_endless_event_stream_is_read_line_by_line(aiohttp_client)
  local state = {}
  local app = web.Application()
  app.router:add_get("/events", function(request)
    local resp = web.StreamResponse { headers = { ["Content-Type"] = "text/event-stream" } }
    resp:prepare(request)
    state.ended = pcall(function()
      for i = 1, math.huge do
        resp:write("data: " .. i .. "\n\n")
        luatest.sleep(0.005)
      end
    end) and "finished" or "cut off"
    return resp
  end)
  app.router:add_get("/", function()
    return "still serving"
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/events")
  luatest.eq(resp.status, 200)
  luatest.eq(resp.content_type, "text/event-stream")
  local events = {}
  for line in resp.content:iter_lines() do
    if line:find("^data: ") then
      events[#events + 1] = line
    end
    if #events == 5 then
      break
    end
  end
  luatest.same(events, { "data: 1\n", "data: 2\n", "data: 3\n", "data: 4\n", "data: 5\n" })
  local connects = client._client:stats().connects
  resp:release()
  -- Released mid-body: the connection is dropped (the writer learns it)
  -- and not reused.
  wait_for(function()
    return state.ended
  end, "the writer to end")
  luatest.eq(state.ended, "cut off")
  luatest.eq(client:get("/"):text(), "still serving")
  luatest.eq(client._client:stats().connects, connects + 1)
end

function test_the_first_chunk_is_read_before_the_handler_writes_the_second(aiohttp_client)
  local state = {}
  local app = web.Application()
  app.router:add_get("/two", function(request)
    local resp = web.StreamResponse()
    resp:prepare(request)
    resp:write("first")
    wait_for(function()
      return state.got_first
    end, "the client to read the first chunk")
    resp:write("second")
    resp:write_eof()
    return resp
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/two")
  luatest.eq(resp.content:readany(), "first")
  luatest.eq(resp.content:at_eof(), false)
  state.got_first = true
  luatest.eq(resp:read(), "second")
  luatest.eq(resp.content:at_eof(), true)
  -- A body read to its end leaves the connection in the pool.
  luatest.eq(client:get("/two", { timeout = 0.01 }).status, 200)
  luatest.eq(client._client:stats().connects, 1)
end

function test_content_reads_as_aiohttps_stream_reader(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/lines", function(request)
    local resp = web.StreamResponse()
    resp:prepare(request)
    for _, piece in ipairs { "al", "pha\nbe", "ta\n", "gam", "ma" } do
      resp:write(piece)
      luatest.sleep(0.002)
    end
    resp:write_eof()
    return resp
  end)
  local client = aiohttp_client(app)
  local c = client:get("/lines").content
  luatest.eq(c:readline(), "alpha\n")
  luatest.eq(c:readexactly(3), "bet")
  luatest.eq(c:readline(), "a\n")
  luatest.eq(c:read(2), "ga")
  luatest.eq(c:read(), "mma")
  luatest.eq(c:read(), "")
  luatest.eq(c:at_eof(), true)
  local chunks = {}
  for chunk in client:get("/lines").content:iter_chunked(4) do
    assert(#chunk <= 4, chunk)
    chunks[#chunks + 1] = chunk
  end
  luatest.eq(table.concat(chunks), "alpha\nbeta\ngamma")
  luatest.raises(function()
    client:get("/lines").content:readexactly(100)
  end, "content:readexactly: 100 bytes wanted, 16 left")
end

function test_a_body_that_stalls_times_out_within_the_request_timeout(aiohttp_client)
  local state = {}
  local app = web.Application()
  app.router:add_get("/stall", function(request)
    local resp = web.StreamResponse()
    resp:prepare(request)
    resp:write("head and a bit")
    wait_for(function()
      return state.done
    end, "the test")
    return resp
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/stall", { timeout = 0.2 })
  luatest.eq(resp.content:readany(), "head and a bit")
  luatest.raises(function()
    resp:read()
  end, "content:read: timed out after 0.2s")
  state.done = true
end

function test_a_128_mib_body_nobody_reads_holds_the_writer_not_memory(aiohttp_client)
  local state = { sent = 0 }
  local chunk = ("s"):rep(64 * 1024)
  local app = web.Application()
  app.router:add_get("/huge", function(request)
    local resp = web.StreamResponse()
    resp:prepare(request)
    state.ended = pcall(function()
      for _ = 1, 128 * MiB / #chunk do
        resp:write(chunk)
        state.sent = state.sent + #chunk
      end
      resp:write_eof()
    end) and "finished" or "cut off"
    return resp
  end)
  local client = aiohttp_client(app)
  collectgarbage()
  local before = rss_kb()
  local resp = client:get("/huge")
  luatest.sleep(0.5)
  local sent, grown = state.sent, rss_kb() - before
  -- Server and client are this process: both stay small while the test
  -- does not read; the socket buffers hold the rest.
  assert(sent < 16 * MiB, "the handler sent " .. sent .. " bytes to a client that reads nothing")
  assert(grown < 32 * 1024, "the process grew by " .. grown .. " KB")
  -- Reading it all then goes through, piece by piece: the Lua heap never
  -- holds much of it at once (RSS would count what a sanitizer's
  -- quarantine keeps of the freed pieces).
  local total, heap_before, heap_most = 0, collectgarbage("count"), 0
  for piece in resp.content:iter_any() do
    total = total + #piece
    heap_most = math.max(heap_most, collectgarbage("count") - heap_before)
  end
  luatest.eq(total, 128 * MiB)
  luatest.eq(state.ended, "finished")
  assert(heap_most < 32 * 1024, "reading it grew the Lua heap by " .. heap_most .. " KB")
end

-- ---- bodies sent in pieces ----------------------------------------------------------------

local function upload_app(state)
  local app = web.Application()
  app.router:add_post("/up", function(request)
    state.te = request.headers["Transfer-Encoding"]
    local body = request:read()
    return web.Response { text = #body .. " " .. body:sub(1, 12) }
  end)
  return app
end

function test_a_function_body_is_sent_chunked(aiohttp_client)
  local state = {}
  local client = aiohttp_client(upload_app(state))
  local pieces = { "piece one;", "piece two;", "three" }
  local i = 0
  local resp = client:post("/up", {
    data = function()
      i = i + 1
      return pieces[i]
    end,
  })
  luatest.eq(resp:text(), "25 piece one;pi")
  luatest.eq(state.te, "chunked")
  -- An open file goes in pieces too.
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(("f"):rep(200000))
  f:close()
  f = assert(io.open(path, "rb"))
  luatest.eq(client:post("/up", { data = f }):text(), "200000 ffffffffffff")
  f:close()
  os.remove(path)
  luatest.eq(client._client:stats().connects, 1)
end

function test_a_body_sent_in_pieces_waits_for_a_server_that_does_not_read()
  -- A python server that takes the connection and reads nothing for a
  -- while, then all of it.
  local port, stop, output = python.serve([[
import socket, time
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print(ls.getsockname()[1], flush=True)
s, _ = ls.accept()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
time.sleep(1.5)
data = bytearray()
while not data.endswith(b"0\r\n\r\n"):
    more = s.recv(1 << 20)
    if not more:
        break
    data += more
head, _, rest = bytes(data).partition(b"\r\n\r\n")
body, at = 0, 0
while True:
    end = rest.index(b"\r\n", at)
    n = int(rest[at:end], 16)
    if n == 0:
        break
    body += n
    at = end + 2 + n + 2
answer = str(body).encode()
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
print(head.split(b"\r\n")[0].decode())
]])
  local client = core.client()
  collectgarbage()
  local before = rss_kb()
  local state = { written = 0 }
  local chunk = ("u"):rep(64 * 1024)
  local uploader = luatest.spawn(function()
    local up = client:upload("POST", "127.0.0.1", port, "/up", { "Content-Type", "text/plain" })
    while state.written < 64 * MiB do
      assert(up:write(chunk))
      state.written = state.written + #chunk
    end
    return assert(up:finish()).body
  end)
  luatest.sleep(0.5)
  local written, grown = state.written, rss_kb() - before
  assert(written < 16 * MiB, "the client produced " .. written .. " bytes for a server that reads nothing")
  assert(grown < 32 * 1024, "the process grew by " .. grown .. " KB")
  luatest.eq(uploader:wait(), tostring(64 * MiB))
  client:close()
  luatest.eq(output(), port .. "\nPOST /up HTTP/1.1\n")
  stop()
end

function test_an_answer_before_the_end_of_an_upload_ends_it(aiohttp_client)
  -- The server refuses the body past its 1 MiB limit (413) while the
  -- client still has most of 64 MiB to send: the upload stops there.
  local app = web.Application()
  app.router:add_post("/up", function(request)
    return web.Response { text = tostring(#request:read()) }
  end)
  local client = aiohttp_client(app)
  local written, chunk = 0, ("u"):rep(64 * 1024)
  local resp = client:post("/up", {
    data = function()
      if written < 64 * MiB then
        written = written + #chunk
        return chunk
      end
    end,
  })
  luatest.eq(resp.status, 413)
  assert(written < 32 * MiB, "the upload went on to " .. written .. " bytes")
end

function test_a_redirect_that_wants_a_streamed_body_again_is_an_error(aiohttp_client)
  local app = web.Application()
  app.router:add_post("/old", function()
    return web.Response { status = 307, headers = { Location = "/new" } }
  end)
  app.router:add_post("/new", function(request)
    return web.Response { text = request:read() }
  end)
  local client = aiohttp_client(app)
  local sent = false
  luatest.raises(function()
    client:post("/old", {
      data = function()
        if not sent then
          sent = true
          return "once"
        end
      end,
    })
  end, "a 307 redirect asks for the body again, which was streamed")
  -- A body given as a string follows the 307.
  luatest.eq(client:post("/old", { data = "twice" }):text(), "twice")
end
