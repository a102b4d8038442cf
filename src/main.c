/* The luatest command: a Lua state with the luatest modules, running the
 * command line. */
#include <lauxlib.h>
#include <lualib.h>
#include "luatest.h"

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L)
    return 2;
  luaL_openlibs(L);
  lt_openlibs(L);
  int rc = lt_run(L, argc, argv);
  lua_close(L);
  return rc;
}
