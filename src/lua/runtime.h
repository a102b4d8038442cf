/* Shared by the Lua bindings: the module state, and tasks (coroutines run by
 * the loop) with the one suspend/resume mechanism every waiting call uses. */
#ifndef LT_LUA_RUNTIME_H
#define LT_LUA_RUNTIME_H

#include "compat.h"
#include "loop.h"

typedef struct ltl_state ltl_state;
typedef struct ltl_task ltl_task;

/* Called when a task's function returned (status LUA_OK, its results on
 * t->co's stack) or raised (an error status, the error value on the stack),
 * or LTL_CANCELLED with an empty stack. It must leave the stack empty. */
typedef void (*ltl_done_fn)(ltl_task *t, int status, int nres);
/* Aborts the operation a waiting task waits on; its completion must not
 * wake the task afterwards. */
typedef void (*ltl_cancel_fn)(ltl_task *t);
/* Builds a waiting call's results on t->co when the task resumes, from the
 * loop (never inside an I/O callback): returns how many it pushed, or
 * LTL_WAIT_AGAIN to go on waiting (having re-armed what wakes the task).
 * From its first call it owns `op`; a task cancelled before that has its
 * cancel function called instead. */
typedef int (*ltl_results_fn)(ltl_task *t, void *op);
#define LTL_WAIT_AGAIN (-1)

#define LTL_CANCELLED (-1)

enum { T_IDLE, T_RUNNING, T_WAITING, T_READY, T_DONE };

struct ltl_task {
  lt_task t; /* queued to be resumed */
  ltl_state *S;
  lua_State *co;
  /* The thread the task's code runs in when it is not co: the coroutine of
   * a yield-safe pcall (Lua 5.1), which passes its yields on to co (still
   * the thread the loop resumes). Set by ltl_set_code_thread. */
  lua_State *inner;
  int ref; /* registry ref keeping the thread alive */
  int nargs;
  int state;
  unsigned gen; /* bumped each time the task is reused */
  ltl_done_fn done;
  void *ud;
  ltl_cancel_fn cancel;
  ltl_results_fn results; /* builds the results of the wait at resumption */
  void *op;               /* the pending operation, for cancel and results */
  const char *waiting_on; /* what the task waits for, for reports */
  char wait_buf[96];      /* storage for a waiting_on that is formatted */
  uv_timer_t timer;       /* for sleep and operation timeouts */
  int timer_ready;
  ltl_task *next, *prev; /* in an owner's list (a server's handlers) */
  ltl_task *next_free;
  ltl_task *all_next, *all_prev; /* every task of the state */
};

struct ltl_state {
  lt_loop *loop;
  lua_State *L;
  ltl_task *free_tasks;
  int nfree;
  ltl_task *all;
  int tracked;       /* registry ref of the open-objects table */
  ltl_task *running; /* the task being resumed, found by ltl_current */
  int traceback_ref;
  int closing;
  const void *request_mt; /* the Request metatable, for a check by address */
};

/* The module state (upvalue 1 of every binding function). */
#define ltl_S(L) ((ltl_state *)lua_touserdata(L, lua_upvalueindex(1)))

/* The thread t's code runs in: t->co, or the coroutine of a yield-safe
 * pcall it is in (Lua 5.1). */
static inline lua_State *ltl_code_thread(const ltl_task *t) {
  return t->inner ? t->inner : t->co;
}

/* The task running in L, or NULL outside a task (in the main thread, or a
 * coroutine of the task's own). Only the loop resumes tasks, so the one it
 * resumed is the one running: nothing is kept in the thread itself (the
 * host may use LUA_EXTRASPACE). */
static inline ltl_task *ltl_current(lua_State *L) {
  ltl_task *t = ltl_S(L)->running;
  return t && ltl_code_thread(t) == L ? t : NULL;
}

/* From now on the running task t's code runs in thread co (t->co or a
 * coroutine that passes its yields on to it): see core.task_enter. */
void ltl_set_code_thread(ltl_task *t, lua_State *co);

/* The running task, or a Lua error naming `call` that says how to wait. */
ltl_task *ltl_need_task(lua_State *L, const char *call);

/* Starts fn(args...) (the top nargs+1 values of L, popped) as a new task;
 * it first runs at the next drain. */
