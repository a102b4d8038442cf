/* The server owns its listener and its connections. A connection reads into
 * one reused buffer, parses with llhttp until a request is complete, hands
 * it to on_request and parses nothing more until that request is answered,
 * so pipelined requests are answered in order. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "server.h"
#include "stream.h"
#include "addr.h"
#include "tls.h"

struct lt_conn {
  uv_tcp_t tcp;
  lt_server *srv;
  lt_conn *next, *prev;
  lt_parser parser;
  char *rbuf;
  size_t rlen, rpos, rcap;
  lt_request *cur;      /* being parsed */
  lt_request *inflight; /* handed to on_request, not answered yet */
  lt_buf out;           /* serialized response, reused */
  char peer[48];        /* the client's address, for request.remote */
  int writes;           /* writes queued in libuv */
  int handles;          /* tcp and timer, until both closed */
  uv_timer_t timer;     /* the header, body or keep-alive deadline */
  int timer_mode;
  unsigned requests; /* answered on this connection */
  unsigned in_dispatch : 1, closing : 1, eof : 1, reading : 1, close_after_write : 1;
  unsigned partial : 1;    /* bytes of the next request came */
  unsigned head_done : 1;  /* all of its head */
  unsigned drain_wait : 1; /* the next request waits until the output drains */
  unsigned draining : 1;   /* the rest of a body its handler already had */
  /* After a 101: the WebSocket the connection now carries (ws_server.c). */
  lt_ws *ws;
  unsigned ws_paused : 1; /* reading stopped until our output drains */
  unsigned lingering : 1; /* FIN sent: what the client still sends is dropped */
  uv_shutdown_t shutdown;
  /* TLS (opts.tls): ciphertext is read into rbuf past rlen and replaced
   * there by its plaintext; every write is encrypted on its way out. */
  lt_tls *tls;
  lt_buf tls_out, tls_plain;
};

/* What the connection's timer waits for. */
enum { WAIT_NONE, WAIT_HEAD, WAIT_BODY, WAIT_IDLE, WAIT_LINGER };

#define READ_CHUNK 16384
#define MAX_BUFFERED (1 << 20)

void lt_server_default_opts(lt_server_opts *opts) {
  memset(opts, 0, sizeof *opts); /* (fields added later start off) */
  opts->limits.max_line = 8190;
  opts->limits.max_field = 8190;
  opts->limits.max_headers = 128;
  opts->limits.max_head = 65536;
  opts->limits.max_body = 1024 * 1024;
  opts->header_timeout_ms = 60000;
  opts->keepalive_timeout_ms = 75000;
}

lt_server *lt_server_new(lt_loop *loop, const lt_server_opts *opts, lt_request_cb cb, void *ud) {
  lt_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return NULL;
  srv->loop = loop;
  if (opts)
    srv->opts = *opts;
  else
    lt_server_default_opts(&srv->opts);
  srv->on_request = cb;
  srv->ud = ud;
  return srv;
}

static void conn_process(lt_conn *c);
static void conn_close(lt_conn *c);
static void conn_read_start(lt_conn *c);
static void conn_fail(lt_conn *c, int status, const char *detail);

/* ---- deadlines -------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t) {
  lt_conn *c = t->data;
  int mode = c->timer_mode;
  c->timer_mode = WAIT_NONE;
  if (mode == WAIT_IDLE || mode == WAIT_LINGER)
    conn_close(c);
  else
    conn_fail(c, 408,
              mode == WAIT_HEAD ? "The request head was not complete in time"
                                : "The request body stopped arriving");
}

/* Sets the timer for what the connection now waits for: nothing while a
 * request is being handled; the head's deadline counts from its start and
 * is not moved by more bytes (a slowloris gains nothing), the body's from
 * the last read, the keep-alive deadline from the last answer. */
