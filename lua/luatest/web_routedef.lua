--- luatest.web_routedef: aiohttp's route definitions (web_routedef.py):
--- web.get/post/.../route/view/static make RouteDef and StaticDef values,
--- and RouteTableDef collects them with decorator-like methods; both are
--- registered by router:add_routes / app:add_routes.
local type, tostring, format, error, setmetatable, getmetatable, pairs, ipairs, rawget =
  type, tostring, string.format, error, setmetatable, getmetatable, pairs, ipairs, rawget

local M = {}

-- hdrs.METH_ALL, in the order aiohttp lists it.
local METH_ALL = { "CONNECT", "HEAD", "GET", "DELETE", "OPTIONS", "PATCH", "POST", "PUT", "TRACE" }
M._METH_ALL = METH_ALL

local function callable(x)
  local t = type(x)
  if t == "function" or t == "userdata" then
    return true
  end
  local mt = t == "table" and getmetatable(x)
  return mt and mt.__call ~= nil or false
end

local function check_args(call, path, handler, level)
  if type(path) ~= "string" then
    error(format("%s: path must be a string, got %s", call, type(path)), level + 1)
  end
  if not callable(handler) then
    error(format("%s: handler must be a function or callable (a web.View class too), got %s", call,
      type(handler)), level + 1)
  end
end

local function copy(opts, call, level)
  if opts ~= nil and type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", call, type(opts)), level + 1)
  end
  local t = {}
  for k, v in pairs(opts or {}) do
    t[k] = v
  end
  return t
end

-- ---- RouteDef, StaticDef ---------------------------------------------------------------

local RouteDef = { __name = "RouteDef" }
RouteDef.__index = RouteDef
RouteDef.__tostring = function(self)
  return format("<RouteDef %s %s -> %s>", self.method, self.path, tostring(self.handler))
end

--- def:register(router) -> the routes it added (a list), as aiohttp's
--- AbstractRouteDef.register. GET goes through router:add_get, so it
--- answers HEAD unless kwargs.allow_head is false.
-- (call and level, for add_routes: the call to name in errors and where
-- its caller is; the result is kept in a local so no tail call hides a level.)
function RouteDef.register(self, router, call, level)
  local r = router:_register(self, call or "routedef:register", (level or 2) + 1)
  return r
end

local StaticDef = { __name = "StaticDef" }
StaticDef.__index = StaticDef
StaticDef.__tostring = function(self)
  return format("<StaticDef %s -> %s>", self.prefix, tostring(self.path))
end

function StaticDef.register(self, router, call, level)
  local r = router:_register(self, call or "routedef:register", (level or 2) + 1)
  return r
end

local function route_def(method, path, handler, kwargs)
  return setmetatable({ method = method, path = path, handler = handler, kwargs = kwargs }, RouteDef)
end

--- web.route(method, path, handler, opts) -> a RouteDef.
function M.route(method, path, handler, opts)
  if type(method) ~= "string" then
    error("web.route: method must be a string, got " .. type(method), 2)
  end
  check_args("web.route", path, handler, 2)
  return route_def(method, path, handler, copy(opts, "web.route", 2))
end

for _, method in ipairs { "post", "put", "patch", "delete", "head", "options" } do
  local call = "web." .. method
  M[method] = function(path, handler, opts)
    check_args(call, path, handler, 2)
    return route_def(method:upper(), path, handler, copy(opts, call, 2))
  end
end

--- web.get(path, handler, {name=, allow_head=true}) -> a RouteDef whose
--- kwargs carry name and allow_head, as aiohttp's web.get.
function M.get(path, handler, opts)
  check_args("web.get", path, handler, 2)
  local kwargs = copy(opts, "web.get", 2)
  if kwargs.allow_head == nil then
    kwargs.allow_head = true
  end
  return route_def("GET", path, handler, kwargs)
end

