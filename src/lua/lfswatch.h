/* File-system events and signals for --watch (fswatch.c). */
#ifndef LT_LUA_LFSWATCH_H
#define LT_LUA_LFSWATCH_H

#include "compat.h"

void ltl_open_fswatch(lua_State *L);

#endif
