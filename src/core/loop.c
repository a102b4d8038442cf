/* The loop owns the uv_loop_t and the deferred-task queue. Everything that
 * resumes user code (Lua coroutines, C handlers answering asynchronously)
 * goes through the queue so that it never runs inside a libuv or llhttp
 * callback. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "loop.h"
#include "request.h"
#include "process.h"

static lt_loop *loop_init(lt_loop *loop) {
  /* A write to a connection the peer has closed raises SIGPIPE, which by
   * default ends the process: a host that left it so (a stock interpreter)
   * gets it held back while the loop runs, and EPIPE instead. A host that
   * ignores it (the luatest binary, Neovim, nginx) pays nothing. */
  struct sigaction sa;
  loop->hold_sigpipe = sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL;
  uv_idle_init(loop->uv, &loop->ready);
  return loop;
}

lt_loop *lt_loop_new(void) {
  lt_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return NULL;
  loop->uv = &loop->own_uv;
  if (uv_loop_init(loop->uv)) {
    free(loop);
    return NULL;
  }
  loop->owns_uv = 1;
  return loop_init(loop);
}

lt_loop *lt_loop_new_on(uv_loop_t *uv) {
  lt_loop *loop = uv ? calloc(1, sizeof *loop) : NULL;
  if (!loop)
    return NULL;
  loop->uv = uv;
  return loop_init(loop);
}

int lt_backend_fd(lt_loop *loop) {
  return uv_backend_fd(loop->uv);
}

int lt_backend_timeout(lt_loop *loop) {
  return loop->head ? 0 : uv_backend_timeout(loop->uv);
}

static void on_ready_closed(uv_handle_t *h) {
  lt_loop *loop = (lt_loop *)((char *)h - offsetof(lt_loop, ready));
  loop->ready_closed = 1;
}

static void on_ready(uv_idle_t *idle) {
  /* On the host's loop nobody calls lt_loop_step: the queue is drained
   * from here, a callback of our own (never inside llhttp or another
   * library's). */
  lt_loop *loop = (lt_loop *)((char *)idle - offsetof(lt_loop, ready));
  if (!loop->owns_uv)
    lt_loop_drain(loop);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void *lt_loop_buf_take(lt_loop *loop, size_t cap) {
  for (int i = 0; i < 4; i++)
    if (loop->spare_bufs[i] && loop->spare_caps[i] == cap) {
      void *buf = loop->spare_bufs[i];
      loop->spare_bufs[i] = NULL;
      return buf;
    }
  return malloc(cap);
}

void lt_loop_buf_give(lt_loop *loop, void *buf, size_t cap) {
  if (!buf)
    return;
  for (int i = 0; i < 4; i++)
    if (!loop->spare_bufs[i]) {
      loop->spare_bufs[i] = buf;
      loop->spare_caps[i] = cap;
      return;
    }
  free(buf);
}

static void free_loop(lt_loop *loop) {
  lt_request_pool_free();
  for (int i = 0; i < 4; i++)
    free(loop->spare_bufs[i]);
  free(loop);
}

int lt_loop_free(lt_loop *loop) {
  if (!loop)
    return 0;
  lt_loop_drain(loop);
  if (loop->ws_ctx)
    loop->ws_free(loop);
  lt_process_reap_all(loop);
  uv_close((uv_handle_t *)&loop->ready, on_ready_closed);
  if (!loop->owns_uv) {
    /* The host's loop: its other handles are the host's to close. Ours
     * have been closed by their owners; turn it until they are gone. */
    for (int i = 0; i < 64 && !loop->ready_closed; i++)
      uv_run(loop->uv, UV_RUN_NOWAIT);
    free_loop(loop);
    return 0;
  }
  uv_run(loop->uv, UV_RUN_NOWAIT);
  if (uv_loop_close(loop->uv) == 0) {
    free_loop(loop);
    return 0;
  }
  /* Whatever is still open here was leaked by its owner; closing it lets the
   * loop be freed rather than kept alive forever. */
  uv_walk(loop->uv, close_walk, NULL);
  for (int i = 0; i < 16 && uv_loop_close(loop->uv) == UV_EBUSY; i++) {
    uv_run(loop->uv, UV_RUN_NOWAIT);
    lt_loop_drain(loop);
  }
  free_loop(loop);
  return LT_EBUSY;
}

void lt_loop_defer(lt_loop *loop, lt_task *task) {
  if (task->queued)
    return;
  task->queued = 1;
  task->next = NULL;
  if (loop->tail) {
    loop->tail->next = task;
  } else {
    loop->head = task;
    uv_idle_start(&loop->ready, on_ready);
  }
  loop->tail = task;
}

void lt_loop_undefer(lt_loop *loop, lt_task *task) {
  if (!task->queued)
    return;
  lt_task **pp = &loop->head, *prev = NULL;
  while (*pp && *pp != task) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (*pp) {
    *pp = task->next;
    if (loop->tail == task)
      loop->tail = prev;
  }
  task->queued = 0;
  task->next = NULL;
}

void lt_loop_drain(lt_loop *loop) {
  lt_task *t;
  while ((t = loop->head)) {
    loop->head = t->next;
    if (!loop->head)
      loop->tail = NULL;
    t->next = NULL;
    t->queued = 0;
    t->fn(t);
  }
  uv_idle_stop(&loop->ready);
}

int lt_loop_step(lt_loop *loop, int block) {
  return lt_loop_step_until(loop, block, NULL);
}

static int step(lt_loop *loop, int block, const int *done);

void lt_loop_hold_begin(lt_loop *loop) {
  if (!loop->hold_sigpipe || loop->holding++)
    return;
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &loop->held_mask);
}