static void conn_arm(lt_conn *c) {
  int mode;
  if (c->ws)
    return; /* a WebSocket keeps its own time */
  if (c->closing || c->close_after_write || c->inflight)
    mode = WAIT_NONE;
  else if (c->partial)
    mode = c->head_done ? WAIT_BODY : WAIT_HEAD;
  else
    mode = c->requests ? WAIT_IDLE : WAIT_HEAD;
  const lt_server_opts *o = &c->srv->opts;
  uint64_t ms = mode == WAIT_IDLE   ? o->keepalive_timeout_ms
                : mode == WAIT_NONE ? 0
                                    : o->header_timeout_ms;
  if (mode == c->timer_mode && mode != WAIT_BODY)
    return;
  c->timer_mode = ms ? mode : WAIT_NONE;
  if (ms)
    uv_timer_start(&c->timer, on_deadline, ms, 0);
  else
    uv_timer_stop(&c->timer);
}

/* ---- writing -------------------------------------------------------------- */

static size_t queued(const lt_conn *c) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static void fire_drain(lt_request *req) {
  void (*cb)(lt_request *, void *) = req->drain_cb;
  req->drain_cb = NULL;
  if (cb)
    cb(req, req->drain_ud);
}

static void on_written(void *ud, int status) {
  lt_conn *c = ud;
  c->writes--;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->writes == 0 && c->close_after_write) {
    conn_close(c);
    return;
  }
  if (c->closing || queued(c) > LT_LOW_WATER)
    return;
  if (c->ws) {
    if (c->ws_paused) {
      c->ws_paused = 0;
      conn_read_start(c);
    }
    lt_ws_conn_drained(c->ws);
    return;
  }
  if (c->inflight)
    fire_drain(c->inflight);
  if (c->drain_wait) {
    c->drain_wait = 0;
    conn_process(c);
  }
}

int lt_request_write_blocked(const lt_request *req) {
  const lt_conn *c = req->conn;
  return c && !c->closing && queued(c) > LT_HIGH_WATER;
}

static void on_drain_task(lt_task *t) {
  lt_request *req = (lt_request *)((char *)t - offsetof(lt_request, drain_task));
  req->drain_loop = NULL;
  fire_drain(req);
}

void lt_request_on_drain(lt_request *req, void (*cb)(lt_request *req, void *ud), void *ud) {
  req->drain_cb = cb;
  req->drain_ud = ud;
  if (req->drain_loop) {
    lt_loop_undefer(req->drain_loop, &req->drain_task);
    req->drain_loop = NULL;
  }
  /* With nothing (much) queued, no write completion would come to fire it. */
  const lt_conn *c = req->conn;
  if (cb && c && !c->closing && queued(c) <= LT_LOW_WATER) {
    req->drain_task.fn = on_drain_task;
    req->drain_loop = c->srv->loop;
    lt_loop_defer(req->drain_loop, &req->drain_task);
  }
}

/* Ciphertext the TLS session produced (c->tls_out) goes out as it is. */
static int conn_flush_tls(lt_conn *c) {
  if (!c->tls_out.len)
    return 0;
  uv_buf_t b = uv_buf_init(c->tls_out.data, (unsigned)c->tls_out.len);
  int r = lt_stream_write((uv_stream_t *)&c->tcp, c->writes, &b, 1, on_written, c);
  lt_buf_clear(&c->tls_out);
  if (r < 0)
    return r;
  c->writes += r;
  return 0;
}

static int conn_writev(lt_conn *c, const uv_buf_t *bufs, unsigned n) {
  if (c->closing || c->lingering)
    return LT_ECLOSED;
  if (c->tls) {
    int r = 0;
    for (unsigned i = 0; i < n && !r; i++)
      r = lt_tls_write(c->tls, bufs[i].base, bufs[i].len, &c->tls_out);
    if (!r)
      r = conn_flush_tls(c);
    if (r < 0)
      conn_close(c);
    return r;
  }
  int r = lt_stream_write((uv_stream_t *)&c->tcp, c->writes, bufs, n, on_written, c);
  if (r < 0) {
    conn_close(c);
    return r;
  }
  c->writes += r;
  return 0;
}

static int conn_write(lt_conn *c, const char *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  return conn_writev(c, &b, 1);
}

static void finish_after_write(lt_conn *c) {
  c->close_after_write = 1;
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
  if (c->writes == 0)
    conn_close(c);
}

/* aiohttp's HTTPRequestEntityTooLarge text. */
static void too_large_text(char *text, size_t size, size_t max, unsigned long long actual) {
  snprintf(text, size, "Maximum request body size %zu exceeded, actual body size %llu", max,
           actual);
}

