/* Client connections are pooled per host and port. A connection carries one
 * request at a time; once its response is complete and the server allows
 * keep-alive, it goes back to the pool and keeps reading, so a server's close
 * of an idle connection is noticed before the connection is reused. */
#include <stdio.h>
#include <strings.h>
#include "addr.h"
#include "client.h"
#include "stream.h"
#include "tls.h"

struct lt_cconn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  lt_client *cl;
  lt_cconn *next, *prev;
  char host[64];
  int port;
  lt_parser parser;
  char *rbuf;
  size_t rcap;
  lt_creq *cr; /* NULL when idle */
  int used;    /* requests sent on it */
  int writes;  /* our writes queued in libuv */
  unsigned connected : 1, closing : 1;
  lt_tls_ctx *tls_ctx; /* TLS: what the connection was made with */
  lt_tls *tls;
  lt_buf tls_out, tls_plain;
  struct resolving *resolving; /* a host name being looked up */
  struct addrinfo *addrs;      /* what the name gave (freed with the connection) */
  struct addrinfo *addr_next;  /* the addresses not tried yet */
};

/* A lookup outlives a connection closed while it runs (libuv cannot always
 * cancel it): it is its own allocation, told of the close. */
struct resolving {
  uv_getaddrinfo_t req;
  lt_cconn *conn; /* NULL once the connection closed */
};

typedef struct cwreq {
  uv_write_t w;
  lt_cconn *conn;
} cwreq;

lt_client *lt_client_new(lt_loop *loop) {
  lt_client *cl = calloc(1, sizeof *cl);
  if (!cl)
    return NULL;
  cl->loop = loop;
  /* Generous: the servers a test talks to are the ones under test. */
  cl->limits.max_line = 65536;
  cl->limits.max_field = 65536;
  cl->limits.max_headers = 1024;
  cl->limits.max_head = 1024 * 1024;
  cl->limits.max_body = 0;
  return cl;
}

static void client_maybe_closed(lt_client *cl);
static int conn_start(lt_creq *cr, lt_cconn *conn);
static int connect_next(lt_creq *cr, lt_cconn *failed);

static void on_conn_closed(uv_handle_t *h) {
  lt_cconn *conn = h->data;
  lt_client *cl = conn->cl;
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    cl->conns = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  lt_parser_release(&conn->parser);
  lt_loop_buf_give(cl->loop, conn->rbuf, conn->rcap);
  lt_tls_free(conn->tls);
  lt_buf_free(&conn->tls_out);
  lt_buf_free(&conn->tls_plain);
  if (conn->addrs)
    uv_freeaddrinfo(conn->addrs);
  free(conn);
  cl->open_handles--;
  client_maybe_closed(cl);
}

static void conn_close(lt_cconn *conn) {
  if (conn->closing)
    return;
  conn->closing = 1;
  if (conn->cr)
    conn->cr->conn = NULL;
  conn->cr = NULL;
  if (conn->resolving) {
    conn->resolving->conn = NULL;
    uv_cancel((uv_req_t *)&conn->resolving->req);
    conn->resolving = NULL;
  }
  /* close_notify, as the server sends it (server.c): best effort. */
  if (conn->tls && lt_tls_shutdown(conn->tls, &conn->tls_out) == 0)
    lt_stream_last_words((uv_stream_t *)&conn->tcp, &conn->tls_out);
  uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
}

static void fire_drain(lt_creq *cr) {
  void (*fn)(lt_creq *, void *) = cr->on_drain;
  cr->on_drain = NULL;
  if (fn)
    fn(cr, cr->drain_ud);
}

static size_t queued(lt_cconn *conn);

/* Detaches the request from its connection, which goes back to the pool
 * when the response allows it (and all of a streamed body went out). */
static void detach(lt_creq *cr, int status) {
  lt_cconn *conn = cr->conn;
  if (conn) {
    conn->cr = NULL;
    cr->conn = NULL;
    /* A server may answer before it has read all of the request (a body
     * past its limit): what libuv has still to write is cr's, freed with
     * it, so such a connection is closed rather than reused. */
    if (status || !cr->resp.keep_alive || conn->cl->closing || !cr->complete || cr->body_open ||
        queued(conn))
      conn_close(conn);
  }
  fire_drain(cr); /* a writer waiting learns of the end */
}

