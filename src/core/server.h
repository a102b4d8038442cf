/* The HTTP/1.1 server: a listener on the loop, its connections, keep-alive
 * and pipelining (one request at a time per connection, answered in order),
 * the size limits, and writing responses. What a request means is decided
 * by the `on_request` callback. */
#ifndef LT_SERVER_H
#define LT_SERVER_H

#include "loop.h"
#include "request.h"
#include "stream.h"
#include "ws.h"

/* Called once per request, outside llhttp. The callee answers, now or later,
 * with lt_request_respond(); the server holds a reference until then. */
typedef void (*lt_request_cb)(lt_server *srv, lt_request *req, void *ud);
typedef void (*lt_server_closed_cb)(lt_server *srv, void *ud);

typedef struct lt_server_opts {
  lt_limits limits;
  /* A request head not complete this long after its first byte (or after
   * the connection opened) gets 408 and the connection closes; a body that
   * stalls this long between two reads too. 0: no limit. nginx: 60 s. */
  uint64_t header_timeout_ms;
  /* A keep-alive connection idle this long between requests is closed.
   * 0: no limit. aiohttp's keepalive_timeout: 75 s. */
  uint64_t keepalive_timeout_ms;
  /* 0: a body over limits.max_body gets 413 and the connection closes
   * before any handler runs. Nonzero: the handler runs, as in aiohttp,
   * whose client_max_size is checked when the body is read; the parser
   * keeps max_body bytes (lt_parser.lazy_body), the handler is called once
   * they came (lt_request_body_too_large tells it), the rest is read past
   * after its answer, and the connection goes on. */
  int lazy_body_limit;
  /* Non-NULL: connections speak TLS with this server context (tls.h),
   * which must outlive the server. */
  struct lt_tls_ctx *tls;
} lt_server_opts;

struct lt_server {
  lt_loop *loop;
  uv_tcp_t listener;
  int listening;
  int port;
  char host[64];
  lt_server_opts opts;
  lt_request_cb on_request;
  void *ud;
  lt_conn *conns;
  int nconns;
  int open_handles;
  int closing;
  lt_server_closed_cb on_closed;
  void *closed_ud;
  lt_task closed_task;
  uint64_t requests; /* served so far, for statistics and tests */
  /* A C-only https test server's certificate (lt_server_certificate) and
   * the context app.c made for it, freed once the server has closed. */
  char *certificate;
  struct lt_tls_ctx *owned_tls;
};

void lt_server_default_opts(lt_server_opts *opts);
lt_server *lt_server_new(lt_loop *loop, const lt_server_opts *opts, lt_request_cb cb, void *ud);
/* Binds and listens; port 0 lets the OS choose (read it back from ->port). */
int lt_server_listen(lt_server *srv, const char *host, int port);
/* Closes the listener and every connection; requests still being handled
 * lose their connection (their answer is dropped). `cb` runs once everything
 * has closed, from the loop, and the server is freed after it returns. */
void lt_server_close(lt_server *srv, lt_server_closed_cb cb, void *ud);

/* Sends req->resp on the request's connection and releases the server's
 * reference. LT_ECLOSED when the connection is gone (the request is still
 * released), LT_ESTATE when it was already answered. */
int lt_request_respond(lt_request *req);

/* Streaming answers: start sends the status line and req->resp's headers;
 * without a Content-Length the body goes chunked (HTTP/1.1) or until the
 * connection closes (HTTP/1.0). write sends a piece; end finishes the
 * answer and releases the server's reference, as respond does. */
int lt_request_stream_start(lt_request *req);
int lt_request_stream_write(lt_request *req, const void *data, size_t len);
int lt_request_stream_end(lt_request *req);
/* Backpressure (LT_HIGH_WATER, LT_LOW_WATER in stream.h): a writer waits
 * while its connection has too much output queued. */
/* Whether req's connection has more than LT_HIGH_WATER bytes queued. */
int lt_request_write_blocked(const lt_request *req);
/* cb(req, ud) fires once, from the loop, when the queue is down to
 * LT_LOW_WATER or the connection closed (then writes fail with LT_ECLOSED).
 * A second call replaces the first; cb NULL cancels. */
void lt_request_on_drain(lt_request *req, void (*cb)(lt_request *req, void *ud), void *ud);

/* Answers req with a WebSocket on its connection (ws_server.c): the 101,
 * then frames. LT_EPARSE when the handshake is refused (req->resp holds the
 * answer, see lt_request_ws_refusal), LT_ESTATE when req was answered. */
int lt_request_upgrade(lt_request *req, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud,
                       lt_ws **out);
/* Checks the WebSocket handshake of req (RFC 6455 section 4.2.1): 0 when it
 * is one, or the status (400, 426) of the refusal it put in req->resp. */
int lt_request_ws_refusal(lt_request *req);
/* For a handler that cannot raise (a C one) on a server with
 * lazy_body_limit: 413, with the refusal in req->resp, when the body is
 * too large (lt_request_body_too_large); 0 otherwise. */
int lt_request_body_refusal(lt_request *req);
/* The one WebSocket version served; a 426 names it in Sec-WebSocket-Version. */
#define LT_WS_VERSION "13"

/* Runs a C handler on req and sends its answer (500 when it fails; a
 * streamed answer is ended, or cut short on failure). */
void lt_request_run_handler(lt_request *req, lt_handler_fn fn, void *ud);

/* The connection after a 101, for ws_server.c. hand_over takes req's
 * connection from HTTP (the request counts as answered; llhttp sees no more
 * of it) for ws, which from ws_start on gets what the client sends through
 * lt_ws_conn_input (the bytes that followed the request first), the drain
 * of our output through lt_ws_conn_drained and the end through
 * lt_ws_conn_gone. */
int lt_request_hand_over(lt_request *req, lt_ws *ws, lt_conn **out);
void lt_conn_ws_start(lt_conn *c);
/* 0, or LT_ECLOSED once the connection is closing or finished. */
int lt_conn_writev(lt_conn *c, const uv_buf_t *bufs, unsigned n);
/* Whether more than LT_HIGH_WATER of our output waits for the client. */
int lt_conn_blocked(const lt_conn *c);
/* Ends the connection once what was written is out (FIN, then the client's
 * last bytes are read and dropped for a second). */
void lt_conn_finish(lt_conn *c);
/* The WebSocket is gone: the connection ends. */
void lt_conn_ws_forget(lt_conn *c);

#endif
