/* The Client userdata: a core client whose requests suspend the calling task
 * until the response has arrived. Results are built when the task resumes,
 * never inside the I/O callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "lclient.h"
#include "runtime.h"
#include "tls.h"

#define CLIENT "luatest.Client"
#define BODY "luatest.ClientBody"

/* The body of a response that came before all of it: the request it
 * belongs to, read as it arrives. */
typedef struct cbody {
  lt_creq *cr;
  ltl_task *waiter;
  unsigned waiter_gen;
  int timed_out;
  char where[80];
} cbody;

typedef struct lclient {
  ltl_object o;
  lt_client *cl;
} lclient;

/* The context for a trust: tls is false (no verification), true (the
 * system's CAs) or a CA PEM string. NULL with why in err. */
static lt_tls_ctx *tls_ctx_for(lclient *lc, lua_State *L, int idx, char *err, size_t errlen) {
  int verify = lua_type(L, idx) != LUA_TBOOLEAN || lua_toboolean(L, idx);
  const char *ca_pem = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
  return lt_client_tls_ctx(lc->cl, ca_pem, verify, err, errlen);
}

typedef struct op {
  lt_creq *cr;
  ltl_task *t;
  int status;
  int done;
  int stream;        /* return after the head; the body is read as it comes */
  struct upload *up; /* the Upload it belongs to, until finish */
  char where[80];
  char what[128]; /* client:get("/path"), for timeout reports */
} op;

static void on_whole_body(lt_creq *cr, void *ud) {
  op *o = ud;
  if (!cr->complete && !cr->body_error)
    return;
  o->status = cr->body_error;
  o->done = 1;
  ltl_timer_stop(o->t);
  ltl_wake(o->t, 0);
}

static void on_response(lt_creq *cr, int status, void *ud) {
  op *o = ud;
  if (!status && !cr->complete && !o->stream) {
    lt_creq_on_body(cr, on_whole_body, o);
    return;
  }
  o->status = status;
  o->done = 1;
  if (o->up)
    return; /* still uploading: upload:finish takes the response */
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

/* Pushes o's response (or nil and the error) and frees o. */
static int finish_request(lua_State *L, op *o) {
  int r = o->status;
  lt_creq *cr = o->cr;
  if (r) {
    lua_pushnil(L);
    if (r == UV_ETIMEDOUT)
      lua_pushfstring(L, "ETIMEDOUT: timed out (%s)", o->where);
    else if (r == LT_ETLS && cr && cr->tls_error[0])
      lua_pushfstring(L, "ETLS: %s (%s)", cr->tls_error, o->where);
    else
      lua_pushfstring(L, "%s: %s (%s)", lt_errname(r), lt_strerror(r), o->where);
    lt_creq_free(cr);
    free(o);
    return 2;
  }
  lt_msg *m = &cr->resp;
  /* (room for the fields luatest.client_reqrep adds when the table becomes
   * the ClientResponse) */
  lua_createtable(L, 0, 16);
  lua_pushinteger(L, m->status);
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, lt_msg_str(m, m->reason), m->reason_len);
  lua_setfield(L, -2, "reason");
  if (m->major == 1 && m->minor == 1)
    lua_pushliteral(L, "1.1"); /* (the usual one, without formatting) */
  else
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
  if (!cr->complete) {
    /* The body comes on: the response reads it through a ClientBody. */
    cbody *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    b->cr = cr;
    memcpy(b->where, o->where, sizeof b->where);
    luaL_setmetatable(L, BODY);
    lua_setfield(L, -2, "stream");
    free(o);
    return 1;
  }
  lua_pushlstring(L, m->body.data ? m->body.data : "", m->body.len);
  lua_setfield(L, -2, "body");
  lt_creq_free(cr);
  free(o);
  return 1;
}

/* ---- bodies read as they come ------------------------------------------------ */

static void on_body(lt_creq *cr, void *ud) {
  cbody *b = ud;
  (void)cr;
  ltl_task *t = b->waiter;
  if (t && t->gen == b->waiter_gen) {
    b->waiter = NULL;
    ltl_timer_stop(t);
    ltl_wake(t, 0);
  }
}

static void on_body_timeout(uv_timer_t *h) {
  ltl_task *t = h->data;
  cbody *b = t->op;
  b->waiter = NULL;
  b->timed_out = 1;
  ltl_wake(t, 0);
}

static void cancel_body_wait(ltl_task *t) {
  cbody *b = t->op;
  ltl_timer_stop(t);
  b->waiter = NULL;
  if (b->cr)
    lt_creq_on_body(b->cr, NULL, NULL);
}

