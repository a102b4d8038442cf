-- luatest.web: applications, routing, requests and responses.
local web = require "luatest.web"
local json = require "luatest.json"

describe("routing", function()
  it("matches {name} segments into match_info", function(aiohttp_client)
    local app = web.Application()
    app.router:add_get("/users/{id}/posts/{slug}", function(request)
      return request.match_info.id .. "/" .. request.match_info.slug .. "/" ..
        tostring(request.match_info.missing)
    end)
    local client = aiohttp_client(app)
    assert(client:get("/users/7/posts/hello%20there"):text() == "7/hello there/nil")
  end)

  it("matches {name:regex} segments", function(aiohttp_client)
    local app = web.Application()
    app.router:add_get("/n/{num:\\d+}", function(request)
      return "number " .. request.match_info.num
    end)
    app.router:add_get("/n/{word}", function(request)
      return "word " .. request.match_info.word
    end)
    local client = aiohttp_client(app)
    assert(client:get("/n/42"):text() == "number 42")
    assert(client:get("/n/abc"):text() == "word abc")
  end)

  it("answers 404 and 405 with Allow as aiohttp does", function(aiohttp_client)
    local app = web.Application()
    local function ok()
      return "ok"
    end
    app.router:add_get("/r", ok)
    app.router:add_post("/r", ok)
    local client = aiohttp_client(app)
    local resp = client:get("/nothing")
    assert(resp.status == 404)
    assert(resp:text() == "404: Not Found")
    assert(resp.headers["Content-Type"] == "text/plain; charset=utf-8")
    resp = client:delete("/r")
    assert(resp.status == 405)
    assert(resp:text() == "405: Method Not Allowed")
    assert(resp.headers["Allow"] == "GET,HEAD,POST", resp.headers["Allow"])
  end)

  it("routes every verb and '*'", function(aiohttp_client)
    local app = web.Application()
    local function method(request)
      return request.method
    end
    app.router:add_put("/put", method)
    app.router:add_patch("/patch", method)
    app.router:add_delete("/delete", method)
    app.router:add_route("*", "/any", method)
    local client = aiohttp_client(app)
    assert(client:put("/put"):text() == "PUT")
    assert(client:patch("/patch"):text() == "PATCH")
    assert(client:delete("/delete"):text() == "DELETE")
    assert(client:request("PROPFIND", "/any"):text() == "PROPFIND")
    assert(client:post("/any"):text() == "POST")
  end)

  it("refuses bad patterns and handlers with a message", function()
    local app = web.Application()
    local ok, err = pcall(app.router.add_get, app.router, "no-slash", function() end)
    assert(not ok and err:find("should start with '/'", 1, true), err)
    ok, err = pcall(app.router.add_get, app.router, "/x", 42)
    assert(not ok and err:find("handler must be a function", 1, true), err)
    ok, err = pcall(app.router.add_get, app.router, "/x/{", function() end)
    assert(not ok and err:find("unbalanced", 1, true), err)
  end)

  it("builds URLs of named routes", function()
    local app = web.Application()
    app.router:add_get("/users/{id}", function() end, { name = "user" })
    assert(app.router["user"]:url_for { id = "a b" } == "/users/a%20b")
    assert(app.router["user"]:url_for({ id = 1 }, { q = "x" }) == "/users/1?q=x")
  end)
end)

describe("application state", function()
  it("keeps user data under any key, AppKey included", function(aiohttp_client)
    local key = web.AppKey("counter")
    local app = web.Application()
    app[key] = 0
    app["name"] = "demo"
    app.router:add_get("/", function(request)
      request.app[key] = request.app[key] + 1
      return request.app.name .. " " .. request.app[key]
    end)
    local client = aiohttp_client(app)
    assert(client:get("/"):text() == "demo 1")
    assert(client:get("/"):text() == "demo 2")
    assert(app[key] == 2)
    assert(app.missing == nil)
    assert(tostring(key) == "<AppKey(counter)>")
  end)

  it("refuses assignment to its fields", function()
    local app = web.Application()
    local ok, err = pcall(function()
      app.router = {}
    end)
    assert(not ok and err:find("app.router: cannot assign", 1, true), err)
  end)
end)

