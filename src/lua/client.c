/* The Client userdata: a core client whose requests suspend the calling task
 * until the response has arrived. Results are built when the task resumes,
 * never inside the I/O callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "runtime.h"

#define CLIENT "luatest.Client"

typedef struct lclient {
  lt_client *cl;
  ltl_state *S;
  struct cbox *box;
  int self_ref;
  int closing;
  ltl_task *waiter;
  unsigned waiter_gen;
} lclient;

typedef struct cbox {
  lclient *lc;
} cbox;

typedef struct op {
  lt_creq *cr;
  ltl_task *t;
  int status;
  int done;
  char where[80];
  char what[128]; /* client:get("/path"), for timeout reports */
} op;

static void on_response(lt_creq *cr, int status, void *ud) {
  op *o = ud;
  (void)cr;
  o->status = status;
  o->done = 1;
  ltl_timer_stop(o->t);
  ltl_wake(o->t, 0);
}

static void on_timeout(uv_timer_t *h) {
  ltl_task *t = h->data;
  op *o = t->op;
  lt_creq_free(o->cr);
  o->cr = NULL;
  o->status = UV_ETIMEDOUT;
  o->done = 1;
  ltl_wake(t, 0);
}

static void cancel_op(ltl_task *t) {
  op *o = t->op;
  ltl_timer_stop(t);
  lt_creq_free(o->cr);
  free(o);
}

static int finish_request(lua_State *L, int status, lua_KContext ctx) {
  op *o = (op *)ctx;
  (void)status;
  int r = o->status;
  lt_creq *cr = o->cr;
  if (r) {
    lua_pushnil(L);
    if (r == UV_ETIMEDOUT)
      lua_pushfstring(L, "ETIMEDOUT: timed out (%s)", o->where);
    else
      lua_pushfstring(L, "%s: %s (%s)", lt_errname(r), lt_strerror(r), o->where);
    lt_creq_free(cr);
    free(o);
    return 2;
  }
  lt_msg *m = &cr->resp;
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, m->status);
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, lt_msg_str(m, m->reason), m->reason_len);
  lua_setfield(L, -2, "reason");
  lua_pushfstring(L, "%d.%d", m->major, m->minor);
  lua_setfield(L, -2, "version");
  lua_pushboolean(L, m->keep_alive);
  lua_setfield(L, -2, "keep_alive");
  lua_createtable(L, m->nhdrs * 2, 0);
  for (int i = 0; i < m->nhdrs; i++) {
    lua_pushlstring(L, lt_msg_str(m, m->hdrs[i].name), m->hdrs[i].name_len);
    lua_rawseti(L, -2, 2 * i + 1);
    lua_pushlstring(L, lt_msg_str(m, m->hdrs[i].value), m->hdrs[i].value_len);
    lua_rawseti(L, -2, 2 * i + 2);
  }
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, m->body.data ? m->body.data : "", m->body.len);
  lua_setfield(L, -2, "body");
  lt_creq_free(cr);
  free(o);
  return 1;
}

static lclient *check_open(lua_State *L, const char *call) {
  cbox *box = luaL_checkudata(L, 1, CLIENT);
  if (!box->lc || box->lc->closing)
    luaL_error(L, "%s: attempt to use a closed client", call);
  return box->lc;
}

/* client:request(method, host, port, target, headers, body, timeout)
 * -> response table, or nil and "ENAME: description (host:port)".
 * headers is nil or a flat list {name, value, ...}; body nil or a string. */
