--- luatest.cookiejar: cookie storage as RFC 6265 and aiohttp's CookieJar
--- have it. Cookies are keyed by domain, path and name; Expires and
--- Max-Age expire them; Domain and Path filter what is sent where; Secure
--- cookies go only to https/wss (or to a `treat_as_secure_origin`); IP
--- hosts are refused unless `unsafe` (the test client's jar is unsafe).
local core = require "luatest.core"

local type, pairs, ipairs, tostring, tonumber, error, setmetatable = type, pairs, ipairs, tostring, tonumber, error,
  setmetatable
local format, floor, sort = string.format, math.floor, table.sort

local M = {}

-- Wall-clock seconds with a fraction: os.time() at load, advanced by the
-- monotonic clock (Max-Age=1 must not end early because a second ticked).
local wall0, mono0 = os.time(), core.hrtime()
local function now()
  return wall0 + (core.hrtime() - mono0)
end
M._now = now

local function is_ip(host)
  if type(host) ~= "string" then
    return false
  end
  if host:match("^%d+%.%d+%.%d+%.%d+$") then
    return true
  end
  return host:find(":", 1, true) ~= nil or host:match("^%[.*%]$") ~= nil
end

-- ---- RFC 6265 5.1.1: cookie dates ----------------------------------------------------------

local months = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6, jul = 7, aug = 8, sep = 9, oct = 10,
  nov = 11, dec = 12 }

-- Days from 1970-01-01 to y-m-d (proleptic Gregorian), without os.time's
-- local time zone.
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- parse_date(s) -> seconds since the epoch (UTC), or nil: the algorithm
--- of RFC 6265 5.1.1, as aiohttp's CookieJar._parse_date.
function M.parse_date(s)
  if type(s) ~= "string" or s == "" then
    return nil
  end
  local hour, minute, second, day, month, year
  for token in s:gmatch("[%z\1-\8\10-\31%d:a-zA-Z\127-\255]+") do
    local h, mi, se = token:match("^(%d%d?):(%d%d?):(%d%d?)")
    local d = token:match("^(%d%d?)")
    local m = months[token:sub(1, 3):lower()]
    local y = token:match("^(%d%d%d?%d?)")
    if not hour and h then
      hour, minute, second = tonumber(h), tonumber(mi), tonumber(se)
    elseif not day and d then
      day = tonumber(d)
    elseif not month and m then
      month = m
    elseif not year and y then
      year = tonumber(y)
    end
  end
  if not (hour and day and month and year) then
    return nil
  end
  if year >= 70 and year <= 99 then
    year = year + 1900
  elseif year >= 0 and year <= 69 then
    year = year + 2000
  end
  if day < 1 or day > 31 or year < 1601 or hour > 23 or minute > 59 or second > 59 then
    return nil
  end
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
end

-- ---- Set-Cookie ---------------------------------------------------------------------------

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

--- parse_set_cookie(header) -> morsel {key, value, path, domain, expires,
--- ["max-age"], secure, httponly, samesite}, or nil for a header that
--- names no cookie.
function M.parse_set_cookie(header)
  local first, rest = header:match("^([^;]*)(.*)$")
  local name, value = first:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
  if not name or name == "" then
    return nil
  end
  value = value:match('^"(.*)"$') or value
  local m = { key = name, value = value, path = "", domain = "", expires = "", secure = false, httponly = false,
    samesite = "" }
  for attr in rest:gmatch(";([^;]*)") do
    local k, v = attr:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
    if not k then
      k, v = trim(attr), ""
    end
    k = k:lower()
    if k == "path" then
      m.path = v
    elseif k == "domain" then
      m.domain = v:lower()
    elseif k == "expires" then
      m.expires = v
    elseif k == "max-age" then
      m["max-age"] = v
    elseif k == "secure" then
      m.secure = true
    elseif k == "httponly" then
      m.httponly = true
    elseif k == "samesite" then
      m.samesite = v
    end
  end
  return m
end

-- ---- matching -----------------------------------------------------------------------------

