/* The Router binding: routes matched in C, handlers in Lua or C
 * (router.c). */
#ifndef LT_LUA_LROUTER_H
#define LT_LUA_LROUTER_H

#include "compat.h"
#include "router.h"

void ltl_open_router(lua_State *L);
lt_router *ltl_check_router(lua_State *L, int idx);
/* The router at idx, or NULL when the value is not one. */
lt_router *ltl_to_router(lua_State *L, int idx);
/* Pushes the handler of rt, a route of the router at router_idx. */
void ltl_push_route_handler(lua_State *L, int router_idx, lt_route *rt);

#endif
