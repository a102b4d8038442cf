/* The fault proxy owns its listener and, per accepted connection, both
 * sockets and the timers of the two directions. Each direction is a pipe:
 * what its source sends is queued as chunks, each due when its latency has
 * passed, and pumped to the other socket in pieces as the slicer, the
 * bandwidth and the data limit allow. A queue above HIGH_WATER stops
 * reading the source, so a slow toxic holds the sender back rather than
 * buffering without bound. */
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "proxy.h"

#define READ_CHUNK 65536
#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)
/* The bandwidth toxic sends pieces of this many milliseconds' worth. */
#define BANDWIDTH_TICK_MS 20

typedef struct chunk {
  struct chunk *next;
  size_t len, off;
  uint64_t due; /* loop time it may go, once its latency passed */
  char data[];
} chunk;

typedef struct pipe_ {
  lt_proxy_conn *c;
  int down; /* 1: target to client */
  uv_tcp_t *src, *dst;
  chunk *head, *tail;
  size_t queued;   /* bytes in the queue and in writes not done */
  size_t inflight; /* of them, in writes not done */
  uint64_t passed; /* bytes handed on */
  uint64_t last_due;
  uint64_t next_at;   /* the next piece not before (slicer, bandwidth) */
  uint64_t close_at;  /* slow_close: the end passed on not before */
  uv_timer_t pump;    /* the next piece, or the delayed end */
  uv_timer_t timeout; /* the timeout toxic */
  uv_timer_t reset;   /* the reset_peer toxic */
  uv_shutdown_t shutdown;
  unsigned reading : 1, eof : 1, ending : 1, shut : 1, done : 1, limited : 1;
  char rbuf[READ_CHUNK];
} pipe_;

struct lt_proxy_conn {
  lt_proxy *p;
  lt_proxy_conn *next, *prev;
  uv_tcp_t client, server;
  uv_connect_t connect;
  int handles;
  unsigned connected : 1, closing : 1;
  pipe_ up, down;
};

typedef struct wreq {
  uv_write_t req;
  pipe_ *pp;
  size_t len;
  char data[];
} wreq;

#define CONN_HANDLES 8

static void pump(pipe_ *pp);
static void conn_close(lt_proxy_conn *c, int reset);

static const lt_toxic_set *toxics_of(const pipe_ *pp) {
  lt_proxy *p = pp->c->p;
  return pp->down ? &p->toxics.downstream : &p->toxics.upstream;
}

static uint64_t now_ms(const pipe_ *pp) {
  return uv_now(pp->c->p->loop->uv);
}

/* A pseudo-random jitter in [-j, j] (xorshift: tests need no better). */
static int64_t jitter(uint64_t j) {
  static uint32_t x = 2463534242u;
  if (!j)
    return 0;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return (int64_t)(x % (2 * j + 1)) - (int64_t)j;
}

/* ---- reading ------------------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  pipe_ *pp = h->data;
  (void)size;
  *buf = uv_buf_init(pp->rbuf, sizeof pp->rbuf);
}

static void read_stop(pipe_ *pp) {
  if (pp->reading) {
    uv_read_stop((uv_stream_t *)pp->src);
    pp->reading = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void read_start(pipe_ *pp) {
  if (pp->reading || pp->eof || pp->limited || pp->c->closing || pp->queued > LOW_WATER)
    return;
  if (uv_read_start((uv_stream_t *)pp->src, on_alloc, on_read) == 0)
    pp->reading = 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  pipe_ *pp = s->data;
  lt_proxy_conn *c = pp->c;
  if (nread == 0 || c->closing)
    return;
  if (nread < 0) {
    read_stop(pp);
    if (nread != UV_EOF) {
      conn_close(c, 1); /* a reset on one side is passed on to the other */
      return;
    }
    pp->eof = 1;
    pump(pp);
    return;
  }
  const lt_toxic_set *t = toxics_of(pp);
  if (pp->limited || (t->has & LT_TOXIC_TIMEOUT))
    return; /* dropped, as Toxiproxy's timeout drops what it holds up */
  chunk *k = malloc(sizeof *k + (size_t)nread);
  if (!k) {
    conn_close(c, 1);
    return;
  }
  memcpy(k->data, buf->base, (size_t)nread);
  k->len = (size_t)nread;
  k->off = 0;
  k->next = NULL;
  k->due = now_ms(pp);
  if (t->has & LT_TOXIC_LATENCY) {
    int64_t d = (int64_t)t->latency_ms + jitter(t->jitter_ms);
    k->due += d > 0 ? (uint64_t)d : 0;
  }
  if (k->due < pp->last_due)
    k->due = pp->last_due; /* jitter never reorders the stream */
  pp->last_due = k->due;
  if (pp->tail)
    pp->tail->next = k;
  else
    pp->head = k;
  pp->tail = k;
  pp->queued += k->len;
  if (pp->queued > c->p->max_queued)
    c->p->max_queued = pp->queued;
  if (pp->queued > HIGH_WATER)
    read_stop(pp);
  pump(pp);
}

