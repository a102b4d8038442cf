-- The cookie jar as RFC 6265 and aiohttp's CookieJar: expiry, domain and
-- path as keys and filters, Secure, IP hosts, the order cookies are sent in.
local luatest = require "luatest"
local cookiejar = require "luatest.cookiejar"
local core = require "luatest.core"
local eq, same = luatest.eq, luatest.same

local function names(jar, url)
  local out = {}
  for k, v in pairs(jar:filter_cookies(url)) do
    out[#out + 1] = k .. "=" .. v
  end
  table.sort(out)
  return table.concat(out, " ")
end

function test_dates_are_parsed_as_rfc_6265_says()
  eq(cookiejar.parse_date("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412480)
  eq(cookiejar.parse_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777)
  eq(cookiejar.parse_date("Thu Jan  1 00:00:00 1970"), 0)
  eq(cookiejar.parse_date("not a date"), nil)
  eq(cookiejar.parse_date("Wed, 32 Oct 2015 07:28:00 GMT"), nil)
end

function test_expires_in_the_past_and_max_age_expire()
  local jar = cookiejar.CookieJar()
  local url = "http://example.com/"
  jar:update_cookies({ "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "gone=1; Max-Age=0",
    "soon=1; Max-Age=1", "later=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT" }, url)
  eq(names(jar, url), "later=1 soon=1")
  -- Max-Age counts from when it was set: a second later it is gone
  local t0 = core.hrtime()
  while core.hrtime() - t0 < 1.05 do
    core.sleep(0.05)
  end
  eq(names(jar, url), "later=1")
  -- Max-Age wins over Expires
  jar:update_cookies({ "both=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT" }, url)
  eq(names(jar, url), "both=1 later=1")
end

function test_one_name_on_two_paths_is_two_cookies_longer_path_first()
  local jar = cookiejar.CookieJar()
  jar:update_cookies({ "id=root; Path=/" }, "http://example.com/")
  jar:update_cookies({ "id=api; Path=/api" }, "http://example.com/api/x")
  eq(jar:len(), 2)
  eq(jar:cookie_header("http://example.com/api/items"), "id=api; id=root")
  eq(jar:cookie_header("http://example.com/apiary"), "id=root") -- /api does not match /apiary
  eq(jar:cookie_header("http://example.com/"), "id=root")
  -- the same domain, path and name replaces
  jar:update_cookies({ "id=root2; Path=/" }, "http://example.com/")
  eq(jar:cookie_header("http://example.com/api"), "id=api; id=root2")
end

function test_default_path_is_the_directory_of_the_request()
  local jar = cookiejar.CookieJar()
  jar:update_cookies({ "a=1" }, "http://example.com/docs/page.html")
  local m = jar:iter()()
  eq(m.path, "/docs")
  eq(names(jar, "http://example.com/docs/other"), "a=1")
  eq(names(jar, "http://example.com/"), "")
end

function test_domain_cookies_and_host_only_cookies()
  local jar = cookiejar.CookieJar()
  jar:update_cookies({ "wide=1; Domain=.example.com", "host=1", "other=1; Domain=evil.org" },
    "http://www.example.com/")
  eq(names(jar, "http://www.example.com/"), "host=1 wide=1")
  eq(names(jar, "http://api.example.com/"), "wide=1") -- host-only stays on its host
  eq(names(jar, "http://example.com/"), "wide=1")
  eq(names(jar, "http://notexample.com/"), "")
  eq(jar:len(), 2) -- a Domain the host is not in is refused
  jar:clear_domain("example.com")
  eq(jar:len(), 0)
end

function test_secure_cookies_only_over_https_or_a_trusted_origin()
  local jar = cookiejar.CookieJar { treat_as_secure_origin = "http://trusted.test:8080" }
  jar:update_cookies({ "s=1; Secure", "p=1" }, "http://example.com/")
  jar:update_cookies({ "t=1; Secure" }, "http://trusted.test:8080/")
  eq(jar:len(), 3) -- stored, as aiohttp does, even when set over http
  eq(names(jar, "http://example.com/"), "p=1")
  eq(names(jar, "https://example.com/"), "p=1 s=1")
  eq(names(jar, "ws://example.com/"), "p=1")
  eq(names(jar, "wss://example.com/"), "p=1 s=1")
  eq(names(jar, "http://trusted.test:8080/"), "t=1")
end

function test_ip_hosts_need_an_unsafe_jar()
  local safe = cookiejar.CookieJar()
  safe:update_cookies({ "a=1" }, "http://127.0.0.1:8080/")
  eq(safe:len(), 0)
  local unsafe = cookiejar.CookieJar { unsafe = true }
  unsafe:update_cookies({ "a=1" }, "http://127.0.0.1:8080/")
  eq(names(unsafe, "http://127.0.0.1:8080/x"), "a=1")
  eq(names(unsafe, "http://127.0.0.2:8080/x"), "")
end

function test_iter_gives_morsels_and_options_are_checked()
  local jar = cookiejar.CookieJar { unsafe = true }
  jar:update_cookies({ 'sid="abc"; Path=/; HttpOnly; Secure; SameSite=Lax' }, "http://127.0.0.1/")
  jar:update_cookies({ plain = "v" }, "http://127.0.0.1/")
  local got = {}
  for m in jar:iter() do
    got[#got + 1] = m
  end
  eq(#got, 2)
  same({ got[1].key, got[1].value, got[1].domain, got[1].path, got[1].secure, got[1].httponly, got[1].samesite },
    { "sid", "abc", "127.0.0.1", "/", true, true, "Lax" })
  same({ got[2].key, got[2].value, got[2].secure }, { "plain", "v", false })
  local ok, err = pcall(cookiejar.CookieJar, { unsave = true })
  eq(ok, false)
  assert(err:find("CookieJar: unknown option 'unsave'", 1, true), err)
end
