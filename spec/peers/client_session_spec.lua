-- ClientSession against servers that are not ours: a Python aiohttp app
-- and `python3 -m http.server`, each started by the spec; JSON that
-- round-trips, compression, cookies, auth, redirects and the error classes.
local luatest = require "luatest"
local core = require "luatest.core"
local client = require "luatest.client"
local python = dofile(core.srcdir .. "/spec/support/python.lua")
local errors = client.errors
local eq = luatest.eq

local APP = [==[
import asyncio, base64, sys
from aiohttp import web

todos = {}

async def create(request):
    body = await request.json()
    todo_id = len(todos) + 4
    todos[todo_id] = body
    return web.json_response({"id": todo_id, "big": 1234567890123456789, "items": [], "title": body["title"]},
                             status=201)

async def get_todo(request):
    todo = todos.get(int(request.match_info["id"]))
    if todo is None:
        raise web.HTTPNotFound()
    return web.json_response(todo)

async def compressed(request):
    resp = web.Response(text="squeezed " * 200)
    resp.enable_compression(web.ContentCoding[request.match_info["coding"]])
    return resp

async def cookies(request):
    resp = web.Response(text="set")
    resp.set_cookie("id", "root", path="/")
    resp.set_cookie("gone", "1", max_age=0)
    return resp

async def api_cookie(request):
    resp = web.Response(text="set")
    resp.set_cookie("id", "api", path="/api")
    return resp

async def echo_cookies(request):
    return web.Response(text=request.headers.get("Cookie", ""))

async def auth(request):
    return web.Response(text=request.headers.get("Authorization", "none"))

async def redirect(request):
    n = int(request.match_info["n"])
    raise web.HTTPFound("/redirect/%d" % (n - 1) if n > 1 else "/plain")

async def plain(request):
    return web.Response(text="plain text")

async def ws_echo(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_json({"echo": msg.data, "cookie": request.cookies.get("sid")})
    return ws

async def slow(request):
    await asyncio.sleep(5)
    return web.Response(text="late")

app = web.Application()
app.router.add_post("/todos", create)
app.router.add_get("/todos/{id}", get_todo)
app.router.add_get("/compressed/{coding}", compressed)
app.router.add_get("/cookies", cookies)
app.router.add_get("/api/cookies", echo_cookies)
app.router.add_get("/api/set", api_cookie)
app.router.add_get("/cookies/echo", echo_cookies)
app.router.add_get("/auth", auth)
app.router.add_get("/redirect/{n}", redirect)
app.router.add_get("/plain", plain)
app.router.add_get("/slow", slow)
app.router.add_get("/ws", ws_echo)

async def main():
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
]==]

luatest.fixture("py_app", function()
  local port, stop = python.serve(APP)
  return "http://127.0.0.1:" .. port, stop
end)

function test_a_json_service_round_trips_ids_and_big_integers(py_app)
  local session = client.ClientSession { base_url = py_app }
  local resp = session:post("/todos", { json = { title = "x" } })
  eq(resp.status, 201)
  local created = resp:json()
  eq(created.id, 4)
  eq(created.items and #created.items, 0)
  if math.type and not jit then
    eq(created.big, 1234567890123456789)
  end
  -- "/todos/" .. id is a path that exists, not /todos/4.0
  local got = session:get("/todos/" .. created.id)
  eq(got.status, 200)
  eq(got:json().title, "x")
  session:close()
end

function test_resp_json_checks_the_content_type_as_aiohttp(py_app)
  local session = client.ClientSession { base_url = py_app }
  local resp = session:get("/plain")
  local err = luatest.raises(function()
    resp:json()
  end, errors.ContentTypeError)
  assert(tostring(err):find("Attempt to decode JSON with unexpected mimetype: text/plain", 1, true), tostring(err))
  assert(errors.is(err, errors.ClientResponseError))
  -- content_type = false skips the check: then "plain text" is no JSON
  err = luatest.raises(function()
    session:get("/plain"):json { content_type = false }
  end, "invalid JSON")
  assert(not errors.is(err, errors.ContentTypeError))
  session:close()
end

function test_gzip_and_deflate_bodies_are_decompressed(py_app)
  local session = client.ClientSession { base_url = py_app }
  for _, coding in ipairs { "gzip", "deflate" } do
    local resp = session:get("/compressed/" .. coding)
    eq(resp.headers["Content-Encoding"], coding)
    eq(resp:text(), string.rep("squeezed ", 200))
  end
  -- auto_decompress = false keeps the bytes
  local raw = session:get("/compressed/gzip", { auto_decompress = false }):read()
  eq(raw:sub(1, 2), "\31\139")
  session:close()
end

function test_cookies_by_path_and_max_age_zero(py_app)
  local session = client.ClientSession { base_url = py_app,
    cookie_jar = client.CookieJar { unsafe = true } }
  session:get("/cookies")
  session:get("/api/set")
  eq(session.cookie_jar:len(), 2) -- one name on two paths, and "gone" expired at once
  eq(session:get("/api/cookies"):text(), "id=api; id=root")
  eq(session:get("/cookies/echo"):text(), "id=root")
  session:close()
  -- the default jar refuses cookies from an IP host, as aiohttp's
  local strict = client.ClientSession { base_url = py_app }
  strict:get("/cookies")
  eq(strict.cookie_jar:len(), 0)
  strict:close()
end

function test_basic_auth_on_the_session_and_per_request(py_app)
  local session = client.ClientSession { base_url = py_app, auth = client.BasicAuth("user", "pass") }
  eq(session:get("/auth"):text(), "Basic dXNlcjpwYXNz")
  eq(session:get("/auth", { auth = client.BasicAuth("other") }):text(), "Basic b3RoZXI6")
  session:close()
end

function test_redirects_history_and_too_many(py_app)
  local session = client.ClientSession { base_url = py_app }
  local resp = session:get("/redirect/2")
  eq(resp:text(), "plain text")
  eq(#resp.history, 2)
  eq(resp.history[1].status, 302)
  -- two redirects with max_redirects = 2 fail, as aiohttp
  local err = luatest.raises(function()
    session:get("/redirect/2", { max_redirects = 2 })
  end, errors.TooManyRedirects)
  eq(#err.history, 2)
  session:close()
end

function test_errors_have_classes(py_app)
  local session = client.ClientSession { base_url = py_app, raise_for_status = true }
  local err = luatest.raises(function()
    session:get("/todos/999")
  end, errors.ClientResponseError)
  eq(err.status, 404)
  eq(tostring(err), "404, message='Not Found', url='" .. py_app .. "/todos/999'")
  err = luatest.raises(function()
    session:get("/slow", { timeout = 0.2 })
  end, errors.ServerTimeoutError)
  assert(tostring(err):find("client:get: timed out after 0.2s", 1, true), tostring(err))
  assert(errors.is(err, errors.ClientConnectionError) and errors.is(err, errors.ClientError))
  local port = require("luatest.test_utils").unused_port()
  err = luatest.raises(function()
    session:get("http://127.0.0.1:" .. port .. "/")
  end, errors.ClientConnectorError)
  assert(tostring(err):find("client:get: ECONNREFUSED", 1, true), tostring(err))
  luatest.raises(function()
    session:get("ftp://127.0.0.1/")
  end, errors.InvalidURL)
  session:close()
end

function test_unknown_options_are_errors_naming_them(py_app)
  local err = luatest.raises(function()
    client.ClientSession { base_url = py_app, timout = 1 }
  end)
  assert(tostring(err):find("ClientSession: unknown option 'timout'", 1, true), tostring(err))
  local session = client.ClientSession { base_url = py_app }
  err = luatest.raises(function()
    session:get("/plain", { parms = { a = 1 } })
  end)
  assert(tostring(err):find("client:get: unknown option 'parms'", 1, true), tostring(err))
  session:close()
end

function test_a_python_http_server_serves_a_directory()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local f = assert(io.open(dir .. "/hello.txt", "w"))
  f:write("hello from http.server\n")
  f:close()
  local port, stop = python.serve(string.format([[
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=%q)
httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
print(httpd.server_address[1], httpd.server_address[1] and httpd.server_port, flush=True)
httpd.serve_forever()
]], dir))
  local session = client.ClientSession()
  local resp = session:get("http://127.0.0.1:" .. port .. "/hello.txt")
  eq(resp.status, 200)
  eq(resp:text(), "hello from http.server\n")
  eq(session:get("http://127.0.0.1:" .. port .. "/missing").status, 404)
  session:close()
  stop()
  os.execute("rm -rf " .. dir)
end

-- Our server compresses as aiohttp's does, and a Python aiohttp client
-- reads it; our client decodes it.
function test_our_server_compresses_for_aiohttp_and_for_us(aiohttp_client)
  local web = require "luatest.web"
  local app = web.Application()
  app.router:add_get("/auto", function()
    local resp = web.Response { text = string.rep("compress me ", 100) }
    resp:enable_compression()
    return resp
  end)
  app.router:add_get("/gzip", function()
    return web.Response { text = string.rep("gz ", 100), compress = "gzip" }
  end)
  local c = aiohttp_client(app)
  local resp = c:get("/auto")
  eq(resp.headers["Content-Encoding"], "deflate") -- aiohttp's first choice
  eq(resp:text(), string.rep("compress me ", 100))
  eq(c:get("/gzip"):text(), string.rep("gz ", 100))
  -- a request that accepts neither gets the body as it is
  resp = c:get("/auto", { headers = { ["Accept-Encoding"] = "br" } })
  eq(resp.headers["Content-Encoding"], nil)
  eq(resp:text(), string.rep("compress me ", 100))
  local out = python.run([[
import asyncio, sys, aiohttp
async def main(url):
    async with aiohttp.ClientSession() as s:
        for path in ("/auto", "/gzip"):
            async with s.get(url + path) as r:
                body = await r.text()
                print(r.headers.get("Content-Encoding"), len(body), body[:3])
asyncio.run(main(sys.argv[1]))
]], (c:make_url("/"):gsub("/$", "")))
  eq(out, "deflate 1200 com\ngzip 300 gz \n")
end

function test_form_data_urlencoded_or_multipart_as_aiohttp(aiohttp_client)
  local web = require "luatest.web"
  local app = web.Application()
  app.router:add_post("/form", function(request)
    local ctype = request.headers["Content-Type"]
    local form = request:post()
    local file = form.upload
    return web.json_response { kind = ctype:match("^[^;]+"), name = form.name,
      file = type(file) == "table" and { file.filename, file.content_type, file.file or file.content } or file }
  end)
  local c = aiohttp_client(app)
  local plain = client.FormData { name = "ada lovelace" }
  local got = c:post("/form", { data = plain }):json()
  eq(got.kind, "application/x-www-form-urlencoded")
  eq(got.name, "ada lovelace")
  local form = client.FormData()
  form:add_field("name", "ada")
  form:add_field("upload", "file body\n", { filename = "notes.txt", content_type = "text/plain" })
  got = c:post("/form", { data = form }):json()
  eq(got.kind, "multipart/form-data")
  eq(got.name, "ada")
  eq(got.file[1], "notes.txt")
  eq(got.file[2], "text/plain")
  local err = luatest.raises(function()
    form:add_field("x", "y", { file_name = "z" })
  end)
  assert(tostring(err):find("FormData:add_field: unknown option 'file_name'", 1, true), tostring(err))
end

function test_a_session_left_open_is_reported_as_a_leak()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local f = assert(io.open(dir .. "/leak_spec.lua", "w"))
  f:write([[
local client = require "luatest.client"
function test_forgets_to_close()
  local session = client.ClientSession()
  assert(session)
end
]])
  f:close()
  local bin = os.getenv("LUATEST_BIN") or (core.srcdir .. "/luatest")
  local r = assert(core.exec({ bin, "--no-color", dir .. "/leak_spec.lua" }, { timeout = 30 }))
  os.execute("rm -rf " .. dir)
  assert(r.stdout:find("the test left 1 object open:", 1, true), r.stdout)
  assert(r.stdout:find("client created at " .. dir .. "/leak_spec.lua:3", 1, true), r.stdout)
end

function test_ws_connect_to_a_ws_url_of_aiohttp(py_app)
  local session = client.ClientSession { cookie_jar = client.CookieJar { unsafe = true } }
  session.cookie_jar:update_cookies({ sid = "s1" })
  local ws = session:ws_connect((py_app:gsub("^http", "ws")) .. "/ws")
  ws:send_str("hi")
  local got = ws:receive_json()
  eq(got.echo, "hi")
  eq(got.cookie, "s1")
  ws:close()
  session:close()
end