static void report(lt_creq *cr, int status) {
  if (!cr->reported) {
    cr->reported = 1;
    cr->cb(cr, status, cr->ud);
    return;
  }
  if (status)
    cr->body_error = status;
  if (cr->on_body)
    cr->on_body(cr, cr->body_ud);
}

/* Ends the request: status 0 when the response is complete. */
static void finish(lt_creq *cr, int status) {
  if (!status)
    cr->complete = 1;
  detach(cr, status);
  report(cr, status);
}

/* A pooled connection turned out dead before any answer: try once more on a
 * new one, as browsers and aiohttp do for requests on reused connections. */
static int retry_fresh(lt_creq *cr) {
  if (!cr->sent_on_reused || cr->got_bytes || cr->body_written)
    return 0;
  cr->sent_on_reused = 0;
  lt_cconn *old = cr->conn;
  old->cr = NULL;
  cr->conn = NULL;
  conn_close(old);
  return conn_start(cr, NULL) == 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lt_cconn *conn = h->data;
  (void)suggested;
  if (!conn->rbuf) {
    conn->rcap = 65536;
    conn->rbuf = lt_loop_buf_take(conn->cl->loop, conn->rcap);
  }
  *buf = uv_buf_init(conn->rbuf, conn->rbuf ? (unsigned)conn->rcap : 0);
}

static int conn_flush_tls(lt_cconn *conn);

/* The plaintext the ciphertext just read carried (in conn->tls_plain), and
 * what the session answers sent; -1 (the request failed) on a TLS error. */
static ssize_t tls_decrypt(lt_cconn *conn, const uv_buf_t *buf, ssize_t nread) {
  lt_buf_clear(&conn->tls_plain);
  int r = lt_tls_feed(conn->tls, buf->base, (size_t)nread, &conn->tls_plain, &conn->tls_out);
  int w = conn_flush_tls(conn);
  lt_creq *cr = conn->cr;
  if (r || w < 0) {
    if (cr) {
      snprintf(cr->tls_error, sizeof cr->tls_error, "%s", lt_tls_error(conn->tls));
      finish(cr, r ? r : w);
    }
    conn_close(conn);
    return -1;
  }
  if (!conn->tls_plain.len && lt_tls_peer_closed(conn->tls))
    return UV_EOF;
  return (ssize_t)conn->tls_plain.len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lt_cconn *conn = s->data;
  uv_buf_t plain;
  if (nread > 0 && conn->tls) {
    if ((nread = tls_decrypt(conn, buf, nread)) == -1)
      return;
    plain = uv_buf_init(conn->tls_plain.data, (unsigned)conn->tls_plain.len);
    buf = &plain;
  }
  lt_creq *cr = conn->cr;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (!cr) {
      conn_close(conn); /* an idle connection the server closed */
      return;
    }
    if (retry_fresh(cr))
      return;
    if (nread == UV_EOF && cr->got_bytes && lt_parser_eof(&conn->parser, &cr->resp) == 0 &&
        conn->parser.done) {
      cr->resp.keep_alive = 0;
      finish(cr, 0);
      return;
    }
    finish(cr, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
    return;
  }
  if (!cr) {
    conn_close(conn); /* bytes nobody asked for: the connection is unusable */
    return;
  }
  cr->got_bytes = 1;
  long n = lt_parser_feed(&conn->parser, &cr->resp, buf->base, (size_t)nread);
  if (n < 0) {
    finish(cr, (int)n);
    return;
  }
  if (conn->parser.done) {
    lt_parser_next(&conn->parser);
    if ((size_t)n < (size_t)nread)
      cr->resp.keep_alive = 0; /* more than one answer: do not reuse */
    finish(cr, 0);
    return;
  }
  if (!conn->parser.head_complete)
    return;
  /* The head is in and the body comes on: the owner reads it as it does. */
  report(cr, 0);
  if (conn->cr == cr && !cr->whole && cr->resp.body.len - cr->body_pos > LT_HIGH_WATER) {
    uv_read_stop(s);
    cr->paused = 1;
  }
}

