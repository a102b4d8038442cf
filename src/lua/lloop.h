/* The loop binding: sleep, run_until_complete, the host-loop entry points,
 * spawned tasks (loop.c). */
#ifndef LT_LUA_LLOOP_H
#define LT_LUA_LLOOP_H

#include "compat.h"

void ltl_open_loop(lua_State *L);

#endif
