/* The WebSocket binding: server upgrades and client connections (ws.c). */
#ifndef LT_LUA_LWS_H
#define LT_LUA_LWS_H

#include "compat.h"

void ltl_open_ws(lua_State *L);

#endif
