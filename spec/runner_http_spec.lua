-- A failing test's report shows its last HTTP exchanges (API.md section
-- 12): method, URL, status, headers with credentials redacted, the first
-- 200 bytes of both bodies, WebSocket handshakes and connection errors; in
-- the text report, JUnit and JSON, from -j workers too.
local luatest = require "luatest"
local eq, contains = luatest.eq, luatest.contains

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local support = dofile(HERE .. "/support/runner.lua")
local run, write_file, read_junit = support.run, support.write_file, support.read_junit

luatest.fixture("tmpdir", support.tmpdir)

local APP = [[
local web = require "luatest.web"
local function app()
  local a = web.Application()
  a.router:add_get("/hello", function()
    return web.Response { text = "hi there", headers = { ["Set-Cookie"] = "sid=s3cr3t" } }
  end)
  a.router:add_post("/echo", function(req) return web.Response { text = req:text() } end)
  a.router:add_get("/big", function() return web.Response { text = string.rep("b", 250) .. "TAIL" } end)
  a.router:add_get("/n/{i}", function(req) return web.Response { text = "n" .. req.match_info.i } end)
  a.router:add_get("/ws", function(req)
    local ws = web.WebSocketResponse()
    ws:prepare(req)
    ws:close()
    return ws
  end)
  return a
end
]]

local function not_contains(s, part)
  assert(not s:find(part, 1, true), "should not contain: " .. part)
end

local function spec_file(dir, body)
  local path = dir .. "/http_spec.lua"
  write_file(path, APP .. body)
  return path
end

local FAILING = [[
function test_fails(aiohttp_client)
  local client = aiohttp_client(app())
  local r = client:get("/hello", { headers = { Authorization = "Bearer tok3n", Cookie = "c=cookieval",
    ["Proxy-Authorization"] = "Basic pr0xy", ["X-Mine"] = "visible" } })
  assert(r:text() == "hi there")
  client:post("/echo", { data = string.rep("a", 200) .. "REQTAIL" })
  local big = client:get("/big")
  big:text()
  local ws = client:ws_connect("/ws")
  ws:close()
  error("boom")
end
]]

