--- luatest.pytest_plugin: the built-in fixtures of pytest-aiohttp (loop,
--- aiohttp_client, aiohttp_server, aiohttp_raw_server, aiohttp_unused_port),
--- registered when the runner loads this module as a plugin.
local fixtures = require "luatest.fixtures"
-- (test_utils and web load when a fixture first needs them, so a suite
-- that uses none starts as fast as before.)
local function test_utils()
  return require "luatest.test_utils"
end

local type, pairs, ipairs, pcall, getmetatable, tostring = type, pairs, ipairs, pcall, getmetatable, tostring
local format, concat = string.format, table.concat
local builtin = fixtures.builtin_fixture

local M = {}

builtin("loop", function()
  return test_utils().setup_test_loop()
end)

-- The aiohttp_* factories take `loop` first, as in pytest-aiohttp, so the
-- loop exists before anything they create.

-- Everything the aiohttp_* factories create, closed when the test ends:
-- clients first, then servers, each in reverse order of creation.
builtin("_aiohttp_objects", function()
  local objects = { clients = {}, servers = {} }
  return objects, function()
    local errors = {}
    for _, list in ipairs { objects.clients, objects.servers } do
      for i = #list, 1, -1 do
        local obj = list[i]
        local ok, err = pcall(obj.close, obj)
        if not ok then
          errors[#errors + 1] = format("closing %s failed: %s", getmetatable(obj) and getmetatable(obj).__name
            or "an object", tostring(err))
        end
      end
    end
    if #errors > 0 then
      error("aiohttp fixtures: " .. concat(errors, "; "), 0)
    end
  end
end)

local function copy_opts(call, opts, skip)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    error(format("%s: options must be a table, got %s", call, type(opts)), 3)
  end
  local t = {}
  for k, v in pairs(opts) do
    if k ~= skip then
      t[k] = v
    end
  end
  return t
end

builtin("aiohttp_client", function(loop, _aiohttp_objects)
  local objects = _aiohttp_objects
  return function(app_or_server, opts)
    local tu, web = test_utils(), require "luatest.web"
    local client_opts = copy_opts("aiohttp_client", opts, "server_kwargs")
    local server
    if web.is_application(app_or_server) then
      local server_opts = opts and opts.server_kwargs or {}
      server = tu.TestServer(app_or_server, server_opts)
      objects.servers[#objects.servers + 1] = server
    elseif tu.is_test_server(app_or_server) or tu.is_fault_proxy(app_or_server) then
      server = app_or_server
    else
      error("aiohttp_client: expected an Application, TestServer, RawTestServer or FaultProxy, got "
        .. type(app_or_server), 2)
    end
    local client = tu.TestClient(server, client_opts)
    objects.clients[#objects.clients + 1] = client
    client:start_server()
    return client
  end
end)

-- aiohttp_server and aiohttp_raw_server: a started server of the given
-- test_utils class, closed with the test.
local function server_fixture(name, class)
  builtin(name, function(loop, _aiohttp_objects)
    local objects = _aiohttp_objects
    return function(app_or_handler, opts)
      local tu = test_utils()
        local server = tu[class](app_or_handler, copy_opts(name, opts))
      objects.servers[#objects.servers + 1] = server
      server:start_server()
      return server
    end
  end)
end

server_fixture("aiohttp_server", "TestServer")
server_fixture("aiohttp_raw_server", "RawTestServer")

builtin("aiohttp_unused_port", function()
  return test_utils().unused_port
end)

return M
