-- multipart/form-data: parsed by request:post() and request:multipart(),
-- written by the client, sent by curl -F and Python's aiohttp; streams over
-- bodies with content:read(n).
local core = require "luatest.core"
local json = require "luatest.json"
local web = require "luatest.web"
local python = dofile(core.srcdir .. "/spec/support/python.lua")

local function upload_app()
  local app = web.Application { client_max_size = 16 * 1024 * 1024 }
  app.router:add_post("/upload", function(request)
    local form = request:post()
    local file = form["file"]
    return web.json_response {
      title = form["title"],
      tags = form:getall("tag"),
      filename = file and file.filename,
      file_type = file and file.content_type,
      size = file and #file.content,
      head = file and file.content:sub(1, 8),
    }
  end)
  app.router:add_post("/parts", function(request)
    local out = {}
    for part in request:multipart():parts() do
      out[#out + 1] = { part.name, part.filename or json.null, part:text() }
    end
    return web.json_response(out)
  end)
  app.router:add_post("/stream", function(request)
    local chunks = {}
    for chunk in request.content:iter_chunked(4) do
      chunks[#chunks + 1] = chunk
    end
    return table.concat(chunks, "|")
  end)
  return app
end

function test_client_uploads_fields_and_files(aiohttp_client)
  local client = aiohttp_client(upload_app())
  local data = client:post("/upload", { data = {
    { "title", "report" },
    { "tag", "a" },
    { "tag", "b" },
    { "file", { filename = "r.bin", content = "\0\1binary\r\n--x", content_type = "application/x-test" } },
  } }):json()
  assert(data.title == "report")
  assert(data.tags[1] == "a" and data.tags[2] == "b")
  assert(data.filename == "r.bin" and data.file_type == "application/x-test")
  assert(data.size == 13 and data.head == "\0\1binary")
end

function test_multipart_reader_iterates_parts(aiohttp_client)
  local client = aiohttp_client(upload_app())
  local parts = client:post("/parts", { data = {
    { "one", "1" },
    { "two", { filename = "t.txt", content = "second" } },
  } }):json()
  assert(#parts == 2)
  assert(parts[1][1] == "one" and parts[1][2] == json.null and parts[1][3] == "1")
  assert(parts[2][1] == "two" and parts[2][2] == "t.txt" and parts[2][3] == "second")
end

function test_malformed_multipart_is_a_400(aiohttp_client)
  local client = aiohttp_client(upload_app())
  local bodies = {
    "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
    "garbage without boundaries",
    "--b\r\nno-colon-header\r\n\r\nx\r\n--b--\r\n",
  }
  for _, body in ipairs(bodies) do
    local resp = client:post("/upload", { data = body,
      headers = { ["Content-Type"] = "multipart/form-data; boundary=b" } })
    assert(resp.status == 400, resp.status)
    assert(resp:text():find("multipart", 1, true), resp:text())
  end
  local resp = client:post("/upload", { data = "x", headers = { ["Content-Type"] = "multipart/form-data" } })
  assert(resp.status == 400 and resp:text():find("without a boundary", 1, true))
  assert(#require("luatest.test_utils").take_handler_errors() == 0)
end

function test_content_read_in_pieces(aiohttp_client)
  local client = aiohttp_client(upload_app())
  assert(client:post("/stream", { data = "abcdefghij" }):text() == "abcd|efgh|ij")
  local resp = client:get("/missing")
  assert(resp.content:read(3) == "404")
  assert(resp.content:read() == ": Not Found")
end

function test_curl_form_upload(aiohttp_client)
  local client = aiohttp_client(upload_app())
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write("curl file content")
  f:close()
  local result = assert(core.exec({ "curl", "-sS", "-F", "title=from curl", "-F", "tag=x",
    "-F", "file=@" .. path .. ";filename=c.txt;type=text/plain", client:make_url("/upload") }))
  os.remove(path)
  assert(result.status == 0, result.stderr)
  local data = json.decode(result.stdout)
  assert(data.title == "from curl" and data.tags[1] == "x")
  assert(data.filename == "c.txt" and data.file_type == "text/plain" and data.size == 17)
end

function test_python_aiohttp_multipart_upload(aiohttp_client)
  local client = aiohttp_client(upload_app())
  local script = [[
import asyncio, json, sys, aiohttp
async def main(url):
    form = aiohttp.FormData()
    form.add_field("title", "from python")
    form.add_field("tag", "p1")
    form.add_field("tag", "p2")
    form.add_field("file", b"\x00\x01python bytes", filename="p.bin", content_type="application/x-py")
    async with aiohttp.ClientSession() as s:
        async with s.post(url, data=form) as r:
            print(await r.text())
asyncio.run(main(sys.argv[1]))
]]
  local data = json.decode(python.run(script, client:make_url("/upload")))
  assert(data.title == "from python" and data.tags[2] == "p2")
  assert(data.filename == "p.bin" and data.file_type == "application/x-py" and data.size == 14)
end

function test_a_10_mb_file_upload(aiohttp_client)
  local client = aiohttp_client(upload_app())
  local content = string.rep("0123456789abcdef", 640 * 1024)
  local t0 = core.hrtime()
  local data = client:post("/upload", { data = { { "file", { filename = "big.bin", content = content } } } }):json()
  local dt = core.hrtime() - t0
  assert(data.size == #content and data.head == "01234567")
  assert(dt < 5, dt)
end
