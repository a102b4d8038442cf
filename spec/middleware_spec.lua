-- Middlewares in aiohttp's order, sub-applications with their own
-- middlewares and signals, and C handlers reached through middlewares.
local web = require "luatest.web"

local function tagger(tag, log)
  return function(request, handler)
    log[#log + 1] = tag .. " in"
    local resp = handler(request)
    log[#log + 1] = tag .. " out"
    if web.is_response(resp) then
      resp.headers:add("X-Via", tag)
    end
    return resp
  end
end

function test_middlewares_wrap_in_list_order(aiohttp_client)
  local log = {}
  local app = web.Application { middlewares = { tagger("outer", log), tagger("inner", log) } }
  app.router:add_get("/", function()
    log[#log + 1] = "handler"
    return web.Response { text = "ok" }
  end)
  local client = aiohttp_client(app)
  local resp = client:get("/")
  assert(table.concat(log, ",") == "outer in,inner in,handler,inner out,outer out", table.concat(log, ","))
  assert(table.concat(resp.headers:getall("X-Via"), ",") == "inner,outer")
end

function test_a_middleware_can_answer_and_change_responses(aiohttp_client)
  local function auth(request, handler)
    if request.headers["Authorization"] ~= "Bearer ok" then
      return web.json_response({ error = "denied" }, { status = 401 })
    end
    local resp = handler(request)
    resp.status = 203
    resp.text = resp.text .. " (checked)"
    return resp
  end
  local app = web.Application { middlewares = { auth } }
  app.router:add_get("/", function()
    return web.Response { text = "secret" }
  end)
  local client = aiohttp_client(app)
  assert(client:get("/").status == 401)
  local resp = client:get("/", { headers = { Authorization = "Bearer ok" } })
  assert(resp.status == 203 and resp:text() == "secret (checked)")
end

function test_middlewares_see_404_and_exceptions(aiohttp_client)
  local function catch(request, handler)
    local ok, resp = pcall(handler, request)
    if not ok and web.is_http_exception(resp) then
      return web.Response { status = resp.status, text = "caught " .. resp.status }
    end
    if not ok then
      error(resp, 0)
    end
    return resp
  end
  local app = web.Application { middlewares = { catch } }
  app.router:add_get("/forbidden", function()
    error(web.HTTPForbidden())
  end)
  local client = aiohttp_client(app)
  assert(client:get("/nowhere"):text() == "caught 404")
  assert(client:get("/forbidden"):text() == "caught 403")
end

function test_sub_application(aiohttp_client)
  local log = {}
  local admin = web.Application { middlewares = { tagger("admin", log) } }
  admin["area"] = "admin area"
  admin.router:add_get("/users/{id}", function(request)
    return request.app.area .. " user " .. request.match_info.id
  end, { name = "user" })
  local events = {}
  table.insert(admin.on_startup, function(a)
    events[#events + 1] = "admin startup " .. tostring(a == admin)
  end)
  table.insert(admin.on_cleanup, function()
    events[#events + 1] = "admin cleanup"
  end)
  local app = web.Application { middlewares = { tagger("root", log) } }
  app.router:add_get("/", function(request)
    return "root " .. tostring(request.app.area)
  end)
  app:add_subapp("/admin/", admin)
  local client = aiohttp_client(app)
  assert(client:get("/"):text() == "root nil")
  local resp = client:get("/admin/users/7")
  assert(resp:text() == "admin area user 7", resp:text())
  assert(table.concat(log, ",") == "root in,root out,root in,admin in,admin out,root out", table.concat(log, ","))
  assert(client:get("/admin/missing").status == 404)
  assert(client:head("/admin/users/1").status == 200)
  assert(admin.router["user"]:url_for { id = 9 } == "/admin/users/9")
  assert(events[1] == "admin startup true")
  client:close()
  assert(events[2] == "admin cleanup")
end

function test_c_handler_through_middlewares(aiohttp_client)
  package.cpath = (os.getenv("LUATEST_MODULES") or "build/modules") .. "/?.so;" .. package.cpath
  local hello_c = require "hello_c"
  local log = {}
  local app = web.Application { middlewares = { tagger("mw", log) } }
  app.router:add_get("/hello/{name}", hello_c.hello)
  local client = aiohttp_client(app)
  local resp = client:get("/hello/mw")
  assert(resp:text() == "Hello, mw")
  assert(resp.headers["X-Handler"] == "c")
  assert(resp.headers["Content-Type"] == "text/plain; charset=utf-8")
  assert(resp.headers["X-Via"] == "mw", "the middleware could not change the C handler's answer")
  assert(table.concat(log, ",") == "mw in,mw out")
end
