/* The Request binding: a request the server received, or a mocked one
 * (request.c). */
#ifndef LT_LUA_LREQUEST_H
#define LT_LUA_LREQUEST_H

#include "compat.h"
#include "request.h"

void ltl_open_request(lua_State *L);
/* Pushes a new Request userdata for req (retained); app_idx is the stack
 * index of the request's app, or 0. */
void ltl_push_request(lua_State *L, lt_request *req, int app_idx);
lt_request *ltl_check_request(lua_State *L, int idx);

#endif
