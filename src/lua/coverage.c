/* Line counts for --coverage. The hook is C, not debug.sethook: a Lua hook
 * of PUC Lua is found through a table keyed by thread, so the threads the
 * loop creates for its tasks (lua_newthread) would inherit a hook that
 * finds no function. A C hook is inherited as it is, by task threads and
 * by the coroutines their code creates; LuaJIT's hook is global anyway.
 * The counts live in a registry table, {[file] = {[line] = hits}}, for the
 * chunks loaded from files ("@name"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lcoverage.h"
#include "runtime.h"

static const char hits_key = 'c';

/* The last file tables found, by the address of their chunk's source: a
 * line event then costs one strcmp rather than interning the name. The
 * copy guards against an address reused by another chunk's source. */
#define NCACHE 32
static struct {
  const char *src;
  char *copy;
  int ref;
} cache[NCACHE];

static void cache_clear(lua_State *L) {
  for (int i = 0; i < NCACHE; i++) {
    if (cache[i].src)
      luaL_unref(L, LUA_REGISTRYINDEX, cache[i].ref);
    free(cache[i].copy);
    cache[i].src = NULL;
    cache[i].copy = NULL;
  }
}

/* Pushes the file table of source src (created when new), or nothing and
 * returns 0 when coverage is not on. */
static int push_file_table(lua_State *L, const char *src) {
  size_t slot = ((uintptr_t)src >> 3) % NCACHE;
  if (cache[slot].src == src && strcmp(cache[slot].copy, src) == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, cache[slot].ref);
    return 1;
  }
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hits_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushstring(L, src + 1);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushstring(L, src + 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
  size_t n = strlen(src) + 1;
  char *copy = malloc(n);
  if (copy) {
    if (cache[slot].src)
      luaL_unref(L, LUA_REGISTRYINDEX, cache[slot].ref);
    free(cache[slot].copy);
    memcpy(copy, src, n);
    lua_pushvalue(L, -1);
    cache[slot].ref = luaL_ref(L, LUA_REGISTRYINDEX);
    cache[slot].copy = copy;
    cache[slot].src = src;
  }
  return 1;
}

static void line_hook(lua_State *L, lua_Debug *ar) {
  if (ar->event != LUA_HOOKLINE || ar->currentline < 1 || !lua_getinfo(L, "S", ar) ||
      ar->source[0] != '@')
    return;
  if (!push_file_table(L, ar->source))
    return;
  lua_rawgeti(L, -1, ar->currentline);
  lua_Integer hits = lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_pushinteger(L, hits + 1);
  lua_rawseti(L, -2, ar->currentline);
  lua_pop(L, 1);
}

/* Sets (on) or removes the hook on the caller's thread, the main thread
 * (which new task threads copy it from) and every task thread, idle ones
 * included; a hook that is not ours is left alone. */
static void set_hooks(lua_State *L, ltl_state *S, int on) {
  lua_State *threads[3] = {L, S->L, NULL};
  ltc_pushmainthread(L);
  threads[2] = lua_tothread(L, -1);
  lua_pop(L, 1);
  for (int i = 0; i < 3; i++) {
    if (!threads[i])
      continue;
    if (on)
      lua_sethook(threads[i], line_hook, LUA_MASKLINE, 0);
    else if (lua_gethook(threads[i]) == line_hook)
      lua_sethook(threads[i], NULL, 0, 0);
  }
  for (ltl_task *t = S->all; t; t = t->all_next) {
    if (on)
      lua_sethook(t->co, line_hook, LUA_MASKLINE, 0);
    else if (lua_gethook(t->co) == line_hook)
      lua_sethook(t->co, NULL, 0, 0);
  }
}

/* core.coverage_start(): counts the lines run from now on (a new count). */
static int l_coverage_start(lua_State *L) {
  cache_clear(L);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &hits_key);
  set_hooks(L, ltl_S(L), 1);
  return 0;
}

/* core.coverage_stop() -> {[file] = {[line] = hits}} counted since the
 * start (an empty table when coverage was not on). Coroutines that still
 * carry the hook find no table and count nothing. */
static int l_coverage_stop(lua_State *L) {
  set_hooks(L, ltl_S(L), 0);
  cache_clear(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hits_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &hits_key);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"coverage_start", l_coverage_start},
    {"coverage_stop", l_coverage_stop},
    {NULL, NULL},
};

void ltl_open_coverage(lua_State *L) {
  ltl_setfuncs(L, funcs);
}