/* An answer the server gives by itself (400, 413, 431): sent, then closed. */
static void conn_fail(lt_conn *c, int status, const char *detail) {
  if (c->draining) {
    /* That request was answered: a second answer would be taken for the
     * next one's. aiohttp too just closes a body it gave up on. */
    conn_close(c);
    return;
  }
  lt_request *req = c->cur ? c->cur : lt_request_new();
  if (!req) {
    conn_close(c);
    return;
  }
  c->cur = req;
  char text[256];
  if (status == 413 && req->msg.content_length >= 0)
    too_large_text(text, sizeof text, c->srv->opts.limits.max_body,
                   (unsigned long long)req->msg.content_length);
  else if (status == 413)
    snprintf(text, sizeof text, "Maximum request body size %zu exceeded",
             c->srv->opts.limits.max_body);
  else {
    int len = lt_error_text(status, NULL, text, sizeof text);
    snprintf(text + len, sizeof text - (size_t)len, "\n\n%s", detail);
  }
  lt_response_text(&req->resp, status, text);
  req->keep_alive = 0;
  req->head = 0;
  if (req->msg.major != 1)
    req->msg.major = 1, req->msg.minor = 1;
  lt_buf_clear(&c->out);
  if (!lt_response_serialize(&req->resp, req, lt_loop_date(c->srv->loop), &c->out))
    conn_write(c, c->out.data, c->out.len);
  finish_after_write(c);
}

/* The request's answer is complete: the connection goes on with the next
 * request (or closes), and the server's reference is dropped. */
static void finish_request(lt_request *req) {
  lt_conn *c = req->conn;
  if (c && c->inflight == req) {
    c->inflight = NULL;
    c->requests++;
    req->conn = NULL;
    if (!c->closing) {
      if (!req->keep_alive)
        finish_after_write(c);
      else if (!c->in_dispatch)
        conn_process(c);
    }
  }
  lt_request_release(req);
}

static lt_conn *open_conn(lt_request *req) {
  lt_conn *c = req->conn;
  return c && !c->closing ? c : NULL;
}

int lt_request_respond(lt_request *req) {
  if (req->responded)
    return LT_ESTATE;
  req->responded = 1;
  lt_conn *c = open_conn(req);
  int r = LT_ECLOSED;
  if (c) {
    lt_buf_clear(&c->out);
    r = lt_response_serialize(&req->resp, req, lt_loop_date(c->srv->loop), &c->out);
    if (!r)
      r = conn_write(c, c->out.data, c->out.len);
    c->srv->requests++;
  }
  finish_request(req);
  return r;
}

int lt_request_stream_start(lt_request *req) {
  if (req->responded || req->resp.streaming)
    return LT_ESTATE;
  lt_conn *c = open_conn(req);
  if (!c)
    return LT_ECLOSED;
  req->resp.streaming = 1;
  lt_buf_clear(&c->out);
  int r = lt_response_serialize(&req->resp, req, lt_loop_date(c->srv->loop), &c->out);
  return r ? r : conn_write(c, c->out.data, c->out.len);
}

int lt_request_stream_write(lt_request *req, const void *data, size_t len) {
  if (!req->resp.streaming || req->responded)
    return LT_ESTATE;
  lt_conn *c = open_conn(req);
  if (!c)
    return LT_ECLOSED;
  if (req->head || len == 0)
    return 0;
  if (!req->resp.chunked)
    return conn_write(c, data, len);
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  lt_buf_clear(&c->out);
  if (lt_buf_append(&c->out, size, (size_t)n) || lt_buf_append(&c->out, data, len) ||
      lt_buf_append(&c->out, "\r\n", 2))
    return LT_ENOMEM;
  return conn_write(c, c->out.data, c->out.len);
}

int lt_request_stream_end(lt_request *req) {
  if (!req->resp.streaming || req->responded)
    return LT_ESTATE;
  req->responded = 1;
  lt_conn *c = open_conn(req);
  int r = LT_ECLOSED;
  if (c) {
    r = req->resp.chunked && !req->head ? conn_write(c, "0\r\n\r\n", 5) : 0;
    c->srv->requests++;
  }
  finish_request(req);
  return r;
}

/* ---- reading --------------------------------------------------------------- */

