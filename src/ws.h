/* WebSocket connections run by libwebsockets on the project's loop: server
 * connections adopted from our HTTP server after it parsed the upgrade
 * request, and client connections. libwebsockets.h stays inside ws.c (its
 * enum http_status collides with llhttp.h). */
#ifndef LT_WS_H
#define LT_WS_H

#include <stddef.h>
#include "loop.h"

enum { LT_WS_TEXT = 1, LT_WS_BINARY = 2, LT_WS_CLOSE = 8, LT_WS_PING = 9, LT_WS_PONG = 10 };
/* A protocol violation by the peer: code is the close code sent, data the
 * reason. */
enum { LT_WS_ERROR = 256 };
enum { LT_WS_CONNECTING, LT_WS_OPEN, LT_WS_CLOSING, LT_WS_CLOSED };

typedef struct lt_ws lt_ws;

typedef struct lt_ws_msg {
  struct lt_ws_msg *next;
  int type;
  int code; /* close messages */
  size_t len;
  char *data; /* NUL-terminated */
} lt_ws_msg;

/* Something arrived or the state changed; fired from the loop's queue,
 * never inside libwebsockets. */
typedef void (*lt_ws_event_cb)(lt_ws *ws, void *ud);

typedef struct lt_ws_opts {
  const char *protocol;  /* server: the subprotocol chosen, or NULL */
  const char *protocols; /* client: comma-separated offers, or NULL */
  const char *headers;   /* extra "Name: value\r\n" lines, or NULL */
  size_t max_msg_size;   /* 0: unlimited; larger messages close with 1009 */
  double heartbeat;      /* > 0: ping that often; no pong in half of it drops the peer */
  int no_autoping;       /* pings (server side) and pongs are delivered as messages */
  int no_autoclose;      /* server side: the peer's close is delivered, answered by lt_ws_close */
} lt_ws_opts;

/* Hands a connection whose upgrade request was already parsed to
 * libwebsockets, behind a bridge that checks the client's frames: fd is a
 * descriptor it will own, `head` the request head to parse again, `early`
 * any bytes that followed it. NULL on failure (fd closed). */
lt_ws *lt_ws_adopt(lt_loop *loop, int fd, const char *head, size_t len, const char *early,
                   size_t early_len, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud);
/* Opens a client connection to ws://host:port/path. */
lt_ws *lt_ws_connect(lt_loop *loop, const char *host, int port, const char *path,
                     const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud);

int lt_ws_state(const lt_ws *ws);
/* The next received message (the caller frees it with lt_ws_msg_free), or NULL. */
lt_ws_msg *lt_ws_pop(lt_ws *ws);
void lt_ws_msg_free(lt_ws_msg *m);
/* Queues a text, binary, ping or pong frame. LT_ECLOSED once closing. */
int lt_ws_send(lt_ws *ws, int type, const void *data, size_t len);
/* Starts the closing handshake with code and reason. */
int lt_ws_close(lt_ws *ws, int code, const char *reason);
int lt_ws_close_code(const lt_ws *ws);
const char *lt_ws_protocol(const lt_ws *ws);
/* An error that ended a client connection before it opened, or "". */
const char *lt_ws_error(const lt_ws *ws);
/* The owner lets go: an open connection is dropped; memory is freed once
 * libwebsockets is done with it. cb never fires after this. */
void lt_ws_release(lt_ws *ws);

#endif
