/* The pump: client socket -> frame check -> socketpair -> libwebsockets, and
 * back. Writes are tried at once; what the kernel does not take is queued
 * and reading from the other side pauses until it is out, so neither
 * direction buffers without bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "stream.h"
#include "wsbridge.h"
#include "wsframe.h"

typedef struct side {
  union {
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  int open;    /* the handle is initialised and not yet closing */
  int eof;     /* nothing more will be read from it */
  int pending; /* writes queued to it */
  int paused;  /* reading stopped: its own answers (pongs) pile up unread */
  struct lt_wsbridge *b;
} side;

struct lt_wsbridge {
  side client; /* the TCP connection */
  side lws;    /* our end of the socketpair */
  uv_timer_t linger;
  int linger_open;
  lt_wsframe frames;
  char *rbuf;
  int failed;
  /* A violation inside a frame libwebsockets has begun: reported once it
   * has read all that went before (so earlier messages come first). */
  char late[125];
  size_t late_len;
  int late_waits;
  int want_drain; /* the owner waits for our output to go down */
  int draining;   /* sent all we will: shut the client side down once written */
  char held_close[139];
  size_t held_close_len;
  /* Held control frames wait here; each left a marker pong in the stream
   * to libwebsockets, so the owner learns of them in order with the
   * messages before them. */
  struct held *held_head, **held_tail;
  char marker[16];
  int autoping;
  /* Our own frames go straight to the client, but only after
   * libwebsockets' 101 answer; until it has passed they wait here. */
  int head_out;
  unsigned head_match; /* how much of "\r\n\r\n" the last bytes matched */
  char *early_out;
  size_t early_out_len;
  const lt_wsbridge_events *ev;
  void *ud;
  lt_wsbridge **list, *next;
  int closing_handles;
};

struct held {
  struct held *next;
  int opcode;
  size_t len;
  char payload[];
};

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_lws_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void alloc_shared(uv_handle_t *h, size_t size, uv_buf_t *buf);
static void drain_lws(lt_wsbridge *b);

static lt_wsbridge *of(uv_handle_t *h) {
  return h->data;
}

static void unlink_bridge(lt_wsbridge *b) {
  for (lt_wsbridge **p = b->list; p && *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      return;
    }
}

static void on_handle_closed(uv_handle_t *h) {
  lt_wsbridge *b = of(h);
  if (--b->closing_handles == 0 && !b->client.open && !b->lws.open && !b->linger_open) {
    if (b->ev && b->ev->gone)
      b->ev->gone(b->ud);
    unlink_bridge(b);
    free(b->early_out);
    while (b->held_head) {
      struct held *h = b->held_head;
      b->held_head = h->next;
      free(h);
    }
    free(b);
  }
}

static void close_handle(lt_wsbridge *b, uv_handle_t *h, int *open) {
  if (!*open)
    return;
  *open = 0;
  b->closing_handles++;
  uv_close(h, on_handle_closed);
}

static void report_drained(lt_wsbridge *b) {
  if (!b->want_drain)
    return;
  b->want_drain = 0;
  if (b->ev && b->ev->drained)
    b->ev->drained(b->ud);
}

static void close_client(lt_wsbridge *b) {
  report_drained(b); /* a sender waiting on the client learns it is gone */
  close_handle(b, (uv_handle_t *)&b->client.h, &b->client.open);
  close_handle(b, (uv_handle_t *)&b->linger, &b->linger_open);
}

static void close_lws(lt_wsbridge *b) {
  close_handle(b, (uv_handle_t *)&b->lws.h, &b->lws.open);
}

static void on_linger_end(uv_timer_t *t) {
  close_client(of((uv_handle_t *)t));
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Everything for the client is written: send FIN, then read (and drop)
 * what it still sends for a moment, so a late frame of its own does not turn
 * our close into a reset that could lose the close frame. */
static void finish_client(lt_wsbridge *b) {
  if (!b->client.open || b->client.pending)
    return;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || uv_shutdown(req, &b->client.h.stream, on_shutdown)) {
    free(req);
    close_client(b);
    return;
  }
  if (b->client.eof) {
    close_client(b);
    return;
  }
  uv_read_start(&b->client.h.stream, alloc_shared, on_client_read);
  uv_unref((uv_handle_t *)&b->client.h);
  uv_timer_start(&b->linger, on_linger_end, 1000, 0);
  uv_unref((uv_handle_t *)&b->linger);
}

