-- client_max_size side by side with aiohttp 3.8 (spec/peers/py/web_body_limit.py):
-- the handler runs whatever the body's size; reading a body of the limit or
-- more raises HTTPRequestEntityTooLarge (413); the connection goes on.
local luatest = require "luatest"
local core = require "luatest.core"
local web = require "luatest.web"
local json = require "luatest.json"
local twin = dofile(core.srcdir .. "/spec/support/twin.lua")

local function make_app(limit)
  local app = web.Application { client_max_size = limit }
  app.router:add_post("/ignore", function()
    return web.Response { text = "ignored" }
  end)
  app.router:add_post("/read", function(request)
    return web.Response { text = "read " .. #request:read() }
  end)
  app.router:add_post("/text", function(request)
    return web.Response { text = "text " .. #request:text() }
  end)
  app.router:add_post("/json", function(request)
    return web.json_response(request:json())
  end)
  app.router:add_post("/post", function(request)
    local out = {}
    for name, value in request:post():items() do
      out[#out + 1] = name .. "=" .. value
    end
    return web.Response { text = table.concat(out, ",") }
  end)
  return app
end

twin.fixture("limited", "web_body_limit.py", function()
  return make_app(10)
end)
twin.fixture("unlimited", "web_body_no_limit.py", function()
  return make_app(0)
end)

local HEADERS = { "Content-Type", "Connection" }
local FORM = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local TOO_LARGE = "^Maximum request body size 10 exceeded, actual body size (%d+)$"

-- Both answered 413 with aiohttp's text; the actual size is what had come
-- when the handler read, which depends on how the body was cut.
local function both_too_large(py, lt, at_least, at_most, what)
  luatest.eq(py.status, 413, what)
  luatest.eq(lt.status, 413, what)
  luatest.eq(lt.reason, py.reason, what)
  luatest.eq(lt.headers["Content-Type"], py.headers["Content-Type"], what)
  luatest.eq(lt.headers["Connection"], py.headers["Connection"], what)
  for side, answer in pairs { aiohttp = py, luatest = lt } do
    local actual = tonumber(answer.body:match(TOO_LARGE))
    assert(actual and actual >= at_least and actual <= at_most, what .. ": " .. side .. " said " .. answer.body)
  end
end

function test_a_handler_that_ignores_an_oversized_body_answers(limited)
  local py, lt = limited:both("POST", "/ignore", { data = ("x"):rep(100) })
  twin.same(py, lt, HEADERS, "POST /ignore, 100 bytes")
  luatest.eq(lt.body, "ignored")
end

function test_reading_an_oversized_body_is_413_however_it_is_read(limited)
  local bodies = {
    read = ("x"):rep(100),
    text = ("x"):rep(100),
    json = json.encode { pad = ("x"):rep(100) },
    post = "a=" .. ("x"):rep(100),
  }
  for _, path in ipairs { "read", "text", "json", "post" } do
    local body = bodies[path]
    local py, lt = limited:both("POST", "/" .. path, { data = body, headers = FORM })
    both_too_large(py, lt, 10, #body, "POST /" .. path)
  end
end

function test_a_large_body_is_413_as_soon_as_the_limit_came(limited)
  local body = ("x"):rep(4 * 1024 * 1024)
  local py, lt = limited:both("POST", "/read", { data = body })
  both_too_large(py, lt, 10, #body, "POST /read, 4 MiB")
  -- The rest of the body was read past (or the client, still sending, let
  -- its connection go): the next request is served.
  py, lt = limited:both("POST", "/read", { data = "small" })
  twin.same(py, lt, HEADERS, "POST /read after 4 MiB")
end

function test_a_body_of_exactly_the_limit_is_too_large_as_in_aiohttp(limited)
  local py, lt = limited:both("POST", "/read", { data = ("x"):rep(10) })
  twin.same(py, lt, HEADERS, "POST /read, 10 bytes")
  luatest.eq(lt.body, "Maximum request body size 10 exceeded, actual body size 10")
  py, lt = limited:both("POST", "/read", { data = ("x"):rep(9) })
  twin.same(py, lt, HEADERS, "POST /read, 9 bytes")
  luatest.eq(lt.body, "read 9")
end

function test_the_next_request_on_the_connection_is_served(limited)
  for _, path in ipairs { "/read", "/ignore" } do
    local py, lt = limited:both("POST", path, { data = ("x"):rep(100) })
    luatest.eq(lt.headers["Connection"], py.headers["Connection"], path)
    py, lt = limited:both("POST", "/read", { data = "abc" })
    twin.same(py, lt, HEADERS, "POST /read after POST " .. path)
  end
  -- All of luatest's side went over one connection.
  luatest.eq(limited.server._srv:stats().connections, 1)
end

function test_no_limit_reads_any_body(unlimited)
  local body = ("x"):rep(2 * 1024 * 1024)
  local py, lt = unlimited:both("POST", "/read", { data = body })
  twin.same(py, lt, HEADERS, "POST /read, 2 MiB, no limit")
  luatest.eq(lt.body, "read " .. #body)
end
