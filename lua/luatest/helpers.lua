--- luatest.helpers: small pieces the server and the client share (aiohttp's
--- helpers.py): option checks, header values, HTTP dates, entity tags.
local type, tostring, format, error, next = type, tostring, string.format, error, next

local M = {}

--- check_options(call, opts, allowed, level): an unknown key of an options
--- table is an error naming the call and the key, as aiohttp's TypeError
--- for an unexpected keyword argument (allowed: a set of names).
function M.check_options(call, opts, allowed, level)
  if opts == nil then
    return
  end
  if type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", call, type(opts)), level + 1)
  end
  for k in next, opts do
    if not allowed[k] then
      error(format("%s: unknown option '%s'", call, tostring(k)), level + 1)
    end
  end
end

--- names{...}: a set of the names, for check_options.
function M.names(list)
  local set = {}
  for _, k in ipairs(list) do
    set[k] = true
  end
  return set
end

--- The media type (lower case) and charset of a Content-Type value.
function M.parse_content_type(value)
  if not value then
    return "application/octet-stream", nil
  end
  local mime = value:match("^%s*([^;%s]+)") or "application/octet-stream"
  local charset = value:match(";%s*[cC][hH][aA][rR][sS][eE][tT]%s*=%s*\"?([^;\"%s]+)")
  return mime:lower(), charset
end

-- Parameters of a header value such as `form-data; name="f"; filename="a b.txt"`.
function M.header_params(value)
  local params = {}
  for key, quoted, plain in (value or ""):gmatch(';%s*([%w%-_%*]+)%s*=%s*(%b"")([^;]*)') do
    params[key:lower()] = quoted:sub(2, -2):gsub('\\(.)', "%1") .. plain:gsub("%s+$", "")
  end
  for key, plain in (value or ""):gmatch(";%s*([%w%-_%*]+)%s*=%s*([^\";][^;]*)") do
    key = key:lower()
    if params[key] == nil then
      params[key] = plain:gsub("%s+$", "")
    end
  end
  return params
end

local months = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6, jul = 7, aug = 8, sep = 9,
  oct = 10, nov = 11, dec = 12 }
local month_days = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- Seconds since the epoch of an HTTP date, or nil. Takes the three forms
--- RFC 9110 asks recipients to read, as Python's email.utils.parsedate
--- (which aiohttp uses) reads them: IMF-fixdate ("Sun, 06 Nov 1994
--- 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT", two-digit
--- years as parsedate reads them) and asctime ("Sun Nov  6 08:49:37 1994");
--- the zone is ignored, as parsedate ignores it; a date that does not
--- exist is nil, as it is for aiohttp.
function M.parse_http_date(value)
  value = value or ""
  local d, mon, y, h, mi, sec = value:match("(%d+) (%a%a%a) (%d%d%d%d) (%d%d?):(%d%d):(%d%d)")
  if not d then
    d, mon, y, h, mi, sec = value:match("(%d+)%-(%a%a%a)%-(%d+) (%d%d?):(%d%d):(%d%d)")
  end
  if not d then
    mon, d, h, mi, sec, y = value:match("(%a%a%a) +(%d+) (%d%d?):(%d%d):(%d%d) (%d%d%d%d)")
  end
  local m = months[(mon or ""):lower()]
  if not m then
    return nil
  end
  y, d, h, mi, sec = tonumber(y), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if y < 100 then
    y = y > 68 and y + 1900 or y + 2000
  end
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  if d < 1 or d > month_days[m] or (m == 2 and d == 29 and not leap) or h > 23 or mi > 59 or sec > 59
    or y < 1 then
    return nil
  end
  -- Days from the civil date (H. Hinnant's algorithm).
  y = m <= 2 and y - 1 or y
  -- (math.floor of a quotient, not //, which LuaJIT and 5.1 cannot parse;
  -- exact at these sizes, and an integer under 5.3+.)
  local floor = math.floor
  local era = floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + h * 3600 + mi * 60 + sec
end

-- An entity tag's characters (RFC 9110 section 8.8.3, aiohttp's _ETAGC).
local ETAGC = "[!#-}\128-\255]+"

--- The entity tags of an If-Match or If-None-Match value, as aiohttp's
--- Request._etag_values reads them: a list of {value =, is_weak =}, with
--- "*" alone as the value "*"; reading stops at the first thing that is not
--- a quoted tag followed by a comma or the end. nil for a missing or empty
--- header.
function M.parse_etags(value)
  if value == nil or value == "" then
    return nil
  end
  if value == "*" then
    return { { value = "*", is_weak = false } }
  end
  local out, pos, n = {}, 1, #value
  while pos <= n do
    local weak, tag, stop = value:match('^(W?/?)"(' .. ETAGC .. ')"()', pos)
    if not tag or (weak ~= "" and weak ~= "W/") then
      break
    end
    local after = value:match("^%s*,%s*()", stop)
    if not after and stop <= n then
      break
    end
    out[#out + 1] = { value = tag, is_weak = weak == "W/" }
    pos = after or stop
  end
  return out
end

--- An IMF-fixdate of a time (seconds since the epoch).
function M.http_date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", t)
end

return M
