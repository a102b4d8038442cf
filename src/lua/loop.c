/* The loop as Lua sees it: sleep, run_until_complete and run_with_timeout
 * (the runner's way in), the host-loop entry points (poll, backend fd,
 * use_uv_loop), spawned tasks, and the list of open objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lloop.h"
#include "runtime.h"

/* ---- sleep ---------------------------------------------------------------------- */

static void cancel_sleep(ltl_task *t) {
  ltl_timer_stop(t);
}

static int l_sleep(lua_State *L) {
  double s = luaL_optnumber(L, 1, 0);
  ltl_task *t = ltl_need_task(L, "sleep");
  ltl_timer_start(t, s, NULL);
  snprintf(t->wait_buf, sizeof t->wait_buf, "sleep(%g)", s);
  return ltl_wait(L, t, t->wait_buf, cancel_sleep, NULL);
}

/* ---- run_until_complete ------------------------------------------------------ */

typedef struct root {
  lua_State *L; /* the caller, blocked in run_until_complete */
  int finished, status, nres;
} root;

static void root_done(ltl_task *t, int status, int nres) {
  root *r = t->ud;
  lua_State *L = r->L;
  r->finished = 1;
  r->status = status;
  if (status == LUA_OK) {
    luaL_checkstack(L, nres + 1, "too many results");
    lua_xmove(t->co, L, nres);
    r->nres = nres;
  } else if (status == LTL_CANCELLED) {
    lua_pushliteral(L, "task cancelled");
    r->nres = 1;
  } else {
    /* Keep the traceback of where it failed, for the reports. */
    ltl_state *S = t->S;
    const char *msg = lua_tostring(t->co, -1);
    luaL_traceback(L, t->co, msg, 0);
    lua_rawseti(L, LUA_REGISTRYINDEX, S->traceback_ref);
    lua_xmove(t->co, L, 1);
    r->nres = 1;
  }
}

/* Turns the loop until the root task finishes or *stop is set; returns 0
 * when it stopped because nothing is left that could wake the task. */
static int drive(ltl_state *S, root *r, const int *stop) {
  int alive = 1;
  lt_loop_hold_begin(S->loop);
  while (alive && !r->finished && !(stop && *stop)) {
    alive = lt_loop_step_until(S->loop, 1, &r->finished);
    alive = alive || r->finished || (stop && *stop);
  }
  lt_loop_hold_end(S->loop);
  return alive;
}

static int l_run_until_complete(lua_State *L) {
  ltl_state *S = ltl_S(L);
  luaL_checkany(L, 1);
  if (ltl_current(L))
    return luaL_error(L, "loop:run_until_complete: called from inside a running task "
                         "(call the function directly instead)");
  int nargs = lua_gettop(L) - 1;
  root r = {L, 0, 0, 0};
  ltl_task *t = ltl_spawn(S, L, nargs, root_done, &r);
  if (!t)
    return luaL_error(L, "loop:run_until_complete: out of memory");
  int base = lua_gettop(L);
  if (!drive(S, &r, NULL)) {
    const char *what = t->waiting_on ? t->waiting_on : "nothing";
    ltl_cancel(t);
    lua_settop(L, base);
    lua_pushfstring(L,
                    "loop:run_until_complete: the task waits on %s, and nothing is left "
                    "that could wake it",
                    what);
    return lua_error(L);
  }
  if (r.status != LUA_OK)
    return lua_error(L);
  return r.nres;
}

/* On expiry of a run's timeout: what the task waited on and where, then
 * the task is cancelled. */
typedef struct timed_root {
  root r;
  ltl_task *t;
  int expired;
} timed_root;

static void on_timer_closed(uv_handle_t *h) {
  free(h);
}

static void on_run_timeout(uv_timer_t *h) {
  timed_root *tr = h->data;
  tr->expired = 1;
}

/* core.run_with_timeout(seconds, fn, ...) -> true, results... | false, info
 * where info = {waiting_on=, where=, traceback=} says what the task was
 * waiting for when the time ran out; it is then cancelled (its pending
 * operation aborted, its to-be-closed variables closed). Errors of fn are
 * raised as by run_until_complete. */
