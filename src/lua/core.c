/* The luatest.core module and the embedding entry points: lt_openlibs makes
 * the embedded Lua modules requirable, lt_run is the command line, lt_poll a
 * non-blocking loop turn for a host's frame loop. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "coding.h"
#include "http.h"
#include "tls.h"
#include "lclient.h"
#include "lcoverage.h"
#include "lfswatch.h"
#include "ljson.h"
#include "lloop.h"
#include "lprobe.h"
#include "lproxy.h"
#include "lrequest.h"
#include "lrouter.h"
#include "lserver.h"
#include "lws.h"
#include "runtime.h"
#include "url.h"
#include "ws.h"

typedef struct lt_embedded_module {
  const char *name;
  const char *chunkname;
  const char *source;
  size_t len;
} lt_embedded_module;

extern const lt_embedded_module lt_embedded_modules[];

/* core.urlencode(s, form) */
static int l_urlencode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lt_buf b = {0};
  if (lt_url_encode(&b, s, n, lua_toboolean(L, 2))) {
    lt_buf_free(&b);
    return luaL_error(L, "urlencode: out of memory");
  }
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  lt_buf_free(&b);
  return 1;
}

/* core.urldecode(s, plus_is_space) -> string, or nil and a message. */
static int l_urldecode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lt_buf b = {0};
  int r = lt_url_decode(&b, s, n, lua_toboolean(L, 2));
  if (r) {
    lt_buf_free(&b);
    return ltl_fail(L, r, "bad percent-encoding");
  }
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  lt_buf_free(&b);
  return 1;
}

static int add_pair(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  lua_State *L = ud;
  lua_Integer n = luaL_len(L, -1);
  lua_pushlstring(L, name, nlen);
  lua_rawseti(L, -2, n + 1);
  lua_pushlstring(L, value, vlen);
  lua_rawseti(L, -2, n + 2);
  return 0;
}

/* core.parse_qs(s) -> {name1, value1, ...}, or nil and a message. */
static int l_parse_qs(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_newtable(L);
  int r = lt_query_parse(s, n, add_pair, L);
  if (r)
    return ltl_fail(L, r, "bad percent-encoding");
  return 1;
}

/* core.tls_test_cert() -> certificate PEM, key PEM: the process's test
 * certificate (lt_tls_test_cert), made on first use. */
static int l_tls_test_cert(lua_State *L) {
  const char *cert, *key;
  int r = lt_tls_test_cert(&cert, &key);
  if (r)
    return luaL_error(L, "tls_test_cert: %s", lt_strerror(r));
  lua_pushstring(L, cert);
  lua_pushstring(L, key);
  return 2;
}

/* core.tls_spki_sha256(pem) -> the base64 SHA-256 of its public key. */
static int l_tls_spki_sha256(lua_State *L) {
  char out[64];
  if (lt_tls_spki_sha256(luaL_checkstring(L, 1), out, sizeof out))
    return luaL_error(L, "tls_spki_sha256: not a PEM certificate");
  lua_pushstring(L, out);
  return 1;
}

/* core.error_text(status[, reason]) -> "404: Not Found", the wording of
 * every error answer (lt_error_text). */
static int l_error_text(lua_State *L) {
  char text[256];
  int status = (int)luaL_checkinteger(L, 1);
  lt_error_text(status, luaL_optstring(L, 2, NULL), text, sizeof text);
  lua_pushstring(L, text);
  return 1;
}

/* core.hash64(s) -> 16 hex digits: lt_hash64 of the string. */
static int l_hash64(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  uint64_t h = lt_hash64(s, n);
  char hex[17];
  for (int i = 15; i >= 0; i--, h >>= 4)
    hex[i] = "0123456789abcdef"[h & 15];
  lua_pushlstring(L, hex, 16);
  return 1;
}

/* core.funcinfo(fn) -> linedefined, nparams (nil where the runtime's C
 * API does not tell it: 5.1 and LuaJIT), "C" for a C function: what
 * debug.getinfo(fn, "Su") says, without building its table (the runner asks
 * for every test). */
static int l_funcinfo(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_Debug ar;
  lua_pushvalue(L, 1);
#if LUA_VERSION_NUM >= 502
  lua_getinfo(L, ">Su", &ar);
#else
  lua_getinfo(L, ">S", &ar);
#endif
  lua_pushinteger(L, ar.linedefined);
#if LUA_VERSION_NUM >= 502 && !defined(LUAJIT_VERSION)
  lua_pushinteger(L, ar.nparams);
#else
  lua_pushnil(L);
#endif
  lua_pushstring(L, ar.what);
  return 3;
}

