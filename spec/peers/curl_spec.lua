-- curl, a real external client, gets the same answers as the TestClient.
local core = require "luatest.core"
local web = require "luatest.web"

local function app()
  local a = web.Application()
  a.router:add_get("/hello/{name}", function(request)
    local resp = web.Response { text = "Hello, " .. request.match_info.name }
    resp.headers["X-Greeting"] = "yes"
    return resp
  end)
  a.router:add_post("/echo", function(request)
    return web.json_response { form = request:post()["v"], agent = request.headers["User-Agent"] }
  end)
  return a
end

local function curl(...)
  local result = assert(core.exec({ "curl", "-sS", "-i", "--max-time", "10", ... }))
  assert(result.status == 0, "curl failed: " .. result.stderr)
  local head, body = result.stdout:match("^(.-)\r\n\r\n(.*)$")
  local status = tonumber(head:match("^HTTP/1.1 (%d+)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do
    headers[name:lower()] = value
  end
  return status, headers, body
end

function test_curl_and_test_client_get_the_same_answer(aiohttp_client)
  local client = aiohttp_client(app())
  local status, headers, body = curl(client:make_url("/hello/curl"))
  local resp = client:get("/hello/curl")
  assert(status == 200 and status == resp.status)
  assert(body == "Hello, curl" and body == resp:text())
  assert(headers["x-greeting"] == "yes" and headers["x-greeting"] == resp.headers["X-Greeting"])
  assert(headers["content-type"] == resp.headers["Content-Type"])
  assert(headers["content-length"] == resp.headers["Content-Length"])
end

function test_curl_posts_a_form(aiohttp_client)
  local client = aiohttp_client(app())
  local status, _, body = curl("--data", "v=from+curl", client:make_url("/echo"))
  assert(status == 200)
  local data = require("luatest.json").decode(body)
  assert(data.form == "from curl")
  assert(data.agent:find("^curl/"))
end

function test_curl_sees_404_and_405(aiohttp_client)
  local client = aiohttp_client(app())
  assert(curl(client:make_url("/nope")) == 404)
  local status, headers = curl("-X", "DELETE", client:make_url("/echo"))
  assert(status == 405 and headers["allow"] == "POST")
end

function test_curl_against_a_raw_server_with_cookies(aiohttp_raw_server, aiohttp_client)
  local server = aiohttp_raw_server(function(request)
    local resp = web.Response { text = request.method .. " " .. request.path_qs .. " cookie=" ..
      tostring(request.cookies.token) }
    resp.headers["Set-Cookie"] = "token=t1; Path=/"
    return resp
  end)
  local client = aiohttp_client(server)
  local url = client:make_url("/raw?x=1")
  local status, headers, body = curl("-b", "token=from-curl", url)
  local resp = client:get("/raw?x=1", { cookies = { token = "from-curl" } })
  assert(status == 200 and status == resp.status)
  assert(body == "GET /raw?x=1 cookie=from-curl" and body == resp:text(), body)
  assert(headers["set-cookie"] == "token=t1; Path=/")
  assert(resp.cookies.token == "t1" and client.cookie_jar:filter_cookies(url).token == "t1")
end

function test_curl_data_binary_cookie_files_and_http_1_0(aiohttp_client)
  local app = web.Application()
  app.router:add_post("/bytes", function(request)
    local body = request:read()
    return string.format("%d bytes, last %d", #body, body:byte(-1))
  end)
  app.router:add_get("/login", function()
    local resp = web.Response { text = "in" }
    resp:set_cookie("sid", "s3cr3t")
    return resp
  end)
  app.router:add_get("/me", function(request)
    return "sid=" .. tostring(request.cookies.sid) .. " version=" .. request.version
  end)
  local client = aiohttp_client(app)
  local file, jar = os.tmpname(), os.tmpname()
  local f = assert(io.open(file, "wb"))
  f:write("\0\1\2\3\255")
  f:close()
  local status, _, body = curl("--data-binary", "@" .. file, "-H", "Content-Type: application/octet-stream",
    client:make_url("/bytes"))
  assert(status == 200 and body == "5 bytes, last 255", body)
  status = curl("-c", jar, client:make_url("/login"))
  assert(status == 200)
  local result = assert(core.exec({ "curl", "-sS", "--http1.0", "-b", jar, client:make_url("/me") }))
  os.remove(file)
  os.remove(jar)
  assert(result.stdout == "sid=s3cr3t version=1.0", result.stdout .. result.stderr)
end
