/* Child processes with captured output; the process handle, its three pipes
 * and a kill timer are owned here and closed together. */
#include <signal.h>
#include <stdlib.h>
#include "process.h"
#include "luatest.h"

static void release(lt_process *p) {
  if (p->open == 0 && p->freed) {
    lt_buf_free(&p->input);
    lt_buf_free(&p->stdout_buf);
    lt_buf_free(&p->stderr_buf);
    free(p);
  }
}

static void done_task(lt_task *t) {
  lt_process *p = (lt_process *)((char *)t - offsetof(lt_process, done_task));
  if (!p->freed && p->cb)
    p->cb(p, p->ud);
}

static void on_closed(uv_handle_t *h) {
  lt_process *p = h->data;
  p->open--;
  if (p->open == 0 && !p->freed) {
    p->done_task.fn = done_task;
    lt_loop_defer(p->loop, &p->done_task);
  }
  release(p);
}

static void close_handle(lt_process *p, uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, on_closed);
  (void)p;
}

static void on_process_exit(uv_process_t *proc, int64_t status, int sig) {
  lt_process *p = proc->data;
  p->exited = 1;
  p->exit_status = status;
  p->term_signal = sig;
  uv_timer_stop(&p->timer);
  close_handle(p, (uv_handle_t *)&p->proc);
  close_handle(p, (uv_handle_t *)&p->timer);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lt_process *p = h->data;
  lt_buf *b = h == (uv_handle_t *)&p->out ? &p->stdout_buf : &p->stderr_buf;
  (void)suggested;
  if (lt_buf_reserve(b, 65536)) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init(b->data + b->len, 65536);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lt_process *p = s->data;
  lt_buf *b = s == (uv_stream_t *)&p->out ? &p->stdout_buf : &p->stderr_buf;
  (void)buf;
  if (nread > 0) {
    b->len += (size_t)nread;
    b->data[b->len] = '\0';
  } else if (nread < 0) {
    close_handle(p, (uv_handle_t *)s);
  }
}

static void on_written(uv_write_t *w, int status) {
  lt_process *p = w->data;
  (void)status;
  close_handle(p, (uv_handle_t *)&p->in);
}

static void on_timeout(uv_timer_t *t) {
  lt_process *p = t->data;
  p->timed_out = 1;
  if (!p->exited)
    uv_process_kill(&p->proc, SIGKILL);
}

int lt_process_start(lt_loop *loop, lt_process **out, char **argv, char **env, const char *cwd,
                     const void *input, size_t input_len, double timeout, lt_process_cb cb,
                     void *ud) {
  lt_process *p = calloc(1, sizeof *p);
  if (!p)
    return LT_ENOMEM;
  p->loop = loop;
  p->cb = cb;
  p->ud = ud;
  uv_pipe_init(loop->uv, &p->in, 0);
  uv_pipe_init(loop->uv, &p->out, 0);
  uv_pipe_init(loop->uv, &p->err, 0);
  uv_timer_init(loop->uv, &p->timer);
  p->in.data = p->out.data = p->err.data = p->timer.data = p->proc.data = p;
  p->write.data = p;
  p->open = 4;
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&p->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&p->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&p->err;
  uv_process_options_t opts = {0};
  opts.file = argv[0];
  opts.args = argv;
  opts.env = env;
  opts.cwd = cwd;
  opts.exit_cb = on_process_exit;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  int r = uv_spawn(loop->uv, &p->proc, &opts);
  if (r) {
    /* A failed spawn still leaves the process handle initialized. */
    p->freed = 1;
    p->open = 5;
    uv_close((uv_handle_t *)&p->proc, on_closed);
    uv_close((uv_handle_t *)&p->in, on_closed);
    uv_close((uv_handle_t *)&p->out, on_closed);
    uv_close((uv_handle_t *)&p->err, on_closed);
    uv_close((uv_handle_t *)&p->timer, on_closed);
    return r;
  }
  p->open = 5;
  uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
  if (input_len) {
    lt_buf_append(&p->input, input, input_len);
    uv_buf_t b = uv_buf_init(p->input.data, (unsigned)input_len);
    if (uv_write(&p->write, (uv_stream_t *)&p->in, &b, 1, on_written))
      close_handle(p, (uv_handle_t *)&p->in);
  } else {
    close_handle(p, (uv_handle_t *)&p->in);
  }
  if (timeout > 0)
    uv_timer_start(&p->timer, on_timeout, (uint64_t)(timeout * 1000), 0);
  *out = p;
  return 0;
}

void lt_process_free(lt_process *p) {
  if (!p)
    return;
  p->freed = 1;
  lt_loop_undefer(p->loop, &p->done_task);
  if (!p->exited && !uv_is_closing((uv_handle_t *)&p->proc))
    uv_process_kill(&p->proc, SIGKILL);
  /* Its exit callback closes the process handle and the timer; the pipes
   * close now. */
  close_handle(p, (uv_handle_t *)&p->in);
  close_handle(p, (uv_handle_t *)&p->out);
  close_handle(p, (uv_handle_t *)&p->err);
  release(p);
}

static void reap_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (h->type != UV_PROCESS || uv_is_closing(h))
    return;
  lt_process *p = h->data;
  p->freed = 1; /* (its owner goes with the loop) */
  lt_loop_undefer(p->loop, &p->done_task);
  close_handle(p, (uv_handle_t *)&p->proc);
  close_handle(p, (uv_handle_t *)&p->timer);
  close_handle(p, (uv_handle_t *)&p->in);
  close_handle(p, (uv_handle_t *)&p->out);
  close_handle(p, (uv_handle_t *)&p->err);
}

void lt_process_reap_all(lt_loop *loop) {
  uv_walk(loop->uv, reap_walk, NULL);
}
