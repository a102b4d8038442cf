--- luatest.web_urldispatcher: aiohttp's UrlDispatcher (web_urldispatcher.py):
--- the router of an application, its resources, static files, url_for.
local core = require "luatest.core"
local multidict = require "luatest.multidict"
local exceptions = require "luatest.web_exceptions"
local fileresponse = require "luatest.web_fileresponse"

local type, rawget, setmetatable, getmetatable = type, rawget, setmetatable, getmetatable
local error, tostring, format = error, tostring, string.format

local M = {}

local function check_handler(call, handler)
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
  error(format("%s: handler must be a function or callable, got %s", call, t), 3)
end

local Resource = {}
Resource.__index = Resource

--- The URL of a named route with its `{name}` parts filled in; `query` is
--- appended as a query string.
function Resource:url_for(parts, query)
  parts = parts or {}
  local url = ((self.app and self.app._prefix or "") .. self.path):gsub("{([%w_]+)[^}]*}", function(name)
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

function Router.add_route(self, method, path, handler, opts)
  if type(method) ~= "string" then
    error("router:add_route: method must be a string, got " .. type(method), 2)
  end
  if type(path) ~= "string" then
    error("router:add_route: path must be a string, got " .. type(path), 2)
  end
  check_handler("router:add_route", handler)
  local app = rawget(self, "_app")
  if app and app._frozen then
    error("router:add_route: cannot add routes to an application that is already running", 2)
  end
  self._core:add(method:upper(), path, handler)
  local name = opts and opts.name
  local resource = setmetatable({ method = method:upper(), path = path, name = name, handler = handler,
    app = app }, Resource)
  self._routes[#self._routes + 1] = resource
  if name then
    if self._named[name] then
      error(format("router:add_route: duplicate route name '%s'", name), 2)
    end
    self._named[name] = resource
  end
  return resource
end

for _, method in ipairs { "post", "put", "patch", "delete", "head", "options" } do
  Router["add_" .. method] = function(self, path, handler, opts)
    return Router.add_route(self, method:upper(), path, handler, opts)
  end
end

--- GET routes answer HEAD too unless opts.allow_head is false.
function Router.add_get(self, path, handler, opts)
  local resource = Router.add_route(self, "GET", path, handler, opts)
  if not (opts and opts.allow_head == false) then
    self._core:add("HEAD", path, handler)
    resource.allow_head = true
  end
  return resource
end

--- Serves the files below directory `dir` under URL prefix `prefix`
--- (GET and HEAD). Paths that climb out of dir answer 404, directories 403.
function Router.add_static(self, prefix, dir, opts)
  if type(prefix) ~= "string" or prefix:sub(1, 1) ~= "/" then
    error("router:add_static: prefix should start with '/', got " .. tostring(prefix), 2)
  end
  if type(dir) ~= "string" or core.stat(dir) ~= "dir" then
    error("router:add_static: no such directory: " .. tostring(dir), 2)
  end
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
  return Router.add_get(self, prefix .. "/{filename:.*}", handler, opts)
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

local function new_router(app)
  return setmetatable({ _core = core.router(), _routes = {}, _named = {}, _app = app }, Router)
end

M.new_router = new_router
M.check_handler = check_handler
M.Router = Router
M.Resource = Resource

return M
