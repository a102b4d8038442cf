-- Client responses arrive with their head; the body is read as it comes,
-- and a body nobody reads holds the server's writer, not memory.
local luatest = require "luatest"
local web = require "luatest.web"

local MiB = 1024 * 1024

local function rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
  f:close()
  return kb
end

local function wait_for(cond, what)
  for _ = 1, 500 do
    if cond() then
      return
    end
    luatest.sleep(0.01)
  end
  error("waited 5 s for " .. what)
end

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
      for _ = 1, 128 * MiB // #chunk do
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
  -- Reading it all then goes through, still in bounded memory.
  local total = 0
  for piece in resp.content:iter_any() do
    total = total + #piece
  end
  luatest.eq(total, 128 * MiB)
  luatest.eq(state.ended, "finished")
  assert(rss_kb() - before < 32 * 1024, "reading it grew the process by " .. (rss_kb() - before) .. " KB")
end