static int l_run_with_timeout(lua_State *L) {
  ltl_state *S = ltl_S(L);
  double seconds = luaL_checknumber(L, 1);
  luaL_checkany(L, 2);
  if (ltl_current(L))
    return luaL_error(L, "loop:run_with_timeout: called from inside a running task");
  int nargs = lua_gettop(L) - 2;
  timed_root tr = {{L, 0, 0, 0}, NULL, 0};
  lua_pushboolean(L, 1);
  lua_replace(L, 1); /* the `true` that precedes results */
  ltl_task *t = ltl_spawn(S, L, nargs, root_done, &tr.r);
  if (!t)
    return luaL_error(L, "loop:run_with_timeout: out of memory");
  tr.t = t;
  uv_timer_t *timer = malloc(sizeof *timer);
  if (!timer)
    return luaL_error(L, "loop:run_with_timeout: out of memory");
  uv_timer_init(S->loop->uv, timer);
  timer->data = &tr;
  /* The deadline must not keep the loop alive (a task nothing can wake is
   * reported at once), and counts from now, not from the last loop turn. */
  uv_unref((uv_handle_t *)timer);
  uv_update_time(S->loop->uv);
  uv_timer_start(timer, on_run_timeout, (uint64_t)(seconds * 1000 + 0.5), 0);
  /* A second later than the loop's deadline: that one reports where the
   * task waited; this one only stops a task that never waits. */
  int guarded = seconds < 1e6;
  if (guarded)
    ltl_watchdog(seconds + 1.0);
  int base = lua_gettop(L);
  drive(S, &tr.r, &tr.expired);
  if (guarded)
    ltl_watchdog(0);
  uv_close((uv_handle_t *)timer, on_timer_closed);
  if (tr.r.finished) {
    if (tr.r.status != LUA_OK)
      return lua_error(L);
    return tr.r.nres + 1;
  }
  lua_settop(L, base);
  lua_pushboolean(L, 0);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, t->waiting_on ? t->waiting_on : "nothing");
  lua_setfield(L, -2, "waiting_on");
  ltl_push_where_of(L, ltl_code_thread(t));
  lua_setfield(L, -2, "where");
  luaL_traceback(L, ltl_code_thread(t), NULL, 0);
  lua_setfield(L, -2, "traceback");
  lua_pushboolean(L, tr.expired);
  lua_setfield(L, -2, "timeout");
  ltl_cancel(t);
  lua_settop(L, base + 2);
  return 2;
}

static int l_step(lua_State *L) {
  ltl_state *S = ltl_S(L);
  lua_pushboolean(L, lt_loop_step(S->loop, lua_toboolean(L, 1)));
  return 1;
}

/* core.poll() -> whether work is pending: one turn that never blocks, for a
 * host that drives luatest from its own loop (a frame, a timer, a poll on
 * core.backend_fd()). */
static int l_poll(lua_State *L) {
  ltl_state *S = ltl_S(L);
  if (ltl_current(L))
    return luaL_error(L, "core.poll: called from inside a task");
  lua_pushboolean(L, lt_loop_step(S->loop, 0));
  return 1;
}

static int l_backend_fd(lua_State *L) {
  lua_pushinteger(L, lt_backend_fd(ltl_S(L)->loop));
  return 1;
}

static int l_backend_timeout(lua_State *L) {
  lua_pushinteger(L, lt_backend_timeout(ltl_S(L)->loop));
  return 1;
}

/* core.luv_loop() -> the uv_loop_t * of the luv module loaded in this state
 * (light userdata), for core.use_uv_loop; or nil and why not. luv keeps it
 * as the first field of the context in registry.luv_context (luv 1.3x to
 * 1.44, checked by spec/hosts/luv_spec.lua). */
static int l_luv_loop(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "luv_context") != LUA_TUSERDATA) {
    lua_pushnil(L);
    lua_pushliteral(L, "luv is not loaded in this Lua state");
    return 2;
  }
  uv_loop_t **ctx = lua_touserdata(L, -1);
  lua_pushlightuserdata(L, *ctx);
  return 1;
}

/* core.use_uv_loop(ptr): from now on luatest runs on the host's libuv loop
 * (a uv_loop_t * as light userdata), before anything ran on its own. */
