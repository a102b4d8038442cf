--- luatest.web_fileresponse: aiohttp's FileResponse (web_fileresponse.py),
--- a file's content sent with its type, validators and byte ranges, and a
--- ".gz" sibling for a client that accepts gzip, as aiohttp 3.8 answers.
local core = require "luatest.core"
local helpers = require "luatest.helpers"
local response = require "luatest.web_response"
local exceptions = require "luatest.web_exceptions"

local type, rawget, rawset, error, tonumber = type, rawget, rawset, error, tonumber
local floor, ceil, format = math.floor, math.ceil, string.format
local parse_http_date, http_date, parse_etags = helpers.parse_http_date, helpers.http_date, helpers.parse_etags
local new_response, StreamResponse = response._new_response, response.StreamResponse

local M = {}

-- aiohttp's chunk_size: files larger than this go out in pieces of it.
local CHUNK = 256 * 1024

-- Python's mimetypes (which aiohttp asks) as it answers on Debian, where
-- /etc/mime.types adds to Python's own table: the common extensions.
local mime_types = {
  html = "text/html", htm = "text/html", xhtml = "application/xhtml+xml", css = "text/css",
  js = "text/javascript", mjs = "text/javascript", json = "application/json",
  jsonld = "application/ld+json", txt = "text/plain", text = "text/plain", csv = "text/csv",
  tsv = "text/tab-separated-values", xml = "application/xml", xsl = "application/xslt+xml",
  svg = "image/svg+xml", png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg", jpe = "image/jpeg",
  gif = "image/gif", webp = "image/webp", avif = "image/avif", bmp = "image/bmp",
  ico = "image/vnd.microsoft.icon", tif = "image/tiff", tiff = "image/tiff", pdf = "application/pdf",
  zip = "application/zip", tar = "application/x-tar", wasm = "application/wasm", woff = "font/woff",
  woff2 = "font/woff2", ttf = "font/ttf", otf = "font/otf", eot = "application/vnd.ms-fontobject",
  mp3 = "audio/mpeg", wav = "audio/x-wav", ogg = "audio/ogg", oga = "audio/ogg", opus = "audio/ogg",
  flac = "audio/flac", aac = "audio/aac", m4a = "audio/mp4", mp4 = "video/mp4", m4v = "video/mp4",
  webm = "video/webm", mpg = "video/mpeg", mpeg = "video/mpeg", mov = "video/quicktime",
  avi = "video/x-msvideo", mkv = "video/x-matroska", md = "text/markdown", markdown = "text/markdown",
  c = "text/x-csrc", h = "text/x-chdr", py = "text/x-python", sh = "text/x-sh", pl = "text/x-perl",
  ics = "text/calendar", rtf = "application/rtf", doc = "application/msword",
  xls = "application/vnd.ms-excel", ppt = "application/vnd.ms-powerpoint", epub = "application/epub+zip",
  jar = "application/java-archive", ["7z"] = "application/x-7z-compressed", rar = "application/vnd.rar",
  bin = "application/octet-stream", manifest = "text/cache-manifest",
  webmanifest = "application/manifest+json", vtt = "text/vtt", atom = "application/atom+xml",
  rss = "application/x-rss+xml",
}
-- mimetypes.suffix_map and encodings_map (the latter case-sensitive).
local suffixes = { [".svgz"] = ".svg.gz", [".tgz"] = ".tar.gz", [".taz"] = ".tar.gz", [".tz"] = ".tar.gz",
  [".tbz2"] = ".tar.bz2", [".txz"] = ".tar.xz" }
local encodings = { [".gz"] = "gzip", [".Z"] = "compress", [".bz2"] = "bzip2", [".xz"] = "xz", [".br"] = "br" }

-- posixpath.splitext: the extension starts at the last dot of the last
-- component, unless that component is only dots before it.
local function splitext(path)
  local name_at = path:find("[^/]*$")
  local dot
  local i = path:find(".", name_at, true)
  while i do
    dot = i
    i = path:find(".", i + 1, true)
  end
  if dot and path:sub(name_at, dot - 1):find("[^.]") then
    return path:sub(1, dot - 1), path:sub(dot)
  end
  return path, ""
end

