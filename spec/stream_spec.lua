-- StreamResponse: prepare, write, write_eof; chunked without a length.
local core = require "luatest.core"
local luatest = require "luatest"
local web = require "luatest.web"

local function stream_app()
  local app = web.Application()
  app.router:add_get("/chunks", function(request)
    local resp = web.StreamResponse { headers = { ["X-Stream"] = "yes" } }
    resp.content_type = "text/plain"
    resp:prepare(request)
    for i = 1, 3 do
      resp:write("part" .. i .. ";")
      luatest.sleep(0.01)
    end
    resp:write_eof("end")
    return resp
  end)
  app.router:add_get("/sized", function(request)
    local resp = web.StreamResponse()
    resp.headers["Content-Length"] = "10"
    resp:prepare(request)
    resp:write("01234")
    resp:write("56789")
    resp:write_eof()
    return resp
  end)
  app.router:add_get("/unended", function(request)
    local resp = web.StreamResponse()
    resp:prepare(request)
    resp:write("not ended by the handler")
    return resp
  end)
  return app
end

function test_stream_is_chunked_and_reassembled(aiohttp_client)
  local client = aiohttp_client(stream_app())
  local resp = client:get("/chunks")
  assert(resp.status == 200)
  assert(resp:text() == "part1;part2;part3;end", resp:text())
  assert(resp.headers["Transfer-Encoding"] == "chunked")
  assert(resp.headers["X-Stream"] == "yes")
  assert(resp.headers["Content-Type"] == "text/plain")
  -- The connection is reused after a chunked answer.
  assert(client:get("/sized"):text() == "0123456789")
  assert(client._client:stats().connects == 1)
end

function test_stream_on_the_wire(aiohttp_server)
  local server = aiohttp_server(stream_app())
  local got = core.tcp_exchange("127.0.0.1", server.port,
    "GET /chunks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
  assert(got:find("\r\n\r\n6\r\npart1;\r\n6\r\npart2;\r\n6\r\npart3;\r\n3\r\nend\r\n0\r\n\r\n$"), got)
  got = core.tcp_exchange("127.0.0.1", server.port, "GET /chunks HTTP/1.0\r\n\r\n")
  assert(got:find("^HTTP/1.0 200 OK\r\n"), got)
  assert(not got:find("chunked", 1, true))
  assert(got:find("\r\n\r\npart1;part2;part3;end$"), got)
end

function test_a_stream_left_open_is_ended(aiohttp_client)
  local client = aiohttp_client(stream_app())
  assert(client:get("/unended"):text() == "not ended by the handler")
end
