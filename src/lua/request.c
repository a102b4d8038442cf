/* The Request userdata: the core request's fields read straight from C, user
 * data and lazily built fields (headers, query, match_info) in a uservalue
 * table, and the rest from the Lua class that luatest.web registers. */
#include <stdlib.h>
#include <string.h>
#include "lrequest.h"
#include "lws.h"
#include "multipart.h"
#include "runtime.h"
#include "server.h"

#define REQUEST "luatest.Request"

typedef struct lreq {
  lt_request *req;
} lreq;

/* Names that are fields: assigning to them is an error. */
static const char *const fields[] = {
    "content",        "method",        "path",        "raw_path",
    "query_string",   "path_qs",       "version",     "keep_alive",
    "content_length", "can_read_body", "body_exists", "host",
    "scheme",         "secure",        "app",         "match_info",
    "query",          "headers",       "cookies",     "content_type",
    "charset",        "remote",        "url",         NULL};

/* The metatable is also kept in the registry under this address: found by
 * pointer, it costs less than luaL_checkudata's lookup by name, done for
 * every request and each of its method calls. */
static const char mt_key = 0;

static lreq *check_box(lua_State *L, int idx) {
  lreq *box = lua_touserdata(L, idx);
  if (box && lua_getmetatable(L, idx)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &mt_key);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (same)
      return box;
  }
  return luaL_checkudata(L, idx, REQUEST); /* (raises the usual error) */
}

void ltl_push_request(lua_State *L, lt_request *req, int app_idx) {
  app_idx = app_idx ? lua_absindex(L, app_idx) : 0;
  lreq *box = lua_newuserdatauv(L, sizeof *box, 2);
  box->req = req;
  lt_request_retain(req);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mt_key);
  lua_setmetatable(L, -2);
  if (app_idx) {
    lua_pushvalue(L, app_idx);
    lua_setiuservalue(L, -2, 1);
  }
}

/* check_box for this file's functions, which have the state as upvalue 1:
 * its metatable compared by address, cheaper than a registry lookup, for
 * the methods every request calls (and its finalizer). */
static lreq *self_box(lua_State *L) {
  lreq *box = lua_touserdata(L, 1);
  if (box && lua_getmetatable(L, 1)) {
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (mt == ltl_S(L)->request_mt)
      return box;
  }
  return check_box(L, 1);
}

lt_request *ltl_check_request(lua_State *L, int idx) {
  lreq *box = check_box(L, idx);
  return box->req;
}

static int l_gc(lua_State *L) {
  lreq *box = self_box(L);
  if (box->req) {
    lt_request_release(box->req);
    box->req = NULL;
  }
  return 0;
}

static int push_field(lua_State *L, lt_request *req, const char *k) {
  const lt_msg *m = &req->msg;
  switch (k[0]) {
  case 'm':
    if (!strcmp(k, "method"))
      return lua_pushstring(L, lt_request_method(req)), 1;
    break;
  case 'p':
    if (!strcmp(k, "path"))
      return lua_pushstring(L, lt_request_path(req)), 1;
    if (!strcmp(k, "path_qs")) {
      const char *url = lt_request_origin(req);
      const char *hash = strchr(url, '#');
      size_t n = hash ? (size_t)(hash - url) : strlen(url);
      lua_pushlstring(L, url, n);
      if (url[0] != '/') { /* an absolute-form target without a path */
        lua_pushliteral(L, "/");
        lua_insert(L, -2);
        lua_concat(L, 2);
      }
      return 1;
    }
    break;
  case 'r':
    if (!strcmp(k, "raw_path"))
      return lua_pushstring(L, lt_request_raw_path(req)), 1;
    if (!strcmp(k, "remote")) {
      if (req->remote[0])
        lua_pushstring(L, req->remote);
      else
        lua_pushnil(L);
      return 1;
    }
    break;
  case 'q':
    if (!strcmp(k, "query_string"))
      return lua_pushstring(L, lt_request_query_string(req)), 1;
    break;
  case 'v':
    if (!strcmp(k, "version"))
      return lua_pushfstring(L, "%d.%d", m->major, m->minor), 1;
    break;
  case 'k':
    if (!strcmp(k, "keep_alive"))
      return lua_pushboolean(L, req->keep_alive), 1;
    break;
  case 'c':
    if (!strcmp(k, "content_length")) {
      if (m->content_length < 0)
        lua_pushnil(L);
      else
        lua_pushinteger(L, (lua_Integer)m->content_length);
      return 1;
    }
    if (!strcmp(k, "can_read_body"))
      return lua_pushboolean(L, m->body.len > 0 || m->content_length > 0 || m->chunked), 1;
    break;
  case 'b':
    if (!strcmp(k, "body_exists"))
      return lua_pushboolean(L, m->body.len > 0 || m->content_length > 0 || m->chunked), 1;
    break;
  case 'h':
    if (!strcmp(k, "host")) {
      const char *h = lt_request_target_host(req);
      if (!h)
        h = lt_request_header(req, "Host");
      if (h)
        lua_pushstring(L, h);
      else
        lua_pushnil(L);
      return 1;
    }
    break;
  case 's':
    if (!strcmp(k, "scheme"))
      return lua_pushstring(L, req->scheme[0] ? req->scheme : "http"), 1;
    if (!strcmp(k, "secure"))
      return lua_pushboolean(L, !strcmp(req->scheme, "https")), 1;
    break;
  }
  return 0;
}