/* body:_read(max, timeout) -> up to max bytes (all that is in when max is
 * nil), "" at the end, or nil and "ENAME: ..." on an error. In a task it
 * waits for bytes and returns nothing when woken: the caller asks again
 * (no continuation, so every Lua runtime can wait here). */
static int l_body_read(lua_State *L) {
  cbody *b = luaL_checkudata(L, 1, BODY);
  lua_Integer max = luaL_optinteger(L, 2, 0);
  double timeout = luaL_optnumber(L, 3, 0);
  lt_creq *cr = b->cr;
  if (!cr)
    return luaL_error(L, "content:read: attempt to read a released response");
  size_t n;
  const char *p = lt_creq_body_peek(cr, &n);
  if (n) {
    if (max > 0 && (size_t)max < n)
      n = (size_t)max;
    lua_pushlstring(L, p, n);
    lt_creq_body_take(cr, n);
    return 1;
  }
  if (cr->complete) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (cr->body_error)
    return ltl_fail(L, cr->body_error, b->where);
  if (b->timed_out) {
    b->timed_out = 0;
    return ltl_fail(L, UV_ETIMEDOUT, b->where);
  }
  if (b->waiter)
    return luaL_error(L, "content:read: another task is already reading this response");
  ltl_task *t = ltl_need_task(L, "content:read");
  b->waiter = t;
  b->waiter_gen = t->gen;
  lt_creq_on_body(cr, on_body, b);
  if (timeout > 0)
    ltl_timer_start(t, timeout, on_body_timeout);
  return ltl_wait(L, t, "content:read (the server has not sent more)", cancel_body_wait, b);
}

/* body:release(): lets go of the request; a body not read to its end
 * takes its connection with it (it cannot be reused). */
static int l_body_release(lua_State *L) {
  cbody *b = luaL_checkudata(L, 1, BODY);
  if (b->cr) {
    lt_creq_free(b->cr);
    b->cr = NULL;
  }
  return 0;
}

/* body:done() -> whether all of the body was read. */
static int l_body_done(lua_State *L) {
  cbody *b = luaL_checkudata(L, 1, BODY);
  size_t n = 0;
  if (b->cr)
    lt_creq_body_peek(b->cr, &n);
  lua_pushboolean(L, !b->cr || (b->cr->complete && n == 0));
  return 1;
}

static lclient *check_open(lua_State *L, const char *call) {
  return ltl_box_check(L, 1, CLIENT, call);
}

/* Appends s to dst (cap bytes, NUL-terminated) at `at`, truncating as
 * snprintf does; returns the new length. */
static size_t put_str(char *dst, size_t cap, size_t at, const char *s) {
  while (*s && at + 1 < cap)
    dst[at++] = *s++;
  dst[at] = '\0';
  return at;
}

/* Builds and sends a request from the arguments method, host, port, target
 * and headers (2 to 6) of client:request and client:upload; *out is the
 * operation, waited on by the running task. */
static int start_request(lua_State *L, const char *call, int upload, int tls_idx, op **out) {
  lclient *lc = check_open(L, call);
  const char *method = luaL_checkstring(L, 2);
  const char *host = luaL_checkstring(L, 3);
  int port = (int)luaL_checkinteger(L, 4);
  const char *target = luaL_checkstring(L, 5);
  size_t blen = 0;
  const char *body = upload || lua_isnoneornil(L, 7) ? NULL : luaL_checklstring(L, 7, &blen);
  ltl_task *t = ltl_need_task(L, call);
  lt_tls_ctx *tls = NULL;
  if (!lua_isnoneornil(L, tls_idx)) {
    char err[256];
    if (!(tls = tls_ctx_for(lc, L, tls_idx, err, sizeof err)))
      return luaL_error(L, "%s: ssl: %s", call, err);
  }
  lt_creq *cr = lt_creq_new(lc->cl, method, host, port, target);
  if (!cr)
    return luaL_error(L, "%s: out of memory", call);
  lt_creq_tls(cr, tls);
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
        return luaL_error(L, "%s: header %s cannot be sent: %s", call, name ? name : "?",
                          lt_strerror(r));
      }
      lua_pop(L, 2);
    }
  }
  /* The body string stays on this task's stack while it waits, so the
   * request can send it without a copy. */
  if (upload)
    lt_creq_body_stream(cr);
  else if (body)
    lt_creq_body_borrowed(cr, body, blen);
  else
    lt_creq_body(cr, NULL, 0);
  op *o = calloc(1, sizeof *o);
  if (!o) {
    lt_creq_free(cr);
    return luaL_error(L, "%s: out of memory", call);
  }
  o->cr = cr;
  o->t = t;
  /* (as snprintf would write them, truncated; it costs more per request
   * than the rest of this function) */
  char port_s[24];
  size_t n = 0;
  if (port < 0)
    port_s[n++] = '-';
  n += lt_fmt_uint(port_s + n, port < 0 ? 0U - (unsigned)port : (unsigned)port);
  port_s[n] = '\0';
  size_t at = put_str(o->where, sizeof o->where, 0, host);
  at = put_str(o->where, sizeof o->where, at, ":");
  put_str(o->where, sizeof o->where, at, port_s);
  char verb[16];
  size_t i = 0;
  for (; method[i] && i < sizeof verb - 1; i++)
    verb[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
  verb[i] = '\0';
  at = put_str(o->what, sizeof o->what, 0, "client:");
  at = put_str(o->what, sizeof o->what, at, verb);
  at = put_str(o->what, sizeof o->what, at, "(\"");
  at = put_str(o->what, sizeof o->what, at, target);
  put_str(o->what, sizeof o->what, at, "\")");
  *out = o;
  return lt_creq_send(cr, on_response, o);
}