void lt_loop_hold_end(lt_loop *loop) {
  if (!loop->hold_sigpipe || --loop->holding)
    return;
  sigset_t pipe, pending;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  /* Discard the SIGPIPEs our writes raised before letting it through. */
  if (!sigismember(&loop->held_mask, SIGPIPE) && sigpending(&pending) == 0 &&
      sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe, NULL, &zero) == SIGPIPE)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &loop->held_mask, NULL);
}

int lt_loop_step_until(lt_loop *loop, int block, const int *done) {
  /* Nothing queued and nothing that could fire: the turn has nothing to
   * run, and a host polling every frame pays no signal-mask calls. */
  if (!loop->head && !uv_loop_alive(loop->uv))
    return 0;
  lt_loop_hold_begin(loop);
  int r = step(loop, block, done);
  lt_loop_hold_end(loop);
  return r;
}

static int step(lt_loop *loop, int block, const int *done) {
  lt_loop_drain(loop);
  /* The drain may have finished what the caller waits for: blocking now
   * would wait on handles that have nothing to say. */
  if (done && *done)
    return uv_loop_alive(loop->uv) || loop->head != NULL;
  /* With work queued the idle handle keeps this turn from blocking. */
  uv_run(loop->uv, block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
  lt_loop_drain(loop);
  return uv_loop_alive(loop->uv) || loop->head != NULL;
}

int lt_loop_run(lt_loop *loop) {
  while (lt_loop_step(loop, 1))
    ;
  return 0;
}

int lt_loop_run_once(lt_loop *loop) {
  return lt_loop_step(loop, 1);
}

int lt_loop_alive(lt_loop *loop) {
  return loop->head != NULL || uv_loop_alive(loop->uv);
}

double lt_loop_time(lt_loop *loop) {
  return (double)uv_now(loop->uv) / 1000.0;
}

const char *lt_loop_date(lt_loop *loop) {
  uint64_t sec = uv_now(loop->uv) / 1000;
  if (loop->date[0] && sec == loop->date_sec)
    return loop->date;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(loop->date, sizeof loop->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  loop->date_sec = sec;
  return loop->date;
}

uv_loop_t *lt_loop_uv(lt_loop *loop) {
  return loop->uv;
}
