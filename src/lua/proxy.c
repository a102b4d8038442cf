/* The Proxy userdata: a core fault proxy. Toxics come checked from
 * fault_proxy.lua; here they are only read into the core's struct. */
#include <stdlib.h>
#include "lproxy.h"
#include "proxy.h"
#include "runtime.h"

#define PROXY "luatest.Proxy"

typedef struct lproxy {
  ltl_object o;
  lt_proxy *p;
} lproxy;

/* A number field of the table at idx (0 when absent), in whole units. */
static uint64_t field(lua_State *L, int idx, const char *name) {
  lua_getfield(L, idx, name);
  lua_Number n = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return n > 0 ? (uint64_t)(n + 0.5) : 0;
}

/* Reads {name = {params}, ...} at idx into set. */
static void read_set(lua_State *L, int idx, lt_toxic_set *set) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {
      {"latency", LT_TOXIC_LATENCY},       {"bandwidth", LT_TOXIC_BANDWIDTH},
      {"slicer", LT_TOXIC_SLICER},         {"limit_data", LT_TOXIC_LIMIT_DATA},
      {"timeout", LT_TOXIC_TIMEOUT},       {"reset_peer", LT_TOXIC_RESET_PEER},
      {"slow_close", LT_TOXIC_SLOW_CLOSE},
  };
  if (!lua_istable(L, idx))
    return;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (lua_getfield(L, idx, names[i].name) == LUA_TTABLE) {
      int t = lua_gettop(L);
      set->has |= names[i].bit;
      switch (names[i].bit) {
      case LT_TOXIC_LATENCY:
        set->latency_ms = field(L, t, "ms");
        set->jitter_ms = field(L, t, "jitter");
        break;
      case LT_TOXIC_BANDWIDTH:
        set->kbps = field(L, t, "kbps");
        break;
      case LT_TOXIC_SLICER:
        set->slice_bytes = field(L, t, "bytes");
        set->slice_delay_ms = field(L, t, "delay_ms");
        break;
      case LT_TOXIC_LIMIT_DATA:
        set->limit_bytes = field(L, t, "bytes");
        break;
      case LT_TOXIC_TIMEOUT:
        set->timeout_ms = field(L, t, "ms");
        break;
      case LT_TOXIC_RESET_PEER:
        set->reset_after_ms = field(L, t, "after_ms");
        break;
      default:
        set->slow_close_ms = field(L, t, "ms");
      }
    }
    lua_pop(L, 1);
  }
}

/* The toxics table at idx ({upstream = ..., downstream = ...}). */
static void read_toxics(lua_State *L, int idx, lt_toxics *tx) {
  *tx = (lt_toxics){{0}, {0}};
  if (!lua_istable(L, idx))
    return;
  lua_getfield(L, idx, "upstream");
  read_set(L, lua_gettop(L), &tx->upstream);
  lua_getfield(L, idx, "downstream");
  read_set(L, lua_gettop(L), &tx->downstream);
  lua_pop(L, 2);
}

/* core.proxy(target_host, target_port, toxics) -> proxy (not listening) */
static int l_proxy(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  lt_toxics tx;
  read_toxics(L, 3, &tx);
  lproxy *lp = calloc(1, sizeof *lp);
  if (!lp)
    return luaL_error(L, "proxy: out of memory");
  int err = 0;
  if (!(lp->p = lt_proxy_new(ltl_S(L)->loop, host, port, &err))) {
    free(lp);
    lua_pushfstring(L, "%s:%d", host, port);
    return ltl_fail(L, err, lua_tostring(L, -1));
  }
  lp->p->toxics = tx;
  ltl_box_new(L, PROXY, 0, &lp->o, "proxy");
  return 1;
}

static int l_listen(lua_State *L) {
  lproxy *lp = ltl_box_check(L, 1, PROXY, "proxy:listen");
  const char *host = luaL_optstring(L, 2, "127.0.0.1");
  int port = (int)luaL_optinteger(L, 3, 0);
  int r = lt_proxy_listen(lp->p, host, port);
  if (r) {
    lua_pushfstring(L, "%s:%d", host, port);
    return ltl_fail(L, r, lua_tostring(L, -1));
  }
  lua_pushinteger(L, lp->p->port);
  return 1;
}

/* proxy:set(toxics): replaces every toxic, on open connections too. */
static int l_set(lua_State *L) {
  lproxy *lp = ltl_box_check(L, 1, PROXY, "proxy:set");
  lt_toxics tx;
  read_toxics(L, 2, &tx);
  lt_proxy_set(lp->p, &tx);
  return 0;
}

static int l_stats(lua_State *L) {
  lproxy *lp = ltl_box_get(L, 1, PROXY);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, lp && lp->p ? (lua_Integer)lp->p->connections : 0);
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, lp && lp->p ? (lua_Integer)lp->p->max_queued : 0);
  lua_setfield(L, -2, "max_queued");
  return 1;
}

static void on_closed(lt_proxy *p, void *ud) {
  lproxy *lp = ud;
  (void)p;
  lp->p = NULL;
  ltl_object_closed(&lp->o);
  free(lp);
}

static void start_close(lua_State *L, ltl_object *o) {
  lproxy *lp = (lproxy *)o;
  ltl_object_closing(L, o);
  lt_proxy_close(lp->p, on_closed, lp);
}

/* proxy:close(): closes the listener and every connection; inside a task,
 * waits until they closed. */
static int l_close(lua_State *L) {
  return ltl_box_close(L, PROXY, start_close, "proxy:close");
}

static int l_gc(lua_State *L) {
  return ltl_box_gc(L, PROXY, start_close);
}

static int l_closed(lua_State *L) {
  return ltl_box_closed(L, PROXY);
}

static const luaL_Reg methods[] = {
    {"listen", l_listen}, {"set", l_set},       {"stats", l_stats},
    {"close", l_close},   {"closed", l_closed}, {NULL, NULL},
};

static const luaL_Reg meta[] = {
    {"__gc", l_gc},
    {"__close", l_gc},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"proxy", l_proxy},
    {NULL, NULL},
};

void ltl_open_proxy(lua_State *L) {
  ltl_newclass(L, PROXY, meta, methods);
  ltl_setfuncs(L, funcs);
}
