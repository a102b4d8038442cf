-- Host names in client URLs: looked up (getaddrinfo) by the core client,
-- as aiohttp's resolver does, for plain and https requests alike.
local luatest = require "luatest"
local web = require "luatest.web"
local client = require "luatest.client"
local test_utils = require "luatest.test_utils"
local errors = require "luatest.client_exceptions"

local function hello_app()
  local app = web.Application()
  app.router:add_get("/", function(request)
    return web.Response { text = "hello " .. request.host }
  end)
  return app
end

function test_a_url_naming_localhost_reaches_a_server_on_127_0_0_1(aiohttp_server)
  local server = aiohttp_server(hello_app())
  local session = client.ClientSession()
  local url = "http://localhost:" .. server.port .. "/"
  for _ = 1, 2 do
    local resp = session:get(url)
    luatest.eq(resp.status, 200)
    luatest.eq(resp:text(), "hello localhost:" .. server.port)
    luatest.eq(tostring(resp.url), url)
  end
  session:close()
end

function test_https_to_localhost_verifies_the_certificate_by_name(aiohttp_server)
  local server = aiohttp_server(hello_app(), { scheme = "https" })
  local session = client.ClientSession { ssl = { ca_pem = server.certificate } }
  local resp = session:get("https://localhost:" .. server.port .. "/")
  luatest.eq(resp.status, 200)
  luatest.eq(resp:text(), "hello localhost:" .. server.port)
  session:close()
end

function test_a_name_that_does_not_resolve_is_a_connector_error_naming_the_host()
  local session = client.ClientSession()
  local ok, err = pcall(session.get, session, "http://nosuch.invalid:8080/x")
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.ClientConnectorError), true)
  local text = tostring(err)
  luatest.contains(text, "client:get: EAI_")
  luatest.contains(text, "(nosuch.invalid:8080)")
  session:close()
end

function test_a_name_whose_port_has_no_server_is_refused_after_the_lookup()
  local port = test_utils.unused_port()
  local session = client.ClientSession()
  local ok, err = pcall(session.get, session, "http://localhost:" .. port .. "/")
  luatest.eq(ok, false)
  luatest.eq(errors.is(err, errors.ClientConnectorError), true)
  luatest.contains(tostring(err), "ECONNREFUSED")
  session:close()
end

function test_a_session_closed_while_a_lookup_runs_fails_that_request()
  local session = client.ClientSession()
  -- Tasks start in order at the next turn: the close comes right after the
  -- request queued its lookup, before the lookup's answer is read.
  local request = luatest.spawn(function()
    return pcall(session.get, session, "http://localhost:1/")
  end)
  local closer = luatest.spawn(function()
    session:close()
  end)
  closer:wait()
  local ok, err = request:wait()
  luatest.eq(ok, false)
  luatest.contains(tostring(err), "client:get:")
end