/* ---- writing ------------------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  pipe_ *pp = w->pp;
  pp->inflight -= w->len;
  pp->queued -= w->len;
  free(w);
  if (pp->c->closing)
    return;
  if (status < 0) {
    conn_close(pp->c, 1);
    return;
  }
  pump(pp);
}

static int write_piece(pipe_ *pp, const char *data, size_t n) {
  wreq *w = malloc(sizeof *w + n);
  if (!w)
    return LT_ENOMEM;
  memcpy(w->data, data, n);
  w->pp = pp;
  w->len = n;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  int r = uv_write(&w->req, (uv_stream_t *)pp->dst, &b, 1, on_write);
  if (r) {
    free(w);
    return r;
  }
  pp->inflight += n;
  return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  pipe_ *pp = req->data;
  lt_proxy_conn *c = pp->c;
  pp->done = 1;
  if (c->closing)
    return;
  if (status < 0 || (c->up.done && c->down.done))
    conn_close(c, 0);
}

static void on_pump_timer(uv_timer_t *t) {
  pump(t->data);
}

static void drop_queue(pipe_ *pp) {
  while (pp->head) {
    chunk *k = pp->head;
    pp->head = k->next;
    pp->queued -= k->len - k->off;
    free(k);
  }
  pp->tail = NULL;
}

/* Passes on what is due, then arms the timer for what is not. */
static void pump(pipe_ *pp) {
  lt_proxy_conn *c = pp->c;
  if (c->closing || (!pp->down && !c->connected))
    return;
  const lt_toxic_set *t = toxics_of(pp);
  if (t->has & LT_TOXIC_TIMEOUT)
    return; /* stalled until the toxic goes or its time is up */
  uint64_t now = now_ms(pp);
  uint64_t wait = 0;
  while (pp->head && !pp->limited && pp->inflight < HIGH_WATER) {
    chunk *k = pp->head;
    wait = k->due > pp->next_at ? k->due : pp->next_at;
    if (wait > now)
      break;
    wait = 0;
    size_t n = k->len - k->off;
    if ((t->has & LT_TOXIC_SLICER) && t->slice_bytes && n > t->slice_bytes)
      n = (size_t)t->slice_bytes;
    if ((t->has & LT_TOXIC_BANDWIDTH) && t->kbps) {
      uint64_t cap = t->kbps * BANDWIDTH_TICK_MS / 8; /* kbps = bits per ms */
      if (cap < 1)
        cap = 1;
      if (n > cap)
        n = (size_t)cap;
    }
    if (t->has & LT_TOXIC_LIMIT_DATA) {
      uint64_t left = t->limit_bytes > pp->passed ? t->limit_bytes - pp->passed : 0;
      if (n > left)
        n = (size_t)left;
    }
    if (n > 0) {
      if (write_piece(pp, k->data + k->off, n)) {
        conn_close(c, 1);
        return;
      }
      pp->passed += n;
      k->off += n;
      if (k->off == k->len) {
        pp->head = k->next;
        if (!pp->head)
          pp->tail = NULL;
        free(k); /* (its bytes count in queued until their writes complete) */
      }
    }
    uint64_t spacing = 0;
    if (t->has & LT_TOXIC_SLICER)
      spacing = t->slice_delay_ms;
    if ((t->has & LT_TOXIC_BANDWIDTH) && t->kbps) {
      uint64_t ms = ((uint64_t)n * 8 + t->kbps / 2) / t->kbps;
      if (ms > spacing)
        spacing = ms;
    }
    if (spacing)
      pp->next_at = now + spacing;
    if ((t->has & LT_TOXIC_LIMIT_DATA) && pp->passed >= t->limit_bytes)
      pp->limited = 1;
  }
  if (pp->limited) {
    /* The limit was reached: once what passed is written, the connection
     * closes. */
    read_stop(pp);
    drop_queue(pp);
    if (!pp->inflight)
      conn_close(c, 0);
    return;
  }
  if (!pp->head && pp->eof && !pp->shut) {
    /* The source ended and everything it sent is out: the end goes on,
     * after slow_close's delay. */
    if ((t->has & LT_TOXIC_SLOW_CLOSE) && !pp->ending) {
      pp->ending = 1;
      pp->close_at = now + t->slow_close_ms;
    }
    if (pp->ending && pp->close_at > now) {
      wait = pp->close_at;
    } else {
      pp->shut = 1;
      pp->shutdown.data = pp;
      if (uv_shutdown(&pp->shutdown, (uv_stream_t *)pp->dst, on_shutdown)) {
        conn_close(c, 0);
        return;
      }
    }
  }
  if (wait > now)
    uv_timer_start(&pp->pump, on_pump_timer, wait - now, 0);
  read_start(pp);
}