/* Whether s is the base64 of 16 bytes, as a Sec-WebSocket-Key must be. */
static int is_ws_key(const char *s) {
  if (!s || strlen(s) != 24 || strcmp(s + 22, "=="))
    return 0;
  for (int i = 0; i < 22; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || ch == '+' ||
          ch == '/'))
      return 0;
  }
  /* The last character before the padding carries 4 bits: its low 2 are 0. */
  return strchr("AQgw", s[21]) != NULL;
}

static int has_token(const char *list, const char *token) {
  size_t n = strlen(token);
  for (const char *s = list; s && *s;) {
    s += strspn(s, " \t,");
    size_t len = strcspn(s, ",");
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
      len--;
    if (len == n && !strncasecmp(s, token, n))
      return 1;
    s += strcspn(s, ",");
  }
  return 0;
}

int lt_request_ws_refusal(lt_request *req) {
  const char *upgrade = lt_request_header(req, "Upgrade");
  const char *connection = lt_request_header(req, "Connection");
  const char *version = lt_request_header(req, "Sec-WebSocket-Version");
  const char *key = lt_request_header(req, "Sec-WebSocket-Key");
  char text[400];
  int status = 400;
  /* The texts are aiohttp's (web_ws.py, _handshake). */
  if (!upgrade || !has_token(upgrade, "websocket"))
    snprintf(text, sizeof text,
             "400: Bad Request\n\nNo WebSocket UPGRADE hdr: %.200s\n Can \"Upgrade\" only to "
             "\"WebSocket\".",
             upgrade ? upgrade : "None");
  else if (!connection || !has_token(connection, "upgrade"))
    snprintf(text, sizeof text, "400: Bad Request\n\nNo CONNECTION upgrade hdr: %.200s",
             connection ? connection : "None");
  else if (!version || strcmp(version, LT_WS_VERSION))
    status = 426,
    snprintf(text, sizeof text, "426: Upgrade Required\n\nUnsupported version: %.200s",
             version ? version : "");
  else if (!is_ws_key(key))
    snprintf(text, sizeof text, "400: Bad Request\n\nHandshake error: %.200s", key ? key : "None");
  else
    return 0;
  lt_response_text(&req->resp, status, text);
  if (status == 426) /* RFC 6455 section 4.4: the versions we speak */
    lt_response_header(&req->resp, "Sec-WebSocket-Version", LT_WS_VERSION);
  return status;
}

int lt_request_body_refusal(lt_request *req) {
  uint64_t actual;
  if (!lt_request_body_too_large(req, &actual))
    return 0;
  char text[128];
  too_large_text(text, sizeof text, req->max_body, (unsigned long long)actual);
  lt_response_text(&req->resp, 413, text);
  return 413;
}

void lt_request_run_handler(lt_request *req, lt_handler_fn fn, void *ud) {
  int failed = fn(req, &req->resp, ud) != 0;
  if (req->resp.streaming) {
    /* The head is out: a failure can only cut the answer short. */
    if (failed && req->conn)
      conn_close(req->conn);
    if (!failed && req->c_drain)
      return; /* it goes on from the drain callback, ended by lt_response_end */
    lt_request_stream_end(req);
    return;
  }
  if (failed)
    lt_response_internal_error(&req->resp);
  lt_request_respond(req);
}

static lt_request *request_of(lt_response *resp) {
  return (lt_request *)((char *)resp - offsetof(lt_request, resp));
}

int lt_response_stream(lt_response *resp) {
  return lt_request_stream_start(request_of(resp));
}

int lt_response_write(lt_response *resp, const void *data, size_t len) {
  return lt_request_stream_write(request_of(resp), data, len);
}

int lt_response_write_blocked(const lt_response *resp) {
  return lt_request_write_blocked(request_of((lt_response *)resp));
}

static void c_drained(lt_request *req, void *ud) {
  lt_drain_cb cb = req->c_drain;
  req->c_drain = NULL;
  cb(&req->resp, ud);
}

int lt_response_on_drain(lt_response *resp, lt_drain_cb cb, void *ud) {
  lt_request *req = request_of(resp);
  if (!resp->streaming || req->responded)
    return LT_ESTATE;
  if (cb && !open_conn(req))
    return LT_ECLOSED; /* nothing will come: end the answer */
  req->c_drain = cb;
  lt_request_on_drain(req, cb ? c_drained : NULL, ud);
  return 0;
}

