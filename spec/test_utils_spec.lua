-- TestServer, RawTestServer and TestClient from luatest.test_utils.
local web = require "luatest.web"
local test_utils = require "luatest.test_utils"
local TestServer, RawTestServer, TestClient = test_utils.TestServer, test_utils.RawTestServer,
  test_utils.TestClient

local function hello_app()
  local app = web.Application()
  app.router:add_get("/", function()
    return "Hello, world"
  end)
  return app
end

function test_test_server_fields_and_urls()
  local app = hello_app()
  local server = TestServer(app)
  assert(server.started == false and server.closed == false)
  assert(server.scheme == "http" and server.host == "127.0.0.1" and server.port == nil)
  assert(server.app == app)
  server:start_server()
  server:start_server() -- idempotent
  assert(server.started == true)
  assert(type(server.port) == "number" and server.port > 0)
  assert(server:make_url("/a?b=1") == "http://127.0.0.1:" .. server.port .. "/a?b=1")
  server:close()
  server:close() -- safe twice
  assert(server.closed == true)
end

function test_test_client_fields()
  local app = hello_app()
  local server = TestServer(app)
  local client = TestClient(server)
  client:start_server()
  assert(client.server == server and client.app == app)
  assert(client.host == "127.0.0.1" and client.port == server.port and client.scheme == "http")
  assert(client:make_url("/") == server:make_url("/"))
  assert(client:get("/"):text() == "Hello, world")
  client:close()
  assert(server.closed, "closing the client closes its server")
end

function test_raw_test_server_gets_every_request()
  local server = RawTestServer(function(request)
    return web.Response { text = request.method .. " " .. request.path_qs }
  end)
  local client = TestClient(server)
  client:start_server()
  assert(client.app == nil)
  assert(client:get("/any/path?x=1"):text() == "GET /any/path?x=1")
  assert(client:post("/other"):text() == "POST /other")
  client:close()
end

function test_fixed_port_from_unused_port(aiohttp_unused_port, aiohttp_client)
  local port = aiohttp_unused_port()
  assert(type(port) == "number" and port > 1024)
  local client = aiohttp_client(hello_app(), { server_kwargs = { port = port } })
  assert(client.port == port)
  assert(client:get("/"):text() == "Hello, world")
end

function test_busy_port_is_a_clear_error(aiohttp_server)
  local first = aiohttp_server(hello_app())
  local second = TestServer(hello_app(), { port = first.port })
  local ok, err = pcall(second.start_server, second)
  assert(not ok and err:find("TestServer:start_server: EADDRINUSE", 1, true), err)
  assert(err:find("127.0.0.1:" .. first.port, 1, true), err)
end

function test_wrong_arguments_name_the_call()
  local ok, err = pcall(TestServer, nil)
  assert(not ok and err:find("TestServer: expected an Application as argument 1, got nil", 1, true), err)
  ok, err = pcall(TestClient, 42)
  assert(not ok and err:find("TestClient: expected a TestServer, RawTestServer or FaultProxy", 1, true), err)
  ok, err = pcall(RawTestServer, "x")
  assert(not ok and err:find("RawTestServer: expected a handler", 1, true), err)
end

function test_yielding_outside_a_task_says_how_to_fix_it()
  local core = require "luatest.core"
  -- Inside a plain coroutine the task cannot be suspended: the call is
  -- refused with a message that says what to do.
  local ok, err = coroutine.wrap(function()
    return pcall(core.sleep, 0)
  end)()
  assert(ok == false)
  assert(err:find("sleep: cannot wait outside a running task (wrap the call in loop:run_until_complete", 1, true), err)
  ok, err = pcall(core.run_until_complete, function() end)
  assert(not ok and err:find("called from inside a running task", 1, true), err)
end

function test_signals_run_at_start_and_close()
  local events = {}
  local app = hello_app()
  table.insert(app.on_startup, function(a)
    events[#events + 1] = "startup"
    assert(a == app)
  end)
  table.insert(app.cleanup_ctx, function()
    events[#events + 1] = "ctx setup"
    return function()
      events[#events + 1] = "ctx cleanup"
    end
  end)
  table.insert(app.on_shutdown, function()
    events[#events + 1] = "shutdown"
  end)
  table.insert(app.on_cleanup, function()
    events[#events + 1] = "cleanup"
  end)
  local server = TestServer(app)
  server:start_server()
  -- (aiohttp runs cleanup_ctx setups as the first startup handler.)
  server:close()
  assert(table.concat(events, ",") == "ctx setup,startup,shutdown,ctx cleanup,cleanup",
    table.concat(events, ","))
end

function test_loop_helpers()
  local loop = test_utils.setup_test_loop()
  assert(type(loop:time()) == "number")
  test_utils.teardown_test_loop(loop)
end

function test_make_url_accepts_absolute_urls_only_when_told()
  local strict = TestServer(hello_app())
  local ok, err = pcall(strict.make_url, strict, "http://example.com/")
  assert(not ok and err:find("TestServer:make_url: expected a path starting with '/'", 1, true), err)
  local lax = TestServer(hello_app(), { skip_url_asserts = true })
  lax:start_server()
  assert(lax:make_url("/x"):find("^http://127.0.0.1:%d+/x$"))
  assert(lax:make_url("http://example.com/") == "http://example.com/")
  lax:close()
end

function test_port_is_nil_after_close()
  local server = TestServer(hello_app())
  server:start_server()
  assert(type(server.port) == "number")
  server:close()
  assert(server.port == nil, "aiohttp: a closed TestServer's port is None")
  local client = test_utils.TestClient(TestServer(hello_app()))
  client:start_server()
  assert(type(client.port) == "number")
  client:close()
  assert(client.port == nil and client.server.port == nil)
end