--- guess_type(path) -> the media type (or nil) and the content coding (or
--- nil) of a file name, as Python's mimetypes.guess_type: "a.tar.gz" is
--- application/x-tar in gzip.
local function guess_type(path)
  local base, ext = splitext(path)
  while suffixes[ext:lower()] do
    base, ext = splitext(base .. suffixes[ext:lower()])
  end
  local encoding = encodings[ext]
  if encoding then
    base, ext = splitext(base)
  end
  return mime_types[ext:sub(2):lower()], encoding
end
M._guess_type = guess_type

-- The hex digits of sec * 10^9 + nsec, as Python formats st_mtime_ns, in
-- pieces small enough for a double (LuaJIT and 5.1 have nothing wider).
local function mtime_ns_hex(sec, nsec)
  local sh, sl = floor(sec / 65536), sec % 65536
  local a = sl * 1e9 + nsec -- below 2^47
  local b = sh * 1e9 -- below 2^46; the value is b * 2^16 + a
  local lo = a % 4294967296 + (b % 65536) * 65536
  local hi = floor(a / 4294967296) + floor(b / 65536) + floor(lo / 4294967296)
  lo = lo % 4294967296
  if hi > 0 then
    return format("%x%08x", floor(hi), floor(lo))
  end
  return format("%x", floor(lo))
end

-- aiohttp's _strong_etag_match: "*" alone matches; weak tags never do.
local function strong_match(etag, tags)
  if #tags == 1 and tags[1].value == "*" then
    return true
  end
  for _, t in ipairs(tags) do
    if not t.is_weak and t.value == etag then
      return true
    end
  end
  return false
end

-- request.http_range: start and stop of a slice (stop exclusive, a negative
-- start counts from the end), or nil for no Range; false for a value
-- aiohttp refuses (one range of digits only: "bytes=0-1,3-4" is refused).
local function http_range(value)
  if value == nil then
    return nil
  end
  local first, last = value:match("^bytes=(%d*)%-(%d*)$")
  if not first then
    return false
  end
  local start, stop = tonumber(first), tonumber(last)
  if start == nil and stop ~= nil then
    return -stop, nil
  end
  if start ~= nil and stop ~= nil then
    stop = stop + 1
    if start >= stop then
      return false
    end
  end
  if start == nil and stop == nil then
    return false
  end
  return start, stop
end

-- aiohttp's set_status: a new status drops the reason given for the old.
local function set_status(resp, status)
  resp.status = status
  resp.reason = nil
end

-- The answer to a failed precondition, without a body.
local function precondition_failed(resp)
  set_status(resp, 412)
  rawset(resp, "body", nil)
  rawset(resp, "content_type", "application/octet-stream")
  resp.headers["Content-Length"] = "0"
  return resp
end

local function not_modified(resp, etag, mtime)
  set_status(resp, 304)
  rawset(resp, "body", nil)
  local headers = resp.headers
  headers["ETag"] = '"' .. etag .. '"'
  headers["Last-Modified"] = http_date(ceil(mtime))
  return resp
end

-- A streamed answer with the response's status, headers and cookies.
local function as_stream(resp)
  local stream = StreamResponse { status = resp.status, reason = rawget(resp, "reason"),
    content_type = rawget(resp, "content_type") }
  rawset(stream, "headers", rawget(resp, "headers"))
  rawset(stream, "_cookies", rawget(resp, "_cookies"))
  return stream
end

-- 416 goes out as aiohttp sends it: an empty chunked body.
local function not_satisfiable(resp, size)
  set_status(resp, 416)
  resp.headers["Content-Range"] = "bytes */" .. format("%d", size)
  return as_stream(resp)
end

-- Sends count bytes of the open file from offset, in CHUNK pieces; a
-- client that went away ends it quietly.
local function send_pieces(resp, request, f, count)
  local stream = as_stream(resp)
  stream:prepare(request)
  while count > 0 do
    local piece = f:read(count < CHUNK and count or CHUNK)
    if not piece then
      break
    end
    count = count - #piece
    if not request:_stream_write(piece) then
      rawset(stream, "_eof", true)
      break
    end
  end
  f:close()
  return stream
end