void lt_creq_on_body(lt_creq *cr, void (*fn)(lt_creq *cr, void *ud), void *ud) {
  cr->on_body = fn;
  cr->body_ud = ud;
}

const char *lt_creq_body_peek(const lt_creq *cr, size_t *n) {
  *n = cr->resp.body.len - cr->body_pos;
  return cr->resp.body.data ? cr->resp.body.data + cr->body_pos : "";
}

void lt_creq_body_take(lt_creq *cr, size_t n) {
  lt_buf *b = &cr->resp.body;
  cr->body_pos += n;
  if (cr->body_pos >= b->len) {
    b->len = cr->body_pos = 0;
  } else if (cr->body_pos > LT_HIGH_WATER && cr->body_pos > b->len / 2) {
    memmove(b->data, b->data + cr->body_pos, b->len - cr->body_pos);
    b->len -= cr->body_pos;
    cr->body_pos = 0;
  }
  if (cr->paused && cr->conn && b->len - cr->body_pos <= LT_LOW_WATER) {
    cr->paused = 0;
    uv_read_start((uv_stream_t *)&cr->conn->tcp, on_alloc, on_read);
  }
}

static int on_headers(lt_parser *p) {
  lt_cconn *conn = p->data;
  if (conn->cr && conn->cr->method_head)
    p->no_body = 1;
  p->decompress = conn->cr && conn->cr->decompress;
  return 0;
}

static size_t queued(lt_cconn *conn) {
  return uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp);
}

static void written(lt_cconn *conn, int status) {
  conn->writes--;
  lt_creq *cr = conn->cr;
  if (!cr || conn->closing)
    return;
  if (status < 0) {
    if (!retry_fresh(cr))
      finish(cr, status);
    return;
  }
  if (cr->on_drain && queued(conn) <= LT_LOW_WATER)
    fire_drain(cr);
}

static void on_written(uv_write_t *w, int status) {
  cwreq *wr = (cwreq *)w;
  lt_cconn *conn = wr->conn;
  free(wr);
  written(conn, status);
}

static void on_piece_written(void *ud, int status) {
  written(ud, status);
}

static int conn_flush_tls(lt_cconn *conn) {
  if (!conn->tls_out.len)
    return 0;
  uv_buf_t b = uv_buf_init(conn->tls_out.data, (unsigned)conn->tls_out.len);
  int r = lt_stream_write((uv_stream_t *)&conn->tcp, conn->writes, &b, 1, on_piece_written, conn);
  lt_buf_clear(&conn->tls_out);
  if (r < 0)
    return r;
  conn->writes += r;
  return 0;
}

/* Plaintext for a TLS connection, encrypted and queued. */
static int tls_send(lt_cconn *conn, const uv_buf_t *bufs, unsigned n) {
  int r = 0;
  for (unsigned i = 0; i < n && !r; i++)
    r = lt_tls_write(conn->tls, bufs[i].base, bufs[i].len, &conn->tls_out);
  if (r && conn->cr)
    snprintf(conn->cr->tls_error, sizeof conn->cr->tls_error, "%s", lt_tls_error(conn->tls));
  int w = conn_flush_tls(conn);
  return r ? r : w;
}