local function domain_match(domain, host)
  if host == domain then
    return true
  end
  if #host <= #domain or host:sub(-#domain) ~= domain then
    return false
  end
  return host:sub(-#domain - 1, -#domain - 1) == "." and not is_ip(host)
end

local function path_match(req_path, cookie_path)
  if req_path:sub(1, 1) ~= "/" then
    req_path = "/"
  end
  if req_path == cookie_path then
    return true
  end
  if req_path:sub(1, #cookie_path) ~= cookie_path then
    return false
  end
  return cookie_path:sub(-1) == "/" or req_path:sub(#cookie_path + 1, #cookie_path + 1) == "/"
end

-- scheme, host, path of a URL (a relative one has no host).
local function split_url(url)
  if type(url) ~= "string" then
    return nil, nil, "/"
  end
  local scheme, authority, path = url:match("^(%a[%w+.-]*)://([^/?#]*)([^?#]*)")
  if not scheme then
    return nil, nil, (url:match("^[^?#]*"))
  end
  local host = authority:gsub("^.*@", "")
  if host:sub(1, 1) == "[" then
    host = host:match("^(%b[])") or host
  else
    host = host:gsub(":%d*$", "")
  end
  return scheme:lower(), host:lower(), path ~= "" and path or "/"
end
M._split_url = split_url

-- ---- the jar ------------------------------------------------------------------------------

local CookieJar = {}
CookieJar.__index = CookieJar
CookieJar.__name = "CookieJar"
M.CookieJar_class = CookieJar

local jar_options = { unsafe = true, treat_as_secure_origin = true, quote_cookie = true }

local function origin_of(url)
  local scheme, authority = tostring(url):match("^(%a[%w+.-]*)://([^/?#]*)")
  return scheme and (scheme:lower() .. "://" .. authority:lower()) or tostring(url)
end

--- CookieJar{unsafe = false, treat_as_secure_origin = url | {urls}}
function M.CookieJar(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("CookieJar: options must be a table, got " .. type(opts), 2)
  end
  for k in pairs(opts) do
    if not jar_options[k] then
      error(format("CookieJar: unknown option '%s'", tostring(k)), 2)
    end
  end
  local secure = {}
  local origins = opts.treat_as_secure_origin
  if type(origins) == "string" then
    origins = { origins }
  end
  for _, o in ipairs(origins or {}) do
    secure[origin_of(o)] = true
  end
  return setmetatable({ _unsafe = opts.unsafe and true or false, _secure_origins = secure, _cookies = {},
    _seq = 0 }, CookieJar)
end

local function key_of(domain, path, name)
  return domain .. "\0" .. path .. "\0" .. name
end

-- Drops what has expired.
local function expire(self)
  local t = now()
  for k, c in pairs(self._cookies) do
    if c._expires_at and c._expires_at <= t then
      self._cookies[k] = nil
    end
  end
end

local function store(self, m, host, req_path)
  local domain = m.domain or ""
  if domain:sub(-1) == "." then
    domain = ""
  end
  local host_only = false
  if domain == "" and host then
    host_only, domain = true, host
  end
  if domain:sub(1, 1) == "." then
    domain = domain:sub(2)
  end
  if host and not domain_match(domain, host) then
    return
  end
  local path = m.path or ""
  if path == "" or path:sub(1, 1) ~= "/" then
    -- the default path: the request path's directory
    local dir = req_path:match("^(/.*)/[^/]*$")
    path = (req_path:sub(1, 1) == "/" and dir) or "/"
  end
  local c = { key = m.key, value = tostring(m.value), domain = domain, path = path, expires = m.expires or "",
    secure = m.secure and true or false, httponly = m.httponly and true or false, samesite = m.samesite or "",
    _host_only = host_only }
  local max_age = m["max-age"]
  if max_age ~= nil and max_age ~= "" then
    local secs = tonumber(max_age)
    if secs and secs == floor(secs) then
      c._expires_at = now() + secs
      c["max-age"] = tostring(secs)
    end
  elseif c.expires ~= "" then
    local at = M.parse_date(c.expires)
    if at then
      c._expires_at = at
    else
      c.expires = ""
    end
  end
  local k = key_of(domain, path, c.key)
  local old = self._cookies[k]
  if old then
    c._seq = old._seq -- a replaced cookie keeps its creation order (RFC 6265 5.3)
  else
    self._seq = self._seq + 1
    c._seq = self._seq
  end
  self._cookies[k] = c
end

--- jar:update_cookies(cookies, response_url): cookies is a list of
--- Set-Cookie values, a map name -> value, or a map name -> morsel.
function CookieJar:update_cookies(cookies, response_url)
  if type(cookies) ~= "table" then
    error("jar:update_cookies: expected a table, got " .. type(cookies), 2)
  end
  local _, host, req_path = split_url(response_url)
  if host == "" then
    host = nil
  end
  if not self._unsafe and is_ip(host) then
    return
  end
  if cookies[1] ~= nil then
    for _, header in ipairs(cookies) do
      local m = M.parse_set_cookie(tostring(header))
      if m then
        store(self, m, host, req_path)
      end
    end
  else
    for name, v in pairs(cookies) do
      local m = type(v) == "table" and v or { key = tostring(name), value = tostring(v) }
      m.key = m.key or tostring(name)
      store(self, m, host, req_path)
    end
  end
  expire(self)
end

-- The cookies for url, in the order RFC 6265 5.4 sends them: longer paths
-- first, then older first.
function CookieJar:_for_url(url)
  expire(self)
  local scheme, host, path = split_url(url)
  host = host or ""
  local secure = scheme == "https" or scheme == "wss" or self._secure_origins[origin_of(url)] ~= nil
  local out = {}
  for _, c in pairs(self._cookies) do
    local ok = true
    if c.domain == "" then
      ok = true -- set with no URL: sent everywhere, as aiohttp's
    elseif not self._unsafe and is_ip(host) then
      ok = false
    elseif c._host_only then
      ok = c.domain == host
    else
      ok = domain_match(c.domain, host)
    end
    ok = ok and path_match(path, c.path) and (secure or not c.secure)
    if ok then
      out[#out + 1] = c
    end
  end
  sort(out, function(a, b)
    if #a.path ~= #b.path then
      return #a.path > #b.path
    end
    return a._seq < b._seq
  end)
  return out
end

--- jar:filter_cookies(url) -> name -> value of the cookies to send there
--- (of two with one name, the one sent first).
function CookieJar:filter_cookies(url)
  local out = {}
  for _, c in ipairs(self:_for_url(url or "/")) do
    if out[c.key] == nil then
      out[c.key] = c.value
    end
  end
  return out
end

--- jar:cookie_header(url, extra) -> the Cookie header for url, or nil.
function CookieJar:cookie_header(url, extra)
  local parts, seen = {}, {}
  if extra then
    local names = {}
    for k in pairs(extra) do
      names[#names + 1] = tostring(k)
    end
    sort(names)
    for _, k in ipairs(names) do
      parts[#parts + 1] = k .. "=" .. tostring(extra[k])
      seen[k] = true
    end
  end
  for _, c in ipairs(self:_for_url(url or "/")) do
    if not seen[c.key] then
      parts[#parts + 1] = c.key .. "=" .. c.value
    end
  end
  if #parts == 0 then
    return nil
  end
  return table.concat(parts, "; ")
end

local function morsel(c)
  return { key = c.key, value = c.value, domain = c.domain, path = c.path, expires = c.expires,
    ["max-age"] = c["max-age"] or "", secure = c.secure, httponly = c.httponly, samesite = c.samesite }
end

local function sorted_cookies(self)
  expire(self)
  local list = {}
  for _, c in pairs(self._cookies) do
    list[#list + 1] = c
  end
  sort(list, function(a, b)
    return a._seq < b._seq
  end)
  return list
end

--- for m in jar:iter() do ... end: the morsels, oldest first.
function CookieJar:iter()
  local list, i = sorted_cookies(self), 0
  return function()
    i = i + 1
    return list[i] and morsel(list[i]) or nil
  end
end

--- jar:len() (and #jar where __len exists): how many cookies are kept.
function CookieJar:len()
  return #sorted_cookies(self)
end
CookieJar.__len = CookieJar.len

--- jar:clear([predicate]): all cookies, or those predicate(morsel) picks.
function CookieJar:clear(predicate)
  if predicate == nil then
    self._cookies = {}
    return
  end
  for k, c in pairs(self._cookies) do
    if predicate(morsel(c)) then
      self._cookies[k] = nil
    end
  end
end

--- jar:clear_domain(domain): the cookies of domain and its subdomains.
function CookieJar:clear_domain(domain)
  self:clear(function(m)
    return domain_match(domain, m.domain)
  end)
end

M.is_ip_address = is_ip
M.domain_match = domain_match
M.path_match = path_match

return M
