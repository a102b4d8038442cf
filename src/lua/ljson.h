/* The JSON binding: encode (our writer), decode (jansson) (json.c). */
#ifndef LT_LUA_LJSON_H
#define LT_LUA_LJSON_H

#include "compat.h"

void ltl_open_json(lua_State *L);

#endif