static int response_results(ltl_task *t, void *o) {
  return finish_request(t->co, o);
}

/* Waits for o's response (the results of finish_request). */
static int wait_response(lua_State *L, op *o, double timeout, ltl_cancel_fn cancel) {
  if (o->done)
    return finish_request(L, o);
  if (timeout > 0)
    ltl_timer_start(o->t, timeout, on_timeout);
  return ltl_wait_for(L, o->t, o->what, cancel, o, response_results);
}

/* client:request(method, host, port, target, headers, body, timeout, stream,
 * decompress) -> response table, or nil and "ENAME: description
 * (host:port)"; with decompress, a gzip or deflate body is decoded.
 * headers is nil or a flat list {name, value, ...}; body nil or a string.
 * The table has the body, or with `stream` a body that came after the head
 * as `stream` (a ClientBody to read it from). */
static int l_request(lua_State *L) {
  double timeout = luaL_optnumber(L, 8, 0);
  int stream = lua_toboolean(L, 9);
  int decompress = lua_toboolean(L, 10);
  op *o = NULL;
  int r = start_request(L, "client:request", 0, 11, &o);
  o->stream = stream;
  o->cr->whole = !stream;
  o->cr->decompress = decompress; /* (the head cannot have come yet) */
  if (r) {
    o->status = r;
    return finish_request(L, o);
  }
  return wait_response(L, o, timeout, cancel_op);
}

/* ---- bodies written in pieces ---------------------------------------------------- */

#define UPLOAD "luatest.Upload"

typedef struct upload {
  op *o; /* NULL once the response was taken */
  int failed;
} upload;

/* client:upload(method, host, port, target, headers, decompress) -> Upload:
 * the request is sent with its head; its body goes in pieces
 * (upload:write), then upload:finish waits for the response. */
static int l_upload(lua_State *L) {
  int decompress = lua_toboolean(L, 7);
  lua_settop(L, 8);
  lua_remove(L, 7); /* (tls at 7) */
  upload *up = lua_newuserdatauv(L, sizeof *up, 0);
  memset(up, 0, sizeof *up);
  luaL_setmetatable(L, UPLOAD);
  op *o = NULL;
  int r = start_request(L, "client:upload", 1, 7, &o);
  o->stream = 1;
  o->cr->decompress = decompress;
  o->up = up;
  up->o = o;
  if (r) {
    o->status = r;
    o->done = 1;
  }
  return 1;
}

static void on_upload_drained(lt_creq *cr, void *ud) {
  ltl_task *t = ud;
  (void)cr;
  ltl_timer_stop(t);
  lua_pushboolean(t->co, 1);
  ltl_wake(t, 1);
}

static void on_upload_timeout(uv_timer_t *h) {
  ltl_task *t = h->data;
  upload *up = t->op;
  if (up->o)
    lt_creq_on_drain(up->o->cr, NULL, NULL);
  lua_pushnil(t->co);
  lua_pushliteral(t->co, "ETIMEDOUT: timed out");
  ltl_wake(t, 2);
}

static void cancel_write_wait(ltl_task *t) {
  upload *up = t->op;
  ltl_timer_stop(t);
  if (up->o)
    lt_creq_on_drain(up->o->cr, NULL, NULL);
}

