/* The HTTP server binding (server.c). */
#ifndef LT_LUA_LSERVER_H
#define LT_LUA_LSERVER_H

#include "compat.h"
#include "server.h"

void ltl_open_server(lua_State *L);
/* Ties a WebSocket (at idx) to the server its upgrade request came from:
 * closing the server releases it. */
void ltl_server_add_ws(lua_State *L, lt_server *srv, int idx);

#endif
