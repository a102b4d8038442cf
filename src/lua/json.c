/* luatest.json in C: decoding is jansson's (Debian's libjansson), turned
 * into Lua values; encoding walks Lua values with the core's JSON writer.
 * Arrays carry one metatable (core.json_array_mt) both ways, so a decoded
 * `[]` re-encodes as `[]`; null is the light userdata NULL (cjson.null). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "json.h"
#include "ljson.h"
#include "runtime.h"

#define MAX_DEPTH 1000

static const char array_key;

static void push_array_mt(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
}

static int is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx))
    return 0;
  push_array_mt(L);
  int marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

/* ---- decode ---------------------------------------------------------------------------- */

static void push_json(lua_State *L, json_t *v) {
  luaL_checkstack(L, 4, "json.decode: nesting too deep");
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    lua_createtable(L, 0, (int)json_object_size(v));
    const char *key;
    size_t key_len;
    json_t *item;
    json_object_keylen_foreach(v, key, key_len, item) {
      lua_pushlstring(L, key, key_len);
      push_json(L, item);
      lua_rawset(L, -3);
    }
    break;
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(v);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      push_json(L, json_array_get(v, i));
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    push_array_mt(L);
    lua_setmetatable(L, -2);
    break;
  }
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    /* Exact in 5.3+; a double (exact up to 2^53) in LuaJIT and 5.1. */
    lua_pushinteger(L, (lua_Integer)json_integer_value(v));
    break;
  case JSON_REAL:
    lua_pushnumber(L, json_real_value(v));
    break;
  case JSON_TRUE:
    lua_pushboolean(L, 1);
    break;
  case JSON_FALSE:
    lua_pushboolean(L, 0);
    break;
  case JSON_NULL:
    lua_pushlightuserdata(L, NULL);
    break;
  }
}

/* The decoded tree, freed by the collector if building the Lua value
 * raises (out of memory). */
static int tree_gc(lua_State *L) {
  json_t **root = lua_touserdata(L, 1);
  if (*root)
    json_decref(*root);
  *root = NULL;
  return 0;
}

/* json_decode(s) -> value; raises "json.decode: <why> (line, column)". */
static int l_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  json_error_t err;
  size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
  json_t *v = json_loadb(s, n, flags, &err);
  /* An integer past 64 bits: the whole document's integers become
   * doubles rather than the document being refused. */
  if (!v && strstr(err.text, "too big"))
    v = json_loadb(s, n, flags | JSON_DECODE_INT_AS_REAL, &err);
  if (!v)
    return luaL_error(L, "json.decode: %s (line %d, column %d)", err.text, err.line, err.column);
  json_t **root = lua_newuserdatauv(L, sizeof *root, 0);
  *root = v;
  lua_newtable(L);
  lua_pushcfunction(L, tree_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  push_json(L, v);
  json_decref(v);
  *root = NULL;
  return 1;
}

/* ---- encode ---------------------------------------------------------------------------- */

typedef struct enc {
  lua_State *L;
  lt_buf out;
  int sort_keys;
  int indent;          /* spaces per level, or -1 for compact */
  int replace_invalid; /* bytes that are not UTF-8 become U+FFFD */
  char err[160];
  char err_tail[64]; /* after the path: "(JSON has no NaN or infinity)" */
  lt_buf path;       /* where the value that failed is: .items[2].name */
} enc;

/* Records why encoding stopped; where (the path) is added as the
 * recursion unwinds, so the common case builds no path at all. */
static int fail(enc *e, const char *why, const char *tail) {
  snprintf(e->err, sizeof e->err, "%s", why);
  snprintf(e->err_tail, sizeof e->err_tail, "%s", tail ? tail : "");
  return -1;
}

/* Puts the key at key_idx in front of the path of a failure below it. */
static void note_where(enc *e, int key_idx) {
  lua_State *L = e->L;
  char part[56];
  if (lua_type(L, key_idx) == LUA_TNUMBER) {
    snprintf(part, sizeof part, "[%.14g]", lua_tonumber(L, key_idx));
  } else if (lua_type(L, key_idx) == LUA_TSTRING) {
    size_t n;
    const char *k = lua_tolstring(L, key_idx, &n);
    snprintf(part, sizeof part, ".%.*s", (int)(n > 40 ? 40 : n), k);
  } else {
    snprintf(part, sizeof part, ".?");
  }
  size_t k = strlen(part);
  if (lt_buf_reserve(&e->path, k))
    return;
  if (!e->path.len)
    e->path.data[0] = '\0';
  memmove(e->path.data + k, e->path.data, e->path.len + 1);
  memcpy(e->path.data, part, k);
  e->path.len += k;
}

static int newline(enc *e, int depth) {
  if (e->indent < 0)
    return 0;
  if (lt_buf_append(&e->out, "\n", 1))
    return -1;
  for (int i = 0; i < depth * e->indent; i++)
    if (lt_buf_append(&e->out, " ", 1))
      return -1;
  return 0;
}

static int encode_value(enc *e, int idx, int depth);

