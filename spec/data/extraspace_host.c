/* A C host that keeps its own pointer in LUA_EXTRASPACE (as Lua's manual
 * offers it to hosts), then runs a request through luatest: the pointer
 * must be there afterwards, and in the threads luatest runs tasks in. */
#include <stdio.h>
#include <lauxlib.h>
#include <lualib.h>
#include "luatest.h"

static int marker;

static int host_marker_ok(lua_State *L) {
  lua_pushboolean(L, *(void **)lua_getextraspace(L) == &marker);
  return 1;
}

static const char script[] = "local core = require 'luatest.core'\n"
                             "local web = require 'luatest.web'\n"
                             "local test_utils = require 'luatest.test_utils'\n"
                             "local app = web.Application()\n"
                             "app.router:add_get('/', function() return 'served' end)\n"
                             "local text, inside = core.run_until_complete(function()\n"
                             "  local client = test_utils.TestClient(test_utils.TestServer(app))\n"
                             "  client:start_server()\n"
                             "  local text = client:get('/'):text()\n"
                             "  local inside = host_marker_ok()\n"
                             "  client:close()\n"
                             "  return text, inside\n"
                             "end)\n"
                             "io.write(text, ' ', tostring(inside), ' ')\n";

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  *(void **)lua_getextraspace(L) = &marker;
  lua_register(L, "host_marker_ok", host_marker_ok);
  lt_openlibs(L);
  if (luaL_dostring(L, script)) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  printf("%s\n", *(void **)lua_getextraspace(L) == &marker ? "kept" : "clobbered");
  lua_close(L);
  return 0;
}
