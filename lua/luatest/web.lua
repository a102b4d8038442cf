--- luatest.web: the server side, shaped like aiohttp.web. A facade over the
--- modules named after aiohttp's: web_app (Application, the handling of a
--- request), web_urldispatcher (routes), web_request, web_response,
--- web_fileresponse, web_exceptions, web_middlewares, web_ws, web_routedef.
local helpers = require "luatest.helpers"
local streams = require "luatest.streams"

local web = {}

for _, name in ipairs { "web_exceptions", "web_response", "web_fileresponse", "web_request", "web_ws",
  "web_urldispatcher", "web_routedef", "web_middlewares", "web_app" } do
  for k, v in pairs(require("luatest." .. name)) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" then
      web[k] = v
    end
  end
end
-- (Names other modules of luatest reach through web, kept for them.)
local app = require "luatest.web_app"
web._handler_errors = app._handler_errors
web._dispatch = app._dispatch
web._dispatcher_for = app._dispatcher_for
web._check_options = helpers.check_options
web._names = helpers.names
web._parse_content_type = helpers.parse_content_type
web._header_params = helpers.header_params
web._parse_http_date = helpers.parse_http_date
web._stream_reader = streams.stream_reader

return web
