/* Line counts for --coverage: a C line hook on every task's thread and
 * every coroutine they create (coverage.c). */
#ifndef LT_LUA_LCOVERAGE_H
#define LT_LUA_LCOVERAGE_H

#include "compat.h"

void ltl_open_coverage(lua_State *L);

#endif