static int put_number(enc *e, int idx) {
  lua_State *L = e->L;
  int r;
#if LUA_VERSION_NUM >= 503
  if (lua_isinteger(L, idx))
    r = lt_json_put_integer(&e->out, (long long)lua_tointeger(L, idx));
  else
    r = lt_json_put_double(&e->out, lua_tonumber(L, idx), 0);
#else
  /* One number type: a whole number is an integer. */
  r = lt_json_put_double(&e->out, lua_tonumber(L, idx), 1);
#endif
  if (r == LT_JSON_ENUMBER) {
    char why[64];
    snprintf(why, sizeof why, "cannot encode %s", lua_tostring(L, idx));
    return fail(e, why, "(JSON has no NaN or infinity)");
  }
  return r ? fail(e, "out of memory", NULL) : 0;
}

static int put_string(enc *e, const char *s, size_t n) {
  size_t bad = 0;
  int r = lt_json_put_string(&e->out, s, n, e->replace_invalid, &bad);
  if (r == LT_JSON_EUTF8) {
    char why[80];
    snprintf(why, sizeof why, "cannot encode a string that is not UTF-8 (byte %zu)", bad + 1);
    return fail(e, why, NULL);
  }
  return r ? fail(e, "out of memory", NULL) : 0;
}

/* A key as JSON has them: strings, and numbers and booleans as their text
 * (as Python's json does). */
static int put_key(enc *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return put_string(e, s, n);
  }
  case LUA_TNUMBER:
    if (lt_buf_append(&e->out, "\"", 1) || put_number(e, idx) || lt_buf_append(&e->out, "\"", 1))
      return -1;
    return 0;
  case LUA_TBOOLEAN:
    return lt_buf_puts(&e->out, lua_toboolean(L, idx) ? "\"true\"" : "\"false\"") ? -1 : 0;
  default: {
    char why[64];
    snprintf(why, sizeof why, "cannot encode a table with a %s key", luaL_typename(L, idx));
    return fail(e, why, NULL);
  }
  }
}

#define OOM(e) fail((e), "out of memory", NULL)

/* Whether the unmarked table at idx is an array, and how long: a sequence
 * 1..n (n > 0), as cjson and Python's lists; anything else is an object.
 * Every key is looked at: where a key lies in lua_next's order says
 * nothing of the keys after it ({[1] = "a", [3] = "c"} may end at 1). */
static lua_Integer sequence_length(lua_State *L, int idx) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return 0;
    }
    lua_Number k = lua_tonumber(L, -1);
    if (k < 1 || k != (lua_Number)(lua_Integer)k) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
    if ((lua_Integer)k > max)
      max = (lua_Integer)k;
  }
  return max == count ? count : 0;
}

/* A marked array's length: its largest positive integer key, holes (nil,
 * written as null) included, where `#` may stop at any of them. */
static lua_Integer array_length(lua_State *L, int idx) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -1);
      if (k > (lua_Number)n && k == (lua_Number)(lua_Integer)k)
        n = (lua_Integer)k;
    }
  }
  return n;
}

static int encode_array(enc *e, int idx, lua_Integer n, int depth) {
  lua_State *L = e->L;
  if (lt_buf_append(&e->out, "[", 1))
    return OOM(e);
  for (lua_Integer i = 1; i <= n; i++) {
    if ((i > 1 && lt_buf_append(&e->out, ",", 1)) || newline(e, depth + 1))
      return OOM(e);
    lua_rawgeti(L, idx, i);
    int r = encode_value(e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
    if (r) {
      lua_pushinteger(L, i);
      note_where(e, -1);
      lua_pop(L, 1);
      return r;
    }
  }
  if (n && newline(e, depth))
    return OOM(e);
  return lt_buf_append(&e->out, "]", 1) ? OOM(e) : 0;
}

typedef struct key_ref {
  const char *s;
  size_t n;
  int pos; /* index in the key list table */
} key_ref;

static int cmp_keys(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* One member: the key at `key`, its value at `value`. */
static int encode_member(enc *e, int key, int value, int *first, int depth) {
  if ((!*first && lt_buf_append(&e->out, ",", 1)) || newline(e, depth + 1))
    return OOM(e);
  *first = 0;
  if (put_key(e, key))
    return -1;
  if (lt_buf_puts(&e->out, e->indent >= 0 ? ": " : ":"))
    return OOM(e);
  int r = encode_value(e, value, depth + 1);
  if (r)
    note_where(e, key);
  return r;
}

static int encode_sorted(enc *e, int idx, int *first, int depth) {
  lua_State *L = e->L;
  /* The keys in a list (which keeps their strings alive), sorted by their
   * bytes; number and boolean keys sort by their text. */
  lua_newtable(L);
  int list = lua_gettop(L);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, list, ++n);
  }
  key_ref *keys = n ? malloc((size_t)n * sizeof *keys) : NULL;
  char(*texts)[32] = n ? malloc((size_t)n * sizeof *texts) : NULL;
  if (n && (!keys || !texts)) {
    free(keys);
    free(texts);
    lua_pop(L, 1);
    return OOM(e);
  }
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, list, i + 1);
    keys[i].pos = i + 1;
    if (lua_type(L, -1) == LUA_TSTRING) {
      keys[i].s = lua_tolstring(L, -1, &keys[i].n);
    } else {
      if (lua_type(L, -1) == LUA_TBOOLEAN)
        snprintf(texts[i], sizeof texts[i], "%s", lua_toboolean(L, -1) ? "true" : "false");
      else
        snprintf(texts[i], sizeof texts[i], "%.17g", lua_tonumber(L, -1));
      keys[i].s = texts[i];
      keys[i].n = strlen(texts[i]);
    }
    lua_pop(L, 1);
  }
  if (n)
    qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
  int r = 0;
  for (int i = 0; i < n && !r; i++) {
    lua_rawgeti(L, list, keys[i].pos);
    lua_pushvalue(L, -1);
    lua_rawget(L, idx);
    r = encode_member(e, lua_gettop(L) - 1, lua_gettop(L), first, depth);
    lua_pop(L, 2);
  }
  free(keys);
  free(texts);
  lua_pop(L, 1);
  return r;
}

