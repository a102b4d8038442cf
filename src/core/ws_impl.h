/* What ws.c (the WebSocket object and its message API), ws_server.c (our
 * own RFC 6455 server on the HTTP connection) and ws_client.c
 * (libwebsockets) share. */
#ifndef LT_WS_IMPL_H
#define LT_WS_IMPL_H

#include "loop.h"
#include "wsframe.h"
#include "ws.h"

/* Not llhttp's headers: ws_client.c includes libwebsockets.h. */
struct lws;
typedef struct lt_conn lt_conn;

struct lt_ws {
  lt_loop *loop;
  int client;
  int state;
  lt_ws_event_cb cb;
  void *ud;
  lt_task event;
  lt_ws_msg *in_head, *in_tail;
  size_t max_msg_size;
  int autoping, autoclose;
  char protocol[64];
  int close_code;
  int want_close, want_code;
  char want_reason[124];
  int close_pushed;    /* a close message is queued or was delivered */
  int peer_close_held; /* that message is the peer's close, not yet answered */
  int error_held;      /* an error message waits whose receipt closes */
  int released;
  int free_when_closed; /* the library owns it (C handlers) */
  double heartbeat;
  uv_timer_t *beat; /* ping every `heartbeat` s, expect a pong in half that */
  int awaiting_pong;
  void (*drain_cb)(lt_ws *ws, void *ud); /* lt_ws_on_drain */
  void *drain_ud;

  /* Server side (ws_server.c). */
  lt_conn *conn; /* NULL once the connection is gone */
  lt_wsdecoder decoder;
  int peer_closed;        /* the client's close frame came */
  int input_done;         /* nothing more of the client's is decoded */
  uv_timer_t *close_wait; /* our close is out: the answer has close_timeout s */
  double close_timeout;
  struct lt_wsdeflate *deflate; /* permessage-deflate: our messages' compressor */
  int compress_bits;            /* its window bits, 0 when not negotiated */

  /* Client side (ws_client.c). */
  struct lws *wsi;
  lt_ws_msg *out_head, *out_tail; /* data: the headroom libwebsockets needs first */
  lt_ws_msg *written;             /* the last one written, which lws may still read */
  char *frag;
  size_t frag_len, frag_cap;
  int frag_type;
  char *headers;
  char error[128];
  int close_sent;
  int drop;       /* released while open: drop once the queued frames are out */
  int offer_bits; /* the permessage-deflate window bits offered, or 0 */
  int send_plain; /* the message being written goes out uncompressed */
  int connected;  /* the upgrade request is going out */
};

lt_ws *lt_ws_new(lt_loop *loop, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud);
void lt_ws_free(lt_ws *ws);
lt_ws_msg *lt_ws_msg_new(int type, const void *data, size_t len, size_t headroom);
void lt_ws_msg_push(lt_ws_msg **head, lt_ws_msg **tail, lt_ws_msg *m);
lt_ws_msg *lt_ws_msg_shift(lt_ws_msg **head, lt_ws_msg **tail);
/* Queues a message for the owner and tells it. */
void lt_ws_deliver(lt_ws *ws, int type, int code, const void *data, size_t len);
void lt_ws_notify(lt_ws *ws);
/* The connection is over; code is the close code unless one is known. */
void lt_ws_set_closed(lt_ws *ws, int code);
/* Something arrived from the peer: the next heartbeat ping is a full
 * period away. */
void lt_ws_heard(lt_ws *ws);
void lt_ws_start_heartbeat(lt_ws *ws);
void lt_ws_stop_heartbeat(lt_ws *ws);
/* The peer's close frame (held until the owner receives it) or its breach
 * of the protocol (LT_WS_ERROR; receiving it sends the close frame). */
void lt_ws_peer_close(lt_ws *ws, int code, const char *reason, size_t n);
void lt_ws_peer_failed(lt_ws *ws, int code, const char *reason);
/* Output drained below the low-water mark, or the connection closed. */
void lt_ws_drained(lt_ws *ws);

/* The transports. */
int lt_ws_server_send(lt_ws *ws, int type, const void *data, size_t len, int compress);
void lt_ws_server_close(lt_ws *ws);
void lt_ws_server_drop(lt_ws *ws);
int lt_ws_server_blocked(lt_ws *ws);
void lt_ws_server_free(lt_ws *ws);
int lt_ws_client_send(lt_ws *ws, int type, const void *data, size_t len, int compress);
void lt_ws_client_close(lt_ws *ws);
void lt_ws_client_drop(lt_ws *ws);
/* Released while connected: let the connection end by itself. */
void lt_ws_client_release(lt_ws *ws);
void lt_ws_client_free(lt_ws *ws);

#endif
