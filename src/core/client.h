/* The HTTP/1.1 client: requests written on pooled keep-alive connections,
 * responses read with llhttp (Content-Length, chunked, close-delimited). */
#ifndef LT_CLIENT_H
#define LT_CLIENT_H

#include "loop.h"
#include "http.h"

typedef struct lt_client lt_client;
typedef struct lt_creq lt_creq;
typedef struct lt_cconn lt_cconn;

/* Fires once per lt_creq_send that returned 0: status 0 once the response's
 * head is in cr->resp (with the whole body when cr->complete), or a negative
 * error. Never fires after lt_creq_free. */
typedef void (*lt_creq_cb)(lt_creq *cr, int status, void *ud);
typedef void (*lt_client_closed_cb)(lt_client *cl, void *ud);

/* The TLS contexts a client's requests used, one per trust, kept until the
 * client and its connections are gone. */
#define LT_CLIENT_TLS_CTX 8

struct lt_client {
  lt_loop *loop;
  struct {
    char *ca_pem; /* "" for the system's CAs, NULL unused */
    int verify;
    struct lt_tls_ctx *ctx;
  } tls[LT_CLIENT_TLS_CTX];
  lt_cconn *conns; /* all connections, idle ones included */
  int open_handles;
  int closing;
  lt_limits limits;
  lt_client_closed_cb on_closed;
  void *closed_ud;
  lt_task closed_task;
  uint64_t connects;   /* connections opened so far */
  char tls_error[200]; /* why the last failed TLS session failed (lt_client_tls_error) */
};

struct lt_creq {
  lt_client *cl;
  char host[64];
  int port;
  int method_head;
  lt_buf out;  /* the serialized request */
  lt_msg resp; /* the response, once cb fired with 0 */
  lt_cconn *conn;
  lt_creq_cb cb;
  void *ud;
  int sent_on_reused; /* retry once on a fresh connection if a pooled one was dead */
  int got_bytes;
  unsigned has_host : 1, has_clen : 1, has_accept : 1, has_ua : 1, head_done : 1;
  size_t body_len;
  const char *body_ref; /* a borrowed body, sent after `out` */
  size_t body_ref_len;
  /* A body read as it comes: after cb(cr, 0) without `complete`, the body
   * grows in cr->resp.body from body_pos on, and on_body reports more of
   * it, its end (complete) or an error (body_error). */
  int reported; /* cb fired */
  int complete; /* all of the response is in */
  int body_error;
  size_t body_pos;
  int paused;     /* reading stopped until the reader takes some */
  int whole;      /* the owner waits for all of the body: no pause */
  int decompress; /* a gzip or deflate body is decoded as it arrives */
  void (*on_body)(lt_creq *cr, void *ud);
  void *body_ud;
  /* A body written in pieces after the head (lt_creq_body_stream). */
  int body_open;    /* more may come: the connection cannot be reused before the end */
  int body_chunked; /* no Content-Length was given: chunked */
  int body_written; /* a piece went out: no retry on a fresh connection */
  void (*on_drain)(lt_creq *cr, void *ud);
  void *drain_ud;
  /* TLS (lt_creq_tls): the context, and why the session failed (LT_ETLS). */
  struct lt_tls_ctx *tls;
  char tls_error[200];
};

lt_client *lt_client_new(lt_loop *loop);
/* Closes every connection; requests in flight fail with LT_ECLOSED. `cb`
 * runs from the loop once all has closed; the client is then freed. */
void lt_client_close(lt_client *cl, lt_client_closed_cb cb, void *ud);

/* A request to host:port; `target` is the path with its query string. */
lt_creq *lt_creq_new(lt_client *cl, const char *method, const char *host, int port,
                     const char *target);
/* LT_EHEADER for a name or value that cannot be sent (CR, LF). */
int lt_creq_header(lt_creq *cr, const char *name, const char *value);
/* Ends the headers and appends the body; call once, before send. */
int lt_creq_body(lt_creq *cr, const void *data, size_t len);
/* The same without copying: data must stay valid until the callback fired
 * or the request was freed. */
int lt_creq_body_borrowed(lt_creq *cr, const void *data, size_t len);
int lt_creq_send(lt_creq *cr, lt_creq_cb cb, void *ud);
/* Ends the head for a body written in pieces with lt_creq_write and
 * lt_creq_write_end: chunked, unless a Content-Length header was given. */
int lt_creq_body_stream(lt_creq *cr);
/* After lt_creq_send: writes a piece (queued until the connection is up).
 * LT_ECLOSED once the request has ended (the response may have come). */
int lt_creq_write(lt_creq *cr, const void *data, size_t len);
int lt_creq_write_end(lt_creq *cr);
/* Whether more than LT_HIGH_WATER of the body waits to go out. */
int lt_creq_write_blocked(const lt_creq *cr);
/* fn(cr, ud) fires once when that is down to LT_LOW_WATER or the request
 * ended; NULL cancels. */
void lt_creq_on_drain(lt_creq *cr, void (*fn)(lt_creq *cr, void *ud), void *ud);
/* The rest of a body that comes after the head: fn(cr, ud) fires, from the
 * I/O callback, each time more arrived, at its end and on an error. */
void lt_creq_on_body(lt_creq *cr, void (*fn)(lt_creq *cr, void *ud), void *ud);
/* The body bytes in and not taken yet. */
const char *lt_creq_body_peek(const lt_creq *cr, size_t *n);
/* Takes n of them. Reading stops while more than LT_HIGH_WATER wait
 * untaken, and goes on once they are down to LT_LOW_WATER. */
void lt_creq_body_take(lt_creq *cr, size_t n);
/* Frees the request; one still in flight is abandoned and its connection
 * closed (its callback never fires). */
void lt_creq_free(lt_creq *cr);
/* The request goes over TLS with ctx (which must outlive the client's
 * connections), verifying the certificate for the request's host when ctx
 * verifies. Pooled connections are reused only with the same ctx. */
void lt_creq_tls(lt_creq *cr, struct lt_tls_ctx *ctx);
/* The client's context for a trust: ca_pem (NULL: the system's CAs), and
 * whether to verify the server at all; made on first use. NULL with why in
 * err. */
struct lt_tls_ctx *lt_client_tls_ctx(lt_client *cl, const char *ca_pem, int verify, char *err,
                                     size_t errlen);

#endif