static int encode_object(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  int first = 1;
  if (lt_buf_append(&e->out, "{", 1))
    return OOM(e);
  if (e->sort_keys) {
    if (encode_sorted(e, idx, &first, depth))
      return -1;
  } else {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      int top = lua_gettop(L);
      int r = encode_member(e, top - 1, top, &first, depth);
      lua_pop(L, 1);
      if (r) {
        lua_pop(L, 1);
        return r;
      }
    }
  }
  if (!first && newline(e, depth))
    return OOM(e);
  return lt_buf_append(&e->out, "}", 1) ? OOM(e) : 0;
}

static int encode_value(enc *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return lt_buf_append(&e->out, "null", 4) ? OOM(e) : 0;
  case LUA_TBOOLEAN:
    return lt_buf_puts(&e->out, lua_toboolean(L, idx) ? "true" : "false") ? OOM(e) : 0;
  case LUA_TNUMBER:
    return put_number(e, idx);
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return put_string(e, s, n);
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL)
      return lt_buf_append(&e->out, "null", 4) ? OOM(e) : 0;
    return fail(e, "cannot encode a light userdata other than json.null", NULL);
  case LUA_TTABLE: {
    if (depth >= MAX_DEPTH)
      return fail(e, "cannot encode tables nested more than 1000 deep (a cycle?)", NULL);
    if (!lua_checkstack(L, 8))
      return fail(e, "out of stack space", NULL);
    if (is_marked_array(L, idx))
      return encode_array(e, idx, array_length(L, idx), depth);
    lua_Integer n = sequence_length(L, idx);
    return n ? encode_array(e, idx, n, depth) : encode_object(e, idx, depth);
  }
  default: {
    char why[48];
    snprintf(why, sizeof why, "cannot encode a %s", luaL_typename(L, idx));
    return fail(e, why, NULL);
  }
  }
}

/* json_encode(v, {sort_keys =, indent =}) -> string; raises "json.encode:
 * cannot encode a function at .handlers[2]" and the like. */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  enc e;
  memset(&e, 0, sizeof e);
  e.L = L;
  e.indent = -1;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      if (!strcmp(k, "sort_keys")) {
        e.sort_keys = lua_toboolean(L, -1);
      } else if (!strcmp(k, "indent")) {
        if (!lua_isnil(L, -1)) {
          lua_Integer n = luaL_checkinteger(L, -1);
          if (n < 0 || n > 16)
            return luaL_error(L, "json.encode: indent must be 0 to 16 spaces");
          e.indent = (int)n;
        }
      } else if (!strcmp(k, "invalid_utf8")) {
        const char *v = lua_tostring(L, -1);
        if (!v || (strcmp(v, "error") && strcmp(v, "replace")))
          return luaL_error(L, "json.encode: invalid_utf8 must be \"error\" or \"replace\"");
        e.replace_invalid = !strcmp(v, "replace");
      } else {
        return luaL_error(L, "json.encode: unknown option '%s' (sort_keys, indent, invalid_utf8)",
                          k);
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, 1);
  int r = encode_value(&e, 1, 0);
  if (r) {
    lua_pushfstring(L, "json.encode: %s%s%s%s%s", e.err[0] ? e.err : "out of memory",
                    e.path.len ? " at " : "", e.path.len ? e.path.data : "",
                    e.err_tail[0] ? " " : "", e.err_tail);
    lt_buf_free(&e.out);
    lt_buf_free(&e.path);
    return lua_error(L);
  }
  lua_pushlstring(L, e.out.data ? e.out.data : "", e.out.len);
  lt_buf_free(&e.out);
  lt_buf_free(&e.path);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"json_encode", l_encode},
    {"json_decode", l_decode},
    {NULL, NULL},
};

void ltl_open_json(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_key);
  }
  lua_setfield(L, -2, "json_array_mt");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "json_null");
  ltl_setfuncs(L, funcs);
}
