-- The client's errors are classes in aiohttp's hierarchy, raised where
-- aiohttp raises them, with the messages they had as strings.
local luatest = require "luatest"
local core = require "luatest.core"
local client = require "luatest.client"
local web = require "luatest.web"
local errors = client.errors
local eq = luatest.eq

function test_a_server_that_closes_before_answering_is_server_disconnected()
  local responder = core.responder("", { close = true })
  local session = client.ClientSession()
  local err = luatest.raises(function()
    session:get("http://127.0.0.1:" .. responder:port() .. "/")
  end, errors.ServerDisconnectedError)
  assert(errors.is(err, errors.ServerConnectionError) and errors.is(err, errors.ClientConnectionError))
  assert(err:find("client:get: ECONNRESET", 1, true), tostring(err)) -- (string methods apply to the message)
  session:close()
  responder:close()
end

function test_a_refused_websocket_upgrade_is_a_handshake_error_with_the_status(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/plain", function()
    return "not a websocket"
  end)
  local c = aiohttp_client(app)
  local err = luatest.raises(function()
    c:ws_connect("/plain")
  end, errors.WSServerHandshakeError)
  eq(err.status, 200)
  assert(errors.is(err, errors.ClientResponseError))
  err = luatest.raises(function()
    c:ws_connect("/missing")
  end, errors.WSServerHandshakeError)
  eq(err.status, 404)
  assert(tostring(err):find("the server answered 404 instead of 101", 1, true), tostring(err))
end

function test_raises_names_the_class_it_wanted(aiohttp_client)
  local app = web.Application()
  app.router:add_get("/", function()
    return "ok"
  end)
  local c = aiohttp_client(app)
  local ok, failure = pcall(luatest.raises, function()
    c:get("/", { timeout = "soon" })
  end, errors.ServerTimeoutError)
  eq(ok, false)
  assert(tostring(failure.message or failure):find("raises: expected a ServerTimeoutError", 1, true),
    tostring(failure.message or failure))
end
