/* The WebSocket userdata: a core WebSocket (server side, adopted from an
 * upgrade request; or client side) whose receive suspends the calling task
 * until a message arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"
#include "lrequest.h"
#include "lserver.h"
#include "lws.h"
#include "runtime.h"
#include "ws.h"

#define WEBSOCKET "luatest.WebSocket"

typedef struct lws_box {
  lt_ws *ws;
  ltl_task *waiter;
  unsigned waiter_gen;
  int self_ref;
  int timed_out;
  int interrupted;  /* the receiver is to return "closing" */
  ltl_task *closer; /* a task waiting for the end of the connection */
  unsigned closer_gen;
} lws_box;

#define MSG_CLOSING 257 /* aiohttp's WSMsgType.CLOSING */

static void on_ws_event(lt_ws *ws, void *ud) {
  lws_box *box = ud;
  ltl_task *t = box->waiter;
  if (t && t->gen == box->waiter_gen) {
    box->waiter = NULL;
    ltl_wake(t, 0);
  }
  t = box->closer;
  if (t && t->gen == box->closer_gen && lt_ws_state(ws) == LT_WS_CLOSED) {
    box->closer = NULL;
    ltl_timer_stop(t);
    ltl_wake(t, 0);
  }
}

static lws_box *push_box(lua_State *L) {
  lws_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  memset(box, 0, sizeof *box);
  box->self_ref = LUA_NOREF;
  luaL_setmetatable(L, WEBSOCKET);
  return box;
}

static lws_box *check(lua_State *L) {
  return luaL_checkudata(L, 1, WEBSOCKET);
}

static void get_opts(lua_State *L, int idx, lt_ws_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_msg_size = LT_WS_MAX_MSG_SIZE;
  if (!lua_istable(L, idx))
    return;
  if (lua_getfield(L, idx, "protocol") == LUA_TSTRING)
    o->protocol = lua_tostring(L, -1);
  if (lua_getfield(L, idx, "protocols") == LUA_TSTRING)
    o->protocols = lua_tostring(L, -1);
  if (lua_getfield(L, idx, "headers") == LUA_TSTRING)
    o->headers = lua_tostring(L, -1);
  if (lua_getfield(L, idx, "max_msg_size") == LUA_TNUMBER)
    o->max_msg_size = (size_t)lua_tointeger(L, -1);
  if (lua_getfield(L, idx, "heartbeat") == LUA_TNUMBER)
    o->heartbeat = lua_tonumber(L, -1);
  if (lua_getfield(L, idx, "timeout") == LUA_TNUMBER)
    o->close_timeout = lua_tonumber(L, -1);
  o->no_autoping = lua_getfield(L, idx, "autoping") == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  o->no_autoclose = lua_getfield(L, idx, "autoclose") == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  int t = lua_getfield(L, idx, "compress");
  o->compress = t == LUA_TNUMBER                            ? (int)lua_tointeger(L, -1)
                : t == LUA_TBOOLEAN && lua_toboolean(L, -1) ? 15
                                                            : 0;
  /* tls: false (no verification), true (the system's CAs) or a CA PEM. */
  t = lua_getfield(L, idx, "tls");
  o->tls = t == LUA_TBOOLEAN || t == LUA_TSTRING;
  o->tls_verify = t != LUA_TBOOLEAN || lua_toboolean(L, -1);
  o->tls_ca_pem = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 10); /* the strings stay alive in the options table */
}

/* request:_ws_refusal() -> nothing for a valid WebSocket handshake, else
 * the status (400, 426), the text and, for 426, the version we speak. */
static int l_ws_refusal(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  int status = lt_request_ws_refusal(req);
  if (!status)
    return 0;
  lua_pushinteger(L, status);
  lua_pushlstring(L, req->resp.body.data ? req->resp.body.data : "", req->resp.body.len);
  lt_response_reset(&req->resp); /* the Lua handler answers */
  if (status != 426)
    return 2;
  lua_pushliteral(L, LT_WS_VERSION);
  return 3;
}

