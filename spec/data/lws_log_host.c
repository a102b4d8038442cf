/* A C host that uses libwebsockets' logging itself (its level, its emit
 * function) and then runs a WebSocket exchange through luatest, whose
 * client is made on libwebsockets: the host's level and emit function must
 * be what it set, and luatest's own calls into lws must not reach it. */
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include <libwebsockets.h>
#include "luatest.h"

#define HOST_LEVEL (LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_USER)

static int host_lines, other_lines;
static char first_other[200];

static void host_emit(int level, const char *line) {
  if (level == LLL_USER && strstr(line, "host line"))
    host_lines++;
  else if (other_lines++ == 0)
    snprintf(first_other, sizeof first_other, "%s", line);
}

static const char script[] = "local core = require 'luatest.core'\n"
                             "local web = require 'luatest.web'\n"
                             "local test_utils = require 'luatest.test_utils'\n"
                             "local app = web.Application()\n"
                             "app.router:add_get('/ws', function(request)\n"
                             "  local ws = web.WebSocketResponse()\n"
                             "  ws:prepare(request)\n"
                             "  local msg = ws:receive()\n"
                             "  ws:send_str('echo ' .. msg.data)\n"
                             "  ws:receive()\n"
                             "  return ws\n"
                             "end)\n"
                             "io.write(core.run_until_complete(function()\n"
                             "  local client = test_utils.TestClient(test_utils.TestServer(app))\n"
                             "  client:start_server()\n"
                             "  local ws = client:ws_connect('/ws')\n"
                             "  ws:send_str('hi')\n"
                             "  local text = ws:receive().data\n"
                             "  ws:close()\n"
                             "  client:close()\n"
                             "  return text\n"
                             "end), '\\n')\n";

static int level_now(void) {
  int level = 0;
  for (int bit = 0; bit < LLL_COUNT; bit++)
    if (lwsl_visible(1 << bit))
      level |= 1 << bit;
  return level;
}

int main(void) {
  lws_set_log_level(HOST_LEVEL, host_emit);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lt_openlibs(L);
  if (luaL_dostring(L, script)) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_close(L);
  printf("level %s\n", level_now() == HOST_LEVEL ? "kept" : "changed");
  lwsl_user("host line\n");
  printf("emit %s\n", host_lines == 1 ? "kept" : "replaced");
  printf("lws lines from luatest: %d%s%s", other_lines, other_lines ? ", first: " : "\n",
         first_other);
  return 0;
}
