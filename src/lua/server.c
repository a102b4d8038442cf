/* The Server userdata: a core server whose requests are routed by a Router
 * (or all given to one raw handler). C handlers answer right in the core's
 * callback; everything else is queued and run as a task through the Lua
 * dispatcher that luatest.web provides: dispatch(request, handler, status,
 * allow, app). */
#include <stdlib.h>
#include <string.h>
#include "lrequest.h"
#include "lrouter.h"
#include "lserver.h"
#include "runtime.h"
#include "tls.h"

#define SERVER "luatest.Server"

typedef struct lserver {
  ltl_object o;
  lt_server *srv;
  lt_router *router;
  int ws_ref;   /* WebSockets upgraded from its requests (weak keys) */
  int lua_only; /* route C handlers through Lua too (middlewares) */
  lt_request *qhead, *qtail;
  lt_task qtask;
  ltl_task *handlers; /* running handler tasks */
  lt_tls_ctx *tls;    /* TLS: the certificate and key its connections use */
} lserver;

static void run_queue(lt_task *lt);

static void on_request(lt_server *srv, lt_request *req, void *ud) {
  lserver *ls = ud;
  (void)srv;
  req->match_status = 200;
  if (ls->router) {
    lt_match m;
    if (lt_router_match(ls->router, req, &m)) {
      lt_response_internal_error(&req->resp);
      lt_request_respond(req);
      return;
    }
    lt_route *rt = m.route;
    if (rt && rt->fn && !ls->lua_only) {
      /* A C handler cannot raise HTTPRequestEntityTooLarge when it reads:
       * a body over client_max_size is refused before it runs. */
      if (lt_request_body_refusal(req))
        lt_request_respond(req);
      else
        lt_request_run_handler(req, rt->fn, rt->ud);
      return;
    }
    req->route = rt;
    req->match_status = m.status;
    if (m.status == 405)
      req->allow = strdup(m.allow);
  }
  lt_request_retain(req); /* the queue's reference */
  req->next = NULL;
  if (ls->qtail)
    ls->qtail->next = req;
  else
    ls->qhead = req;
  ls->qtail = req;
  lt_loop_defer(ls->o.S->loop, &ls->qtask);
}

static void unlink_handler(lserver *ls, ltl_task *t) {
  if (t->prev)
    t->prev->next = t->next;
  else if (ls->handlers == t)
    ls->handlers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->next = t->prev = NULL;
}

static void handler_done(ltl_task *t, int status, int nres) {
  lt_request *req = t->ud;
  (void)nres;
  lserver *ls = req->server ? req->server->ud : NULL;
  if (ls)
    unlink_handler(ls, t);
  if (status != LUA_OK && status != LTL_CANCELLED) {
    /* The dispatcher itself failed: keep the traceback for the report. */
    lua_State *L = t->S->L;
    luaL_traceback(L, t->co, lua_tostring(t->co, -1), 0);
    lua_rawseti(L, LUA_REGISTRYINDEX, t->S->traceback_ref);
  }
  if (!req->responded) {
    lt_response_internal_error(&req->resp);
    lt_request_respond(req);
  }
  lt_request_release(req);
}

static void run_queue(lt_task *lt) {
  lserver *ls = (lserver *)((char *)lt - offsetof(lserver, qtask));
  ltl_state *S = ls->o.S;
  lua_State *L = S->L;
  while (ls->qhead) {
    lt_request *req = ls->qhead;
    ls->qhead = req->next;
    if (!ls->qhead)
      ls->qtail = NULL;
    req->next = NULL;
    if (ls->o.closing) {
      lt_request_respond(req);
      lt_request_release(req);
      continue;
    }
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->o.self_ref);
    int self = lua_gettop(L);
    lua_getiuservalue(L, self, 1); /* dispatch */
    lua_getiuservalue(L, self, 3); /* app */
    int app = lua_gettop(L);
    ltl_push_request(L, req, app);
    lua_remove(L, app);
    if (req->route) {
      lua_getiuservalue(L, self, 2);
      ltl_push_route_handler(L, lua_gettop(L), req->route);
      lua_remove(L, -2);
    } else if (ls->router) {
      lua_pushnil(L);
    } else {
      lua_getiuservalue(L, self, 2); /* the raw handler */
    }
    lua_pushinteger(L, req->match_status);
    if (req->allow)
      lua_pushstring(L, req->allow);
    else
      lua_pushnil(L);
    lua_getiuservalue(L, self, 3); /* app again: request.app, without the lookup */
    ltl_task *t = ltl_spawn(S, L, 5, handler_done, req);
    lua_settop(L, top);
    if (!t) {
      lt_response_internal_error(&req->resp);
      lt_request_respond(req);
      lt_request_release(req);
      continue;
    }
    t->next = ls->handlers;
    if (ls->handlers)
      ls->handlers->prev = t;
    ls->handlers = t;
    ltl_run_now(t);
  }
}