static int conn_send(lt_cconn *conn) {
  lt_creq *cr = conn->cr;
  if (conn->tls) {
    uv_buf_t b[2] = {uv_buf_init(cr->out.data, (unsigned)cr->out.len),
                     uv_buf_init((char *)cr->body_ref, (unsigned)cr->body_ref_len)};
    return tls_send(conn, b, cr->body_ref_len ? 2 : 1);
  }
  /* The head and, when borrowed, the body go out as two buffers. Most
   * requests fit the socket buffer: writing at once saves arming POLLOUT in
   * epoll for each one. */
  uv_buf_t b[2] = {uv_buf_init(cr->out.data, (unsigned)cr->out.len),
                   uv_buf_init((char *)cr->body_ref, (unsigned)cr->body_ref_len)};
  unsigned nbufs = cr->body_ref_len ? 2 : 1;
  uv_buf_t *bufs = b;
  int n = uv_try_write((uv_stream_t *)&conn->tcp, bufs, nbufs);
  if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS)
    return n;
  for (size_t left = n > 0 ? (size_t)n : 0; nbufs && left >= bufs->len; nbufs--, bufs++)
    left -= bufs->len, n = (int)left;
  if (nbufs == 0)
    return 0;
  if (n > 0) {
    bufs->base += n;
    bufs->len -= (size_t)n;
  }
  cwreq *wr = malloc(sizeof *wr);
  if (!wr)
    return LT_ENOMEM;
  wr->conn = conn;
  int r = uv_write(&wr->w, (uv_stream_t *)&conn->tcp, bufs, nbufs, on_written);
  if (r)
    free(wr);
  else
    conn->writes++;
  return r;
}

static void on_connect(uv_connect_t *req, int status) {
  lt_cconn *conn = req->data;
  if (conn->closing)
    return;
  lt_creq *cr = conn->cr;
  if (status < 0) {
    if (cr && conn->addr_next && connect_next(cr, conn) == 0)
      return;
    if (cr)
      finish(cr, status);
    conn_close(conn);
    return;
  }
  conn->connected = 1;
  uv_tcp_nodelay(&conn->tcp, 1);
  int r = 0;
  if (conn->tls_ctx) {
    conn->tls = lt_tls_new(conn->tls_ctx, conn->host);
    r = conn->tls ? lt_tls_start(conn->tls, &conn->tls_out) : LT_ENOMEM;
    if (!r)
      r = conn_flush_tls(conn);
  }
  if (!r)
    r = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
  if (!r && cr)
    r = conn_send(conn);
  if (r && cr)
    finish(cr, r);
  else if (cr && cr->on_drain && queued(conn) <= LT_LOW_WATER)
    fire_drain(cr); /* what was written before the connection is out */
}

static lt_cconn *pool_take(lt_client *cl, const char *host, int port, lt_tls_ctx *tls) {
  for (lt_cconn *c = cl->conns; c; c = c->next)
    if (!c->cr && c->connected && !c->closing && c->port == port && c->tls_ctx == tls &&
        !strcmp(c->host, host))
      return c;
  return NULL;
}

/* A new connection carrying cr, not connected yet. */
static lt_cconn *conn_new(lt_creq *cr) {
  lt_client *cl = cr->cl;
  lt_cconn *conn = calloc(1, sizeof *conn);
  if (!conn)
    return NULL;
  conn->cl = cl;
  snprintf(conn->host, sizeof conn->host, "%s", cr->host);
  conn->port = cr->port;
  conn->tls_ctx = cr->tls;
  uv_tcp_init(cl->loop->uv, &conn->tcp);
  conn->tcp.data = conn;
  conn->connect.data = conn;
  cl->open_handles++;
  conn->next = cl->conns;
  if (cl->conns)
    cl->conns->prev = conn;
  cl->conns = conn;
  lt_parser_init(&conn->parser, HTTP_RESPONSE, &cl->limits);
  conn->parser.reserve_max = 1024 * 1024;
  conn->parser.data = conn;
  conn->parser.on_headers = on_headers;
  conn->cr = cr;
  cr->conn = conn;
  conn->used = 1;
  return conn;
}

/* Starts connecting; on failure the connection is closed and cr is free
 * of it. */
static int conn_connect(lt_cconn *conn, const struct sockaddr *addr) {
  int r = uv_tcp_connect(&conn->connect, &conn->tcp, addr, on_connect);
  if (r) {
    conn_close(conn);
    return r;
  }
  conn->cl->connects++;
  return 0;
}

/* The next address the name gave, on a fresh connection (a socket whose
 * connect failed cannot try again), as aiohttp tries each in turn. */
