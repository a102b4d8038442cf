/* Raw TCP probes for tests: they speak bytes, not HTTP, so specs can send
 * malformed or pipelined requests and serve responses framed by hand. */
#include <stdlib.h>
#include <string.h>
#include "probe.h"
#include "luatest.h"

/* ---- exchange ------------------------------------------------------------------ */

static void ex_release(lt_exchange *ex) {
  if (ex->pending == 0 && ex->freed) {
    lt_buf_free(&ex->out);
    lt_buf_free(&ex->received);
    free(ex);
  }
}

static void ex_closed(uv_handle_t *h) {
  lt_exchange *ex = h->data;
  ex->pending--;
  ex_release(ex);
}

static void ex_done_task(lt_task *t) {
  lt_exchange *ex = (lt_exchange *)((char *)t - offsetof(lt_exchange, done_task));
  if (!ex->freed && ex->cb)
    ex->cb(ex, ex->status, ex->ud);
}

static void ex_finish(lt_exchange *ex, int status) {
  if (ex->finished)
    return;
  ex->finished = 1;
  ex->status = status;
  uv_timer_stop(&ex->timer);
  uv_close((uv_handle_t *)&ex->tcp, ex_closed);
  uv_close((uv_handle_t *)&ex->timer, ex_closed);
  ex->done_task.fn = ex_done_task;
  lt_loop_defer(ex->loop, &ex->done_task);
}

static void ex_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lt_exchange *ex = h->data;
  (void)suggested;
  if (lt_buf_reserve(&ex->received, 65536)) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init(ex->received.data + ex->received.len, 65536);
}

static void ex_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lt_exchange *ex = s->data;
  (void)buf;
  if (nread > 0) {
    ex->received.len += (size_t)nread;
    ex->received.data[ex->received.len] = '\0';
  } else if (nread < 0) {
    ex_finish(ex, nread == UV_EOF || nread == UV_ECONNRESET ? 0 : (int)nread);
  }
}

static void ex_written(uv_write_t *w, int status) {
  lt_exchange *ex = w->data;
  if (status < 0 && status != UV_ECANCELED)
    ex_finish(ex, status);
  else if (status == 0 && ex->half_close)
    uv_shutdown(&ex->shutdown, (uv_stream_t *)&ex->tcp, NULL);
}

static void ex_connected(uv_connect_t *c, int status) {
  lt_exchange *ex = c->data;
  if (ex->finished)
    return;
  if (status < 0) {
    ex_finish(ex, status);
    return;
  }
  uv_read_start((uv_stream_t *)&ex->tcp, ex_alloc, ex_read);
  uv_buf_t b = uv_buf_init(ex->out.data, (unsigned)ex->out.len);
  ex->write.data = ex;
  if (uv_write(&ex->write, (uv_stream_t *)&ex->tcp, &b, 1, ex_written))
    ex_finish(ex, UV_EPIPE);
}

static void ex_timeout(uv_timer_t *t) {
  ex_finish(t->data, UV_ETIMEDOUT);
}

int lt_exchange_start(lt_loop *loop, lt_exchange **out, const char *host, int port,
                      const void *data, size_t len, double timeout, int half_close,
                      lt_exchange_cb cb, void *ud) {
  struct sockaddr_in addr;
  int r = uv_ip4_addr(host, port, &addr);
  if (r)
    return r;
  lt_exchange *ex = calloc(1, sizeof *ex);
  if (!ex || lt_buf_append(&ex->out, data, len)) {
    free(ex);
    return LT_ENOMEM;
  }
  ex->loop = loop;
  ex->cb = cb;
  ex->ud = ud;
  ex->half_close = half_close;
  uv_tcp_init(loop->uv, &ex->tcp);
  uv_timer_init(loop->uv, &ex->timer);
  ex->tcp.data = ex->timer.data = ex->connect.data = ex;
  ex->pending = 2;
  uv_timer_start(&ex->timer, ex_timeout, (uint64_t)(timeout * 1000), 0);
  r = uv_tcp_connect(&ex->connect, &ex->tcp, (struct sockaddr *)&addr, ex_connected);
  if (r) {
    ex->freed = 1;
    ex->finished = 1;
    uv_close((uv_handle_t *)&ex->tcp, ex_closed);
    uv_close((uv_handle_t *)&ex->timer, ex_closed);
    return r;
  }
  *out = ex;
  return 0;
}

void lt_exchange_free(lt_exchange *ex) {
  if (!ex)
    return;
  ex->freed = 1;
  lt_loop_undefer(ex->loop, &ex->done_task);
  if (!ex->finished) {
    ex->finished = 1;
    uv_close((uv_handle_t *)&ex->tcp, ex_closed);
    uv_close((uv_handle_t *)&ex->timer, ex_closed);
  }
  ex_release(ex);
}