ltl_task *ltl_spawn(ltl_state *S, lua_State *L, int nargs, ltl_done_fn done, void *ud);
/* Runs a task queued by ltl_spawn now (only from a drain). */
void ltl_run_now(ltl_task *t);
/* Suspends the running task until ltl_wake; use as `return ltl_wait(...)`. */
int ltl_wait(lua_State *L, ltl_task *t, const char *what, ltl_cancel_fn cancel, void *op);
/* The same, with results(t, op) building the call's results when it
 * resumes. No continuation: every Lua runtime can wait this way. */
int ltl_wait_for(lua_State *L, ltl_task *t, const char *what, ltl_cancel_fn cancel, void *op,
                 ltl_results_fn results);
/* Resumes a waiting task with the nargs values pushed on t->co. */
void ltl_wake(ltl_task *t, int nargs);
/* Ends a task that has not finished: its operation is cancelled, its
 * to-be-closed variables closed, and done() called with LTL_CANCELLED. */
void ltl_cancel(ltl_task *t);
/* Starts t's timer; on expiry cb runs (from the loop). */
void ltl_timer_start(ltl_task *t, double seconds, uv_timer_cb cb);
void ltl_timer_stop(ltl_task *t);

/* "file:line" of the nearest caller outside luatest's own modules. */
void ltl_push_where(lua_State *L);
/* The same for the code a suspended task waits in. */
void ltl_push_where_of(lua_State *L, lua_State *co);
/* Records an open object (index idx) with a description for leak reports. */
void ltl_track(lua_State *L, int idx, const char *kind);
void ltl_untrack(ltl_state *S, void *object);

/* Pushes nil and "ENAME: description (detail)"; returns 2. */
int ltl_fail(lua_State *L, int err, const char *detail);

/* Registers functions with the state as upvalue. */
void ltl_setfuncs(lua_State *L, const luaL_Reg *l);
/* Creates a metatable with methods (as __index) and the state as upvalue. */
void ltl_newclass(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/* Arms (seconds > 0) or disarms (0) the busy-loop guard of the luatest
 * binary, if one was set with lt_set_busy_guard. */
void ltl_watchdog(double seconds);

/* The module state: created once per Lua state by ltl_open_runtime, then
 * found in the registry. */
void ltl_open_runtime(lua_State *L);
ltl_state *ltl_state_of(lua_State *L);
void ltl_push_state(lua_State *L);

/* ---- boxes ---------------------------------------------------------------------------
 * A core object Lua holds (a server, a client) is an ltl_object, embedded
 * first in the binding's struct, behind a userdata box. While open, the
 * registry pins the box (a handler or a pending request may be all that
 * refers to it) and the open-objects table lists it; the close is requested
 * by close(), __close or __gc, and completes when the core says so (the
 * object's memory may outlive the box, or the reverse). */
typedef struct ltl_box ltl_box;
typedef struct ltl_object {
  ltl_box *box; /* NULL once the userdata went */
  ltl_state *S;
  int self_ref; /* pins the box while open */
  int closing;
  ltl_task *waiter; /* a task waiting in close() */
  unsigned waiter_gen;
} ltl_object;
struct ltl_box {
  ltl_object *o; /* NULL once the object closed */
};
/* Starts closing o (its core close, then ltl_object_closing). */
typedef void (*ltl_close_fn)(lua_State *L, ltl_object *o);

/* Pushes a new box of class cls for o, pinned and tracked as `kind`. */
void *ltl_box_new(lua_State *L, const char *cls, int nuv, ltl_object *o, const char *kind);
/* The object of the box at idx, or NULL once it closed. */
void *ltl_box_get(lua_State *L, int idx, const char *cls);
/* The same for a method that needs it open: otherwise the error
 * "<call>: attempt to use a closed <class>". */
void *ltl_box_check(lua_State *L, int idx, const char *cls, const char *call);
/* The close has started: the box is unpinned and untracked. */
void ltl_object_closing(lua_State *L, ltl_object *o);
/* The close has completed: the task waiting in close() resumes, and the box
 * no longer leads to o (which the caller then frees). */
void ltl_object_closed(ltl_object *o);
/* box:close(), __gc/__close and box:closed() of the box at 1. close()
 * requests the close and, inside a task, waits for it to complete
 * (close(false) does not wait). */
int ltl_box_close(lua_State *L, const char *cls, ltl_close_fn start_close, const char *what);
int ltl_box_gc(lua_State *L, const char *cls, ltl_close_fn start_close);
int ltl_box_closed(lua_State *L, const char *cls);

#endif