static int connect_next(lt_creq *cr, lt_cconn *failed) {
  struct addrinfo *ai = lt_addr_tcp(failed->addr_next);
  if (!ai)
    return LT_ECLOSED;
  failed->cr = NULL;
  cr->conn = NULL;
  lt_cconn *conn = conn_new(cr);
  if (!conn) {
    failed->cr = cr;
    cr->conn = failed;
    return LT_ENOMEM;
  }
  conn->addrs = failed->addrs;
  conn->addr_next = ai->ai_next;
  failed->addrs = failed->addr_next = NULL;
  conn_close(failed);
  return conn_connect(conn, ai->ai_addr);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct resolving *rs = (struct resolving *)req;
  lt_cconn *conn = rs->conn;
  free(rs);
  if (!conn) {
    if (res)
      uv_freeaddrinfo(res);
    return;
  }
  conn->resolving = NULL;
  conn->addrs = res;
  lt_creq *cr = conn->cr;
  struct addrinfo *ai = status < 0 ? NULL : lt_addr_tcp(res);
  if (ai && cr) {
    conn->addr_next = ai->ai_next;
    status = conn_connect(conn, ai->ai_addr); /* (closes conn when it fails) */
    if (status == 0)
      return;
  }
  conn_close(conn);
  if (cr)
    finish(cr, status < 0 ? status : UV_EAI_NONAME);
}

/* A host that is not an address is looked up first (getaddrinfo, on
 * libuv's thread pool). */
static int conn_resolve(lt_creq *cr) {
  struct resolving *rs = calloc(1, sizeof *rs);
  lt_cconn *conn = rs ? conn_new(cr) : NULL;
  if (!conn) {
    free(rs);
    return LT_ENOMEM;
  }
  rs->conn = conn;
  conn->resolving = rs;
  int r = lt_addr_lookup(cr->cl->loop->uv, &rs->req, on_resolved, cr->host, cr->port);
  if (r) {
    free(rs);
    conn->resolving = NULL;
    conn_close(conn);
  }
  return r;
}

static int conn_start(lt_creq *cr, lt_cconn *conn) {
  lt_msg_reset(&cr->resp);
  cr->reported = cr->complete = cr->body_error = cr->paused = 0;
  cr->body_pos = 0;
  if (conn) {
    conn->cr = cr;
    cr->conn = conn;
    conn->used++;
    cr->sent_on_reused = 1;
    if (conn_send(conn) == 0)
      return 0;
    /* The pooled connection died while idle: use a new one. */
    conn->cr = NULL;
    cr->conn = NULL;
    cr->sent_on_reused = 0;
    conn_close(conn);
  }
  struct sockaddr_storage addr;
  if (lt_addr_parse(cr->host, cr->port, &addr))
    return conn_resolve(cr);
  if (!(conn = conn_new(cr)))
    return LT_ENOMEM;
  return conn_connect(conn, (struct sockaddr *)&addr);
}

lt_creq *lt_creq_new(lt_client *cl, const char *method, const char *host, int port,
                     const char *target) {
  lt_creq *cr = calloc(1, sizeof *cr);
  if (!cr)
    return NULL;
  cr->cl = cl;
  size_t hn = strlen(host);
  if (hn >= sizeof cr->host)
    hn = sizeof cr->host - 1;
  memcpy(cr->host, host, hn); /* (calloc'd: NUL-terminated) */
  cr->port = port;
  cr->method_head = !strcasecmp(method, "HEAD");
  lt_msg_init(&cr->resp);
  lt_buf_puts(&cr->out, method);
  lt_buf_append(&cr->out, " ", 1);
  lt_buf_puts(&cr->out, target[0] ? target : "/");
  lt_buf_puts(&cr->out, " HTTP/1.1\r\n");
  return cr;
}

