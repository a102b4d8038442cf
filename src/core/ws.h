/* WebSockets: server connections by our own RFC 6455 code on the HTTP
 * connection the upgrade came on (ws_server.c), client connections by
 * libwebsockets (ws_client.c, the only includer of libwebsockets.h). */
#ifndef LT_WS_H
#define LT_WS_H

#include <stddef.h>
#include "loop.h"

/* lt_ws, lt_ws_msg, the message types and the calls C handlers use are in
 * luatest.h; what follows is for the bindings and the server. */

/* aiohttp's default max_msg_size, for both sides: 4 MiB. */
#define LT_WS_MAX_MSG_SIZE ((size_t)4 << 20)

typedef struct lt_ws_opts {
  const char *protocol;  /* server: the subprotocol chosen, or NULL */
  const char *protocols; /* client: comma-separated offers, or NULL */
  const char *headers;   /* extra "Name: value\r\n" lines, or NULL */
  size_t max_msg_size;   /* 0: unlimited; larger messages close with 1009 */
  double heartbeat;      /* > 0: ping that often; no pong in half of it drops the peer */
  double close_timeout;  /* server: how long our close waits for the answer (0: 10 s) */
  int no_autoping;       /* pings (server side) and pongs are delivered as messages */
  int no_autoclose;      /* server side: the peer's close is delivered, answered by lt_ws_close */
  /* permessage-deflate (RFC 7692). Server: accept an offer (nonzero);
   * client: offer it with these window bits (9 to 15), 0 offers none. */
  int compress;
  /* Client: wss, trusting tls_ca_pem (NULL: the system's CAs); without
   * tls_verify, any certificate for any name. */
  int tls;
  int tls_verify;
  const char *tls_ca_pem;
} lt_ws_opts;

/* Server side, from the connection that carries it (server.c). */
void lt_ws_conn_input(lt_ws *ws, const char *p, size_t n);
void lt_ws_conn_drained(lt_ws *ws);
void lt_ws_conn_gone(lt_ws *ws);
/* Opens a client connection to ws://host:port/path. */
lt_ws *lt_ws_connect(lt_loop *loop, const char *host, int port, const char *path,
                     const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud);

/* The version of the libwebsockets loaded at run time. */
const char *lt_ws_library_version(void);
/* Silences libwebsockets' logging for the whole process: for the luatest
 * binary, which owns its process (a library only quiets its own calls). */
void lt_ws_silence_process(void);
const char *lt_ws_protocol(const lt_ws *ws);
/* The window bits of the permessage-deflate in use (9 to 15), or 0. */
int lt_ws_compress(const lt_ws *ws);
/* lt_ws_send, with compress 0 sending a text or binary message
 * uncompressed although permessage-deflate is in use. */
int lt_ws_send_message(lt_ws *ws, int type, const void *data, size_t len, int compress);
/* An error that ended a client connection before it opened, or "". */
const char *lt_ws_error(const lt_ws *ws);
/* Server side: whether more than LT_HIGH_WATER of what was sent waits for
 * the client (always 0 on the client side, where libwebsockets buffers). */
int lt_ws_send_blocked(lt_ws *ws);
/* cb(ws, ud) fires once when that output is down to LT_LOW_WATER or the
 * connection closed; NULL cancels. */
void lt_ws_on_drain(lt_ws *ws, void (*cb)(lt_ws *ws, void *ud), void *ud);
/* The library frees ws once its callback has seen LT_WS_CLOSED (C
 * handlers' WebSockets), or when the loop is freed. */
void lt_ws_free_when_closed(lt_ws *ws);

#endif
