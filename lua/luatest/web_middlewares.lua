--- luatest.web_middlewares: aiohttp's middleware helpers (web_middlewares.py).
--- A middleware is `function(request, handler) return handler(request) end`.
local M = {}

--- web.middleware(fn): marks fn as a new-style middleware, as aiohttp's
--- @web.middleware decorator does; every Lua middleware is one already.
function M.middleware(fn)
  return fn
end

return M
