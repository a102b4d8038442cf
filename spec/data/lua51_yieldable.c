/* compat.h's lua_isyieldable for PUC 5.1 reads 5.1.5's lua_State: run
 * against the installed liblua5.1, it must tell a coroutine's own call
 * (yieldable) from one under pcall and from the main thread (not). */
#include <stdio.h>
#include "compat.h"

static int probe(lua_State *L) {
  lua_pushboolean(L, lua_isyieldable(L));
  return 1;
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_register(L, "probe", probe);
  if (luaL_dostring(
          L, "local co = coroutine.wrap(function()\n"
             "  local direct = probe()\n"
             "  local _, in_pcall = pcall(probe)\n"
             "  local in_sort = false\n"
             "  table.sort({2, 1}, function(a, b) in_sort = in_sort or probe() return a < b end)\n"
             "  return direct, in_pcall, in_sort\n"
             "end)\n"
             "print(co()) print(probe())")) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_close(L);
  return 0;
}