static void drop_both(lt_wsbridge *b) {
  close_client(b);
  close_lws(b);
}

static void on_written(void *ud, int status) {
  side *to = ud;
  lt_wsbridge *b = to->b;
  to->pending--;
  if (status < 0 && to == &b->client) {
    drop_both(b);
    return;
  }
  if (to == &b->client && uv_stream_get_write_queue_size(&to->h.stream) <= LT_LOW_WATER) {
    if (b->client.paused && b->client.open && !b->client.eof) {
      b->client.paused = 0;
      uv_read_start(&b->client.h.stream, alloc_shared, on_client_read);
    }
    report_drained(b);
  }
  if (to->pending)
    return;
  if (to == &b->client) {
    if (b->draining)
      finish_client(b);
    else if (b->lws.open && !b->lws.eof)
      uv_read_start(&b->lws.h.stream, alloc_shared, on_lws_read);
  } else if (b->client.open && !b->client.eof && !b->client.paused) {
    uv_read_start(&b->client.h.stream, alloc_shared, on_client_read);
  }
}

/* Writes to `to`; what does not go at once is queued and `from` pauses. */
static void pumpv(lt_wsbridge *b, side *to, side *from, uv_buf_t *bufs, unsigned nbufs) {
  if (!to->open)
    return;
  int r = lt_stream_write(&to->h.stream, to->pending, bufs, nbufs, on_written, to);
  if (r < 0) {
    drop_both(b);
    return;
  }
  if (r == 0)
    return;
  to->pending++;
  if (from->open)
    uv_read_stop(&from->h.stream);
}

static void pump(lt_wsbridge *b, side *to, side *from, const char *p, size_t n) {
  if (!n)
    return;
  uv_buf_t buf = uv_buf_init((char *)p, (unsigned)n);
  pumpv(b, to, from, &buf, 1);
}

static void pass_to_lws(void *ud, const char *p, size_t n) {
  lt_wsbridge *b = ud;
  if (b->held_close_len)
    return; /* nothing may follow a close frame */
  pump(b, &b->lws, &b->client, p, n);
}

static void held_control(void *ud, int opcode, const char *payload, size_t n, const char *raw,
                         size_t raw_len) {
  lt_wsbridge *b = ud;
  if (opcode == 9 && b->autoping) {
    lt_wsbridge_send(b, 10, payload, n);
    return;
  }
  struct held *h = malloc(sizeof *h + n);
  if (!h)
    return;
  h->next = NULL;
  h->opcode = opcode;
  h->len = n;
  memcpy(h->payload, payload, n);
  *b->held_tail = h;
  b->held_tail = &h->next;
  /* A pong from the client is the one frame libwebsockets reports in order
   * and answers with nothing. */
  uint8_t pong[2 + 4 + sizeof b->marker] = {0x8A, 0x80 | sizeof b->marker, 0, 0, 0, 0};
  memcpy(pong + 6, b->marker, sizeof b->marker);
  pump(b, &b->lws, &b->client, (const char *)pong, sizeof pong);
  if (opcode == 8) {
    memcpy(b->held_close, raw, raw_len);
    b->held_close_len = raw_len;
  }
}

int lt_wsbridge_held(lt_wsbridge *b, const void *pong, size_t n, int *opcode, char *payload,
                     size_t *len) {
  struct held *h = b->held_head;
  if (!h || n != sizeof b->marker || memcmp(pong, b->marker, n))
    return 0;
  b->held_head = h->next;
  if (!b->held_head)
    b->held_tail = &b->held_head;
  *opcode = h->opcode;
  *len = h->len;
  memcpy(payload, h->payload, h->len);
  free(h);
  return 1;
}

/* The client broke the protocol: nothing more of its goes on. The failure
 * is held like a control frame, so the owner learns of it after the
 * messages before it, and answers with the close code (aiohttp closes when
 * the handler receives the error). */
/* Bytes written to libwebsockets' end that it has not read yet. */
static int unread_by_lws(lt_wsbridge *b) {
  uv_os_fd_t fd;
  int queued = 0;
  if (uv_fileno((uv_handle_t *)&b->lws.h, &fd) || ioctl(fd, SIOCOUTQ, &queued) < 0)
    return 0;
  return queued;
}

/* Polls (every millisecond, for at most half a second) until libwebsockets
 * has read everything, then reports the violation. */