int lt_response_end(lt_response *resp) {
  lt_request *req = request_of(resp);
  req->c_drain = NULL;
  lt_request_on_drain(req, NULL, NULL);
  return lt_request_stream_end(req);
}

int lt_response_websocket(lt_response *resp, const char *protocol, lt_ws_event_cb cb, void *ud,
                          lt_ws **out) {
  lt_request *req = request_of(resp);
  *out = NULL;
  lt_ws_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.protocol = protocol;
  opts.max_msg_size = LT_WS_MAX_MSG_SIZE;
  int r = lt_request_upgrade(req, &opts, cb, ud, out);
  if (r == 0)
    lt_ws_free_when_closed(*out);
  return r;
}

/* ---- reading ----------------------------------------------------------------- */

/* RFC 9110 uri-host [":" port]: reg-name, IPv4 or IP-literal characters. */
static int is_host(const char *s) {
  static const char allowed[] = "-._~!$&'()*+,;=%:[]";
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (!((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
          strchr(allowed, ch)))
      return 0;
  }
  return 1;
}

/* RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host, and a
 * valid one; 1.0 may have none. */
static const char *host_problem(const lt_msg *m) {
  const char *host = NULL;
  int n = 0;
  for (int i = 0; i < m->nhdrs; i++)
    if (m->hdrs[i].name_len == 4 && !strcasecmp(lt_msg_str(m, m->hdrs[i].name), "Host"))
      host = lt_msg_str(m, m->hdrs[i].value), n++;
  if (n > 1)
    return "more than one Host header";
  if (n == 0)
    return m->minor >= 1 ? "no Host header in an HTTP/1.1 request" : NULL;
  return is_host(host) ? NULL : "invalid Host header";
}

static int on_headers(lt_parser *p) {
  lt_conn *c = p->data;
  lt_msg *m = p->msg;
  c->head_done = 1;
  const char *problem = host_problem(m);
  if (problem) {
    lt_parser_refuse(p, 400, problem);
    return -1;
  }
  /* Expect: 100-continue is answered before the body is read, as aiohttp
   * does by default. */
  if (m->expect_continue && m->major == 1 && m->minor == 1) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    conn_write(c, cont, sizeof cont - 1);
  }
  return 0;
}

static void dispatch(lt_conn *c, lt_request *req) {
  lt_server *srv = c->srv;
  int r = lt_request_prepare(req);
  if (r) {
    c->cur = req;
    c->draining = 0; /* not answered yet, even if handed over midway */
    conn_fail(c, 400, "Invalid percent-encoding in the request path");
    return;
  }
  req->conn = c;
  req->server = srv;
  req->max_body = srv->opts.lazy_body_limit ? srv->opts.limits.max_body : 0;
  memcpy(req->remote, c->peer, sizeof req->remote);
  if (c->tls)
    memcpy(req->scheme, "https", sizeof "https");
  c->inflight = req;
  lt_request_retain(req); /* the connection's reference, dropped by respond */
  c->in_dispatch = 1;
  srv->on_request(srv, req, srv->ud);
  c->in_dispatch = 0;
  lt_request_release(req); /* the parse reference */
}

/* A body has come to the lazy limit before its end: whatever the rest,
 * reading it can only raise, so its handler may run now, as aiohttp's runs
 * before the body is read (an answer can then stop an upload early). */
static int over_limit_midway(const lt_conn *c) {
  const lt_msg *m = &c->cur->msg;
  size_t max = c->srv->opts.limits.max_body;
  return c->parser.lazy_body && max && c->parser.head_complete && !c->draining && !m->upgrade &&
         m->body_size >= max;
}

