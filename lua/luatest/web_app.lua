--- luatest.web_app: aiohttp's Application (web_app.py): state, signals,
--- sub-applications, and the handling of one request (middlewares, the
--- handler, the answer), which the server binding calls in a task of its
--- own for each request.
local core = require "luatest.core"
local helpers = require "luatest.helpers"
local multidict = require "luatest.multidict"
local compat = require "luatest.compat"
local exceptions = require "luatest.web_exceptions"
local response = require "luatest.web_response"
local web_ws = require "luatest.web_ws"
local urldispatcher = require "luatest.web_urldispatcher"
require "luatest.web_request" -- (the class of the requests the core makes)

local CIMultiDict = multidict.CIMultiDict
local type, rawget, rawset, setmetatable, getmetatable = type, rawget, rawset, setmetatable, getmetatable
local error, xpcall, tostring, format = error, compat.xpcall, tostring, string.format -- (handlers wait)
local traceback, erring_thread = debug.traceback, compat.erring_thread
local check_options = helpers.check_options
local is_exception = exceptions.is_http_exception
local Response, StreamResponse, new_response = response.Response, response.StreamResponse, response._new_response
local content_type_header, head_of = response._content_type_header, response._head_of
local accepted_coding = response._accepted_coding
local WebSocketResponse = web_ws._class
local new_router = urldispatcher._new_router
-- The C methods every answer calls, looked up once rather than through the
-- request's __index for each request.
local respond, answered = core.Request._respond, core.Request._answered
-- Several raw fields of a table in one call under PUC Lua, where a call to
-- a C function costs more than the lookups; LuaJIT compiles rawget and type.
local rawfields, prepare_of, is_userdata
if rawget(_G, "jit") then
  rawfields = function(t, k1, k2, k3, k4, k5, k6, k7, k8)
    return rawget(t, k1), rawget(t, k2), rawget(t, k3), rawget(t, k4), rawget(t, k5), rawget(t, k6), rawget(t, k7),
      rawget(t, k8)
  end
  prepare_of = function(resp)
    return type(resp) == "table" and rawget(resp, "_prepare")
  end
  is_userdata = function(x)
    return type(x) == "userdata"
  end
else
  rawfields = core.rawfields
  local field = core.rawfields -- (nothing for what is not a table)
  prepare_of = function(resp)
    return field(resp, "_prepare")
  end
  -- Route handlers are few and long-lived: their type is found once.
  local userdata = setmetatable({}, { __mode = "k" })
  is_userdata = function(x)
    local u = userdata[x]
    if u == nil then
      local t = type(x)
      u = t == "userdata"
      if u or t == "function" or t == "table" then
        userdata[x] = u
      end
    end
    return u
  end
end

local M = {}

local APP_OPTIONS = helpers.names { "middlewares", "client_max_size", "handler_args", "logger", "router", "loop",
  "debug" }

-- ---- handler errors ------------------------------------------------------------

--- Tracebacks of Lua handlers that raised (each became a 500), for reports.
local handler_errors = {}
M._handler_errors = handler_errors

--- Called with (request, traceback) for every handler error, if set.
M._on_handler_error = nil