/* request:_ws_upgrade{protocol=, max_msg_size=, heartbeat=, autoping=,
 * autoclose=, compress=} -> WebSocket, or nil and a message (lt_request_upgrade). */
static int l_ws_upgrade(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  lt_ws_opts opts;
  get_opts(L, 2, &opts);
  lt_server *srv = req->server;
  lws_box *box = push_box(L);
  int r = lt_request_upgrade(req, &opts, on_ws_event, box, &box->ws);
  if (r == LT_EPARSE)
    return ltl_fail(L, r, "the WebSocket handshake failed");
  if (r)
    return ltl_fail(L, r, "handing the connection over");
  ltl_track(L, -1, "websocket");
  ltl_server_add_ws(L, srv, -1);
  return 1;
}

static void cancel_wait(ltl_task *t) {
  lws_box *box = t->op;
  ltl_timer_stop(t);
  box->waiter = NULL;
}

static void on_wait_timeout(uv_timer_t *h) {
  ltl_task *t = h->data;
  lws_box *box = t->op;
  box->waiter = NULL;
  box->timed_out = 1;
  ltl_wake(t, 0);
}

static void arm(lws_box *box, ltl_task *t) {
  box->waiter = t;
  box->waiter_gen = t->gen;
}

/* Suspends the task until the WebSocket has news (or the timeout). */
static int wait_event(lua_State *L, lws_box *box, const char *what, ltl_results_fn results) {
  ltl_task *t = ltl_need_task(L, what);
  arm(box, t);
  return ltl_wait_for(L, t, what, cancel_wait, box, results);
}

/* Pushes type, data, code of the next message, or of the end. 0 when
 * nothing is there yet. */
static int try_receive(lua_State *L, lws_box *box) {
  lt_ws_msg *msg = lt_ws_pop(box->ws);
  if (msg) {
    lua_pushinteger(L, msg->type);
    lua_pushlstring(L, msg->data, msg->len);
    lua_pushinteger(L, msg->code);
    lt_ws_msg_free(msg);
    return 3;
  }
  if (lt_ws_state(box->ws) == LT_WS_CLOSED) {
    lua_pushinteger(L, 0); /* closed: nothing more will come */
    lua_pushliteral(L, "");
    lua_pushinteger(L, lt_ws_close_code(box->ws));
    return 3;
  }
  return 0;
}