static int is_field(lua_State *L, const char *k) {
  for (int i = 0; fields[i]; i++)
    if (!strcmp(fields[i], k))
      return 1;
  /* Methods (C and Lua) are read-only too. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, (void *)fields);
  int found = lua_getfield(L, -1, k) != LUA_TNIL;
  lua_pop(L, 2);
  return found;
}

/* Fields the core parsed, then the one method table (C methods and those
 * web_request.lua adds), then cached fields and user data, then the Lua
 * properties of __props, computed once and cached. */
static int l_index(lua_State *L) {
  lreq *box = lua_touserdata(L, 1);
  lt_request *req = box->req;
  const char *k = lua_tostring(L, 2);
  if (k && lua_type(L, 2) == LUA_TSTRING) {
    if (push_field(L, req, k))
      return 1;
    if (!strcmp(k, "app")) {
      lua_getiuservalue(L, 1, 1);
      return 1;
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
      return 1;
    lua_pop(L, 1);
  }
  if (lua_getiuservalue(L, 1, 2) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
      return 1;
    lua_pop(L, 2);
  } else {
    lua_pop(L, 1);
  }
  if (lua_getfield(L, lua_upvalueindex(1), "__props") != LUA_TTABLE)
    return 0;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) == LUA_TNIL)
    return 1;
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 2);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return 1;
}

static int l_newindex(lua_State *L) {
  luaL_checkudata(L, 1, REQUEST);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (k && is_field(L, k))
    return luaL_error(L,
                      "request.%s: cannot assign to a field of the request (store your own "
                      "data under another key)",
                      k);
  if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 2);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

static int l_tostring(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  lua_pushfstring(L, "<Request %s %s >", lt_request_method(req), lt_request_raw_path(req));
  return 1;
}

/* ---- methods -------------------------------------------------------------------------- */

/* request:_body() -> the body as kept: all of it, or the first
 * client_max_size bytes of one that was too large (see _too_large);
 * luatest.web_request's read() checks first. */
static int l_body(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  size_t len;
  const char *body = lt_request_body(req, &len);
  lua_pushlstring(L, body, len);
  return 1;
}

/* request:_too_large() -> max_size, actual_size when the body reached the
 * limit (aiohttp's HTTPRequestEntityTooLarge arguments), else nothing. */
static int l_too_large(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  uint64_t actual;
  if (!lt_request_body_too_large(req, &actual))
    return 0;
  lua_pushinteger(L, (lua_Integer)req->max_body);
  lua_pushinteger(L, (lua_Integer)actual);
  return 2;
}

/* request:_max_body() -> client_max_size (0: none). */
static int l_max_body(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  lua_pushinteger(L, (lua_Integer)req->max_body);
  return 1;
}

/* request:_user_data() -> the table of user data and cached fields, or nil. */
static int l_user_data(lua_State *L) {
  ltl_check_request(L, 1);
  if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE)
    lua_pushnil(L);
  return 1;
}

/* request:_headers() -> { name1, value1, name2, value2, ... } in order. */
static int l_headers(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  const char *name, *value;
  lua_createtable(L, req->msg.nhdrs * 2, 0);
  for (int i = 0; lt_request_header_at(req, i, &name, &value); i++) {
    lua_pushstring(L, name);
    lua_rawseti(L, -2, 2 * i + 1);
    lua_pushstring(L, value);
    lua_rawseti(L, -2, 2 * i + 2);
  }
  return 1;
}

/* request:_match() -> { name = value, ... } */
static int l_match(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  lua_createtable(L, 0, req->nmatch);
  for (int i = 0; i < req->nmatch; i++) {
    lua_pushlstring(L, lt_request_str(req, req->match[i].value), req->match[i].value_len);
    lua_setfield(L, -2, lt_request_str(req, req->match[i].name));
  }
  return 1;
}

/* request:_query() -> { name1, value1, ... } or nil, error. */
static int l_query(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  const lt_pair *pairs;
  int n = lt_request_query_pairs(req, &pairs);
  if (n == LT_EPARSE) {
    lua_pushnil(L);
    lua_pushliteral(L, "bad percent-encoding in the query string");
    return 2;
  }
  if (n < 0)
    return ltl_fail(L, n, "query string");
  lua_createtable(L, n * 2, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, lt_request_str(req, pairs[i].name));
    lua_rawseti(L, -2, 2 * i + 1);
    lua_pushlstring(L, lt_request_str(req, pairs[i].value), pairs[i].value_len);
    lua_rawseti(L, -2, 2 * i + 2);
  }
  return 1;
}

