/* The HTTP client binding: requests, streamed bodies, uploads (client.c). */
#ifndef LT_LUA_LCLIENT_H
#define LT_LUA_LCLIENT_H

#include "compat.h"

void ltl_open_client(lua_State *L);

#endif