describe("a failing test's HTTP exchanges", function()
  it("show method, URL, status, headers (credentials redacted) and the first 200 bytes of the bodies",
    function(tmpdir)
      local r = run { spec_file(tmpdir, FAILING) }
      eq(r.code, 1)
      contains(r.out, "HTTP exchanges (4):\n  GET http://127.0.0.1:")
      assert(r.out:find("\n  GET http://127%.0%.0%.1:%d+/hello %-> 200 OK\n"), r.out)
      contains(r.out, "\n    > Authorization: (redacted)\n")
      contains(r.out, "\n    > Cookie: (redacted)\n")
      contains(r.out, "\n    > Proxy-Authorization: (redacted)\n")
      contains(r.out, "\n    > X-Mine: visible\n")
      contains(r.out, "\n    < Set-Cookie: (redacted)\n")
      contains(r.out, "\n    < Content-Type: text/plain; charset=utf-8\n")
      contains(r.out, "\n    response body (8 bytes): hi there\n")
      for _, secret in ipairs { "tok3n", "cookieval", "pr0xy", "s3cr3t" } do
        not_contains(r.out, secret)
      end
      assert(r.out:find("\n  POST http://127%.0%.0%.1:%d+/echo %-> 200 OK\n"), r.out)
      contains(r.out, "\n    request body (207 bytes, first 200 shown): " .. string.rep("a", 200) .. "\n")
      not_contains(r.out, "REQTAIL")
      contains(r.out, "\n    response body (254 bytes, first 200 shown): " .. string.rep("b", 200) .. "\n")
      not_contains(r.out, "TAIL")
      assert(r.out:find("\n  WebSocket GET ws://127%.0%.0%.1:%d+/ws %-> 101 Switching Protocols\n"), r.out)
    end)

  it("say when the test never read a response body, rather than reading it", function(tmpdir)
    local r = run { spec_file(tmpdir, [[
function test_unread(aiohttp_client)
  local client = aiohttp_client(app())
  local resp = client:get("/big")
  assert(resp.status == 404)
end
]]) }
    eq(r.code, 1)
    contains(r.out, "/big -> 200 OK\n")
    contains(r.out, "\n    response body: (not read by the test)\n")
    not_contains(r.out, "bbbb")
  end)

  it("are the last ten, and only the failing test's own", function(tmpdir)
    local r = run { spec_file(tmpdir, [[
function test_a_other(aiohttp_client)
  local client = aiohttp_client(app())
  client:get("/n/other"):text()
  error("first")
end
function test_b_passes(aiohttp_client)
  local client = aiohttp_client(app())
  client:get("/n/passing"):text()
end
function test_c_many(aiohttp_client)
  local client = aiohttp_client(app())
  for i = 1, 12 do
    client:get("/n/" .. i):text()
  end
  error("second")
end
function test_d_none()
  error("third")
end
]]) }
    eq(r.code, 1)
    contains(r.out, "HTTP exchange (1):\n")
    contains(r.out, "HTTP exchanges (the last 10 of 12):\n")
    not_contains(r.out, "/n/passing")
    local many = r.out:match("ERROR [^\n]*test_c_many\n(.-)\n\n")
    assert(many, r.out)
    not_contains(many, "/n/other")
    not_contains(many, "/n/1 ")
    not_contains(many, "/n/2 ")
    contains(many, "/n/3 -> 200 OK")
    contains(many, "/n/12 -> 200 OK")
    local none = r.out:match("ERROR [^\n]*test_d_none\n(.-)\n\n")
    assert(none, r.out)
    not_contains(none, "HTTP exchange")
  end)

  it("show a request that failed with a connection error as such", function(tmpdir)
    local r = run { spec_file(tmpdir, [[
function test_refused()
  local client = require("luatest.client").ClientSession()
  local ok = pcall(client.get, client, "http://127.0.0.1:1/nowhere")
  client:close()
  assert(ok, "the request failed")
end
]]) }
    eq(r.code, 1)
    contains(r.out, "HTTP exchange (1):\n  GET http://127.0.0.1:1/nowhere -> connection error: client:get: "
      .. "ECONNREFUSED")
  end)

  it("show a request still waiting when the test timed out", function(tmpdir)
    local r = run { "--timeout", "0.3", spec_file(tmpdir, [[
function test_slow(aiohttp_client)
  local a = app()
  a.router:add_get("/slow", function()
    require("luatest").sleep(5)
    return web.Response { text = "late" }
  end)
  local client = aiohttp_client(a)
  client:get("/slow")
end
]]) }
    eq(r.code, 1)
    assert(r.out:find("\n  GET http://127%.0%.0%.1:%d+/slow %-> no response %(still waiting when "
      .. "the test ended, or interrupted%)\n"), r.out)
  end)

  it("are shown for failures in -j workers", function(tmpdir)
    local path = spec_file(tmpdir, FAILING)
    write_file(tmpdir .. "/other_spec.lua", "function test_ok() end\n")
    local r = run { "-j", "2", path, tmpdir .. "/other_spec.lua" }
    eq(r.code, 1)
    contains(r.out, "HTTP exchanges (4):\n")
    contains(r.out, "\n    > Authorization: (redacted)\n")
    contains(r.out, "\n    response body (8 bytes): hi there\n")
    assert(r.out:find("\n  WebSocket GET ws://127%.0%.0%.1:%d+/ws %-> 101 Switching Protocols\n"), r.out)
  end)

  it("are a field of the JSON report and part of the JUnit failure text", function(tmpdir)
    local path = spec_file(tmpdir, FAILING)
    local r = run { "--output", "json", "--junit-xml", tmpdir .. "/j.xml", path }
    eq(r.code, 1)
    local doc = require("luatest.json").decode(r.out)
    local http = doc.tests[1].http
    eq(#http, 4)
    eq(http[1].method, "GET")
    eq(http[1].status, 200)
    assert(http[1].url:find("^http://127%.0%.0%.1:%d+/hello$"), http[1].url)
    contains(table.concat(http[1].request_headers, "\n"), "Authorization: (redacted)")
    eq(http[1].response_body, "hi there")
    eq(http[2].request_body, string.rep("a", 200))
    eq(http[2].request_body_size, 207)
    eq(http[2].response_body_note, "not read by the test")
    eq(http[4].websocket, true)
    eq(http[4].status, 101)
    local junit = read_junit(tmpdir .. "/j.xml")
    local case = junit.suites[1].cases[1]
    contains(case.kids[1].text, "HTTP exchanges (4):")
    contains(case.kids[1].text, "> Authorization: (redacted)")
  end)
end)