/* request:_respond(status, reason, content_type, headers, body): sends the
 * answer. headers is nil or a flat list {name, value, ...}. Returns true, or
 * nil and a message (a header that cannot be sent, a closed connection). */
/* Fills req->resp from arguments 2-5 (status, reason, content type, flat
 * header list). Returns 0, or pushes nil and a message and returns 2. */
static int fill_response(lua_State *L, lt_request *req) {
  lt_response *resp = &req->resp;
  lt_response_reset(resp);
  lua_settop(L, 6);
  resp->status = (int)luaL_checkinteger(L, 2);
  int r = 0;
  const char *bad = NULL;
  if (!lua_isnil(L, 3) && (r = lt_response_reason(resp, luaL_checkstring(L, 3))))
    bad = "reason";
  if (!r && !lua_isnil(L, 4) &&
      (r = lt_response_header(resp, "Content-Type", luaL_checkstring(L, 4))))
    bad = "Content-Type";
  if (!r && lua_istable(L, 5)) {
    lua_Integer n = luaL_len(L, 5);
    for (lua_Integer i = 1; i + 1 <= n; i += 2) {
      lua_rawgeti(L, 5, i);
      lua_rawgeti(L, 5, i + 1);
      const char *name = luaL_tolstring(L, -2, NULL);
      const char *value = luaL_tolstring(L, -2, NULL);
      if ((r = lt_response_header(resp, name, value))) {
        bad = lua_pushfstring(L, "header '%s'", name);
        break;
      }
      lua_settop(L, 6);
    }
  }
  if (!r)
    return 0;
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s in the response %s", lt_errname(r), lt_strerror(r), bad);
  return 2;
}

static int answered(const lt_request *req) {
  return req->responded || req->resp.streaming;
}