/* core.runtime_id() -> the exact Lua runtime this was built for ("Lua
 * 5.4.4", "LuaJIT 2.1.0-beta3"): what compiled chunks are valid for. */
static int l_runtime_id(lua_State *L) {
#ifdef LUAJIT_VERSION
  lua_pushliteral(L, LUAJIT_VERSION);
#else
  lua_pushliteral(L, LUA_RELEASE);
#endif
  return 1;
}

static int l_status_reason(lua_State *L) {
  lua_pushstring(L, lt_status_reason((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* core.rawfields(t, k1, k2, ...) -> rawget(t, k1), rawget(t, k2), ...: one
 * call where the answer to every request would make several (under PUC Lua
 * a call to a C function costs more than the lookups it does). Nothing when
 * t is not a table. */
static int l_rawfields(lua_State *L) {
  if (!lua_istable(L, 1))
    return 0;
  int n = lua_gettop(L);
  for (int i = 2; i <= n; i++) {
    lua_pushvalue(L, i);
    lua_rawget(L, 1);
    lua_replace(L, i);
  }
  return n - 1;
}

/* core.unknown_key(t, allowed) -> the first key of t (in next's order) that
 * allowed[key] does not admit, nil when all are admitted, false when t is no
 * table: the option check of a constructor run for every request, in one
 * call instead of a loop of next calls. */
static int l_unknown_key(lua_State *L) {
  if (!lua_istable(L, 1)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_settop(L, 2);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_gettable(L, 2);
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!ok)
      return 1;
  }
  lua_pushnil(L);
  return 1;
}

static int l_http_date(lua_State *L) {
  lua_pushstring(L, lt_loop_date(ltl_S(L)->loop));
  return 1;
}

/* core.listdir(path) -> { {name, "file"|"dir"|"other"}, ... } sorted by
 * name, or nil and a message. */
static int l_listdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int r = uv_fs_scandir(NULL, &req, path, 0, NULL);
  if (r < 0) {
    uv_fs_req_cleanup(&req);
    return ltl_fail(L, r, path);
  }
  uv_dirent_t ent;
  lua_newtable(L);
  int i = 0;
  while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
    lua_createtable(L, 2, 0);
    lua_pushstring(L, ent.name);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, ent.type == UV_DIRENT_DIR    ? "dir"
                      : ent.type == UV_DIRENT_FILE ? "file"
                                                   : "other");
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, ++i);
  }
  uv_fs_req_cleanup(&req);
  return 1;
}

/* core.stat(path) -> "file" | "dir" | "other", size, mtime (seconds),
 * mtime's nanoseconds, or nil and a message. The nanoseconds are a separate
 * number because seconds * 1e9 does not fit a double, which is all 5.1 and
 * LuaJIT have. */
static int l_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int r = uv_fs_stat(NULL, &req, path, NULL);
  if (r < 0) {
    uv_fs_req_cleanup(&req);
    return ltl_fail(L, r, path);
  }
  uint64_t mode = req.statbuf.st_mode;
  lua_pushstring(L, S_ISDIR(mode) ? "dir" : S_ISREG(mode) ? "file" : "other");
  lua_pushinteger(L, (lua_Integer)req.statbuf.st_size);
  lua_pushinteger(L, (lua_Integer)req.statbuf.st_mtim.tv_sec);
  lua_pushinteger(L, (lua_Integer)req.statbuf.st_mtim.tv_nsec);
  uv_fs_req_cleanup(&req);
  return 4;
}

/* core.isatty(fd) */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, uv_guess_handle((int)luaL_checkinteger(L, 1)) == UV_TTY);
  return 1;
}

/* core.exepath() -> the running executable's absolute path, or nil and a
 * message. */
static int l_exepath(lua_State *L) {
  char path[4096];
  size_t n = sizeof path;
  int r = uv_exepath(path, &n);
  if (r < 0)
    return ltl_fail(L, r, "exepath");
  lua_pushlstring(L, path, n);
  return 1;
}

/* core.setenv(name, value) sets a variable of the process environment, or
 * removes it when value is nil, so that child processes see the change;
 * true, or nil and a message. */