int lt_creq_header(lt_creq *cr, const char *name, const char *value) {
  if (!*name || strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n"))
    return LT_EHEADER;
  if (!strcasecmp(name, "Host"))
    cr->has_host = 1;
  else if (!strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding"))
    cr->has_clen = 1;
  else if (!strcasecmp(name, "Accept"))
    cr->has_accept = 1;
  else if (!strcasecmp(name, "User-Agent"))
    cr->has_ua = 1;
  if (lt_buf_puts(&cr->out, name) || lt_buf_append(&cr->out, ": ", 2) ||
      lt_buf_puts(&cr->out, value) || lt_buf_append(&cr->out, "\r\n", 2))
    return LT_ENOMEM;
  return 0;
}

int lt_creq_body(lt_creq *cr, const void *data, size_t len) {
  if (cr->head_done)
    return LT_ESTATE;
  if (!cr->has_host) {
    lt_buf_append(&cr->out, "Host: ", 6);
    lt_buf_puts(&cr->out, cr->host);
    lt_buf_append(&cr->out, ":", 1);
    lt_buf_put_int(&cr->out, cr->port);
    lt_buf_append(&cr->out, "\r\n", 2);
  }
  if (!cr->has_accept)
    lt_buf_puts(&cr->out, "Accept: */*\r\n");
  if (!cr->has_ua)
    lt_buf_puts(&cr->out, "User-Agent: luatest/" LT_VERSION "\r\n");
  if (!cr->has_clen && (len || data)) {
    lt_buf_append(&cr->out, "Content-Length: ", 16);
    lt_buf_put_uint(&cr->out, len);
    lt_buf_append(&cr->out, "\r\n", 2);
  }
  lt_buf_append(&cr->out, "\r\n", 2);
  cr->head_done = 1;
  cr->body_len = len;
  if (len && lt_buf_append(&cr->out, data, len))
    return LT_ENOMEM;
  return 0;
}

int lt_creq_body_borrowed(lt_creq *cr, const void *data, size_t len) {
  int r = lt_creq_body(cr, NULL, 0);
  if (r)
    return r;
  /* lt_creq_body wrote no Content-Length for an empty body: add it. */
  if (!cr->has_clen) {
    cr->out.len -= 2; /* before the blank line */
    lt_buf_append(&cr->out, "Content-Length: ", 16);
    lt_buf_put_uint(&cr->out, len);
    lt_buf_append(&cr->out, "\r\n\r\n", 4);
  }
  cr->body_ref = data;
  cr->body_ref_len = len;
  cr->body_len = len;
  return 0;
}

int lt_creq_body_stream(lt_creq *cr) {
  if (cr->head_done)
    return LT_ESTATE;
  int chunked = !cr->has_clen;
  if (chunked && lt_creq_header(cr, "Transfer-Encoding", "chunked"))
    return LT_ENOMEM;
  int r = lt_creq_body(cr, NULL, 0);
  cr->body_open = 1;
  cr->body_chunked = chunked;
  return r;
}

static int write_bufs(lt_creq *cr, const uv_buf_t *bufs, unsigned n) {
  lt_cconn *conn = cr->conn;
  if (!conn || conn->closing || !cr->body_open)
    return LT_ECLOSED;
  if (!conn->connected) {
    /* Sent with the head once the connection is up. */
    for (unsigned i = 0; i < n; i++)
      if (lt_buf_append(&cr->out, bufs[i].base, bufs[i].len))
        return LT_ENOMEM;
    return 0;
  }
  cr->body_written = 1;
  int r = conn->tls ? tls_send(conn, bufs, n)
                    : lt_stream_write((uv_stream_t *)&conn->tcp, conn->writes, bufs, n,
                                      on_piece_written, conn);
  if (r < 0) {
    finish(cr, r);
    return r;
  }
  conn->writes += r;
  return 0;
}

int lt_creq_write(lt_creq *cr, const void *data, size_t len) {
  if (!len)
    return cr->conn && cr->body_open ? 0 : LT_ECLOSED;
  if (!cr->body_chunked) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    return write_bufs(cr, &b, 1);
  }
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  uv_buf_t b[3] = {uv_buf_init(size, (unsigned)n), uv_buf_init((char *)data, (unsigned)len),
                   uv_buf_init("\r\n", 2)};
  return write_bufs(cr, b, 3);
}

int lt_creq_write_end(lt_creq *cr) {
  int r = 0;
  if (cr->body_chunked) {
    uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
    r = write_bufs(cr, &b, 1);
  } else if (!cr->conn || !cr->body_open) {
    r = LT_ECLOSED;
  }
  cr->body_open = 0;
  return r;
}

int lt_creq_write_blocked(const lt_creq *cr) {
  lt_cconn *conn = cr->conn;
  if (!conn || conn->closing)
    return 0;
  return conn->connected ? queued(conn) > LT_HIGH_WATER : cr->out.len > LT_HIGH_WATER;
}

void lt_creq_on_drain(lt_creq *cr, void (*fn)(lt_creq *cr, void *ud), void *ud) {
  cr->on_drain = fn;
  cr->drain_ud = ud;
}

int lt_creq_send(lt_creq *cr, lt_creq_cb cb, void *ud) {
  if (cr->cl->closing)
    return LT_ECLOSED;
  if (!cr->head_done)
    lt_creq_body(cr, NULL, 0);
  cr->cb = cb;
  cr->ud = ud;
  cr->got_bytes = 0;
  return conn_start(cr, pool_take(cr->cl, cr->host, cr->port, cr->tls));
}

void lt_creq_tls(lt_creq *cr, lt_tls_ctx *ctx) {
  cr->tls = ctx;
}

lt_tls_ctx *lt_client_tls_ctx(lt_client *cl, const char *ca_pem, int verify, char *err,
                              size_t errlen) {
  const char *trust = ca_pem ? ca_pem : "";
  int i = 0;
  for (; i < LT_CLIENT_TLS_CTX && cl->tls[i].ca_pem; i++)
    if (cl->tls[i].verify == verify && !strcmp(cl->tls[i].ca_pem, trust))
      return cl->tls[i].ctx;
  if (i == LT_CLIENT_TLS_CTX) {
    snprintf(err, errlen, "more than %d different ssl settings on one client", LT_CLIENT_TLS_CTX);
    return NULL;
  }
  lt_tls_ctx *ctx = lt_tls_client_ctx(ca_pem, verify, err, errlen);
  char *copy = ctx ? strdup(trust) : NULL;
  if (!copy) {
    if (ctx)
      snprintf(err, errlen, "out of memory");
    lt_tls_ctx_free(ctx);
    return NULL;
  }
  cl->tls[i].ca_pem = copy;
  cl->tls[i].verify = verify;
  cl->tls[i].ctx = ctx;
  return ctx;
}

void lt_creq_free(lt_creq *cr) {
  if (!cr)
    return;
  if (cr->conn) {
    lt_cconn *conn = cr->conn;
    conn->cr = NULL;
    cr->conn = NULL;
    conn_close(conn); /* a half-read response leaves it unusable */
  }
  lt_buf_free(&cr->out);
  lt_msg_free(&cr->resp);
  free(cr);
}

static void on_closed_task(lt_task *t) {
  lt_client *cl = (lt_client *)((char *)t - offsetof(lt_client, closed_task));
  if (cl->on_closed)
    cl->on_closed(cl, cl->closed_ud);
  for (int i = 0; i < LT_CLIENT_TLS_CTX; i++) {
    free(cl->tls[i].ca_pem);
    lt_tls_ctx_free(cl->tls[i].ctx);
  }
  free(cl);
}

static void client_maybe_closed(lt_client *cl) {
  if (cl->closing && cl->open_handles == 0) {
    cl->closed_task.fn = on_closed_task;
    lt_loop_defer(cl->loop, &cl->closed_task);
  }
}

void lt_client_close(lt_client *cl, lt_client_closed_cb cb, void *ud) {
  if (cl->closing)
    return;
  cl->closing = 1;
  cl->on_closed = cb;
  cl->closed_ud = ud;
  for (lt_cconn *c = cl->conns; c; c = c->next) {
    lt_creq *cr = c->cr;
    if (cr) {
      cr->conn = NULL;
      c->cr = NULL;
      report(cr, LT_ECLOSED);
    }
    conn_close(c);
  }
  client_maybe_closed(cl);
}
