-- Route definitions, class-based views and regex routes side by side with
-- aiohttp (spec/peers/py/web_routes.py): the same requests to both apps,
-- status, reason, Allow and Content-Type headers and bodies compared.
local web = require "luatest.web"
local core = require "luatest.core"
local twin = dofile(core.srcdir .. "/spec/support/twin.lua")

package.cpath = (os.getenv("LUATEST_MODULES") or "build/modules") .. "/?.so;" .. package.cpath
local hello_c = require "hello_c"

local HEADERS = { "Allow", "Content-Type" }

local function make_app()
  local routes = web.RouteTableDef()
  routes:get("/items/{id:\\d+}", { name = "item" })(function(request)
    return web.Response { text = "item " .. request.match_info.id }
  end)
  routes:post("/items")(function(request)
    return web.Response { text = "created " .. request:text(), status = 201 }
  end)
  routes:put("/items/{id}")(function(request)
    return web.Response { text = "put " .. request.match_info.id }
  end)
  routes:patch("/items/{id}")(function(request)
    return web.Response { text = "patch " .. request.match_info.id }
  end)
  routes:delete("/items/{id}")(function()
    return web.Response { status = 204 }
  end)
  routes:route("PROPFIND", "/dav")(function()
    return web.Response { text = "propfind" }
  end)
  routes:get("/url")(function(request)
    return web.Response { text = request.app.router["item"]:url_for { id = "5" } }
  end)

  local ItemView = web.View:extend()
  function ItemView:get()
    return web.Response { text = "view " .. self.request.method }
  end
  function ItemView:post()
    return web.Response { text = "view post " .. self.request:text(), status = 201 }
  end
  routes:view("/view")(ItemView)

  local function hello()
    return web.Response { text = "hello" }
  end
  local function method(request)
    return web.Response { text = request.method }
  end
  local function param(name)
    return function(request)
      return web.Response { text = name .. "=" .. request.match_info[name] }
    end
  end

  local app = web.Application()
  app:add_routes(routes)
  app.router:add_routes {
    web.get("/hello", hello),
    web.get("/nohead", hello, { allow_head = false }),
    web.post("/hello", method),
    web.head("/only-head", method),
    web.options("/opt", method),
    web.route("*", "/any", method),
    web.view("/view2", ItemView),
    web.get("/c/{name:[a-z]+}", hello_c.hello),
    web.get("/ab/{k:(?:a|b)+}", param("k")),
    web.get("/y/{y:\\d{2}}", param("y")),
    web.get("/p/{id:%d+}", param("id")),
    web.get("/f/{name:[\\w\\-]+\\.txt}", param("name")),
    web.get("/n/{name}", param("name")),
  }
  app.router:add_view("/view3", ItemView)
  app.router:add_route("*", "/view4", ItemView)
  return app
end

twin.fixture("pair", "web_routes.py", make_app)

local function same(pair, method, path, opts)
  local py, lt = pair:both(method, path, opts)
  twin.same(py, lt, HEADERS, method .. " " .. path)
  return py, lt
end

function test_route_table_def_routes_answer_as_aiohttp(pair)
  local py = same(pair, "GET", "/items/12")
  assert(py.status == 200 and py.body == "item 12")
  same(pair, "GET", "/items/abc") -- PUT/PATCH/DELETE match, GET does not: 405
  same(pair, "POST", "/items", { data = "thing" })
  same(pair, "PUT", "/items/7")
  same(pair, "PATCH", "/items/7")
  same(pair, "DELETE", "/items/7")
  same(pair, "PROPFIND", "/dav")
  same(pair, "GET", "/dav")
  py = same(pair, "GET", "/url")
  assert(py.body == "/items/5", py.body)
end

function test_add_routes_with_web_get_post_and_friends(pair)
  same(pair, "GET", "/hello")
  same(pair, "POST", "/hello")
  same(pair, "PUT", "/hello")
  same(pair, "HEAD", "/only-head")
  same(pair, "GET", "/only-head")
  same(pair, "OPTIONS", "/opt")
  for _, m in ipairs { "GET", "POST", "DELETE", "PROPFIND" } do
    same(pair, m, "/any")
  end
  local py = same(pair, "GET", "/c/ada") -- a C handler on the luatest side
  assert(py.body == "Hello, ada")
end

function test_head_on_get_routes_and_allow_head_false(pair)
  local py = same(pair, "HEAD", "/hello")
  assert(py.status == 200 and py.body == "")
  py = same(pair, "HEAD", "/nohead")
  assert(py.status == 405 and py.headers["Allow"] == "GET", py.headers["Allow"])
  same(pair, "HEAD", "/items/3")
end

function test_class_based_view_methods_and_405(pair)
  for _, path in ipairs { "/view", "/view2", "/view3", "/view4" } do
    local py = same(pair, "GET", path)
    assert(py.body == "view GET")
    same(pair, "POST", path, { data = "x" })
    py = same(pair, "PUT", path)
    assert(py.status == 405 and py.headers["Allow"] == "GET,POST", py.headers["Allow"])
    same(pair, "HEAD", path) -- a view answers HEAD only with a head method
    same(pair, "DELETE", path)
    same(pair, "PROPFIND", path)
  end
end

function test_regex_routes(pair)
  same(pair, "GET", "/ab/abba")
  same(pair, "GET", "/ab/abc")
  same(pair, "GET", "/y/24")
  same(pair, "GET", "/y/2024")
  same(pair, "GET", "/items/4a")
  same(pair, "GET", "/f/my-file.txt")
  same(pair, "GET", "/f/my-filextxt")
  same(pair, "GET", "/c/Ada")
end

function test_a_lua_pattern_is_a_python_regex(pair)
  -- {id:%d+} is '%' then one or more 'd' in Python, not Lua's digits.
  local py = same(pair, "GET", "/p/42")
  assert(py.status == 404)
  -- Routes match the raw path: "%25" is not the '%' the regex wants.
  py = same(pair, "GET", "/p/%25d")
  assert(py.status == 404)
end

function test_parameters_are_matched_raw_and_decoded(pair)
  local py = same(pair, "GET", "/n/a%2Fb")
  assert(py.body == "name=a/b", py.body)
  same(pair, "GET", "/n/caf%C3%A9")
  same(pair, "GET", "/n/%41")
end