--- web.view(path, View, opts) -> a RouteDef for any method ("*").
function M.view(path, view, opts)
  check_args("web.view", path, view, 2)
  return route_def("*", path, view, copy(opts, "web.view", 2))
end

local function static_def(call, prefix, dir, opts, level)
  if type(prefix) ~= "string" then
    error(format("%s: prefix must be a string, got %s", call, type(prefix)), level + 1)
  end
  if type(dir) ~= "string" then
    error(format("%s: directory must be a string, got %s", call, type(dir)), level + 1)
  end
  return setmetatable({ prefix = prefix, path = dir, kwargs = copy(opts, call, level + 1) }, StaticDef)
end

--- web.static(prefix, dir, opts) -> a StaticDef (router:add_static's arguments).
function M.static(prefix, dir, opts)
  return static_def("web.static", prefix, dir, opts, 2)
end

--- Whether x is a RouteDef or a StaticDef (aiohttp's AbstractRouteDef).
function M.is_route_def(x)
  local mt = getmetatable(x)
  return mt == RouteDef or mt == StaticDef
end

M.RouteDef = RouteDef
M.StaticDef = StaticDef

-- ---- RouteTableDef ----------------------------------------------------------------------

-- The table is a plain array of definitions (so `#routes` and ipairs work on
-- every Lua), its methods reached through the metatable.
local RouteTableDef = { __name = "RouteTableDef" }
local methods = {}
RouteTableDef.__index = methods
RouteTableDef.__len = function(self)
  return methods.len(self)
end
RouteTableDef.__tostring = function(self)
  return format("<RouteTableDef count=%d>", methods.len(self))
end

local function check_self(self, call)
  if getmetatable(self) ~= RouteTableDef then
    error(format("%s: call it with ':' on a RouteTableDef (routes:%s(...))", call, call:match("[%w_]+$")), 3)
  end
end

--- routes:route(method, path, opts) -> a function that records
--- (method, path, handler) and returns the handler, as aiohttp's decorator.
function methods.route(self, method, path, opts)
  check_self(self, "routes:route")
  if type(method) ~= "string" then
    error("routes:route: method must be a string, got " .. type(method), 2)
  end
  return methods._deco(self, "routes:route", method, path, opts)
end

function methods._deco(self, call, method, path, opts)
  if type(path) ~= "string" then
    error(format("%s: path must be a string, got %s", call, type(path)), 3)
  end
  if type(opts) == "function" then
    error(format("%s: options must be a table, got a function (the handler goes in a call of its own: "
      .. "%s(path)(handler))", call, call), 3)
  end
  local kwargs = copy(opts, call, 3)
  return function(handler)
    check_args(call, path, handler, 2)
    self[#self + 1] = route_def(method, path, handler, kwargs)
    return handler
  end
end

for _, method in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local call = "routes:" .. method
  methods[method] = function(self, path, opts)
    check_self(self, call)
    return methods._deco(self, call, method:upper(), path, opts)
  end
end

--- routes:view(path, opts)(View): a class-based view for any method.
function methods.view(self, path, opts)
  check_self(self, "routes:view")
  return methods._deco(self, "routes:view", "*", path, opts)
end

--- routes:static(prefix, dir, opts): records a StaticDef.
function methods.static(self, prefix, dir, opts)
  check_self(self, "routes:static")
  self[#self + 1] = static_def("routes:static", prefix, dir, opts, 2)
end

--- routes:len(): the number of definitions (`#routes` works as well).
function methods.len(self)
  local n = 0
  while rawget(self, n + 1) ~= nil do
    n = n + 1
  end
  return n
end

--- routes:contains(def): whether def is one of the definitions.
function methods.contains(self, def)
  for _, d in ipairs(self) do
    if d == def then
      return true
    end
  end
  return false
end

--- web.RouteTableDef(): an empty table of route definitions.
function M.RouteTableDef()
  return setmetatable({}, RouteTableDef)
end

function M.is_route_table_def(x)
  return getmetatable(x) == RouteTableDef
end

return M
