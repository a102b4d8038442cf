/* The one place that hides the differences between Lua 5.4, 5.3, LuaJIT 2.1
 * and 5.1 (in the spirit of compat-5.3): the bindings are written against
 * 5.4's API, and what an older runtime lacks is supplied here. */
#ifndef LT_LUA_COMPAT_H
#define LT_LUA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#ifdef LUA_JITLIBNAME
#include <luajit.h>
#endif

#if defined(LUAJIT_VERSION)
#define LTC_RUNTIME LUAJIT_VERSION
#elif LUA_VERSION_NUM >= 504
#define LTC_RUNTIME LUA_RELEASE
#else
#define LTC_RUNTIME LUA_VERSION
#endif

/* ---- 5.3 and older ------------------------------------------------------------ */

#if LUA_VERSION_NUM < 504

/* Several user values: kept in one table, the 5.3 user value or the 5.1
 * environment of the userdata. */
#if LUA_VERSION_NUM >= 502
#define ltc_getuvtable(L, i) lua_getuservalue((L), (i))
#define ltc_setuvtable(L, i) lua_setuservalue((L), (i))
#else
#define ltc_getuvtable(L, i) lua_getfenv((L), (i))
#define ltc_setuvtable(L, i) lua_setfenv((L), (i))
#endif

static inline void *ltc_newuserdatauv(lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdata(L, size);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
    ltc_setuvtable(L, -2);
  }
  return p;
}
#define lua_newuserdatauv ltc_newuserdatauv

static inline int ltc_getiuservalue(lua_State *L, int idx, int n) {
  ltc_getuvtable(L, idx);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return lua_type(L, -1);
}
#define lua_getiuservalue ltc_getiuservalue

static inline int ltc_setiuservalue(lua_State *L, int idx, int n) {
  int ud = idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
  ltc_getuvtable(L, ud);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 2);
    return 0;
  }
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, n);
  lua_pop(L, 2);
  return 1;
}
#define lua_setiuservalue ltc_setiuservalue

#if LUA_VERSION_NUM < 502
static inline int ltc_rest(lua_State *L) {
  return lua_gettop(L) - 1;
}

/* PUC 5.1 cannot resume a coroutine whose body is a C function that
 * yielded: the resume goes on into the Lua VM with no Lua function under
 * it, and crashes (coroutine.create refuses such bodies for that reason).
 * A task may have one (spawn(core.exec, ...)), so it starts inside a Lua
 * function that calls it, which the VM can resume. LuaJIT documents
 * yielding only from C functions that Lua called, so it gets the same. */
static inline int ltc_wrap_c_body(lua_State *co, int nargs) {
  static const char code[] = "local f = ... return f(rest(...))";
  lua_Debug ar;
  if (lua_status(co) != 0 || lua_getstack(co, 0, &ar) || !lua_iscfunction(co, -(nargs + 1)))
    return nargs;
  if (luaL_loadbuffer(co, code, sizeof code - 1, "=luatest")) {
    lua_pop(co, 1); /* out of memory: resume it as it is */
    return nargs;
  }
  lua_createtable(co, 0, 1);
  lua_pushcfunction(co, ltc_rest);
  lua_setfield(co, -2, "rest");
  lua_setfenv(co, -2);
  lua_insert(co, -(nargs + 2));
  return nargs + 1;
}
#endif

/* 5.4's resume reports how many values it left; before, that is the stack. */
static inline int ltc_resume(lua_State *co, lua_State *from, int nargs, int *nres) {
#if LUA_VERSION_NUM >= 502
  int status = lua_resume(co, from, nargs);
#else
  (void)from;
  int status = lua_resume(co, ltc_wrap_c_body(co, nargs));
#endif
  *nres = lua_gettop(co);
  return status;
}
#define lua_resume ltc_resume

/* Closing pending to-be-closed variables: there are none before 5.4. */
static inline int ltc_resetthread(lua_State *L) {
  (void)L;
  return 0;
}
#define lua_resetthread ltc_resetthread