static int receive_results(ltl_task *t, void *op) {
  lws_box *box = op;
  lua_State *L = t->co;
  if (box->interrupted) {
    box->interrupted = 0;
    ltl_timer_stop(t);
    lua_pushinteger(L, MSG_CLOSING);
    lua_pushliteral(L, "");
    lua_pushinteger(L, 0);
    return 3;
  }
  int n = box->ws ? try_receive(L, box) : 0;
  if (n || box->timed_out || !box->ws) {
    ltl_timer_stop(t);
    if (n)
      return n;
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  arm(box, t);
  return LTL_WAIT_AGAIN;
}

/* ws:_receive(timeout) -> type, data, code (type 0: closed); or nil and
 * "timeout". */
static int l_receive(lua_State *L) {
  lws_box *box = check(L);
  if (!box->ws)
    return luaL_error(L, "ws:receive: attempt to use a closed WebSocket");
  int n = try_receive(L, box);
  if (n)
    return n;
  if (box->waiter)
    return luaL_error(L, "ws:receive: another task is already receiving");
  double timeout = luaL_optnumber(L, 2, 0);
  lua_settop(L, 1);
  ltl_task *t = ltl_need_task(L, "ws:receive");
  box->timed_out = 0;
  if (timeout > 0)
    ltl_timer_start(t, timeout, on_wait_timeout);
  return wait_event(L, box, "ws:receive", receive_results);
}

/* Pushes the connected WebSocket (held by box->self_ref while it waits), or
 * nil and why it did not open. */
static int open_results(ltl_task *t, void *op) {
  lws_box *box = op;
  lua_State *L = t->co;
  int state = lt_ws_state(box->ws);
  if (state == LT_WS_CONNECTING) {
    arm(box, t);
    return LTL_WAIT_AGAIN;
  }
  ltl_timer_stop(t);
  lua_rawgeti(L, LUA_REGISTRYINDEX, box->self_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, box->self_ref);
  box->self_ref = LUA_NOREF;
  if (state == LT_WS_CLOSED) {
    lua_pop(L, 1);
    /* The caller never gets the object: let go of it here. */
    char err[160];
    snprintf(err, sizeof err, "%s",
             lt_ws_error(box->ws)[0] ? lt_ws_error(box->ws) : "handshake failed");
    lt_ws_release(box->ws);
    box->ws = NULL;
    ltl_untrack(t->S, box);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static void cancel_open(ltl_task *t) {
  lws_box *box = t->op;
  cancel_wait(t);
  luaL_unref(t->co, LUA_REGISTRYINDEX, box->self_ref);
  box->self_ref = LUA_NOREF;
}

/* core.ws_connect(host, port, path, {protocols=, headers=, max_msg_size=})
 * -> WebSocket once open, or nil and a message. */
static int l_ws_connect(lua_State *L) {
  ltl_state *S = ltl_S(L);
  const char *host = luaL_checkstring(L, 1);
  int port = (int)luaL_checkinteger(L, 2);
  const char *path = luaL_checkstring(L, 3);
  lt_ws_opts opts;
  get_opts(L, 4, &opts);
  ltl_need_task(L, "ws_connect");
  lua_settop(L, 4);
  lws_box *box = push_box(L);
  lua_replace(L, 1); /* the box is argument 1 for the continuation */
  box->ws = lt_ws_connect(S->loop, host, port, path, &opts, on_ws_event, box);
  if (!box->ws)
    return ltl_fail(L, LT_ENOMEM, "ws_connect");
  ltl_track(L, 1, "websocket");
  lua_settop(L, 1);
  if (lt_ws_state(box->ws) == LT_WS_CONNECTING) {
    ltl_task *t = ltl_current(L);
    lua_pushvalue(L, 1);
    box->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    arm(box, t);
    return ltl_wait_for(L, t, "ws_connect", cancel_open, box, open_results);
  }
  /* Failed at once: the same results, without waiting. */
  lua_pushvalue(L, 1);
  box->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ltl_task *t = ltl_current(L);
  lua_settop(L, 0);
  int n = open_results(t, box);
  lua_xmove(t->co, L, n); /* (L is not t->co in a yield-safe pcall) */
  return n;
}

static void on_send_drained(lt_ws *ws, void *ud) {
  ltl_task *t = ud;
  (void)ws;
  lua_pushboolean(t->co, 1);
  ltl_wake(t, 1);
}

static void cancel_send_wait(ltl_task *t) {
  lws_box *box = t->op;
  if (box->ws)
    lt_ws_on_drain(box->ws, NULL, NULL);
}

/* ws:_send(type, data[, compress]): in a task, waits while the client has
 * more than the high-water mark of our frames still to take. compress
 * false sends the message uncompressed under permessage-deflate. */
static int l_send(lua_State *L) {
  lws_box *box = check(L);
  int type = (int)luaL_checkinteger(L, 2);
  size_t len;
  const char *data = luaL_optlstring(L, 3, "", &len);
  int compress = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
  if (!box->ws)
    return ltl_fail(L, LT_ECLOSED, "send");
  int r = lt_ws_send_message(box->ws, type, data, len, compress);
  if (r)
    return ltl_fail(L, r, "send");
  ltl_task *t = ltl_current(L);
  if (t && lua_isyieldable(L) && lt_ws_send_blocked(box->ws)) {
    lt_ws_on_drain(box->ws, on_send_drained, t);
    return ltl_wait(L, t, "ws:send (the peer is not reading)", cancel_send_wait, box);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_close(lua_State *L) {
  lws_box *box = check(L);
  int code = (int)luaL_optinteger(L, 2, 1000);
  const char *reason = luaL_optstring(L, 3, "");
  lua_pushboolean(L, box->ws && lt_ws_close(box->ws, code, reason) == 0);
  return 1;
}

static int closed_results(ltl_task *t, void *op) {
  lws_box *box = op;
  lua_pushboolean(t->co, !box->ws || lt_ws_state(box->ws) == LT_WS_CLOSED);
  return 1;
}

/* ws:_interrupt(): the task waiting in receive (if any) returns "closing"
 * (aiohttp's close from another task); true when there was one. */
static int l_interrupt(lua_State *L) {
  lws_box *box = check(L);
  ltl_task *t = box->waiter;
  int waiting = t && t->gen == box->waiter_gen;
  if (waiting) {
    box->waiter = NULL;
    box->interrupted = 1;
    ltl_wake(t, 0);
  }
  lua_pushboolean(L, waiting);
  return 1;
}

static void cancel_closed_wait(ltl_task *t) {
  lws_box *box = t->op;
  ltl_timer_stop(t);
  box->closer = NULL;
}

static void on_closed_wait_timeout(uv_timer_t *h) {
  ltl_task *t = h->data;
  lws_box *box = t->op;
  box->closer = NULL;
  ltl_wake(t, 0);
}

/* ws:_wait_closed(timeout): waits until the connection has closed (true),
 * or the timeout passed (false), beside a task that receives. */
static int l_wait_closed(lua_State *L) {
  lws_box *box = check(L);
  double timeout = luaL_optnumber(L, 2, 10);
  if (!box->ws || lt_ws_state(box->ws) == LT_WS_CLOSED) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (box->closer)
    return luaL_error(L, "ws:close: another task is already closing");
  ltl_task *t = ltl_need_task(L, "ws:close");
  box->closer = t;
  box->closer_gen = t->gen;
  ltl_timer_start(t, timeout, on_closed_wait_timeout);
  lua_settop(L, 1);
  return ltl_wait_for(L, t, "ws:close", cancel_closed_wait, box, closed_results);
}

static int l_state(lua_State *L) {
  lws_box *box = check(L);
  static const char *const names[] = {"connecting", "open", "closing", "closed"};
  lua_pushstring(L, box->ws ? names[lt_ws_state(box->ws)] : "closed");
  lua_pushinteger(L, box->ws ? lt_ws_close_code(box->ws) : 0);
  lua_pushstring(L, box->ws ? lt_ws_protocol(box->ws) : "");
  return 3;
}

/* ws:_compress() -> the permessage-deflate window bits in use, or false. */
static int l_compress(lua_State *L) {
  lws_box *box = check(L);
  int bits = box->ws ? lt_ws_compress(box->ws) : 0;
  if (bits)
    lua_pushinteger(L, bits);
  else
    lua_pushboolean(L, 0);
  return 1;
}

/* ws:_release(): lets go of the connection (dropping it if still open). */
static int l_release(lua_State *L) {
  lws_box *box = check(L);
  if (box->ws) {
    lt_ws_release(box->ws);
    box->ws = NULL;
    ltl_untrack(ltl_S(L), box);
  }
  return 0;
}

static const luaL_Reg methods[] = {
    {"_receive", l_receive},
    {"_send", l_send},
    {"_close", l_close},
    {"_state", l_state},
    {"_compress", l_compress},
    {"_release", l_release},
    {"_interrupt", l_interrupt},
    {"_wait_closed", l_wait_closed},
    {NULL, NULL},
};

const luaL_Reg ltl_ws_request_methods[] = {
    {"_ws_refusal", l_ws_refusal},
    {"_ws_upgrade", l_ws_upgrade},
    {NULL, NULL},
};

static const luaL_Reg meta[] = {
    {"__gc", l_release},
    {"__close", l_release},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"ws_connect", l_ws_connect},
    {NULL, NULL},
};

void ltl_open_ws(lua_State *L) {
  ltl_newclass(L, WEBSOCKET, meta, methods);
  ltl_setfuncs(L, funcs);
}
