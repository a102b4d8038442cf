--- luatest.web_middlewares: aiohttp's middleware helpers (web_middlewares.py).
--- A middleware is `function(request, handler) return handler(request) end`.
local helpers = require "luatest.helpers"
local exceptions = require "luatest.web_exceptions"

local type, rawget, error, tostring, ipairs = type, rawget, error, tostring, ipairs

local M = {}

--- web.middleware(fn): marks fn as a new-style middleware, as aiohttp's
--- @web.middleware decorator does; every Lua middleware is one already.
function M.middleware(fn)
  return fn
end

local NORMALIZE_OPTIONS = helpers.names { "append_slash", "remove_slash", "merge_slashes", "redirect_class" }

local function is_move_class(class)
  local c = class
  while type(c) == "table" do
    if c == exceptions.HTTPMove then
      return true
    end
    c = rawget(c, "__parent")
  end
  return false
end

-- Whether a request with this method for this (raw) path would find a
-- route of the application's router, as aiohttp's _check_request_resolves.
local function resolves(router, method, raw)
  return router:resolve(method, raw) == 200
end

--- web.normalize_path_middleware{append_slash = true, remove_slash = false,
--- merge_slashes = true, redirect_class = web.HTTPPermanentRedirect}: for a
--- request that found no route (404 or 405), tries in aiohttp's order the
--- path with repeated slashes merged, with a slash appended (or removed),
--- then both, and redirects to the first that resolves, query kept.
function M.normalize_path_middleware(opts)
  helpers.check_options("web.normalize_path_middleware", opts, NORMALIZE_OPTIONS, 2)
  opts = opts or {}
  local append_slash = opts.append_slash ~= false
  local remove_slash = opts.remove_slash == true
  local merge_slashes = opts.merge_slashes ~= false
  local redirect_class = opts.redirect_class or exceptions.HTTPPermanentRedirect
  if append_slash and remove_slash then
    error("web.normalize_path_middleware: cannot both remove and append slash "
      .. "(remove_slash = true needs append_slash = false)", 2)
  end
  if not is_move_class(redirect_class) then
    error("web.normalize_path_middleware: redirect_class must be a redirect class such as "
      .. "web.HTTPPermanentRedirect, got " .. tostring(redirect_class), 2)
  end
  return function(request, handler)
    local app = request.app
    local router = app and app.router and app.router._core
    local raw, query = request.raw_path, ""
    -- (An absolute-form target is routed by its path.)
    raw = raw:match("^%a[%w+.-]*://[^/?#]*(.*)$") or raw
    local q = raw:find("?", 1, true)
    if q then
      raw, query = raw:sub(1, q - 1), raw:sub(q)
    end
    -- (Routes match the raw path, as aiohttp's do.)
    if router and router:resolve(request.method, raw) ~= 200 then
      local ends_with_slash = request.path:sub(-1) == "/"
      local candidates = {}
      if merge_slashes then
        candidates[#candidates + 1] = (raw:gsub("//+", "/"))
      end
      if append_slash and not ends_with_slash then
        candidates[#candidates + 1] = raw .. "/"
      end
      if remove_slash and ends_with_slash then
        candidates[#candidates + 1] = raw:sub(1, -2)
      end
      if merge_slashes and append_slash then
        candidates[#candidates + 1] = ((raw .. "/"):gsub("//+", "/"))
      end
      if merge_slashes and remove_slash then
        candidates[#candidates + 1] = (raw:gsub("//+", "/")):sub(1, -2)
      end
      for _, path in ipairs(candidates) do
        -- (A leading "//" would make the Location another host's.)
        path = path:gsub("^//+", "/")
        if resolves(router, request.method, path) then
          error(redirect_class(path .. query))
        end
      end
    end
    return handler(request)
  end
end

return M