/* A duration option in seconds (a number >= 0) as milliseconds. */
static uint64_t opt_ms(lua_State *L, int idx, const char *name) {
  int isnum;
  lua_Number s = lua_tonumberx(L, idx, &isnum);
  if (!isnum || !(s >= 0))
    luaL_error(L, "server: %s must be a number of seconds >= 0, got %s", name,
               isnum ? lua_tostring(L, idx) : luaL_typename(L, idx));
  return (uint64_t)(s * 1000 + 0.5);
}

/* core.server{router=R | handler=fn, dispatch=fn, app=any, client_max_size=,
 * max_line_size=, max_field_size=, max_headers=, header_timeout=s, keepalive_timeout=s,
 * lua_only=bool} */
static int l_server(lua_State *L) {
  ltl_state *S = ltl_S(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lt_server_opts opts;
  lt_server_default_opts(&opts);
  /* Lua handlers meet client_max_size when they read the body, as in
   * aiohttp (web_request.lua raises the 413); C ones before they run. */
  opts.lazy_body_limit = 1;
  if (lua_getfield(L, 1, "client_max_size") != LUA_TNIL)
    opts.limits.max_body = (size_t)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "max_line_size") != LUA_TNIL)
    opts.limits.max_line = (size_t)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "max_field_size") != LUA_TNIL)
    opts.limits.max_field = (size_t)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "max_headers") != LUA_TNIL)
    opts.limits.max_headers = (size_t)luaL_checkinteger(L, -1);
  if (lua_getfield(L, 1, "header_timeout") != LUA_TNIL)
    opts.header_timeout_ms = opt_ms(L, -1, "header_timeout");
  if (lua_getfield(L, 1, "keepalive_timeout") != LUA_TNIL)
    opts.keepalive_timeout_ms = opt_ms(L, -1, "keepalive_timeout");
  /* Everything is checked before anything is made: an error here leaves no
   * half-built server for the collector to close. */
  lua_settop(L, 1);
  if (lua_getfield(L, 1, "dispatch") != LUA_TFUNCTION) /* 2 */
    return luaL_error(L, "server: opts.dispatch must be a function");
  lt_router *router = NULL;
  if (lua_getfield(L, 1, "router") != LUA_TNIL) { /* 3 */
    if (!(router = ltl_to_router(L, 3)))
      return luaL_error(L, "server: opts.router must be a router, not %s", luaL_typename(L, 3));
  } else {
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "handler") == LUA_TNIL) /* 3 */
      return luaL_error(L, "server: opts.router or opts.handler is required");
  }
  lua_getfield(L, 1, "app"); /* 4 */
  lua_getfield(L, 1, "lua_only");
  int lua_only = lua_toboolean(L, -1);
  lua_pop(L, 1);
  const char *cert = NULL, *key = NULL;
  if (lua_getfield(L, 1, "tls") != LUA_TNIL) { /* 5: {cert = pem, key = pem} */
    luaL_argcheck(L, lua_istable(L, 5), 1, "server: opts.tls must be a table {cert =, key =}");
    lua_getfield(L, 5, "cert");
    lua_getfield(L, 5, "key");
    cert = lua_tostring(L, 6);
    key = lua_tostring(L, 7);
    if (!cert || !key)
      return luaL_error(L, "server: opts.tls needs cert and key (PEM strings)");
  }
  char err[256];
  lt_tls_ctx *tls = cert ? lt_tls_server_ctx(cert, key, err, sizeof err) : NULL;
  if (cert && !tls)
    return luaL_error(L, "server: TLS: %s", err);
  lua_settop(L, 4);
  opts.tls = tls;
  lserver *ls = calloc(1, sizeof *ls);
  if (!ls || !(ls->srv = lt_server_new(S->loop, &opts, on_request, ls))) {
    free(ls);
    lt_tls_ctx_free(tls);
    return luaL_error(L, "server: out of memory");
  }
  ls->tls = tls;
  ls->router = router;
  ls->lua_only = lua_only;
  ls->ws_ref = LUA_NOREF;
  ls->qtask.fn = run_queue;
  ltl_box_new(L, SERVER, 3, &ls->o, "server"); /* 5 */
  for (int i = 1; i <= 3; i++) {
    lua_pushvalue(L, i + 1);
    lua_setiuservalue(L, 5, i);
  }
  return 1;
}