static int l_use_uv_loop(lua_State *L) {
  ltl_state *S = ltl_S(L);
  luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
  uv_loop_t *uv = lua_touserdata(L, 1);
  if (uv == S->loop->uv)
    return 0;
  if (S->all || S->loop->ws_ctx || uv_loop_alive(S->loop->uv))
    return luaL_error(L, "core.use_uv_loop: luatest's own loop is in use already "
                         "(call it right after require)");
  lt_loop *loop = lt_loop_new_on(uv);
  if (!loop)
    return luaL_error(L, "core.use_uv_loop: out of memory");
  lt_loop_free(S->loop);
  S->loop = loop;
  return 0;
}

static int l_time(lua_State *L) {
  lua_pushnumber(L, lt_loop_time(ltl_S(L)->loop));
  return 1;
}

static int l_last_traceback(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ltl_S(L)->traceback_ref);
  return 1;
}

/* core.task_enter(co) -> whether the running task's code now runs in co;
 * core.task_leave(co) hands it back to the caller once co is dead. For a
 * yield-safe pcall (Lua 5.1), which runs its function in a coroutine of
 * its own and passes that coroutine's yields on to the task: the waiting
 * calls made there are the task's. Only a caller that can pass yields on
 * (yieldable) may enter. */
static int l_task_enter(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argcheck(L, co, 1, "thread expected");
  ltl_task *t = ltl_current(L);
  int ok = t && lua_isyieldable(L);
  if (ok)
    ltl_set_code_thread(t, co);
  lua_pushboolean(L, ok);
  return 1;
}

static int l_task_leave(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argcheck(L, co, 1, "thread expected");
  ltl_task *t = ltl_S(L)->running;
  int ok = t && t->inner == co;
  if (ok)
    ltl_set_code_thread(t, L);
  lua_pushboolean(L, ok);
  return 1;
}

static int l_in_task(lua_State *L) {
  lua_pushboolean(L, ltl_current(L) != NULL && lua_isyieldable(L));
  return 1;
}

/* ---- spawned tasks ---------------------------------------------------------- */

/* A Task userdata's uservalue is a table: { done=bool, ok=bool, n=count,
 * [1..n]=results or [1]=error, waiters={lightuserdata...}, traceback=s }. */
typedef struct ltask_box {
  ltl_task *t;
  int ref; /* anchors the box while the task runs */
} ltask_box;

static void spawn_done(ltl_task *t, int status, int nres) {
  ltl_state *S = t->S;
  lua_State *L = S->L;
  ltask_box *box = t->ud;
  lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
  lua_getiuservalue(L, -1, 1);
  int tbl = lua_gettop(L);
  if (status == LUA_OK) {
    for (int i = nres; i >= 1; i--) {
      lua_xmove(t->co, L, 1);
      lua_rawseti(L, tbl, i);
    }
  } else if (status == LTL_CANCELLED) {
    lua_pushliteral(L, "task cancelled");
    lua_rawseti(L, tbl, 1);
  } else {
    luaL_traceback(L, t->co, lua_tostring(t->co, -1), 0);
    lua_setfield(L, tbl, "traceback");
    lua_xmove(t->co, L, 1);
    lua_rawseti(L, tbl, 1);
  }
  lua_pushboolean(L, 1);
  lua_setfield(L, tbl, "done");
  lua_pushboolean(L, status == LUA_OK);
  lua_setfield(L, tbl, "ok");
  lua_pushinteger(L, status == LUA_OK ? nres : 1);
  lua_setfield(L, tbl, "n");
  if (lua_getfield(L, tbl, "waiters") == LUA_TTABLE) {
    /* Pairs of (task, generation): a waiter that was cancelled meanwhile
     * may have become another task. */
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i + 1 <= n; i += 2) {
      lua_rawgeti(L, -1, i);
      ltl_task *w = lua_touserdata(L, -1);
      lua_rawgeti(L, -2, i + 1);
      unsigned gen = (unsigned)lua_tointeger(L, -1);
      lua_pop(L, 2);
      if (w->gen == gen)
        ltl_wake(w, 0);
    }
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, tbl, "waiters");
  box->t = NULL;
  ltl_untrack(S, box);
  luaL_unref(L, LUA_REGISTRYINDEX, box->ref);
  box->ref = LUA_NOREF;
  lua_pop(L, 2);
}