/* ---- responder ------------------------------------------------------------------ */

struct lt_responder {
  lt_loop *loop;
  uv_tcp_t listener;
  lt_buf answer;
  int port;
  int count;
  int close_after;
  int open;
  int closing;
  struct rconn *conns;
};

typedef struct rconn {
  uv_tcp_t tcp;
  lt_responder *r;
  struct rconn *next, *prev;
  lt_buf in;
  uv_write_t write;
} rconn;

static void responder_release(lt_responder *r) {
  if (r->closing && r->open == 0) {
    lt_buf_free(&r->answer);
    free(r);
  }
}

static void rconn_closed(uv_handle_t *h) {
  rconn *c = h->data;
  lt_responder *r = c->r;
  if (c->prev)
    c->prev->next = c->next;
  else
    r->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  lt_buf_free(&c->in);
  free(c);
  r->open--;
  responder_release(r);
}

static void rconn_written(uv_write_t *w, int status) {
  rconn *c = w->data;
  (void)status;
  if (c->r->close_after && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, rconn_closed);
}

static void rconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rconn *c = h->data;
  (void)suggested;
  lt_buf_reserve(&c->in, 4096);
  *buf = uv_buf_init(c->in.data + c->in.len, 4096);
}

static void rconn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rconn *c = s->data;
  (void)buf;
  if (nread < 0) {
    if (!uv_is_closing((uv_handle_t *)s))
      uv_close((uv_handle_t *)s, rconn_closed);
    return;
  }
  size_t before = c->in.len;
  c->in.len += (size_t)nread;
  c->in.data[c->in.len] = '\0';
  /* Answer once per request head seen. */
  const char *from = c->in.data + (before > 3 ? before - 3 : 0);
  while ((from = strstr(from, "\r\n\r\n"))) {
    from += 4;
    c->r->count++;
    c->write.data = c;
    uv_buf_t b = uv_buf_init(c->r->answer.data, (unsigned)c->r->answer.len);
    uv_write(&c->write, s, &b, 1, rconn_written);
    if (c->r->close_after)
      break;
  }
}

static void responder_conn(uv_stream_t *ls, int status) {
  lt_responder *r = ls->data;
  if (status < 0 || r->closing)
    return;
  rconn *c = calloc(1, sizeof *c);
  if (!c)
    return;
  c->r = r;
  uv_tcp_init(r->loop->uv, &c->tcp);
  c->tcp.data = c;
  r->open++;
  c->next = r->conns;
  if (r->conns)
    r->conns->prev = c;
  r->conns = c;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) ||
      uv_read_start((uv_stream_t *)&c->tcp, rconn_alloc, rconn_read))
    uv_close((uv_handle_t *)&c->tcp, rconn_closed);
}

static void responder_listener_closed(uv_handle_t *h) {
  lt_responder *r = h->data;
  r->open--;
  responder_release(r);
}

int lt_responder_start(lt_loop *loop, lt_responder **out, const char *host, const void *data,
                       size_t len, int close_after) {
  struct sockaddr_in addr;
  int r = uv_ip4_addr(host, 0, &addr);
  if (r)
    return r;
  lt_responder *rs = calloc(1, sizeof *rs);
  if (!rs || lt_buf_append(&rs->answer, data, len)) {
    free(rs);
    return LT_ENOMEM;
  }
  rs->loop = loop;
  rs->close_after = close_after;
  uv_tcp_init(loop->uv, &rs->listener);
  rs->listener.data = rs;
  rs->open = 1;
  if ((r = uv_tcp_bind(&rs->listener, (struct sockaddr *)&addr, 0)) ||
      (r = uv_listen((uv_stream_t *)&rs->listener, 64, responder_conn))) {
    lt_responder_close(rs);
    return r;
  }
  struct sockaddr_in bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&rs->listener, (struct sockaddr *)&bound, &blen);
  rs->port = ntohs(bound.sin_port);
  *out = rs;
  return 0;
}

int lt_responder_port(const lt_responder *r) {
  return r->port;
}

int lt_responder_count(const lt_responder *r) {
  return r->count;
}

void lt_responder_close(lt_responder *r) {
  if (r->closing)
    return;
  r->closing = 1;
  for (rconn *c = r->conns; c; c = c->next)
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
      uv_close((uv_handle_t *)&c->tcp, rconn_closed);
  uv_close((uv_handle_t *)&r->listener, responder_listener_closed);
}