static lserver *check_open(lua_State *L, const char *call) {
  return ltl_box_check(L, 1, SERVER, call);
}

static int l_listen(lua_State *L) {
  lserver *ls = check_open(L, "server:listen");
  const char *host = luaL_optstring(L, 2, "127.0.0.1");
  int port = (int)luaL_optinteger(L, 3, 0);
  int r = lt_server_listen(ls->srv, host, port);
  if (r) {
    lua_pushfstring(L, "%s:%d", host, port);
    return ltl_fail(L, r, lua_tostring(L, -1));
  }
  lua_pushinteger(L, ls->srv->port);
  return 1;
}

static void on_closed(lt_server *srv, void *ud) {
  lserver *ls = ud;
  (void)srv;
  ls->srv = NULL;
  lt_loop_undefer(ls->o.S->loop, &ls->qtask);
  while (ls->qhead) {
    lt_request *req = ls->qhead;
    ls->qhead = req->next;
    lt_request_respond(req);
    lt_request_release(req);
  }
  ltl_object_closed(&ls->o);
  lt_tls_ctx_free(ls->tls);
  free(ls);
}

static void start_close(lua_State *L, ltl_object *o) {
  lserver *ls = (lserver *)o;
  ltl_object_closing(L, o);
  lt_server_close(ls->srv, on_closed, ls);
  /* Handlers still running are cancelled: closing never waits on them. The
   * one calling close (if a handler does) finishes on its own. */
  for (ltl_task *t = ls->handlers, *next; t; t = next) {
    next = t->next;
    if (t->state != T_RUNNING)
      ltl_cancel(t);
  }
  /* WebSockets that came from this server go with it, as aiohttp's
   * shutdown closes them. */
  if (ls->ws_ref != LUA_NOREF && ls->ws_ref != 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ws_ref);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      if (luaL_getmetafield(L, -1, "__close") != LUA_TNIL) {
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
      }
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, ls->ws_ref);
    ls->ws_ref = LUA_NOREF;
  }
}

void ltl_server_add_ws(lua_State *L, lt_server *srv, int idx) {
  lserver *ls = srv ? srv->ud : NULL;
  if (!ls || ls->o.closing)
    return;
  idx = lua_absindex(L, idx);
  if (ls->ws_ref == LUA_NOREF || ls->ws_ref == 0) {
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    ls->ws_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ws_ref);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* server:close(): closes the listener, the connections and the handlers
 * still running; inside a task, waits until everything has closed. */
static int l_close(lua_State *L) {
  return ltl_box_close(L, SERVER, start_close, "server:close");
}

static int l_gc(lua_State *L) {
  return ltl_box_gc(L, SERVER, start_close);
}

static int l_port(lua_State *L) {
  lserver *ls = ltl_box_get(L, 1, SERVER);
  if (ls && ls->srv && ls->srv->listening)
    lua_pushinteger(L, ls->srv->port);
  else
    lua_pushnil(L);
  return 1;
}

static int l_stats(lua_State *L) {
  lserver *ls = ltl_box_get(L, 1, SERVER);
  lua_createtable(L, 0, 2);
  lt_server *srv = ls ? ls->srv : NULL;
  lua_pushinteger(L, srv ? (lua_Integer)srv->requests : 0);
  lua_setfield(L, -2, "requests");
  lua_pushinteger(L, srv ? srv->nconns : 0);
  lua_setfield(L, -2, "connections");
  return 1;
}

static int l_closed(lua_State *L) {
  return ltl_box_closed(L, SERVER);
}

static const luaL_Reg methods[] = {
    {"listen", l_listen}, {"close", l_close},   {"port", l_port},
    {"stats", l_stats},   {"closed", l_closed}, {NULL, NULL},
};

static const luaL_Reg meta[] = {
    {"__gc", l_gc},
    {"__close", l_gc},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"server", l_server},
    {NULL, NULL},
};

void ltl_open_server(lua_State *L) {
  ltl_newclass(L, SERVER, meta, methods);
  ltl_setfuncs(L, funcs);
}