static int l_spawn(lua_State *L) {
  ltl_state *S = ltl_S(L);
  luaL_checkany(L, 1);
  int nargs = lua_gettop(L) - 1;
  ltask_box *box = lua_newuserdatauv(L, sizeof *box, 1);
  luaL_setmetatable(L, "luatest.Task");
  lua_createtable(L, 0, 4);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  box->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_insert(L, 1); /* box below fn and args */
  box->t = ltl_spawn(S, L, nargs, spawn_done, box);
  if (!box->t)
    return luaL_error(L, "spawn: out of memory");
  ltl_track(L, 1, "task");
  return 1;
}

/* task:result() -> done, ok, values... (never waits). */
static int l_task_result(lua_State *L) {
  luaL_checkudata(L, 1, "luatest.Task");
  lua_getiuservalue(L, 1, 1);
  int tbl = lua_gettop(L);
  lua_getfield(L, tbl, "done");
  if (!lua_toboolean(L, -1))
    return 1;
  lua_getfield(L, tbl, "ok");
  lua_getfield(L, tbl, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, "too many results");
  for (int i = 1; i <= n; i++)
    lua_rawgeti(L, tbl, i);
  return 2 + n;
}

/* task:join() waits until the task has finished (results via :result()). */
static int l_task_join(lua_State *L) {
  ltask_box *box = luaL_checkudata(L, 1, "luatest.Task");
  if (!box->t)
    return 0;
  ltl_task *self = ltl_need_task(L, "task:wait");
  if (self == box->t)
    return luaL_error(L, "task:wait: a task cannot wait for itself");
  lua_getiuservalue(L, 1, 1);
  if (lua_getfield(L, -1, "waiters") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "waiters");
  }
  lua_Integer n = luaL_len(L, -1);
  lua_pushlightuserdata(L, self);
  lua_rawseti(L, -2, n + 1);
  lua_pushinteger(L, self->gen);
  lua_rawseti(L, -2, n + 2);
  lua_pop(L, 2);
  return ltl_wait(L, self, "task:wait", NULL, NULL);
}

static int l_task_cancel(lua_State *L) {
  ltask_box *box = luaL_checkudata(L, 1, "luatest.Task");
  if (box->t && box->t->state != T_RUNNING) {
    ltl_cancel(box->t);
    lua_pushboolean(L, 1);
  } else {
    lua_pushboolean(L, 0);
  }
  return 1;
}

static int l_task_traceback(lua_State *L) {
  luaL_checkudata(L, 1, "luatest.Task");
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "traceback");
  return 1;
}

/* open_objects() -> { {object, "server created at spec/x.lua:12"}, ... } */
static int l_open_objects(lua_State *L) {
  ltl_state *S = ltl_S(L);
  lua_newtable(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->tracked);
  lua_pushnil(L);
  int i = 0;
  while (lua_next(L, -2)) {
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, -3);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -5, ++i);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 1;
}

static const luaL_Reg loop_funcs[] = {
    {"sleep", l_sleep},
    {"run_until_complete", l_run_until_complete},
    {"run_with_timeout", l_run_with_timeout},
    {"step", l_step},
    {"poll", l_poll},
    {"backend_fd", l_backend_fd},
    {"backend_timeout", l_backend_timeout},
    {"use_uv_loop", l_use_uv_loop},
    {"luv_loop", l_luv_loop},
    {"time", l_time},
    {"last_traceback", l_last_traceback},
    {"in_task", l_in_task},
    {"task_enter", l_task_enter},
    {"task_leave", l_task_leave},
    {"spawn", l_spawn},
    {"open_objects", l_open_objects},
    {NULL, NULL},
};

static const luaL_Reg task_methods[] = {
    {"result", l_task_result}, {"join", l_task_join},           {"cancel", l_task_cancel},
    {"close", l_task_cancel},  {"traceback", l_task_traceback}, {NULL, NULL},
};

static const luaL_Reg no_meta[] = {{NULL, NULL}};

void ltl_open_loop(lua_State *L) {
  ltl_setfuncs(L, loop_funcs);
  ltl_newclass(L, "luatest.Task", no_meta, task_methods);
}
