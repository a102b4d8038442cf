/* A C host with its own frame loop, as a game engine has: each frame it
 * does its own work, then gives luatest one non-blocking turn (lt_poll).
 * The Lua side starts a test server and GETs it from a task; the host
 * keeps drawing frames until the task is done.
 * Build and run: make build/frame_host && build/frame_host */
#include <stdio.h>
#include <time.h>
#include <lauxlib.h>
#include <lualib.h>
#include "luatest.h"

static const char script[] =
    "local core = require 'luatest.core'\n"
    "local web = require 'luatest.web'\n"
    "local test_utils = require 'luatest.test_utils'\n"
    "local app = web.Application()\n"
    "app.router:add_get('/', function() return 'served between frames' end)\n"
    "result = nil\n"
    "core.spawn(function()\n"
    "  local client = test_utils.TestClient(test_utils.TestServer(app))\n"
    "  client:start_server()\n"
    "  result = client:get('/'):text()\n"
    "  client:close()\n"
    "end)\n";

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lt_openlibs(L);
  if (luaL_dostring(L, script)) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  long frames = 0;
  const struct timespec frame = {0, 1000000}; /* the host's frame time: 1 ms */
  for (;;) {
    frames++; /* the host's own work for this frame */
    int pending = lt_poll(L);
    lua_getglobal(L, "result");
    int done = lua_isstring(L, -1) && !pending;
    if (done)
      printf("%s after %ld frames\n", lua_tostring(L, -1), frames);
    lua_pop(L, 1);
    if (done || frames > 100000)
      break;
    nanosleep(&frame, NULL);
  }
  lua_close(L);
  return frames > 100000;
}