/* upload:write(data, timeout) -> true, or false when the request ended (its
 * response came, or it failed: finish says which), or nil and "ETIMEDOUT".
 * Waits while more than the high-water mark is still to go out. */
static int l_upload_write(lua_State *L) {
  upload *up = luaL_checkudata(L, 1, UPLOAD);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  double timeout = luaL_optnumber(L, 3, 0);
  if (!up->o)
    return luaL_error(L, "upload:write: the request is finished");
  op *o = up->o;
  if (o->done || lt_creq_write(o->cr, data, len)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  ltl_task *t = ltl_current(L);
  if (t && lua_isyieldable(L) && lt_creq_write_blocked(o->cr)) {
    lt_creq_on_drain(o->cr, on_upload_drained, t);
    if (timeout > 0)
      ltl_timer_start(t, timeout, on_upload_timeout);
    return ltl_wait(L, t, "upload:write (the server is not reading)", cancel_write_wait, up);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* upload:finish(timeout) -> the response table (streaming), or nil and a
 * message, as client:request. */
static int l_upload_finish(lua_State *L) {
  upload *up = luaL_checkudata(L, 1, UPLOAD);
  double timeout = luaL_optnumber(L, 2, 0);
  if (!up->o)
    return luaL_error(L, "upload:finish: the request is finished");
  op *o = up->o;
  up->o = NULL;
  o->up = NULL;
  o->t = ltl_need_task(L, "upload:finish");
  if (!o->done)
    lt_creq_write_end(o->cr);
  lua_settop(L, 1);
  return wait_response(L, o, timeout, cancel_op);
}

static int l_upload_gc(lua_State *L) {
  upload *up = luaL_checkudata(L, 1, UPLOAD);
  if (up->o) {
    lt_creq_free(up->o->cr);
    free(up->o);
    up->o = NULL;
  }
  return 0;
}

static const luaL_Reg upload_methods[] = {
    {"write", l_upload_write},
    {"finish", l_upload_finish},
    {NULL, NULL},
};

static const luaL_Reg upload_meta[] = {
    {"__gc", l_upload_gc},
    {"__close", l_upload_gc},
    {NULL, NULL},
};

static int l_client(lua_State *L) {
  ltl_state *S = ltl_S(L);
  lclient *lc = calloc(1, sizeof *lc);
  if (!lc || !(lc->cl = lt_client_new(S->loop))) {
    free(lc);
    return luaL_error(L, "client: out of memory");
  }
  ltl_box_new(L, CLIENT, 0, &lc->o, "client");
  return 1;
}

static void on_closed(lt_client *cl, void *ud) {
  lclient *lc = ud;
  (void)cl;
  ltl_object_closed(&lc->o);
  free(lc);
}

static void start_close(lua_State *L, ltl_object *o) {
  lclient *lc = (lclient *)o;
  ltl_object_closing(L, o);
  lt_client_close(lc->cl, on_closed, lc);
}

static int l_close(lua_State *L) {
  return ltl_box_close(L, CLIENT, start_close, "client:close");
}

static int l_gc(lua_State *L) {
  return ltl_box_gc(L, CLIENT, start_close);
}

static int l_closed(lua_State *L) {
  return ltl_box_closed(L, CLIENT);
}

static int l_stats(lua_State *L) {
  lclient *lc = ltl_box_get(L, 1, CLIENT);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, lc ? (lua_Integer)lc->cl->connects : 0);
  lua_setfield(L, -2, "connects");
  return 1;
}

static const luaL_Reg methods[] = {
    {"request", l_request}, {"upload", l_upload}, {"close", l_close},
    {"closed", l_closed},   {"stats", l_stats},   {NULL, NULL},
};

static const luaL_Reg meta[] = {
    {"__gc", l_gc},
    {"__close", l_gc},
    {NULL, NULL},
};

static const luaL_Reg body_methods[] = {
    {"_read", l_body_read},
    {"release", l_body_release},
    {"done", l_body_done},
    {NULL, NULL},
};

static const luaL_Reg body_meta[] = {
    {"__gc", l_body_release},
    {"__close", l_body_release},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"client", l_client},
    {NULL, NULL},
};

void ltl_open_client(lua_State *L) {
  ltl_newclass(L, CLIENT, meta, methods);
  ltl_newclass(L, BODY, body_meta, body_methods);
  ltl_newclass(L, UPLOAD, upload_meta, upload_methods);
  ltl_setfuncs(L, funcs);
}
