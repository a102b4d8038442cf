-- Route definitions (web.get..., RouteTableDef, add_routes), class-based
-- views and regex route patterns: C handlers through them, url_for by
-- name, and the errors each call raises, naming the call.
local web = require "luatest.web"
local luatest = require "luatest"

package.cpath = (os.getenv("LUATEST_MODULES") or "build/modules") .. "/?.so;" .. package.cpath
local hello_c = require "hello_c"

local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

local function has(err, text)
  assert(err:find(text, 1, true), err)
end

describe("RouteTableDef", function()
  it("collects definitions as a plain list and returns the handlers", function()
    local routes = web.RouteTableDef()
    local function h() end
    assert(routes:get("/a")(h) == h)
    assert(routes:post("/a", { name = "a" })(h) == h)
    local V = web.View:extend()
    assert(routes:view("/v")(V) == V)
    assert(routes:route("PROPFIND", "/dav")(h) == h)
    for _, m in ipairs { "put", "patch", "delete", "head", "options" } do
      routes[m](routes, "/" .. m)(h)
    end
    routes:static("/s", "/tmp")
    assert(#routes == 10 and routes:len() == 10)
    local seen = {}
    for i, def in ipairs(routes) do
      seen[i] = def.method or "static"
    end
    assert(table.concat(seen, " ") == "GET POST * PROPFIND PUT PATCH DELETE HEAD OPTIONS static", table.concat(seen, " "))
    assert(routes[2].path == "/a" and routes[2].kwargs.name == "a" and routes[2].handler == h)
    assert(routes[3].handler == V and routes[10].prefix == "/s" and routes[10].path == "/tmp")
    assert(routes:contains(routes[1]) and not routes:contains(web.get("/a", h)))
    assert(tostring(routes) == "<RouteTableDef count=10>")
    assert(web.is_route_def(routes[1]) and web.is_route_def(routes[10]) and web.is_route_table_def(routes))
  end)

  it("refuses misuse, naming the call", function()
    local routes = web.RouteTableDef()
    has(raises(routes.get, "/x"), "routes:get: call it with ':'")
    has(raises(routes.get, routes, 42), "routes:get: path must be a string, got number")
    has(raises(routes.post, routes, "/x", function() end), "routes:post: options must be a table, got a function")
    has(raises(routes:put("/x"), nil), "routes:put: handler must be a function or callable")
    has(raises(routes.route, routes, nil, "/x"), "routes:route: method must be a string")
    has(raises(routes.static, routes, "/s", 3), "routes:static: directory must be a string")
    assert(routes:len() == 0)
  end)
end)

describe("web.get and friends", function()
  it("make RouteDefs as aiohttp's, web.get with name and allow_head", function()
    local function h() end
    local g = web.get("/g", h, { name = "g" })
    assert(g.method == "GET" and g.path == "/g" and g.handler == h)
    assert(g.kwargs.name == "g" and g.kwargs.allow_head == true)
    assert(web.get("/g", h, { allow_head = false }).kwargs.allow_head == false)
    for _, m in ipairs { "post", "put", "patch", "delete", "head", "options" } do
      local def = web[m]("/x", h)
      assert(def.method == m:upper() and next(def.kwargs) == nil)
    end
    assert(web.route("propfind", "/x", h).method == "propfind")
    assert(web.view("/v", web.View).method == "*")
    local s = web.static("/s", "/tmp", { show_index = true })
    assert(s.prefix == "/s" and s.path == "/tmp" and s.kwargs.show_index)
    assert(tostring(g):find("^<RouteDef GET /g %-> "))
  end)

  it("refuse bad arguments, naming the call", function()
    has(raises(web.get, 42, function() end), "web.get: path must be a string, got number")
    has(raises(web.post, "/x", "nope"), "web.post: handler must be a function or callable")
    has(raises(web.route, 1, "/x", function() end), "web.route: method must be a string")
    has(raises(web.get, "/x", function() end, "opts"), "web.get: options must be a table")
    has(raises(web.static, nil, "/tmp"), "web.static: prefix must be a string")
  end)
end)

describe("add_routes", function()
  it("serves C handlers from a RouteTableDef and from web.get", function(aiohttp_client)
    local routes = web.RouteTableDef()
    routes:get("/hello/{name}")(hello_c.hello)
    routes:post("/echo")(hello_c.echo)
    local app = web.Application()
    local added = app:add_routes(routes)
    assert(#added == 2 and added[1].method == "GET" and added[2].method == "POST")
    app.router:add_routes {
      web.get("/loud/{name:[a-z]+}", hello_c.hello_loud, { allow_head = false }),
      web.route("*", "/any", hello_c.echo),
    }
    local client = aiohttp_client(app)
    local resp = client:get("/hello/ada")
    assert(resp:text() == "Hello, ada" and resp.headers["X-Handler"] == "c")
    assert(client:head("/hello/ada").status == 200)
    assert(client:post("/echo", { data = "xy" }):text():find("^POST /echo ua=.- len=2\nxy$"))
    assert(client:get("/loud/ada"):text() == "Hello, ada!")
    assert(client:get("/loud/Ada").status == 404)
    local head = client:head("/loud/ada")
    assert(head.status == 405 and head.headers["Allow"] == "GET", head.headers["Allow"])
    assert(client:request("PROPFIND", "/any"):text():find("^PROPFIND /any"))
  end)

  it("gives route names for url_for, and a name may be reused on its path", function(aiohttp_client)
    local routes = web.RouteTableDef()
    routes:get("/users/{id}", { name = "user" })(function(request)
      return "user " .. request.match_info.id
    end)
    routes:post("/users/{id}", { name = "user" })(function()
      return "posted"
    end)
    local app = web.Application()
    app.router:add_routes(routes)
    app.router:add_routes { web.get("/y/{y:\\d{4}}/{slug}", hello_c.hello, { name = "year" }) }
    assert(app.router["user"]:url_for { id = "a b" } == "/users/a%20b")
    assert(app.router["year"]:url_for { y = 2024, slug = "x" } == "/y/2024/x")
    assert(app.router:named_resources().user.method == "GET")
    local err = raises(app.router.add_routes, app.router, { web.get("/other", hello_c.hello, { name = "user" }) })
    has(err, "router:add_routes: duplicate route name 'user'")
    local client = aiohttp_client(app)
    assert(client:get("/users/3"):text() == "user 3")
    assert(client:post("/users/3"):text() == "posted")
  end)

  it("registers static definitions", function(aiohttp_client)
    local dir = os.tmpname()
    local f = assert(io.open(dir, "w"))
    f:write("static text")
    f:close()
    local parent, name = dir:match("^(.*)/([^/]+)$")
    local routes = web.RouteTableDef()
    routes:static("/files", parent)
    local app = web.Application()
    app:add_routes(routes)
    app:add_routes { web.static("/more/", parent, { name = "more" }) }
    local client = aiohttp_client(app)
    local a, b = client:get("/files/" .. name):text(), client:get("/more/" .. name):text()
    os.remove(dir)
    assert(a == "static text" and b == "static text", a)
    assert(app.router["more"]:url_for { filename = name } == "/more/" .. name)
  end)

  it("refuses what is not a route definition and bad patterns, naming the call", function()
    local app = web.Application()
    local function h() end
    has(raises(app.add_routes, app, 42), "app:add_routes: expected a list of route definitions")
    has(raises(app.router.add_routes, app.router, { web.get("/a", h), "/b" }),
      "router:add_routes: item 2 is not a route definition")
    local err = raises(app.router.add_routes, app.router, { web.get("/c/{id:[}", h) })
    has(err, "router:add_routes: bad regex in route path '/c/{id:[}': unterminated character set")
    err = raises(app.add_routes, app, { web.get("/c/{id:(?<=a)b}", h) })
    has(err, "app:add_routes: unsupported regex in route path '/c/{id:(?<=a)b}': lookbehind")
    has(raises(app.add_routes, app, { web.get("/x", h, { allowhead = false }) }),
      "app:add_routes: unknown option 'allowhead'")
    has(raises(app.add_routes, app, { web.post("/x", h, { allow_head = false }) }),
      "app:add_routes: unknown option 'allow_head'")
    has(raises(app.add_routes, app, { web.route("BAD METHOD", "/x", h) }),
      "app:add_routes: 'BAD METHOD' is not an HTTP method")
    has(raises(app.add_routes, app, { web.static("/s", "/no/such/dir") }),
      "app:add_routes: no such directory: /no/such/dir")
  end)

  it("points errors at the caller's line", function()
    local app = web.Application()
    local ok, err = pcall(function()
      app.router:add_get("/c/{id:a**}", function() end)
    end)
    assert(not ok and err:find("^spec/web_routes_spec.lua:%d+: router:add_get: bad regex in route path "
      .. "'/c/{id:a%*%*}': multiple repeat"), err)
    ok, err = pcall(function()
      app:add_routes { web.get("/c/{id:(?P<x>a)}", function() end) }
    end)
    assert(not ok and err:find("^spec/web_routes_spec.lua:%d+: app:add_routes: unsupported regex"), err)
    assert(err:find("named group", 1, true), err)
  end)
end)

describe("regex route patterns", function()
  it("take what aiohttp users write", function(aiohttp_client)
    local app = web.Application()
    local function show(request)
      local parts = {}
      for _, k in ipairs { "a", "b", "y", "m", "name", "rest" } do
        if request.match_info[k] then
          parts[#parts + 1] = k .. "=" .. request.match_info[k]
        end
      end
      return table.concat(parts, " ")
    end
    app.router:add_get("/ab/{a:(?:a|b)+}/{b:x|y}", show)
    app.router:add_get("/date/{y:\\d{4}}-{m:\\d{2}}", show)
    app.router:add_get("/f/{name:[\\w\\-]+\\.tar\\.gz}", show)
    app.router:add_get("/tail/{rest:.*}", show)
    app.router:add_get("/slash/{a:a\\/b}", show)
    app.router:add_get("/lua/{a:%d+}", show)
    local client = aiohttp_client(app)
    assert(client:get("/ab/abba/y"):text() == "a=abba b=y")
    assert(client:get("/ab/abc/y").status == 404)
    assert(client:get("/date/2024-05"):text() == "y=2024 m=05")
    assert(client:get("/date/24-05").status == 404)
    assert(client:get("/f/my-pkg_1.tar.gz"):text() == "name=my-pkg_1.tar.gz")
    assert(client:get("/f/my-pkg_1xtarxgz").status == 404)
    assert(client:get("/tail/x/y/z"):text() == "rest=x/y/z")
    assert(client:get("/slash/a/b"):text() == "a=a/b")
    assert(client:get("/lua/42").status == 404) -- a Python regex: '%' then 'd's
  end)

  it("refuse what POSIX cannot say, naming the construct", function()
    local router = web.Application().router
    local function h() end
    for pattern, construct in pairs {
      ["(?=a)a"] = "lookahead '(?='",
      ["(?!a)."] = "negative lookahead '(?!'",
      ["(?<!a)b"] = "negative lookbehind '(?<!'",
      ["(?P<x>a)"] = "named group",
      ["(a)\\1"] = "backreference '\\1'",
      ["(a)(?P=x)"] = "named backreference",
      ["(?i)a"] = "inline flags",
      ["a*?"] = "lazy quantifier",
      ["\\bx"] = "word boundary",
    } do
      local path = "/r/{id:" .. pattern .. "}"
      has(raises(router.add_route, router, "GET", path, h),
        "router:add_route: unsupported regex in route path '" .. path .. "': " .. construct)
    end
    for pattern, why in pairs {
      ["["] = "unterminated character set",
      ["(a"] = "missing ), unterminated subpattern",
      ["a)"] = "unbalanced parenthesis",
      ["*a"] = "nothing to repeat",
      ["a{3,2}"] = "min repeat greater than max repeat",
      ["[z-a]"] = "bad character range",
      ["\\q"] = "bad escape '\\q'",
    } do
      local path = "/r/{id:" .. pattern .. "}"
      has(raises(router.add_post, router, path, h), "router:add_post: bad regex in route path '" .. path .. "': " .. why)
    end
    has(raises(router.add_get, router, "/r/{1x}", h), "router:add_get: bad parameter name")
    has(raises(router.add_get, router, "/r/{x}/{x}", h), "parameter 'x' appears twice")
    has(raises(router.add_get, router, "/r/{x:}", h), "empty regex")
    has(raises(router.add_get, router, "/r}", h), "unbalanced '}'")
  end)
end)

describe("class-based views", function()
  it("run the method named by the request, with self.request", function(aiohttp_client)
    local Base = web.View:extend()
    function Base:get()
      return web.Response { text = "get " .. self.request.path .. " " .. self:who() }
    end
    function Base:who()
      return "base"
    end
    local Child = Base:extend {
      who = function()
        return "child"
      end,
      delete = function(self)
        return web.Response { status = 204 }
      end,
    }
    local log = {}
    local app = web.Application { middlewares = { function(request, handler)
      log[#log + 1] = request.method
      return handler(request)
    end } }
    app.router:add_view("/base", Base)
    app.router:add_routes { web.view("/child", Child) }
    app.router:add_route("GET", "/only-get", Child)
    local client = aiohttp_client(app)
    assert(client:get("/base"):text() == "get /base base")
    assert(client:get("/child"):text() == "get /child child")
    assert(client:delete("/child").status == 204)
    local resp = client:put("/child")
    assert(resp.status == 405 and resp.headers["Allow"] == "DELETE,GET", resp.headers["Allow"])
    resp = client:delete("/base")
    assert(resp.status == 405 and resp.headers["Allow"] == "GET")
    assert(client:request("PROPFIND", "/child").status == 405)
    resp = client:post("/only-get")
    assert(resp.status == 405 and resp.headers["Allow"] == "GET")
    assert(table.concat(log, ",") == "GET,GET,DELETE,PUT,DELETE,PROPFIND,POST", table.concat(log, ","))
  end)

  it("can be made and run by hand, as MyView(request) in Python", function()
    local test_utils = require "luatest.test_utils"
    local V = web.View:extend()
    function V:get()
      return "got " .. self.request.method
    end
    local request = test_utils.make_mocked_request("GET", "/")
    local view = V:new(request)
    assert(view.request == request and getmetatable(view) == V)
    assert(V(request) == "got GET")
    assert(web.is_view_class(V) and web.is_view_class(web.View) and not web.is_view_class(view))
    local ok, e = pcall(V, test_utils.make_mocked_request("POST", "/"))
    assert(not ok and e.status == 405 and e.headers["Allow"] == "GET")
    has(raises(web.View.extend, {}), "View:extend: call it with ':'")
  end)
end)

describe("raw-path matching", function()
  it("keeps normalize_path_middleware's redirects for encoded paths", function(aiohttp_client)
    local app = web.Application { middlewares = { web.normalize_path_middleware() } }
    app.router:add_get("/a b/", function()
      return "spaced"
    end)
    app.router:add_get("/n/{name}/", function(request)
      return "n " .. request.match_info.name
    end)
    local client = aiohttp_client(app)
    local resp = client:get("/a%20b", { allow_redirects = false })
    assert(resp.status == 308 and resp.headers["Location"] == "/a%20b/", resp.status)
    assert(client:get("/a%20b/"):text() == "spaced")
    resp = client:get("/n/x%2Fy", { allow_redirects = false })
    assert(resp.status == 308 and resp.headers["Location"] == "/n/x%2Fy/", resp.headers["Location"])
    assert(client:get("/n/x%2Fy/"):text() == "n x/y")
  end)
end)
