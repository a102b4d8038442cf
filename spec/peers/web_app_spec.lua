-- aiohttp.web's application behaviours side by side with aiohttp 3.8
-- (spec/peers/py/web_app.py is the same app): the middlewares of nested
-- sub-applications, Response defaults, HTTP exceptions as responses, the
-- order of cleanup_ctx and on_startup, config_dict, WebSocketResponse
-- fields and a string answer reaching middlewares as a Response.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local twin = dofile(core.srcdir .. "/spec/support/twin.lua")

local function s(v)
  if v == nil then
    return "None"
  end
  return tostring(v)
end

local function tracer(name)
  return function(request, handler)
    local trace = request.trace or {}
    request.trace = trace
    trace[#trace + 1] = "in:" .. name .. ":" .. request.app.name
    local resp = handler(request)
    resp.headers:add("X-Out", name .. ":" .. request.app.name)
    resp.headers["X-Type"] = getmetatable(resp).__name
    return resp
  end
end

local function cloning(request, handler)
  if request.path ~= "/clone" then
    return handler(request)
  end
  request.user = "kept"
  local clone = request:clone { method = "POST", rel_url = "/elsewhere?x=1", headers = { ["X-A"] = "1" },
    host = "example.com" }
  return handler(clone)
end

local function traced(request)
  return table.concat(request.trace, ",") .. "|handler:" .. request.app.name -- (a string: see X-Type)
end

local function make_app()
  local root = web.Application { middlewares = { tracer("root"), cloning } }
  root.name = "root"
  root.root_only = "from root"
  root.events = {}
  table.insert(root.on_startup, function(app)
    table.insert(app.events, "startup")
  end)
  table.insert(root.cleanup_ctx, function(app)
    table.insert(app.events, "ctx setup")
    return function()
      table.insert(app.events, "ctx cleanup")
    end
  end)
  local r = root.router
  r:add_get("/traced", traced)
  r:add_get("/defaults", function()
    local lines = {}
    for _, resp in ipairs { web.Response(), web.Response { status = 404 }, web.Response { body = "x" },
      web.Response { text = "x" }, web.Response { text = "x", content_type = "application/json" },
      web.Response { status = 599 } } do
      lines[#lines + 1] = table.concat({ resp.status, s(resp.reason), resp.content_type, s(resp.charset) }, "|")
    end
    return web.Response { text = table.concat(lines, "\n") }
  end)
  r:add_get("/empty", function()
    return web.Response()
  end)
  r:add_get("/status404", function()
    return web.Response { status = 404 }
  end)
  r:add_get("/bytes", function()
    return web.Response { body = "raw" }
  end)
  r:add_get("/found", function()
    local e = web.HTTPFound("/elsewhere")
    e:set_cookie("s", "1")
    e.headers["X-Extra"] = "yes"
    error(e)
  end)
  r:add_get("/gone", function()
    error(web.HTTPNotFound { body = "gone" })
  end)
  r:add_get("/json404", function()
    error(web.HTTPNotFound { text = '{"error": "missing"}', content_type = "application/json" })
  end)
  r:add_get("/nocontent", function()
    error(web.HTTPNoContent())
  end)
  r:add_get("/returned", function()
    return web.HTTPConflict { text = "conflict", headers = { ["X-Why"] = "because" } }
  end)
  r:add_get("/exception-fields", function()
    local lines = {}
    for _, e in ipairs { web.HTTPNotFound(), web.HTTPNotFound { body = "x" }, web.HTTPFound("/x"),
      web.HTTPNoContent() } do
      lines[#lines + 1] = table.concat({ e.status, e.reason, s(e.content_type), s(e.charset), s(e.text) }, "|")
    end
    return web.Response { text = table.concat(lines, "\n") }
  end)
  r:add_get("/events", function(request)
    return web.Response { text = table.concat(request.app.events, ",") }
  end)
  local function config(request)
    local c = request.config_dict
    return web.Response { text = c.name .. "|" .. c.root_only .. "|" .. s(c.missing) }
  end
  r:add_get("/config", config)
  r:add_get("/ws", function(request)
    local ws = web.WebSocketResponse()
    local before = ws.status .. " " .. ws.reason
    ws:prepare(request)
    ws:send_str(before)
    ws:close()
    return ws
  end)
  r:add_get("/clone", function(request)
    return web.Response { text = table.concat({ request.method, request.path, request.query.x, request.headers["X-A"],
      request.host, request.user, request.match_info.tail or "-",
      tostring(request.remote == nil or request.remote == "127.0.0.1") }, "|") }
  end)
  local sub1 = web.Application { middlewares = { tracer("sub1") } }
  sub1.name = "sub1"
  local sub2 = web.Application { middlewares = { tracer("sub2") } }
  sub2.name = "sub2"
  sub2.router:add_get("/traced", traced)
  sub2.router:add_get("/config", config)
  sub1.router:add_get("/traced", traced)
  sub1:add_subapp("/sub2", sub2)
  root:add_subapp("/sub1", sub1)
  return root
end

twin.fixture("pair", "web_app.py", make_app)

local HEADERS = { "Content-Type", "Content-Length", "Location", "Set-Cookie", "X-Extra", "X-Why", "X-Type" }

local function same(pair, path)
  local py, lt = pair:both("GET", path)
  twin.same(py, lt, HEADERS, "GET " .. path)
  luatest.same(lt.headers:getall("X-Out"), py.headers:getall("X-Out"))
  return py, lt
end

function test_nested_subapp_middlewares_run_outermost_first_with_their_app(pair)
  local py = same(pair, "/sub1/sub2/traced")
  luatest.eq(py.body, "in:root:root,in:sub1:sub1,in:sub2:sub2|handler:sub2")
  luatest.same(py.headers:getall("X-Out"), { "sub2:sub2", "sub1:sub1", "root:root" })
  same(pair, "/sub1/traced")
  same(pair, "/traced")
end

function test_response_defaults(pair)
  local py = same(pair, "/defaults")
  luatest.contains(py.body, "200|OK|application/octet-stream|None")
  same(pair, "/empty")
  same(pair, "/status404")
  same(pair, "/bytes")
end

function test_http_exceptions_are_responses(pair)
  local py = same(pair, "/found")
  luatest.eq(py.status, 302)
  same(pair, "/gone")
  same(pair, "/json404")
  same(pair, "/nocontent")
  same(pair, "/returned")
  same(pair, "/exception-fields")
end

function test_cleanup_ctx_runs_before_on_startup(pair)
  local py = same(pair, "/events")
  luatest.eq(py.body, "ctx setup,startup")
end

function test_config_dict_reads_the_parent_applications(pair)
  same(pair, "/config")
  local py = same(pair, "/sub1/sub2/config")
  luatest.eq(py.body, "sub2|from root|None")
end

function test_request_clone_changes_what_it_is_told(pair)
  local py = same(pair, "/clone")
  luatest.eq(py.body, "POST|/elsewhere|1|1|example.com|kept|-|true")
end

function test_websocket_response_status_and_middleware_headers(pair)
  local messages = {}
  for _, base in ipairs { pair.python_base, "" } do
    local ws = pair.client:ws_connect(base .. "/ws")
    local msg = ws:receive(5)
    messages[#messages + 1] = msg.data
    ws:close()
  end
  luatest.eq(messages[2], messages[1])
  luatest.eq(messages[1], "101 Switching Protocols")
  luatest.eq(#pair.server._handler_errors, 0, pair.server._handler_errors[1])
end
