/* The fault proxy (proxy.c): core.proxy(host, port) and its methods. */
#ifndef LT_LUA_LPROXY_H
#define LT_LUA_LPROXY_H

#include "compat.h"

void ltl_open_proxy(lua_State *L);

#endif
