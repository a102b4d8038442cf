/* The event loop: owns the uv_loop_t and the queue of deferred tasks. I/O
 * callbacks never run user code; they queue a task, and the queue is drained
 * only between loop turns, from lt_loop_step. */
#ifndef LT_LOOP_H
#define LT_LOOP_H

#include <signal.h>
#include <uv.h>
#include "luatest.h"

typedef struct lt_task lt_task;
typedef void (*lt_task_fn)(lt_task *task);

struct lt_task {
  lt_task *next;
  lt_task_fn fn;
  int queued;
};

struct lt_loop {
  uv_loop_t *uv; /* own_uv, or the host's (lt_loop_new_on) */
  uv_loop_t own_uv;
  int ready_closed;
  lt_task *head, *tail;
  /* Active while tasks are queued, so a loop turn never blocks on I/O when
   * there is work to do (libuv knows nothing of the queue). */
  uv_idle_t ready;
  /* Cached "Date:" header value, refreshed once a second. */
  char date[40];
  uint64_t date_sec;
  int owns_uv;
  int hold_sigpipe; /* SIGPIPE is blocked while the loop runs */
  int holding;
  sigset_t held_mask; /* the thread's mask before */
  void *ws_ctx;       /* the libwebsockets context, once a WebSocket was used */
  /* Read buffers of closed connections, for the next ones: a test opens a
   * connection or two, and a buffer this big from malloc first merges
   * every small free chunk (malloc_consolidate) on each allocation. */
  void *spare_bufs[4];
  size_t spare_caps[4];
  void (*ws_free)(lt_loop *loop);
};

/* Queues `task` to run at the next drain; a queued task is not queued twice. */
void lt_loop_defer(lt_loop *loop, lt_task *task);

/* Removes `task` from the queue if it is there. */
void lt_loop_undefer(lt_loop *loop, lt_task *task);

/* Runs every queued task, including ones queued meanwhile. */
void lt_loop_drain(lt_loop *loop);

/* One turn: the queue first, then uv (blocking when `block` and nothing is
 * queued), then the queue again. Returns nonzero while anything is pending. */
int lt_loop_step(lt_loop *loop, int block);
/* The same, returning before the loop turn when *done became nonzero. */
int lt_loop_step_until(lt_loop *loop, int block, const int *done);

/* A write to a closed connection raises SIGPIPE; in a host that left it
 * at its default (which ends the process) it is held back from the first
 * begin to the last end, and every step is inside such a pair. A caller
 * that turns the loop many times wraps them all in one pair: each costs
 * system calls. */
void lt_loop_hold_begin(lt_loop *loop);
void lt_loop_hold_end(lt_loop *loop);

/* A buffer of cap bytes (a spare one when there is one), or NULL; and
 * back to the spares when there is room (freed otherwise). */
void *lt_loop_buf_take(lt_loop *loop, size_t cap);
void lt_loop_buf_give(lt_loop *loop, void *buf, size_t cap);

/* The IMF-fixdate of now, for the Date header. */
const char *lt_loop_date(lt_loop *loop);

#endif