#endif /* < 5.4 */

/* ---- 5.1 and LuaJIT --------------------------------------------------------- */

#if LUA_VERSION_NUM < 502

#ifndef LUA_OK
#define LUA_OK 0
#endif
#define LUA_LOADED_TABLE "_LOADED"

static inline int ltc_absindex(lua_State *L, int i) {
  return i > 0 || i <= LUA_REGISTRYINDEX ? i : lua_gettop(L) + i + 1;
}
#define lua_absindex ltc_absindex

/* 5.3's getters return the type of what they pushed. */
static inline int ltc_getfield(lua_State *L, int i, const char *k) {
  lua_getfield(L, i, k);
  return lua_type(L, -1);
}
#define lua_getfield ltc_getfield

static inline int ltc_rawget(lua_State *L, int i) {
  lua_rawget(L, i);
  return lua_type(L, -1);
}
#define lua_rawget ltc_rawget

static inline int ltc_rawgeti(lua_State *L, int i, lua_Integer n) {
  lua_rawgeti(L, i, (int)n);
  return lua_type(L, -1);
}
#define lua_rawgeti ltc_rawgeti

static inline int ltc_rawgetp(lua_State *L, int i, const void *p) {
  i = ltc_absindex(L, i);
  lua_pushlightuserdata(L, (void *)p);
  return ltc_rawget(L, i);
}
#define lua_rawgetp ltc_rawgetp

static inline void ltc_rawsetp(lua_State *L, int i, const void *p) {
  i = ltc_absindex(L, i);
  lua_pushlightuserdata(L, (void *)p);
  lua_insert(L, -2);
  lua_rawset(L, i);
}
#define lua_rawsetp ltc_rawsetp

static inline lua_Integer ltc_len(lua_State *L, int i) {
  return (lua_Integer)lua_objlen(L, i);
}
#define luaL_len ltc_len
#define lua_rawlen(L, i) lua_objlen((L), (i))

static inline int ltc_getsubtable(lua_State *L, int i, const char *name) {
  i = ltc_absindex(L, i);
  if (ltc_getfield(L, i, name) == LUA_TTABLE)
    return 1;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, i, name);
  return 0;
}
#define luaL_getsubtable ltc_getsubtable

/* tostring(v) as the base library does it, __tostring and __name aside. */
static inline const char *ltc_tolstring(lua_State *L, int i, size_t *len) {
  i = ltc_absindex(L, i);
  if (luaL_callmeta(L, i, "__tostring")) {
    if (!lua_isstring(L, -1))
      luaL_error(L, "'__tostring' must return a string");
  } else {
    switch (lua_type(L, i)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
      lua_pushvalue(L, i);
      lua_tostring(L, -1); /* numbers become strings in place */
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, i) ? "true" : "false");
      break;
    case LUA_TNIL:
      lua_pushliteral(L, "nil");
      break;
    default:
      lua_pushfstring(L, "%s: %p", luaL_typename(L, i), lua_topointer(L, i));
    }
  }
  return lua_tolstring(L, -1, len);
}
#define luaL_tolstring ltc_tolstring

/* The thread to make task threads from: the main thread where 5.2+ keeps
 * it in the registry; before, the thread that opened the module (anchored
 * by the caller). */
static inline void ltc_pushmainthread(lua_State *L) {
  lua_pushthread(L);
}

#else

static inline void ltc_pushmainthread(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
}

#endif /* < 5.2 */

/* ---- PUC 5.1 only (LuaJIT 2.1 has these) ------------------------------------- */

#if LUA_VERSION_NUM < 502 && !defined(LUAJIT_VERSION)

static inline void ltc_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name; l++) {
    for (int i = 0; i < nup; i++)
      lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs ltc_setfuncs

static inline lua_Number ltc_tonumberx(lua_State *L, int i, int *isnum) {
  if (isnum)
    *isnum = lua_isnumber(L, i);
  return lua_tonumber(L, i);
}
#define lua_tonumberx ltc_tonumberx

static inline void ltc_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#define luaL_setmetatable ltc_setmetatable

static inline void *ltc_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (!p || !lua_getmetatable(L, i))
    return NULL;
  luaL_getmetatable(L, tname);
  if (!lua_rawequal(L, -1, -2))
    p = NULL;
  lua_pop(L, 2);
  return p;
}
#define luaL_testudata ltc_testudata