static void on_late_check(uv_timer_t *t) {
  lt_wsbridge *b = of((uv_handle_t *)t);
  if (b->lws.open && (b->lws.pending || unread_by_lws(b)) && ++b->late_waits < 500)
    return;
  uv_timer_stop(t);
  if (b->ev && b->ev->failed)
    b->ev->failed(b->ud, b->late, b->late_len);
}

static void fail(lt_wsbridge *b, int code) {
  b->failed = 1;
  const char *reason = b->frames.reason ? b->frames.reason : "";
  char payload[125];
  size_t rlen = strlen(reason);
  if (rlen > sizeof payload - 2)
    rlen = sizeof payload - 2;
  payload[0] = (char)(code >> 8);
  payload[1] = (char)(code & 0xFF);
  memcpy(payload + 2, reason, rlen);
  if (b->frames.cut && b->ev && b->ev->failed && b->linger_open) {
    memcpy(b->late, payload, 2 + rlen);
    b->late_len = 2 + rlen;
    uv_timer_start(&b->linger, on_late_check, 0, 1);
  } else {
    held_control(b, LT_WSBRIDGE_FAILED, payload, 2 + rlen, NULL, 0);
  }
}

static void alloc_shared(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)size;
  *buf = uv_buf_init(of(h)->rbuf, 65536);
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  lt_wsbridge *b = of((uv_handle_t *)s);
  if (n == 0)
    return;
  if (n < 0) {
    b->client.eof = 1;
    uv_read_stop(s);
    if (b->draining) {
      if (!b->client.pending)
        close_client(b);
      return;
    }
    /* The client is gone: libwebsockets sees its side end too. */
    drop_both(b);
    return;
  }
  if (b->failed || b->draining || !b->lws.open)
    return; /* after a violation or our close: read and drop */
  int code = lt_wsframe_feed(&b->frames, buf->base, (size_t)n);
  if (code) {
    fail(b, code);
    return;
  }
  /* A client that sends pings and never reads the pongs: stop reading it
   * until it has taken them. */
  if (b->client.open && uv_stream_get_write_queue_size(s) > LT_HIGH_WATER) {
    uv_read_stop(s);
    b->client.paused = 1;
  }
}

/* What libwebsockets wrote, on its way to the client. */
static void from_lws(lt_wsbridge *b, const char *p, size_t n) {
  size_t at = 0;
  if (!b->head_out) {
    static const char end[] = "\r\n\r\n";
    while (at < n && b->head_match < 4) {
      char c = p[at++];
      b->head_match = c == end[b->head_match] ? b->head_match + 1 : c == '\r' ? 1 : 0;
    }
    if (b->head_match < 4) {
      pump(b, &b->client, &b->lws, p, n);
      return;
    }
    pump(b, &b->client, &b->lws, p, at);
    b->head_out = 1;
    pump(b, &b->client, &b->lws, b->early_out, b->early_out_len);
    free(b->early_out);
    b->early_out = NULL;
  }
  pump(b, &b->client, &b->lws, p + at, n - at);
}

/* Takes what libwebsockets has written so far without waiting for the
 * loop: its 101 answer is written inside the adopt call, and must be out
 * before anything of ours. */
static void drain_lws(lt_wsbridge *b) {
  uv_os_fd_t fd;
  if (!b->lws.open || b->lws.eof || uv_fileno((uv_handle_t *)&b->lws.h, &fd))
    return;
  ssize_t n;
  while ((n = read(fd, b->rbuf, 65536)) > 0)
    from_lws(b, b->rbuf, (size_t)n);
}

static void on_lws_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  lt_wsbridge *b = of((uv_handle_t *)s);
  if (n == 0)
    return;
  if (n < 0) {
    /* libwebsockets closed the connection: pass on what it wrote, then end
     * the client side. */
    b->lws.eof = 1;
    close_lws(b);
    b->draining = 1;
    finish_client(b);
    return;
  }
  from_lws(b, buf->base, (size_t)n);
}

int lt_wsbridge_blocked(lt_wsbridge *b) {
  return b->client.open && uv_stream_get_write_queue_size(&b->client.h.stream) > LT_HIGH_WATER;
}

void lt_wsbridge_want_drain(lt_wsbridge *b) {
  b->want_drain = 1;
}

