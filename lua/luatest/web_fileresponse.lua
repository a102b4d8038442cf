--- luatest.web_fileresponse: aiohttp's FileResponse (web_fileresponse.py),
--- a file's content sent with its type, date and validators.
local core = require "luatest.core"
local helpers = require "luatest.helpers"
local response = require "luatest.web_response"
local exceptions = require "luatest.web_exceptions"

local type, rawget, rawset, error = type, rawget, rawset, error
local parse_http_date, http_date = helpers.parse_http_date, helpers.http_date
local new_response = response.new_response

local M = {}

local mime_types = {
  html = "text/html", htm = "text/html", css = "text/css", js = "text/javascript",
  mjs = "text/javascript", json = "application/json", txt = "text/plain", csv = "text/csv",
  xml = "application/xml", svg = "image/svg+xml", png = "image/png", jpg = "image/jpeg",
  jpeg = "image/jpeg", gif = "image/gif", webp = "image/webp", ico = "image/vnd.microsoft.icon",
  pdf = "application/pdf", zip = "application/zip", gz = "application/gzip",
  wasm = "application/wasm", woff = "font/woff", woff2 = "font/woff2", ttf = "font/ttf",
  mp3 = "audio/mpeg", wav = "audio/x-wav", mp4 = "video/mp4", md = "text/markdown",
  lua = "text/x-lua",
}

local function guess_type(path)
  local ext = path:match("%.([%w]+)$")
  return ext and mime_types[ext:lower()] or "application/octet-stream"
end

-- Reads the file when the response is sent: 404 when it is missing, 403 for
-- a directory, 304 when the client's copy is current.
local function prepare_file(resp, request)
  local path = rawget(resp, "_path")
  local kind, _, mtime = core.stat(path)
  if kind == "dir" then
    error(exceptions.HTTPForbidden())
  elseif kind ~= "file" then
    error(exceptions.HTTPNotFound())
  end
  local headers = resp.headers
  headers["Last-Modified"] = http_date(mtime)
  local since = parse_http_date(request.headers["If-Modified-Since"])
  if since and mtime <= since then
    resp.status = 304
    rawset(resp, "body", nil)
    rawset(resp, "content_type", nil)
    return resp
  end
  local f = io.open(path, "rb")
  if not f then
    error(exceptions.HTTPForbidden())
  end
  local data = f:read("*a") -- (5.1 knows only the "*" forms)
  f:close()
  rawset(resp, "body", data)
  if rawget(resp, "content_type") == nil then
    rawset(resp, "content_type", guess_type(path))
  end
  return resp
end

--- A response with a file's content, read when it is sent; Content-Type
--- from the extension, Last-Modified from the file, and 304 Not Modified for
--- a request whose If-Modified-Since is not older than the file.
function M.FileResponse(path, opts)
  if type(path) ~= "string" then
    error("web.FileResponse: path must be a string, got " .. type(path), 2)
  end
  opts = opts or {}
  local resp = new_response { status = opts.status, reason = opts.reason, headers = opts.headers,
    content_type = opts.content_type }
  rawset(resp, "_path", path)
  rawset(resp, "_prepare", prepare_file)
  return resp
end

return M