describe("requests", function()
  it("exposes method, path, query, headers and version", function(aiohttp_client)
    local seen
    local app = web.Application()
    app.router:add_get("/p/{x}", function(request)
      seen = {
        method = request.method, path = request.path, path_qs = request.path_qs,
        raw_path = request.raw_path, query_a = request.query["a"], all_a = request.query:getall("a"),
        query_missing = request.query["zzz"], header = request.headers["x-test"],
        header_missing = request.headers["X-Nope"], version = request.version,
        keep_alive = request.keep_alive, host = request.host, query_string = request.query_string,
        can_read_body = request.can_read_body, content_length = request.content_length,
      }
      request.user = "stored"
      seen.user = request.user
      return "ok"
    end)
    local client = aiohttp_client(app)
    client:get("/p/%C3%A9t%C3%A9?a=1&a=2&b=x+y", { headers = { ["X-Test"] = "yes" } })
    assert(seen.method == "GET")
    assert(seen.path == "/p/été")
    assert(seen.raw_path == "/p/%C3%A9t%C3%A9?a=1&a=2&b=x+y")
    assert(seen.path_qs == seen.raw_path)
    assert(seen.query_string == "a=1&a=2&b=x+y")
    assert(seen.query_a == "1" and seen.all_a[2] == "2" and seen.query_missing == nil)
    assert(seen.header == "yes" and seen.header_missing == nil)
    assert(seen.version == "1.1" and seen.keep_alive == true)
    assert(seen.host == "127.0.0.1:" .. client.port)
    assert(seen.can_read_body == false and seen.content_length == nil)
    assert(seen.user == "stored")
  end)

  it("reads bodies as bytes, text, JSON and urlencoded forms", function(aiohttp_client)
    local app = web.Application()
    app.router:add_post("/read", function(request)
      return tostring(#request:read()) .. ":" .. request:text()
    end)
    app.router:add_post("/json", function(request)
      local data = request:json()
      return web.json_response { doubled = data.n * 2, null = data.missing == json.null }
    end)
    app.router:add_post("/form", function(request)
      local form = request:post()
      return form["name"] .. "|" .. table.concat(form:getall("tag"), ",") .. "|" .. request.content_type
    end)
    local client = aiohttp_client(app)
    assert(client:post("/read", { data = "a\0b" }):text() == "3:a\0b")
    local data = client:post("/json", { json = { n = 21, missing = json.null } }):json()
    assert(data.doubled == 42 and data.null == true)
    local resp = client:post("/form", { data = { { "name", "A B" }, { "tag", "x" }, { "tag", "y&z" } } })
    assert(resp:text() == "A B|x,y&z|application/x-www-form-urlencoded", resp:text())
  end)

  it("turns invalid JSON into a 500 with the parse position in the report", function(aiohttp_client)
    local app = web.Application()
    app.router:add_post("/json", function(request)
      return web.json_response(request:json())
    end)
    local client = aiohttp_client(app)
    assert(client:post("/json", { data = "{bad" }).status == 500)
    local errors = require("luatest.test_utils").take_handler_errors()
    assert(errors[1]:find("request:json: invalid JSON", 1, true), errors[1])
    assert(errors[1]:find("(line 1, column ", 1, true), errors[1])
  end)

  it("refuses assignment to request fields", function(aiohttp_client)
    local app = web.Application()
    app.router:add_get("/", function(request)
      local ok, err = pcall(function()
        request.method = "POST"
      end)
      return tostring(ok) .. " " .. err
    end)
    local client = aiohttp_client(app)
    assert(client:get("/"):text():find("false .*request.method: cannot assign"))
  end)
end)

describe("responses", function()
  it("has aiohttp's defaults for text, body and json", function(aiohttp_client)
    local app = web.Application()
    app.router:add_get("/text", function()
      return web.Response { text = "t" }
    end)
    app.router:add_get("/body", function()
      return web.Response { body = "\1\2" }
    end)
    app.router:add_get("/json", function()
      return web.json_response({ a = 1 }, { status = 201 })
    end)
    app.router:add_get("/custom", function()
      local resp = web.Response { status = 202, reason = "Fine", text = "<b>", content_type = "text/html" }
      resp.headers["X-One"] = "1"
      resp.headers:add("X-Many", "a")
      resp.headers:add("X-Many", "b")
      return resp
    end)
    app.router:add_get("/sugar", function()
      return "plain string"
    end)
    local client = aiohttp_client(app)
    local resp = client:get("/text")
    assert(resp.headers["Content-Type"] == "text/plain; charset=utf-8")
    resp = client:get("/body")
    assert(resp.headers["Content-Type"] == "application/octet-stream" and resp:read() == "\1\2")
    resp = client:get("/json")
    assert(resp.status == 201 and resp.headers["Content-Type"] == "application/json; charset=utf-8")
    assert(resp:json().a == 1)
    resp = client:get("/custom")
    assert(resp.status == 202 and resp.reason == "Fine")
    assert(resp.headers["Content-Type"] == "text/html; charset=utf-8")
    assert(resp.headers["X-One"] == "1")
    assert(table.concat(resp.headers:getall("X-Many"), ",") == "a,b")
    resp = client:get("/sugar")
    assert(resp:text() == "plain string" and resp.content_type == "text/plain")
  end)

  it("lets fields be read and changed", function()
    local resp = web.Response { text = "hello" }
    assert(resp.status == 200 and resp.text == "hello" and resp.body == "hello")
    assert(resp.content_type == "text/plain" and resp.charset == "utf-8")
    resp.text = "bye"
    resp.status = 418
    assert(resp.body == "bye" and resp.status == 418)
  end)

  it("sends HTTP exceptions returned or raised", function(aiohttp_client)
    local app = web.Application()
    app.router:add_get("/raised", function()
      error(web.HTTPForbidden { text = "go away" })
    end)
    app.router:add_get("/returned", function()
      return web.HTTPConflict { reason = "Clash" }
    end)
    app.router:add_get("/redirect", function()
      error(web.HTTPSeeOther("/elsewhere", { headers = { ["X-Why"] = "moved" } }))
    end)
    local client = aiohttp_client(app)
    local resp = client:get("/raised")
    assert(resp.status == 403 and resp:text() == "go away")
    resp = client:get("/returned")
    assert(resp.status == 409 and resp.reason == "Clash" and resp:text() == "409: Clash")
    resp = client:get("/redirect", { allow_redirects = false })
    assert(resp.status == 303 and resp.headers["Location"] == "/elsewhere")
    assert(resp.headers["X-Why"] == "moved")
    assert(#require("luatest.test_utils").take_handler_errors() == 0)
  end)

  it("has every aiohttp exception class with status and reason", function()
    local e = web.HTTPNotFound()
    assert(e.status == 404 and e.reason == "Not Found" and e.text == "404: Not Found")
    e = web.HTTPMethodNotAllowed("put", { "GET", "POST" })
    assert(e.status == 405 and e.headers["Allow"] == "GET,POST" and e.method == "PUT")
    e = web.HTTPFound("/x")
    assert(e.status == 302 and e.location == "/x")
    assert(web.HTTPRequestEntityTooLarge(10, 20).text ==
      "Maximum request body size 10 exceeded, actual body size 20")
  assert(web.HTTPNoContent().text == nil) -- (aiohttp: None)
    for name, status in pairs { HTTPBadRequest = 400, HTTPUnauthorized = 401, HTTPGone = 410,
      HTTPTooManyRequests = 429, HTTPInternalServerError = 500, HTTPServiceUnavailable = 503,
      HTTPMovedPermanently = 301, HTTPTemporaryRedirect = 307, HTTPPermanentRedirect = 308,
      HTTPNotModified = 304, HTTPCreated = 201, HTTPGatewayTimeout = 504 } do
      assert(web[name], name)
      assert(web[name].status_code == status, name)
      assert(web.is_http_exception(status >= 300 and status < 400 and status ~= 304
        and web[name]("/l") or web[name]()), name)
    end
  end)
end)

describe("more routes", function()
  it("routes add_head and add_options, and HEAD of a GET route unless allow_head is false", function(aiohttp_client)
    local app = web.Application()
    app.router:add_head("/h", function()
      local resp = web.Response { text = "ignored body" }
      resp.headers["X-Head"] = "1"
      return resp
    end)
    app.router:add_options("/o", function()
      return web.Response { status = 204, headers = { Allow = "GET, OPTIONS" } }
    end)
    app.router:add_get("/no-head", function()
      return "get only"
    end, { allow_head = false })
    local client = aiohttp_client(app)
    local resp = client:head("/h")
    assert(resp.status == 200 and resp.headers["X-Head"] == "1" and resp:read() == "")
    resp = client:options("/o")
    assert(resp.status == 204 and resp.headers["Allow"] == "GET, OPTIONS")
    assert(client:head("/no-head").status == 405)
  end)

  it("reports a body to read on POST", function(aiohttp_client)
    local app = web.Application()
    app.router:add_post("/", function(request)
      return tostring(request.can_read_body) .. " " .. tostring(request.content_length)
    end)
    local client = aiohttp_client(app)
    assert(client:post("/", { data = "abc" }):text() == "true 3")
  end)
end)

describe("options", function()
  it("are checked: a misspelt option is an error naming the call and the key", function()
    local web = require "luatest.web"
    local test_utils = require "luatest.test_utils"
    local cases = {
      { function() web.Response { stauts = 404 } end, "web.Response: unknown option 'stauts'" },
      { function() web.Application { middlewarez = {} } end, "web.Application: unknown option 'middlewarez'" },
      { function() web.json_response({}, { staus = 201 }) end, "web.json_response: unknown option 'staus'" },
      { function() web.StreamResponse { header = {} } end, "web.StreamResponse: unknown option 'header'" },
      { function() web.WebSocketResponse { protocol = { "x" } } end,
        "web.WebSocketResponse: unknown option 'protocol'" },
      { function() web.HTTPFound("/", { header = {} }) end, "unknown option 'header'" },
      { function() test_utils.TestServer(web.Application(), { prot = 1 }) end, "TestServer: unknown option 'prot'" },
      { function() test_utils.make_mocked_request("GET", "/", { header = {} }) end,
        "make_mocked_request: unknown option 'header'" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert(not ok, case[2])
      assert(tostring(err):find(case[2], 1, true), tostring(err))
    end
  end)

  it("says that a StreamResponse cannot be compressed yet", function()
    local web = require "luatest.web"
    local ok, err = pcall(function()
      web.StreamResponse():enable_compression()
    end)
    assert(not ok and err:find("not supported for a StreamResponse yet", 1, true), err)
  end)
end)
