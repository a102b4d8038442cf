/* A minimal embedding host for the benchmarks: a Lua state with the luatest
 * modules (lt_openlibs) running one script with its arguments in `arg`.
 * It links libluatest.a and exports the lt_* names, as the luatest binary
 * does, for the C handler modules it loads. */
#include <stdio.h>
#include <lauxlib.h>
#include <lualib.h>
#include "luatest.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
    return 2;
  }
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lt_openlibs(L);
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  int rc = luaL_dofile(L, argv[1]);
  if (rc)
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_close(L);
  return rc ? 1 : 0;
}