static void conn_process(lt_conn *c) {
  if (c->ws || c->lingering)
    return;
  while (!c->closing && !c->inflight && !c->close_after_write && !c->ws) {
    /* Pipelined answers wait while earlier ones have not gone out. */
    if (queued(c) > LT_HIGH_WATER && c->rpos < c->rlen) {
      c->drain_wait = 1;
      break;
    }
    if (c->rpos == c->rlen) {
      c->rpos = c->rlen = 0;
      if (c->eof)
        conn_close(c);
      break;
    }
    if (!c->cur && !(c->cur = lt_request_new())) {
      conn_close(c);
      return;
    }
    long n = lt_parser_feed(&c->parser, &c->cur->msg, c->rbuf + c->rpos, c->rlen - c->rpos);
    if (n < 0) {
      if (c->parser.status)
        conn_fail(c, c->parser.status, lt_parser_reason(&c->parser));
      else
        conn_close(c);
      return;
    }
    c->rpos += (size_t)n;
    c->partial = 1;
    if (!c->parser.done) {
      if (over_limit_midway(c)) {
        /* The rest is read past once the handler answered (the body's
         * deadline still applies), then the next request is parsed. */
        lt_request *req = c->cur;
        c->cur = NULL;
        c->draining = 1;
        lt_parser_drain(&c->parser);
        dispatch(c, req);
      }
      continue;
    }
    lt_request *req = c->cur;
    c->cur = NULL;
    c->partial = c->head_done = 0;
    lt_parser_next(&c->parser);
    if (c->draining) {
      c->draining = 0; /* req carried only its trailers, if any */
      lt_request_release(req);
      continue;
    }
    dispatch(c, req);
  }
  if (c->ws)
    return; /* handed over during dispatch */
  conn_arm(c);
  if (!c->closing && !c->close_after_write && !c->reading && !c->eof &&
      c->rlen - c->rpos < MAX_BUFFERED)
    conn_read_start(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lt_conn *c = h->data;
  (void)suggested;
  if (c->rpos == c->rlen)
    c->rpos = c->rlen = 0;
  if (c->rcap - c->rlen < READ_CHUNK) {
    if (c->rpos) {
      memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
      c->rlen -= c->rpos;
      c->rpos = 0;
    }
    if (c->rcap - c->rlen < READ_CHUNK) {
      size_t cap = c->rcap ? c->rcap * 2 : READ_CHUNK * 2;
      while (cap - c->rlen < READ_CHUNK)
        cap *= 2;
      char *p = c->rbuf ? realloc(c->rbuf, cap) : lt_loop_buf_take(c->srv->loop, cap);
      if (!p) {
        *buf = uv_buf_init(NULL, 0);
        return;
      }
      c->rbuf = p;
      c->rcap = cap;
    }
  }
  *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void on_ws_read(lt_conn *c, ssize_t nread);

/* Replaces the nread bytes of ciphertext just read past c->rlen by the
 * plaintext they carried; sends what the session answers (handshake
 * records). Returns the plaintext's length, or -1 when the connection was
 * closed (a TLS error, after its alert). */
static ssize_t tls_decrypt(lt_conn *c, ssize_t nread) {
  lt_buf_clear(&c->tls_plain);
  int r = lt_tls_feed(c->tls, c->rbuf + c->rlen, (size_t)nread, &c->tls_plain, &c->tls_out);
  int w = conn_flush_tls(c);
  if (r || w < 0) {
    conn_close(c);
    return -1;
  }
  size_t n = c->tls_plain.len;
  if (c->rcap - c->rlen < n) {
    char *p = realloc(c->rbuf, c->rlen + n);
    if (!p) {
      conn_close(c);
      return -1;
    }
    c->rbuf = p;
    c->rcap = c->rlen + n;
  }
  if (n)
    memcpy(c->rbuf + c->rlen, c->tls_plain.data, n);
  if (lt_tls_peer_closed(c->tls) && !n)
    return UV_EOF;
  return (ssize_t)n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lt_conn *c = s->data;
  (void)buf;
  if (nread > 0 && c->tls && (nread = tls_decrypt(c, nread)) == -1)
    return;
  if (nread == 0)
    return;
  if (c->ws || c->lingering) {
    on_ws_read(c, nread);
    return;
  }
  if (nread < 0) {
    if (nread != UV_EOF) {
      conn_close(c);
      return;
    }
    uv_read_stop(s);
    c->reading = 0;
    c->eof = 1;
    if (!c->inflight && !c->close_after_write) {
      if (c->rpos == c->rlen)
        conn_close(c);
      else
        conn_process(c);
    }
    return;
  }
  c->rlen += (size_t)nread;
  if (c->inflight || c->drain_wait) {
    /* Pipelined input waits for the answer in flight; stop reading when a
     * client sends far ahead. */
    if (c->rlen - c->rpos >= MAX_BUFFERED) {
      uv_read_stop(s);
      c->reading = 0;
    }
    return;
  }
  conn_process(c);
}

static void conn_read_start(lt_conn *c) {
  if (!c->reading && !c->closing && !c->eof &&
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = 1;
}

static void conn_read_stop(lt_conn *c) {
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

/* ---- connections carrying a WebSocket --------------------------------------- */

static void on_ws_read(lt_conn *c, ssize_t nread) {
  if (nread < 0) {
    /* The client is gone, or answered our FIN. */
    c->eof = 1;
    conn_read_stop(c);
    conn_close(c);
    return;
  }
  size_t n = c->rlen - c->rpos + (size_t)nread;
  const char *p = c->rbuf + c->rpos;
  c->rpos = c->rlen = 0; /* the buffer is free again before any callback */
  if (c->lingering || !c->ws)
    return;
  lt_ws_conn_input(c->ws, p, n);
  /* A client that sends pings and never reads the pongs: stop reading it
   * until it has taken them. */
  if (!c->closing && !c->lingering && queued(c) > LT_HIGH_WATER) {
    conn_read_stop(c);
    c->ws_paused = 1;
  }
}

int lt_request_hand_over(lt_request *req, lt_ws *ws, lt_conn **out) {
  if (req->responded || req->resp.streaming)
    return LT_ESTATE;
  lt_conn *c = open_conn(req);
  if (!c || c->close_after_write)
    return LT_ECLOSED;
  req->responded = 1;
  c->srv->requests++;
  c->requests++;
  c->inflight = NULL;
  req->conn = NULL;
  c->ws = ws;
  c->timer_mode = WAIT_NONE;
  uv_timer_stop(&c->timer);
  lt_request_release(req); /* the connection's reference */
  *out = c;
  return 0;
}

void lt_conn_ws_start(lt_conn *c) {
  if (c->closing)
    return;
  if (c->rpos < c->rlen) {
    /* Frames that came with the request: decoded from a copy, as the
     * buffer may be read into again meanwhile. */
    size_t n = c->rlen - c->rpos;
    char *early = malloc(n);
    if (!early) {
      conn_close(c);
      return;
    }
    memcpy(early, c->rbuf + c->rpos, n);
    c->rpos = c->rlen = 0;
    if (c->ws)
      lt_ws_conn_input(c->ws, early, n);
    free(early);
  }
  c->rpos = c->rlen = 0;
  if (c->closing || c->lingering)
    return;
  if (c->eof) {
    conn_close(c);
    return;
  }
  if (queued(c) > LT_HIGH_WATER)
    c->ws_paused = 1;
  else
    conn_read_start(c);
}

int lt_conn_writev(lt_conn *c, const uv_buf_t *bufs, unsigned n) {
  return conn_writev(c, bufs, n);
}

int lt_conn_blocked(const lt_conn *c) {
  return !c->closing && queued(c) > LT_HIGH_WATER;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  lt_conn *c = req->data;
  if (status < 0 || c->eof)
    conn_close(c);
}

void lt_conn_finish(lt_conn *c) {
  if (c->closing || c->lingering)
    return;
  /* FIN once what we sent is out, then read (and drop) what the client
   * still sends for a moment, so a late frame of its own does not turn our
   * close into a reset that could lose the close frame. */
  c->lingering = 1;
  c->ws_paused = 0;
  if (c->tls && lt_tls_shutdown(c->tls, &c->tls_out) == 0)
    conn_flush_tls(c); /* close_notify goes ahead of the FIN */
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown)) {
    conn_close(c);
    return;
  }
  if (c->eof) {
    return; /* closed once the FIN is out */
  }
  conn_read_start(c);
  c->timer_mode = WAIT_LINGER;
  uv_timer_start(&c->timer, on_deadline, 1000, 0);
}

void lt_conn_ws_forget(lt_conn *c) {
  c->ws = NULL;
  lt_conn_finish(c);
}

/* ---- connection lifetime --------------------------------------------------- */

static void server_maybe_closed(lt_server *srv);

static void on_conn_closed(uv_handle_t *h) {
  lt_conn *c = h->data;
  if (--c->handles)
    return;
  lt_server *srv = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  srv->nconns--;
  lt_loop_buf_give(srv->loop, c->rbuf, c->rcap);
  lt_buf_free(&c->out);
  lt_tls_free(c->tls);
  lt_buf_free(&c->tls_out);
  lt_buf_free(&c->tls_plain);
  free(c);
  srv->open_handles--;
  server_maybe_closed(srv);
}

/* TLS's close_notify before the FIN, so the peer can tell our close from a
 * cut connection (Python's ssl, with suppress_ragged_eofs off, and curl do).
 * Best effort: only when nothing of ours is still queued, and never waited
 * for. */
static void tls_close_notify(lt_conn *c) {
  if (c->tls && lt_tls_shutdown(c->tls, &c->tls_out) == 0)
    lt_stream_last_words((uv_stream_t *)&c->tcp, &c->tls_out);
}

static void conn_close(lt_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->inflight) {
    lt_request *req = c->inflight;
    req->conn = NULL;
    c->inflight = NULL;
    fire_drain(req); /* a writer waiting for the drain learns of the close */
  }
  if (c->cur) {
    lt_request_release(c->cur);
    c->cur = NULL;
  }
  if (c->ws) {
    lt_ws *ws = c->ws;
    c->ws = NULL;
    lt_ws_conn_gone(ws);
  }
  tls_close_notify(c);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_connection(uv_stream_t *ls, int status) {
  lt_server *srv = ls->data;
  if (status < 0 || srv->closing)
    return;
  lt_conn *c = calloc(1, sizeof *c);
  if (!c)
    return;
  c->srv = srv;
  uv_tcp_init(srv->loop->uv, &c->tcp);
  uv_timer_init(srv->loop->uv, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles = 2;
  srv->open_handles++;
  c->next = srv->conns;
  if (srv->conns)
    srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage peer;
  int plen = sizeof peer;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen) == 0) {
    if (peer.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&peer, c->peer, sizeof c->peer);
    else
      uv_ip4_name((struct sockaddr_in *)&peer, c->peer, sizeof c->peer);
  }
  lt_parser_init(&c->parser, HTTP_REQUEST, &srv->opts.limits);
  c->parser.data = c;
  c->parser.on_headers = on_headers;
  c->parser.lazy_body = srv->opts.lazy_body_limit;
  if (srv->opts.tls && !(c->tls = lt_tls_new(srv->opts.tls, NULL))) {
    conn_close(c);
    return;
  }
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
    conn_close(c);
    return;
  }
  c->reading = 1;
  conn_arm(c);
}

