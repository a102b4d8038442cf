/* The one task runtime every binding uses: tasks (coroutines resumed only
 * from the loop's drain), the wait that suspends one until its I/O
 * completes, the busy-loop interrupt, the boxes that stand for core objects,
 * the table of open objects for leak reports, and the module state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"

#define MAX_FREE_TASKS 64

/* ---- tasks ------------------------------------------------------------------ */

static void task_run(lt_task *lt);

static ltl_task *task_alloc(ltl_state *S) {
  ltl_task *t = S->free_tasks;
  if (t) {
    S->free_tasks = t->next_free;
    S->nfree--;
  } else {
    t = calloc(1, sizeof *t);
    if (!t)
      return NULL;
    t->S = S;
    t->t.fn = task_run;
    t->all_next = S->all;
    if (S->all)
      S->all->all_prev = t;
    S->all = t;
    lua_State *L = S->L;
    t->co = lua_newthread(L);
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  t->state = T_IDLE;
  t->gen++;
  t->next_free = NULL;
  t->next = t->prev = NULL;
  return t;
}

static void on_task_timer_closed(uv_handle_t *h) {
  free(h->data);
}

static void task_destroy(ltl_task *t) {
  ltl_state *S = t->S;
  if (t->all_prev)
    t->all_prev->all_next = t->all_next;
  else
    S->all = t->all_next;
  if (t->all_next)
    t->all_next->all_prev = t->all_prev;
  luaL_unref(S->L, LUA_REGISTRYINDEX, t->ref);
  if (t->timer_ready)
    uv_close((uv_handle_t *)&t->timer, on_task_timer_closed);
  else
    free(t);
}

/* A finished task's coroutine is reused when it ended cleanly. */
static void task_release(ltl_task *t, int clean) {
  ltl_state *S = t->S;
  t->done = NULL;
  t->ud = NULL;
  t->cancel = NULL;
  t->results = NULL;
  t->op = NULL;
  t->waiting_on = NULL;
  t->inner = NULL;
  if (t->timer_ready)
    uv_timer_stop(&t->timer);
  /* Resetting closes pending to-be-closed variables. The thread itself is
   * not reused: Lua 5.4.4's reset leaves the error-handler slot of an
   * interrupted xpcall behind, which a later error would call. */
  if (!clean) {
    lua_resetthread(t->co);
    lua_State *L = S->L;
    t->co = lua_newthread(L);
    lua_rawseti(L, LUA_REGISTRYINDEX, t->ref);
  }
  if (S->nfree >= MAX_FREE_TASKS || S->closing) {
    task_destroy(t);
    return;
  }
  t->state = T_IDLE;
  t->next_free = S->free_tasks;
  S->free_tasks = t;
  S->nfree++;
}

static void task_finish(ltl_task *t, int status, int nres) {
  t->state = T_DONE;
  if (t->done)
    t->done(t, status, nres);
  lua_settop(t->co, 0);
  task_release(t, status == LUA_OK);
}

/* The coroutine running right now, for the busy-loop watchdog. */
static lua_State *volatile running;
static volatile double busy_limit;

void ltl_set_code_thread(ltl_task *t, lua_State *co) {
  t->inner = co == t->co ? NULL : co;
  running = co;
}

static void task_run(lt_task *lt) {
  ltl_task *t = (ltl_task *)lt;
  if (t->state != T_READY || t->S->closing)
    return;
  ltl_state *S = t->S;
  ltl_task *outer = S->running;
  t->state = T_RUNNING;
  S->running = t;
  int nargs = t->nargs;
  t->nargs = 0;
  if (t->results) {
    int n = t->results(t, t->op);
    if (n == LTL_WAIT_AGAIN) {
      t->state = T_WAITING;
      S->running = outer;
      return;
    }
    nargs += n;
  }
  t->cancel = NULL;
  t->results = NULL;
  t->op = NULL;
  t->waiting_on = NULL;
  int nres = 0;
  running = ltl_code_thread(t);
  int status = lua_resume(t->co, NULL, nargs, &nres);
  running = NULL;
  S->running = outer;
  if (status == LUA_YIELD) {
    if (t->state == T_RUNNING) {
      /* A plain coroutine.yield() at the task's top level: give the loop a
       * turn and continue. */
      lua_pop(t->co, nres);
      t->state = T_READY;
      lt_loop_defer(t->S->loop, &t->t);
    }
    return;
  }
  task_finish(t, status, nres);
}

ltl_task *ltl_spawn(ltl_state *S, lua_State *L, int nargs, ltl_done_fn done, void *ud) {
  ltl_task *t = task_alloc(S);
  if (!t) {
    lua_pop(L, nargs + 1);
    return NULL;
  }
  lua_xmove(L, t->co, nargs + 1);
  t->nargs = nargs;
  t->done = done;
  t->ud = ud;
  t->state = T_READY;
  lt_loop_defer(S->loop, &t->t);
  return t;
}

void ltl_run_now(ltl_task *t) {
  lt_loop_undefer(t->S->loop, &t->t);
  task_run(&t->t);
}

int ltl_wait_for(lua_State *L, ltl_task *t, const char *what, ltl_cancel_fn cancel, void *op,
                 ltl_results_fn results) {
  t->state = T_WAITING;
  t->waiting_on = what;
  t->cancel = cancel;
  t->results = results;
  t->op = op;
  return lua_yield(L, 0);
}

int ltl_wait(lua_State *L, ltl_task *t, const char *what, ltl_cancel_fn cancel, void *op) {
  return ltl_wait_for(L, t, what, cancel, op, NULL);
}

void ltl_wake(ltl_task *t, int nargs) {
  if (t->state != T_WAITING) {
    lua_pop(t->co, nargs);
    return;
  }
  t->state = T_READY;
  t->nargs = nargs;
  /* With results still to build, the operation stays the task's: a cancel
   * before the resumption frees it. */
  if (!t->results) {
    t->cancel = NULL;
    t->op = NULL;
  }
  lt_loop_defer(t->S->loop, &t->t);
}

void ltl_cancel(ltl_task *t) {
  if ((t->state == T_WAITING || (t->state == T_READY && t->results)) && t->cancel)
    t->cancel(t);
  if (t->state == T_READY)
    lt_loop_undefer(t->S->loop, &t->t);
  if (t->state == T_DONE || t->state == T_IDLE || t->state == T_RUNNING)
    return;
  t->state = T_DONE;
  lua_settop(t->co, 0);
  if (t->done)
    t->done(t, LTL_CANCELLED, 0);
  task_release(t, 0);
}

ltl_task *ltl_need_task(lua_State *L, const char *call) {
  ltl_task *t = ltl_current(L);
  if (!t || !lua_isyieldable(L))
    luaL_error(L,
               "%s: cannot wait outside a running task (wrap the call in "
               "loop:run_until_complete(fn))",
               call);
  return t;
}

/* Without a callback of its own, the timer wakes the task (a sleep). */
static void on_task_timer(uv_timer_t *h) {
  ltl_wake(h->data, 0);
}

void ltl_timer_start(ltl_task *t, double seconds, uv_timer_cb cb) {
  if (!t->timer_ready) {
    uv_timer_init(t->S->loop->uv, &t->timer);
    t->timer.data = t;
    t->timer_ready = 1;
  }
  uint64_t ms = seconds <= 0 ? 0 : (uint64_t)(seconds * 1000.0 + 0.5);
  uv_timer_start(&t->timer, cb ? cb : on_task_timer, ms, 0);
}

void ltl_timer_stop(ltl_task *t) {
  if (t->timer_ready)
    uv_timer_stop(&t->timer);
}

/* ---- the busy-loop watchdog ------------------------------------------------------ */

/* A task that never waits cannot be stopped by a loop timer. The luatest
 * binary arms a real-time alarm (lt_set_busy_guard) whose handler calls
 * lt_interrupt_busy, which sets a hook on the running coroutine, as lua.c
 * does for Ctrl-C (lua_sethook is safe in a signal handler). The library
 * itself installs no signal handler and no timer: embedded, a host keeps
 * its own. */
static void busy_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  char limit[32];
  snprintf(limit, sizeof limit, "%g", busy_limit);
  luaL_error(L, "timeout: busy in Lua for more than %s s without waiting on anything", limit);
}