static int l_request(lua_State *L) {
  lclient *lc = check_open(L, "client:request");
  const char *method = luaL_checkstring(L, 2);
  const char *host = luaL_checkstring(L, 3);
  int port = (int)luaL_checkinteger(L, 4);
  const char *target = luaL_checkstring(L, 5);
  size_t blen = 0;
  const char *body = lua_isnoneornil(L, 7) ? NULL : luaL_checklstring(L, 7, &blen);
  double timeout = luaL_optnumber(L, 8, 0);
  ltl_task *t = ltl_need_task(L, "client:request");
  lt_creq *cr = lt_creq_new(lc->cl, method, host, port, target);
  if (!cr)
    return luaL_error(L, "client:request: out of memory");
  if (lua_istable(L, 6)) {
    lua_Integer n = luaL_len(L, 6);
    for (lua_Integer i = 1; i + 1 <= n; i += 2) {
      lua_rawgeti(L, 6, i);
      lua_rawgeti(L, 6, i + 1);
      const char *name = lua_tostring(L, -2);
      const char *value = lua_tostring(L, -1);
      int r = name && value ? lt_creq_header(cr, name, value) : LT_EHEADER;
      if (r) {
        lt_creq_free(cr);
        return luaL_error(L, "client:request: header %s cannot be sent: %s", name ? name : "?",
                          lt_strerror(r));
      }
      lua_pop(L, 2);
    }
  }
  /* The body string stays on this task's stack while it waits, so the
   * request can send it without a copy. */
  if (body)
    lt_creq_body_borrowed(cr, body, blen);
  else
    lt_creq_body(cr, NULL, 0);
  op *o = calloc(1, sizeof *o);
  if (!o) {
    lt_creq_free(cr);
    return luaL_error(L, "client:request: out of memory");
  }
  o->cr = cr;
  o->t = t;
  snprintf(o->where, sizeof o->where, "%s:%d", host, port);
  char verb[16];
  size_t i = 0;
  for (; method[i] && i < sizeof verb - 1; i++)
    verb[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
  verb[i] = '\0';
  snprintf(o->what, sizeof o->what, "client:%s(\"%s\")", verb, target);
  int r = lt_creq_send(cr, on_response, o);
  if (r) {
    o->status = r;
    return finish_request(L, LUA_OK, (lua_KContext)o);
  }
  if (timeout > 0)
    ltl_timer_start(t, timeout, on_timeout);
  return ltl_waitk(L, t, o->what, cancel_op, o, (lua_KContext)o, finish_request);
}

static int l_client(lua_State *L) {
  ltl_state *S = ltl_S(L);
  cbox *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->lc = NULL;
  luaL_setmetatable(L, CLIENT);
  lclient *lc = calloc(1, sizeof *lc);
  if (!lc)
    return luaL_error(L, "client: out of memory");
  lc->cl = lt_client_new(S->loop);
  if (!lc->cl) {
    free(lc);
    return luaL_error(L, "client: out of memory");
  }
  lc->S = S;
  lc->box = box;
  box->lc = lc;
  lua_pushvalue(L, -1);
  lc->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ltl_track(L, -1, "client");
  return 1;
}

static void on_closed(lt_client *cl, void *ud) {
  lclient *lc = ud;
  (void)cl;
  if (lc->waiter && lc->waiter->gen == lc->waiter_gen)
    ltl_wake(lc->waiter, 0);
  if (lc->box)
    lc->box->lc = NULL;
  free(lc);
}

static void start_close(lua_State *L, lclient *lc) {
  lc->closing = 1;
  lt_client_close(lc->cl, on_closed, lc);
  ltl_untrack(lc->S, lc->box);
  luaL_unref(L, LUA_REGISTRYINDEX, lc->self_ref);
  lc->self_ref = LUA_NOREF;
}

static int l_close(lua_State *L) {
  cbox *box = luaL_checkudata(L, 1, CLIENT);
  lclient *lc = box->lc;
  if (!lc)
    return 0;
  if (!lc->closing)
    start_close(L, lc);
  ltl_task *t = ltl_current(L);
  if (!t || !lua_isyieldable(L) || lc->waiter)
    return 0;
  lc->waiter = t;
  lc->waiter_gen = t->gen;
  return ltl_wait(L, t, "client:close", NULL, NULL);
}

static int l_gc(lua_State *L) {
  cbox *box = luaL_checkudata(L, 1, CLIENT);
  if (box->lc) {
    box->lc->box = NULL;
    if (!box->lc->closing)
      start_close(L, box->lc);
    box->lc = NULL;
  }
  return 0;
}

static int l_closed(lua_State *L) {
  cbox *box = luaL_checkudata(L, 1, CLIENT);
  lua_pushboolean(L, !box->lc || box->lc->closing);
  return 1;
}

static int l_stats(lua_State *L) {
  cbox *box = luaL_checkudata(L, 1, CLIENT);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, box->lc ? (lua_Integer)box->lc->cl->connects : 0);
  lua_setfield(L, -2, "connects");
  return 1;
}

static const luaL_Reg methods[] = {
    {"request", l_request}, {"close", l_close}, {"closed", l_closed},
    {"stats", l_stats},     {NULL, NULL},
};

static const luaL_Reg meta[] = {
    {"__gc", l_gc},
    {"__close", l_gc},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"client", l_client},
    {NULL, NULL},
};

void ltl_open_client(lua_State *L) {
  ltl_newclass(L, CLIENT, meta, methods);
  ltl_setfuncs(L, funcs);
}
