--- luatest.web_urldispatcher: aiohttp's UrlDispatcher (web_urldispatcher.py):
--- the router of an application, its resources, static files, url_for.
local core = require "luatest.core"
local multidict = require "luatest.multidict"
local exceptions = require "luatest.web_exceptions"
local fileresponse = require "luatest.web_fileresponse"
local helpers = require "luatest.helpers"
local routedef = require "luatest.web_routedef"

local type, rawget, setmetatable, getmetatable = type, rawget, setmetatable, getmetatable
local error, tostring, format = error, tostring, string.format

local M = {}

local function check_handler(call, handler, level)
  local t = type(handler)
  if t == "function" or t == "userdata" then
    return
  end
  if t == "table" then
    local mt = getmetatable(handler)
    if mt and mt.__call then
      return
    end
  end
  error(format("%s: handler must be a function or callable, got %s", call, t), level and level + 1 or 3)
end

local Resource = {}
Resource.__index = Resource

--- The URL of a named route with its `{name}` parts filled in; `query` is
--- appended as a query string.
function Resource:url_for(parts, query)
  parts = parts or {}
  -- (%b{} keeps a part with a count, {y:\d{4}}, whole.)
  local url = ((self.app and self.app._prefix or "") .. self.path):gsub("%b{}", function(part)
    local name = part:match("^{([%a_][%w_]*)")
    local v = parts[name]
    if v == nil then
      error(format("url_for: route '%s' needs a value for '%s'", self.name, name), 3)
    end
    return core.urlencode(tostring(v), false)
  end)
  if query then
    local q = {}
    multidict.each_pair(query, function(k, v)
      q[#q + 1] = core.urlencode(tostring(k), true) .. "=" .. core.urlencode(tostring(v), true)
    end)
    if #q > 0 then
      url = url .. "?" .. table.concat(q, "&")
    end
  end
  return url
end

local Router = {}
Router.__name = "UrlDispatcher"

local ROUTE_OPTIONS = helpers.names { "name", "expect_handler" }
local GET_OPTIONS = helpers.names { "name", "expect_handler", "allow_head" }
local STATIC_OPTIONS = helpers.names { "name", "expect_handler", "chunk_size", "show_index", "follow_symlinks",
  "append_version" }

-- Adds one route; call names the API the user called in errors, level is
-- where the user's call is, seen from here. (The callers keep results in a
-- local before returning them: a tail call would drop their frame and
-- throw the levels off.)
local function add(self, call, level, method, path, handler, opts, allowed)
  if type(method) ~= "string" then
    error(format("%s: method must be a string, got %s", call, type(method)), level)
  end
  if type(path) ~= "string" then
    error(format("%s: path must be a string, got %s", call, type(path)), level)
  end
  check_handler(call, handler, level)
  helpers.check_options(call, opts, allowed or ROUTE_OPTIONS, level)
  local app = rawget(self, "_app")
  if app and app._frozen then
    error(call .. ": cannot add routes to an application that is already running", level)
  end
  local name = opts and opts.name
  local last = self._routes[#self._routes]
  -- aiohttp adds a route with the name and path of the last one to that
  -- resource (add_get then add_post under one name).
  local same = name and last and last.name == name and last.path == path
  if name and self._named[name] and not same then
    error(format("%s: duplicate route name '%s'", call, name), level)
  end
  local core_router = self._core
  local ok, err = pcall(core_router.add, core_router, method:upper(), path, handler, call)
  if not ok then
    error(err, level)
  end
  local resource = setmetatable({ method = method:upper(), path = path, name = name, handler = handler,
    app = app }, Resource)
  self._routes[#self._routes + 1] = resource
  if name and not same then
    self._named[name] = resource
  end
  return resource
end

-- GET routes answer HEAD too unless opts.allow_head is false.
local function add_get(self, call, level, path, handler, opts)
  local resource = add(self, call, level + 1, "GET", path, handler, opts, GET_OPTIONS)
  if not (opts and opts.allow_head == false) then
    self._core:add("HEAD", path, handler, call)
    resource.allow_head = true
  end
  return resource
end

--- router:add_route(method, path, handler, {name=}): method "*" is any
--- method; handler is a function, a C handler or a web.View class.
function Router.add_route(self, method, path, handler, opts)
  local r = add(self, "router:add_route", 3, method, path, handler, opts)
  return r
end

for _, method in ipairs { "post", "put", "patch", "delete", "head", "options" } do
  local call = "router:add_" .. method
  Router["add_" .. method] = function(self, path, handler, opts)
    local r = add(self, call, 3, method:upper(), path, handler, opts)
    return r
  end
end

--- router:add_get(path, handler, {name=, allow_head=}): GET and HEAD.
function Router.add_get(self, path, handler, opts)
  local r = add_get(self, "router:add_get", 3, path, handler, opts)
  return r
end

--- router:add_view(path, View, {name=}): a class-based view for any method.
function Router.add_view(self, path, view, opts)
  local r = add(self, "router:add_view", 3, "*", path, view, opts)
  return r
end

local function add_static(self, call, level, prefix, dir, opts)
  if type(prefix) ~= "string" or prefix:sub(1, 1) ~= "/" then
    error(format("%s: prefix should start with '/', got %s", call, tostring(prefix)), level)
  end
  if type(dir) ~= "string" or core.stat(dir) ~= "dir" then
    error(format("%s: no such directory: %s", call, tostring(dir)), level)
  end
  helpers.check_options(call, opts, STATIC_OPTIONS, level)
  prefix = prefix:gsub("/+$", "")
  dir = dir:gsub("/+$", "")
  local function handler(request)
    local rel = request.match_info.filename
    if rel:sub(1, 1) == "/" then
      error(exceptions.HTTPForbidden())
    end
    local parts = {}
    for seg in rel:gmatch("[^/]+") do
      if seg == ".." then
        if #parts == 0 then
          error(exceptions.HTTPNotFound())
        end
        parts[#parts] = nil
      elseif seg ~= "." then
        parts[#parts + 1] = seg
      end
    end
    return fileresponse.FileResponse(dir .. "/" .. table.concat(parts, "/"))
  end
  local get_opts = opts and { name = opts.name }
  local r = add_get(self, call, level + 1, prefix .. "/{filename:.*}", handler, get_opts)
  return r
end

--- Serves the files below directory `dir` under URL prefix `prefix`
--- (GET and HEAD). Paths that climb out of dir answer 404, directories 403.
function Router.add_static(self, prefix, dir, opts)
  local r = add_static(self, "router:add_static", 3, prefix, dir, opts)
  return r
end

-- Registers one RouteDef or StaticDef (their :register calls this).
function Router._register(self, def, call, level)
  if getmetatable(def) == routedef.StaticDef then
    return { add_static(self, call, level + 1, def.prefix, def.path, def.kwargs) }
  end
  local method = type(def.method) == "string" and def.method:upper()
  if method == "GET" then
    return { add_get(self, call, level + 1, def.path, def.handler, def.kwargs) }
  end
  return { add(self, call, level + 1, def.method, def.path, def.handler, def.kwargs) }
end

-- add_routes for the router and the application: call names which.
function Router._add_routes(self, defs, call, level)
  if type(defs) ~= "table" then
    error(format("%s: expected a list of route definitions or a RouteTableDef, got %s", call, type(defs)),
      level)
  end
  local added = {}
  for i, def in ipairs(defs) do
    if not routedef.is_route_def(def) then
      error(format("%s: item %d is not a route definition (web.get, web.view, web.static... or a "
        .. "RouteTableDef), got %s", call, i, type(def)), level)
    end
    for _, route in ipairs(def:register(self, call, level + 1)) do
      added[#added + 1] = route
    end
  end
  return added
end

--- router:add_routes(defs) -> the routes added: defs is a list of
--- web.get(...)/web.view(...)/web.static(...) values or a RouteTableDef.
function Router.add_routes(self, defs)
  local r = Router._add_routes(self, defs, "router:add_routes", 3)
  return r
end

function Router.routes(self)
  return self._routes
end

function Router.named_resources(self)
  return self._named
end

Router.__index = function(self, key)
  local m = Router[key]
  if m ~= nil then
    return m
  end
  return self._named[key]
end

-- ---- class-based views ---------------------------------------------------------------

-- aiohttp's web.View: `local MyView = web.View:extend()`, then
-- `function MyView:get() ... end` for each method it answers; self.request
-- is the request. A view class is a handler: calling it with a request
-- runs the method named by request.method (Python's `await MyView(request)`),
-- and a method it does not define answers 405 with Allow listing those it does.
local View = {}
View.__name = "View"
View.__index = View

local view_meta -- the metatable of every view class

local function is_view_class(x)
  return type(x) == "table" and getmetatable(x) == view_meta
end

--- View:extend(methods) -> a new view class inheriting from this one;
--- methods (optional) is a table of methods to put in it.
function View.extend(parent, methods)
  if not is_view_class(parent) then
    error("View:extend: call it with ':' on a view class (web.View:extend())", 2)
  end
  if methods ~= nil and type(methods) ~= "table" then
    error("View:extend: methods must be a table, got " .. type(methods), 2)
  end
  local cls = { _parent = parent }
  for k, v in pairs(methods or {}) do
    cls[k] = v
  end
  cls.__index = cls
  cls.__name = rawget(cls, "__name") or "View"
  return setmetatable(cls, view_meta)
end

--- View:new(request) -> an instance with .request, not yet run (the
--- Python `MyView(request)` before it is awaited).
function View.new(cls, request)
  if not is_view_class(cls) then
    error("View:new: call it with ':' on a view class (MyView:new(request))", 2)
  end
  return setmetatable({ request = request }, cls)
end

local function raise_allowed_methods(self)
  local allowed = {}
  for _, m in ipairs(routedef._METH_ALL) do
    if self[m:lower()] ~= nil then
      allowed[#allowed + 1] = m
    end
  end
  error(exceptions.HTTPMethodNotAllowed(self.request.method, allowed))
end

local METH_SET = helpers.names(routedef._METH_ALL)

--- view:_iter(): runs the method named by the request's method.
function View._iter(self)
  local method = self.request.method
  local fn = METH_SET[method] and self[method:lower()]
  if fn == nil then
    raise_allowed_methods(self)
  end
  return fn(self)
end

view_meta = {
  __index = function(cls, key)
    local parent = rawget(cls, "_parent")
    if parent then
      return parent[key]
    end
  end,
  __call = function(cls, request)
    return View._iter(View.new(cls, request))
  end,
  __tostring = function(cls)
    return "<class-based view " .. tostring(rawget(cls, "__name") or "View") .. ">"
  end,
}
setmetatable(View, view_meta)

M.View = View
M.is_view_class = is_view_class

local function new_router(app)
  return setmetatable({ _core = core.router(), _routes = {}, _named = {}, _app = app }, Router)
end

M._new_router = new_router
M.UrlDispatcher = Router -- (aiohttp's name)
M.Resource = Resource

return M
