-- A library takes nothing of its host: a C host's LUA_EXTRASPACE pointer
-- survives luatest, in the main thread and in the tasks' threads.
local luatest = require "luatest"
local core = require "luatest.core"

function test_the_hosts_extraspace_survives_a_request()
  local dir = core.srcdir
  local exe = os.tmpname()
  local build = assert(core.exec({ "cc", "-std=c11", "-I" .. dir .. "/include", "-I/usr/include/lua5.4",
    dir .. "/spec/data/extraspace_host.c", "-o", exe, "-L" .. dir .. "/lib", "-lluatest", "-llua5.4",
    "-Wl,-rpath," .. dir .. "/lib" }, { timeout = 60 }))
  luatest.eq(build.stderr, "")
  local run = assert(core.exec({ exe }, { timeout = 30 }))
  os.remove(exe)
  luatest.eq(run.stderr, "")
  luatest.eq(run.stdout, "served true kept\n")
end

-- libwebsockets keeps one log level for the whole process (4.1): a host's
-- level and emit function survive luatest's WebSocket client, and what
-- luatest's own calls into lws log does not reach the host.
function test_the_hosts_libwebsockets_logging_survives_a_websocket_exchange()
  local dir = core.srcdir
  local exe = os.tmpname()
  local build = assert(core.exec({ "cc", "-std=c11", "-I" .. dir .. "/include", "-I/usr/include/lua5.4",
    dir .. "/spec/data/lws_log_host.c", "-o", exe, "-L" .. dir .. "/lib", "-lluatest", "-llua5.4",
    "-lwebsockets", "-Wl,-rpath," .. dir .. "/lib" }, { timeout = 60 }))
  luatest.eq(build.stderr, "")
  local run = assert(core.exec({ exe }, { timeout = 30 }))
  os.remove(exe)
  luatest.eq(run.stderr, "")
  luatest.eq(run.stdout, "echo hi\nlevel kept\nemit kept\nlws lines from luatest: 0\n")
end