-- The answer, when the response is sent: the checks of aiohttp's
-- FileResponse.prepare in its order (If-Match, If-Unmodified-Since,
-- If-None-Match, If-Modified-Since, then If-Range and Range). A missing
-- file is 404 and a directory 403.
local function prepare_file(resp, request)
  local path = rawget(resp, "_path")
  local rh = request.headers
  local gzip = false
  -- (aiohttp looks for "gzip" anywhere in Accept-Encoding, q=0 included.)
  if (rh["Accept-Encoding"] or ""):find("gzip", 1, true) and core.stat(path .. ".gz") == "file" then
    path = path .. ".gz"
    gzip = true
  end
  local kind, size, sec, nsec = core.stat(path)
  if kind == "dir" then
    error(exceptions.HTTPForbidden())
  elseif kind ~= "file" then
    error(exceptions.HTTPNotFound())
  end
  local etag = mtime_ns_hex(sec, nsec) .. "-" .. format("%x", size)
  local mtime = sec + nsec * 1e-9 -- st_mtime, a float as Python has it

  local if_match = parse_etags(rh["If-Match"])
  if if_match and not strong_match(etag, if_match) then
    return precondition_failed(resp)
  end
  local unmodified_since = parse_http_date(rh["If-Unmodified-Since"])
  if unmodified_since and not if_match and mtime > unmodified_since then
    return precondition_failed(resp)
  end
  local if_none_match = parse_etags(rh["If-None-Match"])
  if if_none_match and strong_match(etag, if_none_match) then
    return not_modified(resp, etag, mtime)
  end
  local modified_since = parse_http_date(rh["If-Modified-Since"])
  if modified_since and not if_none_match and mtime <= modified_since then
    return not_modified(resp, etag, mtime)
  end

  local headers = resp.headers
  local ctype, encoding
  if headers["Content-Type"] == nil and rawget(resp, "content_type") == nil then
    ctype, encoding = guess_type(path)
    ctype = ctype or "application/octet-stream"
  else
    encoding = gzip and "gzip" or nil
  end

  local start, count = 0, size
  local if_range = parse_http_date(rh["If-Range"])
  if if_range == nil or mtime <= if_range then
    local first, stop = http_range(rh["Range"])
    if first == false then
      return not_satisfiable(resp, size)
    end
    if first ~= nil then
      if first < 0 and stop == nil then
        start = first + size
        if start < 0 then
          start = 0
        end
        count = size - start
      else
        start = first + 0 -- (not -0, which LuaJIT keeps as a float)
        count = (stop and stop < size and stop or size) - start
      end
      if start >= size then
        return not_satisfiable(resp, size)
      end
      set_status(resp, 206)
    end
  end

  if ctype then
    rawset(resp, "content_type", ctype)
  end
  if encoding then
    headers["Content-Encoding"] = encoding
  end
  if gzip then
    headers["Vary"] = "Accept-Encoding"
  end
  headers["ETag"] = '"' .. etag .. '"'
  headers["Last-Modified"] = http_date(ceil(mtime))
  headers["Accept-Ranges"] = "bytes"
  if resp.status == 206 then
    headers["Content-Range"] = format("bytes %d-%d/%d", start, start + count - 1, size)
  end
  rawset(resp, "body", nil)
  if count == 0 or request.method == "HEAD" or resp.status == 204 or resp.status == 304 then
    headers["Content-Length"] = format("%d", count)
    return resp
  end
  local f = io.open(path, "rb")
  if not f then
    error(exceptions.HTTPForbidden())
  end
  if start > 0 then
    f:seek("set", start)
  end
  if count > CHUNK then
    headers["Content-Length"] = format("%d", count)
    return send_pieces(resp, request, f, count)
  end
  local data = f:read(count) or ""
  f:close()
  headers["Content-Length"] = nil
  rawset(resp, "body", data)
  return resp
end

--- A response with a file's content, read when it is sent, as aiohttp's
--- FileResponse: Content-Type from the name (as Python's mimetypes),
--- ETag, Last-Modified, Accept-Ranges; 304 and 412 for the conditional
--- headers, 206 and 416 for Range, and "path.gz" in its place with
--- Content-Encoding: gzip when the client accepts gzip and that file exists.
--- opts: status, reason, headers, content_type.
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