/* In the words of 5.1's own debug.traceback, so a report reads as every
 * other traceback the runtime prints; a NULL msg gives no message line. */
static inline void ltc_traceback(lua_State *L, lua_State *L1, const char *msg, int level) {
  enum { FIRST = 12, LAST = 10 }; /* the levels shown before and after a "..." */
  lua_Debug ar;
  int top = lua_gettop(L), end = level;
  while (lua_getstack(L1, end, &ar))
    end++;
  if (msg) {
    lua_pushstring(L, msg);
    lua_pushliteral(L, "\n");
  }
  lua_pushliteral(L, "stack traceback:");
  for (int lv = level; lv < end; lv++) {
    if (end - level > FIRST + LAST && lv == level + FIRST) {
      lua_pushliteral(L, "\n\t...");
      lv = end - LAST - 1;
      continue;
    }
    lua_getstack(L1, lv, &ar);
    lua_getinfo(L1, "Snl", &ar);
    lua_pushfstring(L, "\n\t%s:", ar.short_src);
    if (ar.currentline > 0)
      lua_pushfstring(L, "%d:", ar.currentline);
    if (*ar.namewhat != '\0')
      lua_pushfstring(L, " in function '%s'", ar.name);
    else if (*ar.what == 'm')
      lua_pushliteral(L, " in main chunk");
    else if (*ar.what == 'C' || *ar.what == 't')
      lua_pushliteral(L, " ?");
    else
      lua_pushfstring(L, " in function <%s:%d>", ar.short_src, ar.linedefined);
    lua_concat(L, lua_gettop(L) - top);
  }
  lua_concat(L, lua_gettop(L) - top);
}
#define luaL_traceback ltc_traceback

/* Whether lua_yield would succeed here. 5.1's lua_yield refuses when a C
 * call stands between the running function and the resume (pcall, a
 * metamethod, a for iterator, a callback of sort or gsub: nCcalls >
 * baseCcalls in ldo.c), and nothing in its API asks. The two counters are
 * read through a copy of the head of 5.1.5's struct lua_State (lstate.h;
 * 5.1 is final, and so is its layout), checked against what the API says
 * of the same thread (its type, status and stack size): a runtime laid out
 * otherwise answers "no", and a waiting call then fails with its message
 * rather than yielding into an error. */
struct ltc_tvalue51 {
  union {
    void *p;
    lua_Number n;
    int b;
  } value;
  int tt;
};

struct ltc_state51 {
  void *next;
  unsigned char tt, marked, status;
  const struct ltc_tvalue51 *top, *base;
  void *l_G, *ci;
  const void *savedpc;
  const struct ltc_tvalue51 *stack_last, *stack;
  void *end_ci, *base_ci;
  int stacksize, size_ci;
  unsigned short nCcalls, baseCcalls;
};

static inline int ltc_isyieldable(lua_State *L) {
  const struct ltc_state51 *s = (const struct ltc_state51 *)(void *)L;
  if (lua_pushthread(L)) { /* the main thread */
    lua_pop(L, 1);
    return 0;
  }
  lua_pop(L, 1);
  if (s->tt != LUA_TTHREAD || s->status != lua_status(L) || s->stack > s->base ||
      s->top - s->base != lua_gettop(L))
    return 0;
  return s->nCcalls == s->baseCcalls;
}
#define lua_isyieldable ltc_isyieldable

#endif /* PUC 5.1 */

/* package.preload, where every version keeps it. */
static inline void ltc_pushpreload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "package");
  lua_getfield(L, -1, "preload");
  lua_remove(L, -2);
  lua_remove(L, -2);
}

#endif