/* true, or nil and the error naming what failed. */
static int push_status(lua_State *L, int r, const char *what) {
  if (r)
    return ltl_fail(L, r, what);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_respond(lua_State *L) {
  lt_request *req = self_box(L)->req;
  if (answered(req))
    return ltl_fail(L, LT_ESTATE, "the request was already answered");
  if (fill_response(L, req))
    return 2;
  size_t len = 0;
  const char *body = lua_isnil(L, 6) ? NULL : luaL_checklstring(L, 6, &len);
  if (body && lt_response_body(&req->resp, body, len))
    return ltl_fail(L, LT_ENOMEM, NULL);
  int r = lt_request_respond(req);
  return push_status(L, r, "sending the response");
}

/* request:_stream_start(status, reason, content_type, headers) sends the
 * head of a streamed answer; true, or nil and a message. */
static int l_stream_start(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  if (answered(req))
    return ltl_fail(L, LT_ESTATE, "the request was already answered");
  if (fill_response(L, req))
    return 2;
  int r = lt_request_stream_start(req);
  return push_status(L, r, "sending the response head");
}

static void on_drained(lt_request *req, void *ud) {
  ltl_task *t = ud;
  (void)req;
  lua_pushboolean(t->co, 1);
  ltl_wake(t, 1);
}

static void cancel_drain_wait(ltl_task *t) {
  lt_request_on_drain(t->op, NULL, NULL);
}

/* request:_stream_write(data): in a task, waits while the client has more
 * than the high-water mark of output still to take. */
static int l_stream_write(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int r = lt_request_stream_write(req, data, len);
  if (r)
    return ltl_fail(L, r, "writing the response body");
  ltl_task *t = ltl_current(L);
  if (t && lua_isyieldable(L) && lt_request_write_blocked(req)) {
    lt_request_on_drain(req, on_drained, t);
    return ltl_wait(L, t, "resp:write (the client is not reading)", cancel_drain_wait, req);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* request:_stream_end() */
static int l_stream_end(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  int r = lt_request_stream_end(req);
  return push_status(L, r, "ending the response");
}

static int push_part(void *ud, const char *head, size_t hlen, const char *data, size_t dlen) {
  lua_State *L = ud;
  lua_createtable(L, 0, 2);
  lua_pushlstring(L, head, hlen);
  lua_setfield(L, -2, "head");
  lua_pushlstring(L, data, dlen);
  lua_setfield(L, -2, "content");
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  return 0;
}

/* request:_multipart(boundary) -> { {head=, content=}, ... } straight from
 * the body buffer (each part copied once), or nil and what is malformed. */
static int l_multipart(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  size_t blen, len;
  const char *boundary = luaL_checklstring(L, 2, &blen);
  const char *body = lt_request_body(req, &len);
  const char *why = NULL;
  lua_newtable(L);
  if (lt_multipart_split(body, len, boundary, blen, push_part, L, &why)) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  return 1;
}

/* request:_set_app(app): the app a sub-application's route runs under. */
static int l_set_app(lua_State *L) {
  ltl_check_request(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

/* request:_answered() -> whether an answer was sent or started. */
static int l_answered(lua_State *L) {
  lt_request *req = self_box(L)->req;
  lua_pushboolean(L, answered(req));
  return 1;
}

/* core.mock_request(method, url, headers, body, version, closing, app,
 * client_max_size, remote, scheme) -> a Request with no connection, as the server would
 * have made it (lt_request_mock). headers is nil or a flat list {name,
 * value, ...}; version "1.1" or "1.0"; client_max_size 0 or nil: no limit. */
static int l_mock_request(lua_State *L) {
  lt_mock_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.method = luaL_checkstring(L, 1);
  spec.url = luaL_checklstring(L, 2, &spec.url_len);
  if (!lua_isnoneornil(L, 4))
    spec.body = luaL_checklstring(L, 4, &spec.body_len);
  spec.version = luaL_optstring(L, 5, "1.1");
  spec.closing = lua_toboolean(L, 6);
  lua_Integer max = luaL_optinteger(L, 8, 0);
  luaL_argcheck(L, max >= 0, 8, "make_mocked_request: client_max_size must be >= 0");
  spec.max_body = (size_t)max;
  spec.remote = luaL_optstring(L, 9, NULL);
  spec.scheme = luaL_optstring(L, 10, NULL);
  luaL_argcheck(L, !spec.scheme || strlen(spec.scheme) < sizeof((lt_request *)0)->scheme, 10,
                "request:clone: scheme too long");
  lua_settop(L, 10); /* (remote and scheme stay alive at 9 and 10) */
  int n = lua_istable(L, 3) ? (int)luaL_len(L, 3) / 2 : 0;
  lt_field *f = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *f, 0); /* 11 */
  lua_createtable(L, 2 * n, 0); /* 12: keeps the strings the fields point into */
  for (int i = 0; i < 2 * n; i++) {
    lua_rawgeti(L, 3, i + 1);
    size_t len;
    const char *str = luaL_tolstring(L, -1, &len);
    lua_rawseti(L, 12, i + 1);
    lua_pop(L, 1);
    if (i % 2 == 0)
      f[i / 2].name = str, f[i / 2].name_len = len;
    else
      f[i / 2].value = str, f[i / 2].value_len = len;
  }
  spec.headers = f;
  spec.nheaders = n;
  lt_request *req;
  int r = lt_request_mock(&spec, &req);
  if (r)
    return luaL_error(L, "make_mocked_request: %s (%s)", lt_strerror(r), spec.url);
  ltl_push_request(L, req, lua_isnil(L, 7) ? 0 : 7);
  lt_request_release(req); /* the userdata holds the only reference */
  return 1;
}

/* request:_set_match{name = value, ...} (mocked requests). */
static int l_set_match(lua_State *L) {
  lt_request *req = ltl_check_request(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  req->nmatch = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    size_t vl;
    const char *name = luaL_checkstring(L, -2);
    const char *value = luaL_tolstring(L, -1, &vl);
    if (lt_request_add_match(req, name, value, vl))
      return luaL_error(L, "make_mocked_request: too many match_info entries");
    lua_pop(L, 2);
  }
  return 0;
}

static const luaL_Reg methods[] = {
    {"_body", l_body},
    {"_too_large", l_too_large},
    {"_max_body", l_max_body},
    {"_user_data", l_user_data},
    {"_headers", l_headers},
    {"_match", l_match},
    {"_query", l_query},
    {"_respond", l_respond},
    {"_set_match", l_set_match},
    {"_stream_start", l_stream_start},
    {"_stream_write", l_stream_write},
    {"_stream_end", l_stream_end},
    {"_answered", l_answered},
    {"_set_app", l_set_app},
    {"_multipart", l_multipart},
    {NULL, NULL},
};

/* The Request class: one method table, kept in the registry for is_field
 * and given to Lua as core.Request, where web_request.lua adds the Lua
 * methods and __props. */
void ltl_open_request(lua_State *L) {
  luaL_newmetatable(L, REQUEST);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &mt_key);
  ltl_state *S = ltl_state_of(L);
  S->request_mt = lua_topointer(L, -1);
  ltl_push_state(L);
  lua_pushcclosure(L, l_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  ltl_setfuncs(L, methods);
  ltl_setfuncs(L, ltl_ws_request_methods);
  lua_newtable(L);
  lua_setfield(L, -2, "__props");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, (void *)fields);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "Request");
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_mock_request);
  lua_setfield(L, -2, "mock_request");
}
