-- Static files and FileResponse, response cookies, and a few request
-- fields: remote, and a malformed query string answered with 400.
local core = require "luatest.core"
local web = require "luatest.web"
local luatest = require "luatest"

luatest.fixture("static_dir", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(core.exec and os.execute("mkdir -p " .. dir .. "/sub"))
  local function write(name, data)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(data)
    f:close()
  end
  write("index.html", "<h1>hi</h1>")
  write("style.css", "body{}")
  write("data.json", '{"a":1}')
  write("blob.bin", "\0\1\2")
  write("sub/deep.txt", "deep")
  local secret = dir .. "-secret.txt"
  local f = assert(io.open(secret, "w"))
  f:write("top secret")
  f:close()
  return dir, function()
    os.execute("rm -rf " .. dir .. " " .. secret)
  end
end)

function test_static_files_with_types_and_dates(aiohttp_client, static_dir)
  local app = web.Application()
  app.router:add_static("/static/", static_dir)
  local client = aiohttp_client(app)
  local resp = client:get("/static/index.html")
  assert(resp.status == 200 and resp:text() == "<h1>hi</h1>")
  assert(resp.headers["Content-Type"] == "text/html", resp.headers["Content-Type"])
  assert(resp.headers["Last-Modified"]:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"))
  assert(client:get("/static/style.css").headers["Content-Type"] == "text/css")
  assert(client:get("/static/data.json"):json().a == 1)
  local blob = client:get("/static/blob.bin")
  assert(blob:read() == "\0\1\2" and blob.headers["Content-Type"] == "application/octet-stream")
  assert(client:get("/static/sub/deep.txt"):text() == "deep")
  assert(client:head("/static/sub/deep.txt").headers["Content-Length"] == "4")
  assert(client:get("/static/missing.txt").status == 404)
  assert(client:get("/static/sub").status == 403)
end

function test_if_modified_since_gives_304(aiohttp_client, static_dir)
  local app = web.Application()
  app.router:add_static("/s", static_dir)
  local client = aiohttp_client(app)
  local first = client:get("/s/index.html")
  local last_modified = first.headers["Last-Modified"]
  local resp = client:get("/s/index.html", { headers = { ["If-Modified-Since"] = last_modified } })
  assert(resp.status == 304 and resp:read() == "")
  resp = client:get("/s/index.html", { headers = { ["If-Modified-Since"] = "Thu, 01 Jan 1970 00:00:00 GMT" } })
  assert(resp.status == 200)
  assert(web._parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777)
end

function test_traversal_is_refused(aiohttp_client, static_dir)
  local app = web.Application()
  app.router:add_static("/static", static_dir)
  local client = aiohttp_client(app)
  local secret = static_dir:match("[^/]+$") .. "-secret.txt"
  for _, path in ipairs {
    "/static/../" .. secret,
    "/static/%2e%2e/" .. secret,
    "/static/sub/../../" .. secret,
    "/static/%2E%2E%2F" .. secret,
  } do
    local got = core.tcp_exchange("127.0.0.1", client.port,
      "GET " .. path .. " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert(got:find("^HTTP/1.1 40[34] "), path .. ": " .. got:sub(1, 60))
    assert(not got:find("top secret", 1, true), path)
  end
  assert(client:get("/static/sub/../index.html"):text() == "<h1>hi</h1>")
end

function test_file_response(aiohttp_client, static_dir)
  local app = web.Application()
  app.router:add_get("/report", function()
    return web.FileResponse(static_dir .. "/data.json")
  end)
  app.router:add_get("/gone", function()
    return web.FileResponse(static_dir .. "/nope")
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/report")
  assert(resp.status == 200 and resp.content_type == "application/json" and resp:json().a == 1)
  assert(client:get("/gone").status == 404)
end

function test_set_and_delete_cookies(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/set", function()
    local resp = web.Response { text = "set" }
    resp:set_cookie("session", "abc", { httponly = true, max_age = 3600, samesite = "Lax" })
    resp:set_cookie("plain", "1")
    resp:set_cookie("plain", "2")
    return resp
  end)
  app.router:add_get("/del", function()
    local resp = web.Response { text = "del" }
    resp:del_cookie("session")
    return resp
  end)
  app.router:add_get("/show", function(request)
    return web.json_response(request.cookies)
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/set")
  local set = resp.headers:getall("Set-Cookie")
  assert(#set == 2, #set)
  assert(set[1] == "session=abc; HttpOnly; Max-Age=3600; Path=/; SameSite=Lax", set[1])
  assert(set[2] == "plain=2; Path=/", set[2])
  assert(client:get("/show"):json().session == "abc")
  resp = client:get("/del")
  assert(resp.headers["Set-Cookie"] ==
    "session=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/", resp.headers["Set-Cookie"])
  local shown = client:get("/show"):json()
  assert(shown.session == nil and shown.plain == "2")
  local ok, err = pcall(web.Response().set_cookie, web.Response(), "bad", "a;b")
  assert(not ok and err:find("contains ';'", 1, true), err)
end

function test_remote_and_scheme(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function(request)
    return request.remote .. " " .. request.scheme .. " " .. request.url
  end)
  local client = aiohttp_client(app)
  assert(client:get("/?a=1"):text() == "127.0.0.1 http http://127.0.0.1:" .. client.port .. "/?a=1")
end

function test_bad_percent_encoding_in_the_query_is_a_400(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/q", function(request)
    return request.query["a"] or "none"
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/q?a=%zz")
  assert(resp.status == 400, resp.status)
  assert(resp:text():find("bad percent-encoding", 1, true), resp:text())
  assert(client:get("/q?a=%41"):text() == "A")
end
