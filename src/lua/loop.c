/* Lua tasks on the loop: every test, fixture and Lua handler runs in a task
 * (a coroutine resumed only from the loop's drain). A call that waits on I/O
 * records what it waits for and yields; the I/O callback pushes the results
 * on the coroutine and queues it. Also: the loop object, sleep, spawn, and
 * the table of open objects used for leak reports. */
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
  running = t->co;
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

static void on_task_timer(uv_timer_t *h);

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

/* ---- sleep ---------------------------------------------------------------------- */

static void on_task_timer(uv_timer_t *h) {
  ltl_wake(h->data, 0);
}

static void cancel_sleep(ltl_task *t) {
  ltl_timer_stop(t);
}

static int l_sleep(lua_State *L) {
  double s = luaL_optnumber(L, 1, 0);
  ltl_task *t = ltl_need_task(L, "sleep");
  ltl_timer_start(t, s, on_task_timer);
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

static void watchdog(double seconds) {
  if (seconds > 0)
    busy_limit = seconds;
  if (busy_guard)
    busy_guard(seconds);
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
    watchdog(seconds + 1.0);
  int base = lua_gettop(L);
  drive(S, &tr.r, &tr.expired);
  if (guarded)
    watchdog(0);
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
  ltl_push_where_of(L, t->co);
  lua_setfield(L, -2, "where");
  luaL_traceback(L, t->co, NULL, 0);
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

/* ---- open objects ----------------------------------------------------------------- */

static int is_internal_source(const char *src) {
  return !strncmp(src, "=luatest", 8) || strstr(src, "/lua/luatest/") != NULL ||
         !strncmp(src, "@lua/luatest/", 13) || src[0] == '=';
}

static void push_where(lua_State *L, lua_State *co, int first) {
  lua_Debug ar;
  for (int level = first; lua_getstack(co, level, &ar); level++) {
    lua_getinfo(co, "Sl", &ar);
    if (ar.currentline > 0 && !is_internal_source(ar.source)) {
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
  lua_rawgetp(L, LUA_REGISTRYINDEX, (void *)&ltl_setfuncs);
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
  /* The state lives in the registry, shared by every binding as upvalue. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, (void *)&ltl_setfuncs) == LUA_TNIL) {
    lua_pop(L, 1);
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
    lua_rawsetp(L, LUA_REGISTRYINDEX, (void *)&ltl_setfuncs);
  } else {
    lua_pop(L, 1);
  }
  ltl_setfuncs(L, loop_funcs);
  ltl_newclass(L, "luatest.Task", no_meta, task_methods);
}
