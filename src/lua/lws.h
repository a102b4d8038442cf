/* The WebSocket binding: server upgrades and client connections (ws.c). */
#ifndef LT_LUA_LWS_H
#define LT_LUA_LWS_H

#include "compat.h"

void ltl_open_ws(lua_State *L);
/* The Request methods of the upgrade (_ws_refusal, _ws_upgrade), which the
 * Request binding puts in its one method table. */
extern const luaL_Reg ltl_ws_request_methods[];

#endif