int lt_server_listen(lt_server *srv, const char *host, int port) {
  struct sockaddr_storage addr;
  int r = lt_addr_parse(host, port, &addr);
  if (r)
    return r;
  if ((r = uv_tcp_init(srv->loop->uv, &srv->listener)))
    return r;
  srv->listener.data = srv;
  srv->open_handles++;
  srv->listening = 1;
  if ((r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) ||
      (r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection)))
    return r;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
  srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  snprintf(srv->host, sizeof srv->host, "%s", host);
  return 0;
}

static void on_closed_task(lt_task *t) {
  lt_server *srv = (lt_server *)((char *)t - offsetof(lt_server, closed_task));
  if (srv->on_closed)
    srv->on_closed(srv, srv->closed_ud);
  free(srv);
}

static void server_maybe_closed(lt_server *srv) {
  if (srv->closing && srv->open_handles == 0) {
    srv->closed_task.fn = on_closed_task;
    lt_loop_defer(srv->loop, &srv->closed_task);
  }
}

static void on_listener_closed(uv_handle_t *h) {
  lt_server *srv = h->data;
  srv->open_handles--;
  server_maybe_closed(srv);
}

void lt_server_close(lt_server *srv, lt_server_closed_cb cb, void *ud) {
  if (srv->closing)
    return;
  srv->closing = 1;
  srv->on_closed = cb;
  srv->closed_ud = ud;
  if (srv->listening)
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
  for (lt_conn *c = srv->conns; c; c = c->next)
    conn_close(c);
  server_maybe_closed(srv);
}