/* ---- the timeout and reset_peer toxics --------------------------------------------- */

static void on_timeout(uv_timer_t *t) {
  pipe_ *pp = t->data;
  conn_close(pp->c, 0);
}

static void on_reset(uv_timer_t *t) {
  pipe_ *pp = t->data;
  conn_close(pp->c, 1);
}

/* (Re)starts the timers of pp's toxics, from now. */
static void arm_toxics(pipe_ *pp) {
  const lt_toxic_set *t = toxics_of(pp);
  uv_timer_stop(&pp->timeout);
  uv_timer_stop(&pp->reset);
  if ((t->has & LT_TOXIC_TIMEOUT) && t->timeout_ms)
    uv_timer_start(&pp->timeout, on_timeout, t->timeout_ms, 0);
  if (t->has & LT_TOXIC_RESET_PEER)
    uv_timer_start(&pp->reset, on_reset, t->reset_after_ms, 0);
}

/* ---- connection lifetime ----------------------------------------------------------- */

static void proxy_maybe_closed(lt_proxy *p);

static void on_conn_closed(uv_handle_t *h) {
  pipe_ *pp = h->data;
  lt_proxy_conn *c = pp->c;
  if (--c->handles)
    return;
  lt_proxy *p = c->p;
  if (c->prev)
    c->prev->next = c->next;
  else
    p->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  drop_queue(&c->up);
  drop_queue(&c->down);
  free(c);
  p->open_handles--;
  proxy_maybe_closed(p);
}

static void close_tcp(uv_tcp_t *tcp, int reset) {
  if (!reset || uv_tcp_close_reset(tcp, on_conn_closed))
    uv_close((uv_handle_t *)tcp, on_conn_closed);
}

/* Closes both sockets (reset: with RST, where the socket allows it) and
 * the timers. */
static void conn_close(lt_proxy_conn *c, int reset) {
  if (c->closing)
    return;
  c->closing = 1;
  pipe_ *pipes[2] = {&c->up, &c->down};
  for (int i = 0; i < 2; i++) {
    uv_close((uv_handle_t *)&pipes[i]->pump, on_conn_closed);
    uv_close((uv_handle_t *)&pipes[i]->timeout, on_conn_closed);
    uv_close((uv_handle_t *)&pipes[i]->reset, on_conn_closed);
  }
  close_tcp(&c->client, reset);
  close_tcp(&c->server, reset && c->connected);
}

static void pipe_init(lt_proxy_conn *c, pipe_ *pp, int down, uv_tcp_t *src, uv_tcp_t *dst) {
  uv_loop_t *uv = c->p->loop->uv;
  pp->c = c;
  pp->down = down;
  pp->src = src;
  pp->dst = dst;
  src->data = pp;
  uv_timer_init(uv, &pp->pump);
  uv_timer_init(uv, &pp->timeout);
  uv_timer_init(uv, &pp->reset);
  pp->pump.data = pp->timeout.data = pp->reset.data = pp;
}

static void on_connect(uv_connect_t *req, int status) {
  lt_proxy_conn *c = req->data;
  if (c->closing)
    return;
  if (status < 0) {
    conn_close(c, 0); /* the client sees the connection close */
    return;
  }
  c->connected = 1;
  uv_tcp_nodelay(&c->server, 1);
  read_start(&c->down);
  pump(&c->up);
}