static int l_setenv(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *value = luaL_optstring(L, 2, NULL);
  int r = value ? uv_os_setenv(name, value) : uv_os_unsetenv(name);
  if (r < 0)
    return ltl_fail(L, r, name);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.chdir(path) -> true, or nil and a message. */
static int l_chdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int r = uv_chdir(path);
  if (r < 0)
    return ltl_fail(L, r, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.cwd() -> the current directory, or nil and a message. */
static int l_cwd(lua_State *L) {
  char path[4096];
  size_t n = sizeof path;
  int r = uv_cwd(path, &n);
  if (r < 0)
    return ltl_fail(L, r, "cwd");
  lua_pushlstring(L, path, n);
  return 1;
}

/* core.mkdtemp(template) -> the path of a new directory made from template
 * (ending in XXXXXX), or nil and a message. */
static int l_mkdtemp(lua_State *L) {
  const char *tpl = luaL_checkstring(L, 1);
  uv_fs_t req;
  int r = uv_fs_mkdtemp(NULL, &req, tpl, NULL);
  if (r < 0) {
    uv_fs_req_cleanup(&req);
    return ltl_fail(L, r, tpl);
  }
  lua_pushstring(L, req.path);
  uv_fs_req_cleanup(&req);
  return 1;
}

/* core.mkdir(path) -> true (also when it is there already), or nil and a
 * message: one directory, without a shell. */
static int l_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int r = uv_fs_mkdir(NULL, &req, path, 0777, NULL);
  uv_fs_req_cleanup(&req);
  if (r < 0 && r != UV_EEXIST)
    return ltl_fail(L, r, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.compress(body, "gzip" | "deflate") -> the body in that coding. */
static int l_compress(lua_State *L) {
  size_t n;
  const char *body = luaL_checklstring(L, 1, &n);
  const char *name = luaL_checkstring(L, 2);
  int coding = lt_coding_of(name);
  if (coding == LT_CODING_NONE)
    return luaL_error(L, "compress: unknown coding '%s' (gzip or deflate)", name);
  lt_buf out = {0};
  if (lt_deflate_body(coding, body, n, &out)) {
    lt_buf_free(&out);
    return luaL_error(L, "compress: out of memory");
  }
  lua_pushlstring(L, out.data, out.len);
  lt_buf_free(&out);
  return 1;
}

/* core.libpath() -> the file luatest's code was loaded from: core.so (or
 * libluatest.so) for a module a host required, the binary itself when it
 * is linked in. */
static int l_libpath(lua_State *L) {
  Dl_info info;
  if (!dladdr((void *)&l_libpath, &info) || !info.dli_fname)
    return ltl_fail(L, UV_ENOENT, "dladdr");
  char real[4096];
  lua_pushstring(L, realpath(info.dli_fname, real) ? real : info.dli_fname);
  return 1;
}

/* core.versions() -> { {name, version}, ... }: luatest, its Lua runtime and
 * the libraries as they run (llhttp is compiled in). */
static int l_versions(lua_State *L) {
  const char *lua_release = LUA_RELEASE;
  const char *pairs[][2] = {
      {"luatest", LT_VERSION},
      {"Lua", strchr(lua_release, ' ') + 1},
      {"libuv", uv_version_string()},
      {"llhttp", lt_parser_version()},
      {"libwebsockets", lt_ws_library_version()},
  };
  size_t n = sizeof pairs / sizeof pairs[0];
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 2, 0);
    lua_pushstring(L, pairs[i][0]);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, pairs[i][1]);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* core.hrtime() -> seconds from an arbitrary start, with ns resolution. */
static int l_hrtime(lua_State *L) {
  lua_pushnumber(L, (double)uv_hrtime() / 1e9);
  return 1;
}

static const luaL_Reg util_funcs[] = {
    {"listdir", l_listdir},
    {"stat", l_stat},
    {"isatty", l_isatty},
    {"hrtime", l_hrtime},
    {"urlencode", l_urlencode},
    {"urldecode", l_urldecode},
    {"parse_qs", l_parse_qs},
    {"status_reason", l_status_reason},
    {"hash64", l_hash64},
    {"funcinfo", l_funcinfo},
    {"runtime_id", l_runtime_id},
    {"rawfields", l_rawfields},
    {"unknown_key", l_unknown_key},
    {"error_text", l_error_text},
    {"tls_test_cert", l_tls_test_cert},
    {"tls_spki_sha256", l_tls_spki_sha256},
    {"http_date", l_http_date},
    {"exepath", l_exepath},
    {"versions", l_versions},
    {"libpath", l_libpath},
    {"compress", l_compress},
    {"setenv", l_setenv},
    {"chdir", l_chdir},
    {"cwd", l_cwd},
    {"mkdtemp", l_mkdtemp},
    {"mkdir", l_mkdir},
    {NULL, NULL},
};

/* The runtime whose lua_* functions this module's calls reach: the object
 * that provides lua_pushnil, told apart by what only one runtime defines. */
static const char *runtime_loaded(void) {
  static const struct {
    const char *symbol, *runtime;
  } marks[] = {{"luaJIT_setmode", "LuaJIT"},
               {"lua_newuserdatauv", "Lua 5.4"},
               {"lua_rotate", "Lua 5.3"},
               {"lua_callk", "Lua 5.2"}};
  Dl_info api, mark;
  void *pushnil = dlsym(RTLD_DEFAULT, "lua_pushnil");
  if (!pushnil || !dladdr(pushnil, &api))
    return NULL;
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
    void *p = dlsym(RTLD_DEFAULT, marks[i].symbol);
    if (p && dladdr(p, &mark) && mark.dli_fbase == api.dli_fbase)
      return marks[i].runtime;
  }
  return "Lua 5.1";
}

#if defined(LUAJIT_VERSION)
#define BUILT_FOR "LuaJIT"
#else
#define BUILT_FOR LUA_VERSION
#endif

int luaopen_luatest_core(lua_State *L) {
  /* A module built for another runtime would crash on its first call that
   * differs. Our own calls are bound to the runtime we were built for
   * (Debian versions the symbols), so the error goes through the loaded
   * runtime's lua_pushstring and lua_error, the same in every version. */
  const char *loaded = runtime_loaded();
  if (loaded && strcmp(loaded, BUILT_FOR)) {
    char msg[160];
    snprintf(msg, sizeof msg, "luatest.core was built for %s (%s), this is %s", BUILT_FOR,
             LTC_RUNTIME, loaded);
    void (*push)(lua_State *, const char *) =
        (void (*)(lua_State *, const char *))dlsym(RTLD_DEFAULT, "lua_pushstring");
    int (*raise)(lua_State *) = (int (*)(lua_State *))dlsym(RTLD_DEFAULT, "lua_error");
    if (push && raise) {
      push(L, msg);
      return raise(L);
    }
    fprintf(stderr, "%s\n", msg);
    abort();
  }
  ltl_open_runtime(L);
  lua_newtable(L);
  ltl_open_loop(L);
  ltl_open_request(L);
  ltl_open_router(L);
  ltl_open_server(L);
  ltl_open_client(L);
  ltl_open_probe(L);
  ltl_open_proxy(L);
  ltl_open_ws(L);
  ltl_open_json(L);
  ltl_open_coverage(L);
  ltl_open_fswatch(L);
  ltl_setfuncs(L, util_funcs);
  lua_pushliteral(L, LT_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, lt_internal_error_text);
  lua_setfield(L, -2, "internal_error_text");
#ifdef LT_MULTIARCH
  lua_pushliteral(L, LT_MULTIARCH);
  lua_setfield(L, -2, "multiarch");
#endif
#ifdef LT_SRCDIR
  lua_pushliteral(L, LT_SRCDIR);
  lua_setfield(L, -2, "srcdir");
#endif
  return 1;
}

static int load_embedded(lua_State *L) {
  const lt_embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, m->source, m->len, m->chunkname))
    return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

