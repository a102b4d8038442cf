-- What a TestClient keeps between requests: the cookie jar, and handler
-- errors raised in the test with raise_server_exceptions.
local web = require "luatest.web"

local function cookie_app()
  local app = web.Application()
  app.router:add_get("/login", function()
    local resp = web.Response { text = "welcome" }
    resp.headers:add("Set-Cookie", "session=abc123; Path=/; HttpOnly")
    resp.headers:add("Set-Cookie", "theme=dark; Path=/prefs")
    return resp
  end)
  app.router:add_get("/logout", function()
    local resp = web.Response { text = "bye" }
    resp.headers:add("Set-Cookie", "session=; Max-Age=0; Path=/")
    return resp
  end)
  app.router:add_get("/whoami", function(request)
    return web.json_response(request.cookies)
  end)
  app.router:add_get("/prefs/show", function(request)
    return web.json_response(request.cookies)
  end)
  return app
end

function test_cookies_from_127_0_0_1_are_kept_and_sent_back(aiohttp_client)
  local client = aiohttp_client(cookie_app())
  local resp = client:get("/login")
  assert(resp.cookies.session == "abc123")
  assert(client:get("/whoami"):json().session == "abc123")
  assert(client:get("/whoami"):json().theme == nil, "a cookie sent outside its path")
  assert(client:get("/prefs/show"):json().theme == "dark")
  local jar = client.cookie_jar
  assert(jar:filter_cookies(client:make_url("/")).session == "abc123")
  client:get("/logout")
  assert(client:get("/whoami"):json().session == nil)
end

function test_cookie_jar_api_and_request_cookies(aiohttp_client)
  local client = aiohttp_client(cookie_app())
  client.cookie_jar:update_cookies { user = "ada" }
  local data = client:get("/whoami", { cookies = { extra = "1" } }):json()
  assert(data.user == "ada" and data.extra == "1")
  client.cookie_jar:clear()
  assert(client:get("/whoami"):json().user == nil)
  assert(#client.cookie_jar == 0)
end

function test_raise_server_exceptions_raises_the_handler_error_in_the_test(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/boom", function()
    error("deliberate failure in the handler")
  end)
  local client = aiohttp_client(app, { raise_server_exceptions = true })
  local ok, err = pcall(client.get, client, "/boom")
  assert(not ok)
  assert(err:find("client:get: the handler raised", 1, true), err)
  assert(err:find("deliberate failure in the handler", 1, true), err)
  assert(err:find("client_state_spec.lua:", 1, true), "no handler traceback: " .. err)
  require("luatest.test_utils").take_handler_errors()
end

function test_without_raise_server_exceptions_a_500_arrives(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/boom", function()
    error("quiet failure")
  end)
  local client = aiohttp_client(app)
  assert(client:get("/boom").status == 500)
  require("luatest.test_utils").take_handler_errors()
end
