/* Raw TCP probes for specs: core.tcp_exchange sends bytes and returns what
 * came back; core.responder serves fixed bytes to every request head. */
#include <stdlib.h>
#include <string.h>
#include "lprobe.h"
#include "probe.h"
#include "runtime.h"
#include "process.h"

#define RESPONDER "luatest.Responder"

static void on_exchanged(lt_exchange *ex, int status, void *ud) {
  (void)ex, (void)status;
  ltl_wake(ud, 0);
}

static void cancel_exchange(ltl_task *t) {
  lt_exchange_free(t->op);
}

static int exchange_results(ltl_task *t, void *op) {
  lua_State *L = t->co;
  lt_exchange *ex = op;
  lua_pushlstring(L, ex->received.data ? ex->received.data : "", ex->received.len);
  if (ex->status == 0)
    lua_pushliteral(L, "closed");
  else if (ex->status == UV_ETIMEDOUT)
    lua_pushliteral(L, "timeout");
  else
    lua_pushfstring(L, "%s: %s", lt_errname(ex->status), lt_strerror(ex->status));
  lt_exchange_free(ex);
  return 2;
}

/* core.tcp_exchange(host, port, data, {timeout = 5, half_close = false})
 * -> received bytes, "closed" | "timeout" | "ENAME: ..." */
static int l_tcp_exchange(lua_State *L) {
  ltl_state *S = ltl_S(L);
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  double timeout = 5;
  int half_close = 0;
  if (lua_istable(L, 4)) {
    if (lua_getfield(L, 4, "timeout") != LUA_TNIL)
      timeout = luaL_checknumber(L, -1);
    lua_getfield(L, 4, "half_close");
    half_close = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  ltl_task *t = ltl_need_task(L, "tcp_exchange");
  lt_exchange *ex;
  int r =
      lt_exchange_start(S->loop, &ex, host, port, data, len, timeout, half_close, on_exchanged, t);
  if (r)
    return ltl_fail(L, r, host);
  return ltl_wait_for(L, t, "tcp_exchange", cancel_exchange, ex, exchange_results);
}

typedef struct rbox {
  lt_responder *r;
} rbox;

/* core.responder(bytes, {close = true}) -> responder (:port(), :count(),
 * :close()); answers every request head it reads with `bytes`. */
static int l_responder(lua_State *L) {
  ltl_state *S = ltl_S(L);
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  int close_after = 1;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "close");
    close_after = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  rbox *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->r = NULL;
  luaL_setmetatable(L, RESPONDER);
  int r = lt_responder_start(S->loop, &box->r, "127.0.0.1", data, len, close_after);
  if (r)
    return ltl_fail(L, r, "127.0.0.1:0");
  ltl_track(L, -1, "responder");
  return 1;
}

static int l_responder_port(lua_State *L) {
  rbox *box = luaL_checkudata(L, 1, RESPONDER);
  if (!box->r)
    return luaL_error(L, "responder:port: attempt to use a closed responder");
  lua_pushinteger(L, lt_responder_port(box->r));
  return 1;
}

static int l_responder_count(lua_State *L) {
  rbox *box = luaL_checkudata(L, 1, RESPONDER);
  lua_pushinteger(L, box->r ? lt_responder_count(box->r) : 0);
  return 1;
}

static int l_responder_close(lua_State *L) {
  rbox *box = luaL_checkudata(L, 1, RESPONDER);
  if (box->r) {
    lt_responder_close(box->r);
    box->r = NULL;
    ltl_untrack(ltl_S(L), box);
  }
  return 0;
}

static const luaL_Reg responder_methods[] = {
    {"port", l_responder_port},
    {"count", l_responder_count},
    {"close", l_responder_close},
    {NULL, NULL},
};

static const luaL_Reg responder_meta[] = {
    {"__gc", l_responder_close},
    {"__close", l_responder_close},
    {NULL, NULL},
};

/* ---- child processes ----------------------------------------------------------- */

static void on_exited(lt_process *p, void *ud) {
  (void)p;
  ltl_wake(ud, 0);
}

static void cancel_process(ltl_task *t) {
  lt_process_free(t->op);
}

static int process_results(ltl_task *t, void *op) {
  lua_State *L = t->co;
  lt_process *p = op;
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)p->exit_status);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, p->term_signal);
  lua_setfield(L, -2, "signal");
  lua_pushboolean(L, p->timed_out);
  lua_setfield(L, -2, "timed_out");
  lua_pushlstring(L, p->stdout_buf.data ? p->stdout_buf.data : "", p->stdout_buf.len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, p->stderr_buf.data ? p->stderr_buf.data : "", p->stderr_buf.len);
  lua_setfield(L, -2, "stderr");
  lt_process_free(p);
  return 1;
}

/* core.exec({"curl", "-s", url}, {input=, timeout=30, cwd=}) -> {status=,
 * signal=, timed_out=, stdout=, stderr=}, or nil and a message when it
 * cannot be started. The loop keeps serving while the child runs. */
static int l_exec(lua_State *L) {
  ltl_state *S = ltl_S(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  int argc = (int)luaL_len(L, 1);
  luaL_argcheck(L, argc > 0, 1, "exec: empty command");
  double timeout = 60;
  size_t input_len = 0;
  const char *input = NULL, *cwd = NULL;
  if (lua_istable(L, 2)) {
    if (lua_getfield(L, 2, "timeout") != LUA_TNIL)
      timeout = luaL_checknumber(L, -1);
    if (lua_getfield(L, 2, "input") != LUA_TNIL)
      input = luaL_checklstring(L, -1, &input_len);
    if (lua_getfield(L, 2, "cwd") != LUA_TNIL)
      cwd = luaL_checkstring(L, -1);
  }
  ltl_task *t = ltl_need_task(L, "exec");
  char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 1), 0);
  for (int i = 0; i < argc; i++) {
    lua_rawgeti(L, 1, i + 1);
    argv[i] = (char *)luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the argument table */
  }
  argv[argc] = NULL;
  lt_process *p;
  int r = lt_process_start(S->loop, &p, argv, NULL, cwd, input, input_len, timeout, on_exited, t);
  if (r)
    return ltl_fail(L, r, argv[0]);
  return ltl_wait_for(L, t, "exec", cancel_process, p, process_results);
}

static const luaL_Reg funcs[] = {
    {"exec", l_exec},
    {"tcp_exchange", l_tcp_exchange},
    {"responder", l_responder},
    {NULL, NULL},
};

void ltl_open_probe(lua_State *L) {
  ltl_newclass(L, RESPONDER, responder_meta, responder_methods);
  ltl_setfuncs(L, funcs);
}