int lt_openlibs(lua_State *L) {
  ltc_pushpreload(L);
  lua_pushcfunction(L, luaopen_luatest_core);
  lua_setfield(L, -2, "luatest.core");
  for (const lt_embedded_module *m = lt_embedded_modules; m->name; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  return 0;
}

static int traceback(lua_State *L) {
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

int lt_run(lua_State *L, int argc, char **argv) {
  lua_pushcfunction(L, traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luatest.runner");
  if (lua_pcall(L, 1, 1, handler)) {
    fprintf(stderr, "luatest: %s\n", lua_tostring(L, -1));
    lua_settop(L, handler - 1);
    return 2;
  }
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  if (lua_pcall(L, 1, 1, handler)) {
    fprintf(stderr, "luatest: internal error: %s\n", lua_tostring(L, -1));
    lua_settop(L, handler - 1);
    return 2;
  }
  int rc = (int)lua_tointeger(L, -1);
  lua_settop(L, handler - 1);
  return rc;
}

lt_loop *lt_loop_of(lua_State *L) {
  ltl_state *S = ltl_state_of(L);
  return S ? S->loop : NULL;
}

int lt_poll(lua_State *L) {
  ltl_state *S = ltl_state_of(L);
  return S && S->loop ? lt_loop_step(S->loop, 0) : 0;
}