local function record_handler_error(request, tb, owner)
  local text = format("%s %s: %s", request.method, request.path_qs, tb)
  handler_errors[#handler_errors + 1] = text
  if owner then
    local list = owner._handler_errors
    list[#list + 1] = text
  end
  local hook = M._on_handler_error
  if hook then
    hook(request, text)
  end
end

-- ---- AppKey -------------------------------------------------------------------------

local AppKey = {}
AppKey.__index = AppKey
AppKey.__name = "AppKey"
AppKey.__tostring = function(self)
  return "<AppKey(" .. self.name .. ")>"
end

--- A typed key for application state, as aiohttp's web.AppKey.
function M.AppKey(name, t)
  return setmetatable({ name = name, type = t }, AppKey)
end

-- ---- applications --------------------------------------------------------------------

local Application = {}
Application.__name = "Application"

local app_fields = {
  router = true, middlewares = true, on_startup = true, on_shutdown = true,
  on_cleanup = true, cleanup_ctx = true, client_max_size = true, frozen = true,
}

-- The lists most applications never use, made on first use (an
-- application is made in every test).
local lazy_lists = { on_startup = true, on_shutdown = true, on_cleanup = true, cleanup_ctx = true }

Application.__index = function(self, key)
  local fields = rawget(self, "_fields")
  local f = fields[key]
  if f ~= nil then
    return f
  end
  if lazy_lists[key] then
    f = {}
    fields[key] = f
    return f
  end
  local m = Application[key]
  if m ~= nil then
    return m
  end
  return rawget(self, "_state")[key]
end

Application.__newindex = function(self, key, value)
  if app_fields[key] then
    error(format("app.%s: cannot assign to a field of the application (store your own data "
      .. "under another key)", tostring(key)), 2)
  end
  rawget(self, "_state")[key] = value
end

Application.__tostring = function(self)
  return format("<Application 0x%s>", tostring(rawget(self, "_state")):match("0x(%x+)") or "?")
end

--- A new application: `web.Application{middlewares = {...}, client_max_size = n}`.
function M.Application(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("web.Application: expected an options table, got " .. type(opts), 2)
  end
  check_options("web.Application", opts, APP_OPTIONS, 2)
  local self = setmetatable({ _state = {}, _fields = {}, _frozen = false, _subapps = {} }, Application)
  local f = rawget(self, "_fields")
  f.router = new_router(self)
  f.middlewares = opts.middlewares or {}
  f.client_max_size = opts.client_max_size or 1024 * 1024
  return self
end

function M.is_application(x)
  return getmetatable(x) == Application
end

--- Marks the application as running: routes can no longer be added.
function Application.freeze(self)
  if rawget(self, "_frozen") then
    return
  end
  rawset(self, "_frozen", true)
  for _, sub in ipairs(rawget(self, "_subapps")) do
    self:_mount(sub.prefix, sub.app)
  end
end

-- A C handler called from Lua answers {status=, headers={flat}, body=};
-- middlewares get a web.Response they can read and change.
local function from_c(handler)
  return function(request)
    local r = handler(request)
    if r == nil then
      return nil -- it streamed its answer itself
    end
    return new_response { status = r.status, body = r.body,
      headers = CIMultiDict.from_flat(r.headers) }
  end
end

local with_middlewares

-- Adds a sub-application's routes (its own sub-applications' too) to this
-- application's route table under prefix. As in aiohttp, a route of a
-- nested sub-application runs through the middlewares of every application
-- on the way to it, outermost first, with request.app set to each while its
-- middlewares run and to the route's own application in the handler.
function Application._mount(self, prefix, sub, chain)
  sub:freeze()
  chain = chain or {}
  local apps = {}
  for i, app in ipairs(chain) do
    apps[i] = app
  end
  apps[#apps + 1] = sub
  local core_router = self.router._core
  for _, resource in ipairs(sub.router._routes) do
    local handler = resource.handler
    if type(handler) == "userdata" then
      handler = from_c(handler)
    end
    for i = #apps, 1, -1 do
      handler = with_middlewares(apps[i], handler, true)
    end
    local function in_subapp(request)
      request._luatest_owner = sub
      return handler(request)
    end
    core_router:add(resource.method, prefix .. resource.path, in_subapp)
    if resource.method == "GET" and resource.allow_head then
      core_router:add("HEAD", prefix .. resource.path, in_subapp)
    end
  end
  for _, nested in ipairs(rawget(sub, "_subapps")) do
    self:_mount(prefix .. nested.prefix, nested.app, apps)
  end
end

-- A signal of sub runs where it was added to its parent's list, as
-- aiohttp registers a sub-application's signals in its parent's.
local function sub_signal(sub, name)
  return function()
    sub:_signal(name)
  end
end

--- app:add_routes(defs): router:add_routes, as aiohttp's Application.add_routes.
function Application.add_routes(self, defs)
  local r = self.router:_add_routes(defs, "app:add_routes", 3)
  return r
end

--- Serves sub's routes below prefix (e.g. "/admin"): its middlewares and
--- signals apply to them, and request.app is sub inside its handlers.
function Application.add_subapp(self, prefix, sub)
  if type(prefix) ~= "string" or prefix:sub(1, 1) ~= "/" or prefix == "/" then
    error("app:add_subapp: prefix should start with '/' and not be '/' alone, got " .. tostring(prefix), 2)
  end
  if not M.is_application(sub) then
    error("app:add_subapp: expected an Application as argument 2, got " .. type(sub), 2)
  end
  if rawget(self, "_frozen") then
    error("app:add_subapp: cannot add a sub-application to a running application", 2)
  end
  if rawget(sub, "_parent") or rawget(sub, "_frozen") then
    error("app:add_subapp: this application is already running or a sub-application", 2)
  end
  prefix = prefix:gsub("/+$", "")
  rawset(sub, "_prefix", prefix)
  rawset(sub, "_parent", self)
  local subs = rawget(self, "_subapps")
  subs[#subs + 1] = { prefix = prefix, app = sub }
  for _, name in ipairs { "on_startup", "on_shutdown", "on_cleanup" } do
    local list = self[name]
    list[#list + 1] = sub_signal(sub, name)
  end
  return sub
end

--- Sends a signal as aiohttp does: on_startup runs the cleanup_ctx setups
--- first (aiohttp registers them as the first startup handler), on_cleanup
--- their cleanups first, in reverse; then each handler of the list.
function Application._signal(self, name)
  local fields = rawget(self, "_fields")
  if name == "on_startup" then
    local ctxs = fields.cleanup_ctx
    if ctxs and #ctxs > 0 then
      local gens = {}
      rawset(self, "_cleanup_gens", gens)
      for _, ctx in ipairs(ctxs) do
        gens[#gens + 1] = ctx(self)
      end
    end
  elseif name == "on_cleanup" then
    local gens = rawget(self, "_cleanup_gens") or {}
    rawset(self, "_cleanup_gens", nil)
    for i = #gens, 1, -1 do
      if type(gens[i]) == "function" then
        gens[i]()
      end
    end
  end
  local list = fields[name]
  if list then
    for _, fn in ipairs(list) do
      fn(self)
    end
  end
end

-- ---- dispatching -----------------------------------------------------------------------

local function internal_error()
  return new_response {
    status = 500,
    text = core.internal_error_text,
  }
end

-- Carries a non-exception error with its traceback out of xpcall.
local Failure = {}

local function on_error(err)
  if is_exception(err) then
    return err
  end
  -- (A thread: under 5.1 this runs after the fact, on the failed coroutine.)
  local co = erring_thread()
  local tb = co and traceback(co, tostring(err), 0) or traceback(tostring(err), 2)
  return setmetatable({ err = err, traceback = tb }, Failure)
end

local function no_route(status, allow)
  return function(request)
    if status == 405 then
      local allowed = {}
      for m in allow:gmatch("[^,]+") do
        allowed[#allowed + 1] = m
      end
      error(exceptions.HTTPMethodNotAllowed(request.method, allowed))
    end
    error(exceptions.HTTPNotFound())
  end
end

-- The application's middlewares around handler. For a sub-application
-- (as_current), request.app is the application while its middlewares run,
-- as aiohttp's _fix_request_current_app sets it.
-- A handler's string answer, as the web.Response{text = s} it stands for,
-- so middlewares get a response (without middlewares, send takes the
-- string as it is).
local function as_response(handler)
  return function(request)
    local resp = handler(request)
    if type(resp) == "string" then
      return new_response { text = resp }
    end
    return resp
  end
end

-- A sub-application's handler, with request.app set to it first.
local function as_current_app(app, handler)
  return function(request)
    request:_set_app(app)
    return handler(request)
  end
end

-- handler inside the middlewares mws of app, the first one outermost.
local function wrapped(app, mws, handler)
  handler = as_response(handler)
  for i = #mws, 1, -1 do
    local mw, inner = mws[i], handler
    -- Back from the inner handler, request.app is this application again.
    local function inner_here(request)
      local resp = inner(request)
      request:_set_app(app)
      return resp
    end
    handler = function(request)
      request:_set_app(app)
      return mw(request, inner_here)
    end
  end
  return handler
end

-- An application's middleware list: a field that cannot be assigned, so the
-- table found once stays its list (its contents may change).
local middlewares_of = setmetatable({}, { __mode = "k" })

local function middlewares(app)
  local mws = middlewares_of[app]
  if mws == nil then
    mws = app.middlewares
    if type(mws) == "table" and getmetatable(app) == Application then
      middlewares_of[app] = mws
    end
  end
  return mws
end

-- (The closures are made in the functions above: under LuaJIT, a return
-- that closes upvalues ends a trace, and this runs for every request.)
with_middlewares = function(app, handler, as_current)
  local mws = app and middlewares(app)
  if mws and #mws > 0 then
    return wrapped(app, mws, handler)
  end
  if as_current then
    return as_current_app(app, handler)
  end
  return handler
end

-- (app: request.app, which the server passes along.)
-- (with_middlewares written out: this runs for every request.)
local function call_handler(request, handler, status, allow, app)
  if status ~= 200 then
    handler = no_route(status, allow)
  elseif is_userdata(handler) then
    handler = from_c(handler)
  end
  if app then
    local mws = middlewares_of[app]
    if mws == nil then
      mws = middlewares(app)
    end
    if mws and #mws > 0 then
      handler = wrapped(app, mws, handler)
    end
  end
  local resp = handler(request)
  local prepare = prepare_of(resp)
  if prepare then
    return prepare(resp, request)
  end
  return resp
end

-- A Response or an HTTP exception, sent whole.
local function send_response(request, resp)
  local body, h, cookies, ctype, charset, status, coding, reason = rawfields(resp, "body", "headers", "_cookies",
    "content_type", "charset", "status", "_compression", "reason")
  local flat
  ctype, flat = head_of(h, cookies, ctype, charset, status)
  if coding and body then
    if coding == true then
      coding = accepted_coding(request.headers["Accept-Encoding"])
    end
    if coding then
      body = core.compress(body, coding)
      flat = flat or {}
      flat[#flat + 1] = "Content-Encoding"
      flat[#flat + 1] = coding
    end
  end
  return respond(request, resp.status, reason, ctype, flat, body)
end

local function send(request, resp)
  local mt = getmetatable(resp)
  if mt == Response then
    return send_response(request, resp) -- (the usual answer, first)
  end
  if mt == WebSocketResponse then
    resp:_finish() -- the handler is done with it
    return true
  end
  if resp == nil and answered(request) then
    -- A handler that prepared a WebSocket and returned nothing: the
    -- connection is dropped (the peer sees 1006), as aiohttp drops it.
    local ws = request._luatest_ws
    if ws and rawget(ws, "_ws") then
      rawget(ws, "_ws"):_release()
    end
    return true
  end
  local t = type(resp)
  if t == "table" and mt == StreamResponse then
    -- A stream the handler did not end is ended for it, as aiohttp does.
    if not rawget(resp, "prepared") then
      resp:prepare(request)
    end
    resp:write_eof()
    return true
  end
  if t == "string" then
    return respond(request, 200, nil, "text/plain; charset=utf-8", nil, resp)
  end
  if t == "table" and mt and is_exception(resp) then
    return send_response(request, resp)
  end
  return nil, format("handler returned %s: expected a web.Response, a string or an HTTP exception", t)
end

local function fail(request, tb, owner)
  record_handler_error(request, tb, owner)
  local r = internal_error()
  respond(request, r.status, nil, content_type_header(r), nil, r.body)
end

--- Runs one request: the handler through the middlewares, then the answer.
--- Called by the server binding in a task of its own; handler errors are
--- also recorded in owner._handler_errors when an owner is given.
--- app is request.app (the server passes it, sparing a lookup).
function M._dispatch(request, handler, status, allow, owner, app)
  local ok, resp = xpcall(call_handler, on_error, request, handler, status, allow, app)
  if not ok and getmetatable(resp) == Failure then
    return fail(request, resp.traceback, owner)
  end
  local sent, err = send(request, resp)
  if not sent and err and not err:find("^ECLOSED") then
    fail(request, err, owner)
  end
end

--- A dispatcher that records handler errors in owner._handler_errors.
function M._dispatcher_for(owner)
  local dispatch = M._dispatch
  return function(request, handler, status, allow, app)
    return dispatch(request, handler, status, allow, owner, app)
  end
end


return M