static void on_connection(uv_stream_t *ls, int status) {
  lt_proxy *p = ls->data;
  if (status < 0 || p->closing)
    return;
  lt_proxy_conn *c = calloc(1, sizeof *c);
  if (!c)
    return;
  c->p = p;
  uv_tcp_init(p->loop->uv, &c->client);
  uv_tcp_init(p->loop->uv, &c->server);
  pipe_init(c, &c->up, 0, &c->client, &c->server);
  pipe_init(c, &c->down, 1, &c->server, &c->client);
  c->handles = CONN_HANDLES;
  p->open_handles++;
  p->connections++;
  c->next = p->conns;
  if (p->conns)
    p->conns->prev = c;
  p->conns = c;
  c->connect.data = c;
  if (uv_accept(ls, (uv_stream_t *)&c->client) ||
      uv_tcp_connect(&c->connect, &c->server, (struct sockaddr *)&p->target, on_connect)) {
    conn_close(c, 0);
    return;
  }
  uv_tcp_nodelay(&c->client, 1);
  arm_toxics(&c->up);
  arm_toxics(&c->down);
  read_start(&c->up);
}

/* ---- the proxy ---------------------------------------------------------------------- */

/* A target named by host name is looked up once, when the proxy is made
 * (in the caller's set-up, so a blocking lookup is fine), and its first
 * address kept: every connection then goes to the same one. */
static int resolve_target(lt_loop *loop, const char *host, int port,
                          struct sockaddr_storage *addr) {
  uv_getaddrinfo_t req;
  int r = lt_addr_lookup(loop->uv, &req, NULL, host, port);
  if (r)
    return r;
  struct addrinfo *ai = lt_addr_tcp(req.addrinfo);
  if (ai)
    memcpy(addr, ai->ai_addr, ai->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  return ai ? 0 : UV_EAI_NONAME;
}

lt_proxy *lt_proxy_new(lt_loop *loop, const char *target_host, int target_port, int *err) {
  struct sockaddr_storage addr;
  int r = lt_addr_parse(target_host, target_port, &addr);
  if (r && (r = resolve_target(loop, target_host, target_port, &addr))) {
    *err = r;
    return NULL;
  }
  lt_proxy *p = calloc(1, sizeof *p);
  if (!p) {
    *err = LT_ENOMEM;
    return NULL;
  }
  p->loop = loop;
  p->target = addr;
  return p;
}

int lt_proxy_listen(lt_proxy *p, const char *host, int port) {
  struct sockaddr_storage addr;
  int r = lt_addr_parse(host, port, &addr);
  if (r)
    return r;
  if (p->listening)
    return LT_ESTATE;
  if ((r = uv_tcp_init(p->loop->uv, &p->listener)))
    return r;
  p->listener.data = p;
  p->open_handles++;
  p->listening = 1;
  if ((r = uv_tcp_bind(&p->listener, (struct sockaddr *)&addr, 0)) ||
      (r = uv_listen((uv_stream_t *)&p->listener, 511, on_connection)))
    return r;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
  p->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

void lt_proxy_set(lt_proxy *p, const lt_toxics *toxics) {
  p->toxics = *toxics;
  for (lt_proxy_conn *c = p->conns; c; c = c->next) {
    if (c->closing)
      continue;
    pipe_ *pipes[2] = {&c->up, &c->down};
    for (int i = 0; i < 2; i++) {
      arm_toxics(pipes[i]);
      /* What was held back may go now; the pump runs from the loop, never
       * inside this call. */
      uv_timer_start(&pipes[i]->pump, on_pump_timer, 0, 0);
    }
  }
}

static void on_closed_task(lt_task *t) {
  lt_proxy *p = (lt_proxy *)((char *)t - offsetof(lt_proxy, closed_task));
  if (p->on_closed)
    p->on_closed(p, p->closed_ud);
  free(p);
}

static void proxy_maybe_closed(lt_proxy *p) {
  if (p->closing && p->open_handles == 0) {
    p->closed_task.fn = on_closed_task;
    lt_loop_defer(p->loop, &p->closed_task);
  }
}

static void on_listener_closed(uv_handle_t *h) {
  lt_proxy *p = h->data;
  p->open_handles--;
  proxy_maybe_closed(p);
}

void lt_proxy_close(lt_proxy *p, lt_proxy_closed_cb cb, void *ud) {
  if (p->closing)
    return;
  p->closing = 1;
  p->on_closed = cb;
  p->closed_ud = ud;
  if (p->listening)
    uv_close((uv_handle_t *)&p->listener, on_listener_closed);
  for (lt_proxy_conn *c = p->conns; c; c = c->next)
    conn_close(c, 0);
  proxy_maybe_closed(p);
}
