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

/* 5.4's resume reports how many values it left; before, that is the stack. */
static inline int ltc_resume(lua_State *co, lua_State *from, int nargs, int *nres) {
#if LUA_VERSION_NUM >= 502
  int status = lua_resume(co, from, nargs);
#else
  (void)from;
  int status = lua_resume(co, nargs);
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
#error "luatest: Lua 5.1 (PUC) is not supported yet; build with LUA=luajit, lua5.3 or lua5.4"
#endif

/* package.preload, where every version keeps it. */
static inline void ltc_pushpreload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "package");
  lua_getfield(L, -1, "preload");
  lua_remove(L, -2);
  lua_remove(L, -2);
}

#endif