int lt_wsbridge_send(lt_wsbridge *b, int opcode, const char *data, size_t len) {
  if (!b->client.open || b->draining)
    return UV_EPIPE;
  uint8_t hdr[10];
  size_t hlen = 2;
  hdr[0] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    hdr[1] = (uint8_t)len;
  } else if (len <= 0xFFFF) {
    hdr[1] = 126;
    hdr[2] = (uint8_t)(len >> 8), hdr[3] = (uint8_t)len;
    hlen = 4;
  } else {
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
      hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    hlen = 10;
  }
  if (!b->head_out) {
    char *p = realloc(b->early_out, b->early_out_len + hlen + len);
    if (!p)
      return UV_ENOMEM;
    memcpy(p + b->early_out_len, hdr, hlen);
    if (len)
      memcpy(p + b->early_out_len + hlen, data, len);
    b->early_out = p;
    b->early_out_len += hlen + len;
    return 0;
  }
  uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, (unsigned)hlen),
                      uv_buf_init((char *)data, (unsigned)len)};
  pumpv(b, &b->client, &b->lws, bufs, len ? 2 : 1);
  return 0;
}

lt_wsbridge *lt_wsbridge_new(uv_loop_t *loop, int tcp_fd, int *lws_fd, char *rbuf,
                             lt_wsbridge **list, const lt_wsbridge_events *ev, void *ud) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
    return NULL;
  lt_wsbridge *b = calloc(1, sizeof *b);
  if (!b) {
    close(sv[0]), close(sv[1]);
    return NULL;
  }
  b->rbuf = rbuf;
  b->ev = ev;
  b->ud = ud;
  lt_wsframe_init(&b->frames);
  b->frames.on_pass = pass_to_lws;
  b->frames.on_control = held_control;
  b->frames.ud = b;
  b->frames.hold_close = 1;
  b->frames.hold_pings = 1;
  b->autoping = 1;
  b->held_tail = &b->held_head;
  /* Unique enough that no client sends it by chance. */
  uintptr_t tag = (uintptr_t)b ^ (uintptr_t)uv_hrtime();
  /* ASCII: lws checks a control frame after a text frame as UTF-8. */
  snprintf(b->marker, sizeof b->marker, "~lt%012llx", (unsigned long long)tag & 0xFFFFFFFFFFFFull);
  uv_tcp_init(loop, &b->client.h.tcp);
  uv_pipe_init(loop, &b->lws.h.pipe, 0);
  uv_timer_init(loop, &b->linger);
  b->client.h.stream.data = b->lws.h.stream.data = b->linger.data = b;
  b->client.b = b->lws.b = b;
  b->client.open = b->lws.open = b->linger_open = 1;
  b->list = list;
  b->next = *list;
  *list = b;
  int r = uv_tcp_open(&b->client.h.tcp, tcp_fd);
  if (r == 0)
    r = uv_pipe_open(&b->lws.h.pipe, sv[1]);
  else
    close(sv[1]);
  if (r) {
    close(sv[0]);
    drop_both(b);
    return NULL;
  }
  uv_tcp_nodelay(&b->client.h.tcp, 1);
  *lws_fd = sv[0];
  return b;
}

int lt_wsbridge_start(lt_wsbridge *b, const char *early, size_t n) {
  if (!b->client.open || !b->lws.open)
    return UV_ECONNRESET;
  int r = uv_read_start(&b->lws.h.stream, alloc_shared, on_lws_read);
  if (r == 0 && !b->lws.pending)
    r = uv_read_start(&b->client.h.stream, alloc_shared, on_client_read);
  drain_lws(b);
  if (r == 0 && n && !b->failed) {
    int code = lt_wsframe_feed(&b->frames, early, n);
    if (code)
      fail(b, code);
  }
  return r;
}

void lt_wsbridge_autoping(lt_wsbridge *b, int on) {
  b->autoping = on;
}

void lt_wsbridge_release_close(lt_wsbridge *b) {
  b->frames.hold_close = 0;
  if (!b->held_close_len)
    return;
  size_t n = b->held_close_len;
  b->held_close_len = 0;
  pump(b, &b->lws, &b->client, b->held_close, n);
}

void lt_wsbridge_detach(lt_wsbridge *b) {
  b->ev = NULL;
  b->ud = NULL;
}

void lt_wsbridge_close_all(lt_wsbridge **list) {
  for (lt_wsbridge *b = *list; b; b = b->next) {
    b->ev = NULL;
    drop_both(b);
  }
}