void lt_interrupt_busy(void) {
  lua_State *L = running;
  if (L)
    lua_sethook(L, busy_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static lt_busy_guard_fn busy_guard;

void lt_set_busy_guard(lt_busy_guard_fn fn) {
  busy_guard = fn;
}

void ltl_watchdog(double seconds) {
  if (seconds > 0)
    busy_limit = seconds;
  if (busy_guard)
    busy_guard(seconds);
}

/* ---- open objects ----------------------------------------------------------------- */

static int is_internal_source(const char *src) {
  return !strncmp(src, "=luatest", 8) || strstr(src, "/lua/luatest/") != NULL ||
         !strncmp(src, "@lua/luatest/", 13) || src[0] == '=';
}

static void push_where(lua_State *L, lua_State *co, int first) {
  lua_Debug ar;
  /* (The line is asked for only in the frame chosen: finding it costs
   * far more than the source, and objects are made in every test.) */
  for (int level = first; lua_getstack(co, level, &ar); level++) {
    lua_getinfo(co, "S", &ar);
    if (ar.what[0] == 'C' || is_internal_source(ar.source))
      continue;
    lua_getinfo(co, "l", &ar);
    if (ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "?");
}

void ltl_push_where(lua_State *L) {
  push_where(L, L, 1);
}

void ltl_push_where_of(lua_State *L, lua_State *co) {
  push_where(L, co, 0);
}

void ltl_track(lua_State *L, int idx, const char *kind) {
  ltl_state *S = ltl_S(L);
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->tracked);
  lua_pushvalue(L, idx);
  lua_pushstring(L, kind);
  lua_pushliteral(L, " created at ");
  ltl_push_where(L);
  lua_concat(L, 3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void ltl_untrack(ltl_state *S, void *object) {
  lua_State *L = S->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->tracked);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (lua_touserdata(L, -1) == object) {
      lua_pushnil(L);
      lua_rawset(L, -3);
      break;
    }
  }
  lua_pop(L, 1);
}

/* ---- helpers shared by the bindings ---------------------------------------------- */

int ltl_fail(lua_State *L, int err, const char *detail) {
  lua_pushnil(L);
  if (detail)
    lua_pushfstring(L, "%s: %s (%s)", lt_errname(err), lt_strerror(err), detail);
  else
    lua_pushfstring(L, "%s: %s", lt_errname(err), lt_strerror(err));
  return 2;
}

void ltl_setfuncs(lua_State *L, const luaL_Reg *l) {
  ltl_push_state(L);
  luaL_setfuncs(L, l, 1);
}

void ltl_newclass(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  ltl_setfuncs(L, meta);
  if (methods) {
    lua_newtable(L);
    ltl_setfuncs(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

/* ---- the state ---------------------------------------------------------------------- */

static int l_state_gc(lua_State *L) {
  ltl_state *S = lua_touserdata(L, 1);
  if (!S->loop)
    return 0;
  /* Finalizers of servers and clients have requested their closes; the
   * loop completes them (resuming no task) and closes what is left, timers
   * of tasks included, before the tasks' memory goes. */
  S->closing = 1;
  lt_loop_free(S->loop);
  S->loop = NULL;
  while (S->all) {
    ltl_task *t = S->all;
    S->all = t->all_next;
    free(t);
  }
  S->free_tasks = NULL;
  return 0;
}

/* The registry key of the state. */
static const char state_key;

void ltl_push_state(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
}

ltl_state *ltl_state_of(lua_State *L) {
  ltl_push_state(L);
  ltl_state *S = lua_type(L, -1) == LUA_TUSERDATA ? lua_touserdata(L, -1) : NULL;
  lua_pop(L, 1);
  return S;
}

void ltl_open_runtime(lua_State *L) {
  /* The state lives in the registry, shared by every binding as upvalue;
   * requiring the module again (another name, a second copy) finds it. */
  if (ltl_state_of(L))
    return;
  ltl_state *S = lua_newuserdatauv(L, sizeof *S, 0);
  memset(S, 0, sizeof *S);
  S->loop = lt_loop_new();
  if (!S->loop)
    luaL_error(L, "luatest.core: cannot create the event loop");
  ltc_pushmainthread(L);
  S->L = lua_tothread(L, -1);
  luaL_ref(L, LUA_REGISTRYINDEX); /* (only 5.1 may give another thread) */
  lua_newtable(L);
  S->tracked = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushnil(L);
  S->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  lua_pushcfunction(L, l_state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &state_key);
}

/* ---- boxes -------------------------------------------------------------------------- */

void *ltl_box_new(lua_State *L, const char *cls, int nuv, ltl_object *o, const char *kind) {
  ltl_box *box = lua_newuserdatauv(L, sizeof *box, nuv);
  box->o = o;
  luaL_setmetatable(L, cls);
  o->box = box;
  o->S = ltl_S(L);
  o->closing = 0;
  o->waiter = NULL;
  lua_pushvalue(L, -1);
  o->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ltl_track(L, -1, kind);
  return box;
}

void *ltl_box_get(lua_State *L, int idx, const char *cls) {
  return ((ltl_box *)luaL_checkudata(L, idx, cls))->o;
}

void *ltl_box_check(lua_State *L, int idx, const char *cls, const char *call) {
  ltl_object *o = ltl_box_get(L, idx, cls);
  if (!o || o->closing) {
    /* "luatest.Server" -> "server" */
    const char *dot = strrchr(cls, '.');
    char noun[32];
    snprintf(noun, sizeof noun, "%s", dot ? dot + 1 : cls);
    noun[0] = (char)(noun[0] >= 'A' && noun[0] <= 'Z' ? noun[0] - 'A' + 'a' : noun[0]);
    luaL_error(L, "%s: attempt to use a closed %s", call, noun);
  }
  return o;
}

void ltl_object_closing(lua_State *L, ltl_object *o) {
  o->closing = 1;
  if (o->box)
    ltl_untrack(o->S, o->box);
  luaL_unref(L, LUA_REGISTRYINDEX, o->self_ref);
  o->self_ref = LUA_NOREF;
}

void ltl_object_closed(ltl_object *o) {
  if (o->waiter && o->waiter->gen == o->waiter_gen)
    ltl_wake(o->waiter, 0);
  o->waiter = NULL;
  if (o->box)
    o->box->o = NULL;
  o->box = NULL;
}

int ltl_box_close(lua_State *L, const char *cls, ltl_close_fn start_close, const char *what) {
  ltl_object *o = ltl_box_get(L, 1, cls);
  if (!o)
    return 0;
  if (!o->closing)
    start_close(L, o);
  ltl_task *t = ltl_current(L);
  /* close(false): started, not waited for (so that closing two objects
   * takes one loop turn, not two) */
  int wait = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  if (!wait || !t || !lua_isyieldable(L) || o->waiter)
    return 0;
  o->waiter = t;
  o->waiter_gen = t->gen;
  return ltl_wait(L, t, what, NULL, NULL);
}

int ltl_box_gc(lua_State *L, const char *cls, ltl_close_fn start_close) {
  ltl_box *box = luaL_checkudata(L, 1, cls);
  ltl_object *o = box->o;
  if (o) {
    ltl_untrack(o->S, box);
    o->box = NULL;
    box->o = NULL;
    if (!o->closing)
      start_close(L, o);
  }
  return 0;
}

int ltl_box_closed(lua_State *L, const char *cls) {
  ltl_object *o = ltl_box_get(L, 1, cls);
  lua_pushboolean(L, !o || o->closing);
  return 1;
}
