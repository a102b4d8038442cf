/* The Router userdata (the core route table, with Lua handlers kept in its
 * uservalue) and the CHandler userdata that lt_push_handler makes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lrequest.h"
#include "lrouter.h"
#include "runtime.h"
#include "server.h"

#define ROUTER "luatest.Router"
#define CHANDLER "luatest.CHandler"

typedef struct lrouter {
  lt_router *r;
} lrouter;

typedef struct lchandler {
  lt_handler_fn fn;
  void *ud;
} lchandler;

void lt_push_handler(lua_State *L, lt_handler_fn fn, void *ud) {
  lchandler *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->fn = fn;
  h->ud = ud;
  luaL_setmetatable(L, CHANDLER);
}

lt_router *ltl_check_router(lua_State *L, int idx) {
  return ((lrouter *)luaL_checkudata(L, idx, ROUTER))->r;
}

lt_router *ltl_to_router(lua_State *L, int idx) {
  lrouter *box = luaL_testudata(L, idx, ROUTER);
  return box ? box->r : NULL;
}

static int l_router(lua_State *L) {
  lrouter *box = lua_newuserdatauv(L, sizeof *box, 1);
  box->r = NULL;
  luaL_setmetatable(L, ROUTER);
  box->r = lt_router_new();
  if (!box->r)
    return luaL_error(L, "router: out of memory");
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* router:add(method, path, handler[, call]) -> route index. A C handler is
 * routed directly; anything else is kept for the Lua dispatcher. call names
 * the Lua call in error messages ("router:add_route" by default). */
static int l_add(lua_State *L) {
  lrouter *box = luaL_checkudata(L, 1, ROUTER);
  const char *method = luaL_checkstring(L, 2);
  const char *path = luaL_checkstring(L, 3);
  luaL_checkany(L, 4);
  const char *call = luaL_optstring(L, 5, "router:add_route");
  lua_getiuservalue(L, 1, 1);
  lua_Integer idx = luaL_len(L, -1) + 1;
  lchandler *ch = luaL_testudata(L, 4, CHANDLER);
  char err[256];
  int r = lt_router_add(box->r, method, path, ch ? ch->fn : NULL,
                        ch ? ch->ud : (void *)(intptr_t)idx, NULL, err, sizeof err);
  if (r == LT_EPARSE)
    return luaL_error(L, "%s: %s", call, err);
  if (r)
    return luaL_error(L, "%s: %s", call, lt_strerror(r));
  lua_pushvalue(L, 4);
  lua_rawseti(L, -2, idx);
  lua_pushinteger(L, box->r->n);
  return 1;
}

/* router:routes() -> { {method=, path=}, ... } in the order added. */
static int l_routes(lua_State *L) {
  lrouter *box = luaL_checkudata(L, 1, ROUTER);
  lua_createtable(L, box->r->n, 0);
  for (int i = 0; i < box->r->n; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, box->r->routes[i]->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, box->r->routes[i]->path);
    lua_setfield(L, -2, "path");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* router:resolve(method, path) -> 200, 404 or 405, and for 405 the allowed
 * methods ("GET,HEAD"): where a request for the raw path would go, for
 * normalize_path_middleware. */
static int l_resolve(lua_State *L) {
  lrouter *box = luaL_checkudata(L, 1, ROUTER);
  const char *method = luaL_checkstring(L, 2);
  const char *path = luaL_checkstring(L, 3);
  lt_match m;
  lt_router_resolve(box->r, method, path, &m);
  lua_pushinteger(L, m.status);
  if (m.status != 405)
    return 1;
  lua_pushstring(L, m.allow);
  return 2;
}

static int l_router_gc(lua_State *L) {
  lrouter *box = luaL_checkudata(L, 1, ROUTER);
  lt_router_free(box->r);
  box->r = NULL;
  return 0;
}

/* Pushes the handler of a matched route (a Lua value, or the CHandler). */
void ltl_push_route_handler(lua_State *L, int router_idx, lt_route *rt) {
  if (rt->fn) {
    lt_push_handler(L, rt->fn, rt->ud);
    return;
  }
  lua_getiuservalue(L, router_idx, 1);
  lua_rawgeti(L, -1, (lua_Integer)(intptr_t)rt->ud);
  lua_remove(L, -2);
}

/* chandler(request) runs the C handler on the request and returns the
 * answer as {status=, headers={name, value, ...}, body=}, for Lua code such
 * as middlewares that call handlers themselves. */
static int l_chandler_call(lua_State *L) {
  lchandler *h = luaL_checkudata(L, 1, CHANDLER);
  lt_request *req = ltl_check_request(L, 2);
  lt_response *resp = &req->resp;
  lt_response_reset(resp);
  if (resp->streaming || req->responded)
    return luaL_error(L, "C handler: the request was already answered");
  /* A C handler cannot raise HTTPRequestEntityTooLarge when it reads: a
   * body over client_max_size is refused before it runs. */
  int r = lt_request_body_refusal(req) ? 0 : h->fn(req, resp, h->ud);
  if (resp->streaming) {
    /* It streamed its answer itself; nothing is left for Lua to send. */
    lt_request_stream_end(req);
    if (r)
      return luaL_error(L, "C handler failed with status %d after streaming", r);
    lua_pushnil(L);
    return 1;
  }
  if (r)
    return luaL_error(L, "C handler failed with status %d", r);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, resp->status);
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, resp->body.data ? resp->body.data : "", resp->body.len);
  lua_setfield(L, -2, "body");
  lua_newtable(L);
  int n = 0;
  const char *p = resp->head.data, *end = p ? p + resp->head.len : NULL;
  while (p && p < end) {
    const char *colon = strchr(p, ':');
    const char *eol = strstr(p, "\r\n");
    if (!colon || !eol)
      break;
    lua_pushlstring(L, p, (size_t)(colon - p));
    lua_rawseti(L, -2, ++n);
    lua_pushlstring(L, colon + 2, (size_t)(eol - colon - 2));
    lua_rawseti(L, -2, ++n);
    p = eol + 2;
  }
  lua_setfield(L, -2, "headers");
  lt_response_reset(resp);
  return 1;
}

static const luaL_Reg router_methods[] = {
    {"add", l_add},
    {"routes", l_routes},
    {"resolve", l_resolve},
    {NULL, NULL},
};

static const luaL_Reg router_meta[] = {
    {"__gc", l_router_gc},
    {NULL, NULL},
};

static const luaL_Reg chandler_meta[] = {
    {"__call", l_chandler_call},
    {NULL, NULL},
};

void ltl_open_router(lua_State *L) {
  ltl_newclass(L, ROUTER, router_meta, router_methods);
  ltl_newclass(L, CHANDLER, chandler_meta, NULL);
  static const luaL_Reg funcs[] = {{"router", l_router}, {NULL, NULL}};
  ltl_setfuncs(L, funcs);
}
