/* libwebsockets on our loop: one context per loop, created on first use and
 * destroyed (in the two steps lws needs on a foreign loop) when the loop is
 * freed. Callbacks only record what happened and queue a notification; the
 * owner reads messages from the loop's queue. */
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <libwebsockets.h>
#include "luatest.h"
#include "ws.h"
#include "wsbridge.h"
#include "wsframe.h"

struct lt_ws {
  void (*drain_cb)(lt_ws *ws, void *ud); /* lt_ws_on_drain */
  void *drain_ud;
  lt_loop *loop;
  struct lws *wsi;
  int state;
  int client;
  lt_ws_msg *in_head, *in_tail;
  lt_ws_msg *out_head, *out_tail; /* data: LWS_PRE bytes of headroom first */
  char *frag;
  size_t frag_len, frag_cap;
  int frag_type;
  size_t max_msg_size;
  int close_code;
  int want_close, want_code;
  char want_reason[124];
  char protocol[64];
  char *headers;
  char error[128];
  lt_ws_event_cb cb;
  void *ud;
  lt_wsbridge *bridge; /* server side: the pump in front of lws */
  int autoping, autoclose;
  double heartbeat;
  uv_timer_t *beat; /* heartbeat: ping every `heartbeat` s, expect a pong in half that */
  int awaiting_pong;
  int close_pushed;    /* a close message is queued or was delivered */
  int peer_close_held; /* that message is the client's close, not yet answered */
  int error_held;      /* an error message waits whose receipt closes */
  int close_sent;
  int released;
  int free_when_closed; /* the library owns it (C handlers) */
  int drop;             /* released while open: drop once the queued frames are out */
  lt_task event;
};

typedef struct ws_ctx {
  struct lws_context *ctx;
  int destroying;
  struct lws_vhost *vhost;
  lt_ws *adopting; /* the handshake runs inside the adopt call */
  lt_wsbridge *bridges;
  char rbuf[65536]; /* the bridges' read buffer */
} ws_ctx;

/* ---- messages ------------------------------------------------------------------- */

static lt_ws_msg *msg_new(int type, const void *data, size_t len, size_t headroom) {
  lt_ws_msg *m = calloc(1, sizeof *m + headroom + len + 1);
  if (!m)
    return NULL;
  m->type = type;
  m->len = len;
  m->data = (char *)(m + 1) + headroom;
  if (len)
    memcpy(m->data, data, len);
  m->data[len] = '\0';
  return m;
}

void lt_ws_msg_free(lt_ws_msg *m) {
  free(m);
}

static void push(lt_ws_msg **head, lt_ws_msg **tail, lt_ws_msg *m) {
  m->next = NULL;
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
}

static lt_ws_msg *pop(lt_ws_msg **head, lt_ws_msg **tail) {
  lt_ws_msg *m = *head;
  if (m) {
    *head = m->next;
    if (!*head)
      *tail = NULL;
  }
  return m;
}

static void on_event(lt_task *t) {
  lt_ws *ws = (lt_ws *)((char *)t - offsetof(lt_ws, event));
  if (!ws->released && ws->cb)
    ws->cb(ws, ws->ud);
  if (ws->free_when_closed && !ws->released && ws->state == LT_WS_CLOSED)
    lt_ws_release(ws);
}

static void notify(lt_ws *ws) {
  lt_loop_defer(ws->loop, &ws->event);
}

static void on_beat_closed(uv_handle_t *h) {
  free(h);
}

static void stop_heartbeat(lt_ws *ws) {
  if (ws->beat) {
    uv_close((uv_handle_t *)ws->beat, on_beat_closed);
    ws->beat = NULL;
  }
}

static void ws_free(lt_ws *ws) {
  lt_loop_undefer(ws->loop, &ws->event);
  stop_heartbeat(ws);
  if (ws->bridge)
    lt_wsbridge_detach(ws->bridge);
  lt_ws_msg *m;
  while ((m = pop(&ws->in_head, &ws->in_tail)))
    free(m);
  while ((m = pop(&ws->out_head, &ws->out_tail)))
    free(m);
  free(ws->frag);
  free(ws->headers);
  free(ws);
}

static void push_msg(lt_ws *ws, int type, int code, const void *data, size_t len) {
  if (type == LT_WS_CLOSE)
    ws->close_pushed = 1;
  lt_ws_msg *m = msg_new(type, data, len, 0);
  if (m) {
    m->code = code;
    push(&ws->in_head, &ws->in_tail, m);
  }
  notify(ws);
}

static void set_closed(lt_ws *ws, int code) {
  if (ws->state == LT_WS_CLOSED)
    return;
  stop_heartbeat(ws);
  if (!ws->close_code)
    ws->close_code = code;
  ws->state = LT_WS_CLOSED;
  if (!ws->close_pushed)
    push_msg(ws, LT_WS_CLOSE, ws->close_code, NULL, 0);
  else
    notify(ws);
}

/* Ends the connection without a closing handshake. lws 4.1 does not wake
 * for a kill timeout set from outside its own callbacks, so the drop is
 * made from the next writeable callback instead. */
static void drop_connection(lt_ws *ws) {
  if (!ws->wsi)
    return;
  ws->drop = 1;
  lws_callback_on_writable(ws->wsi);
}

/* ---- heartbeat ------------------------------------------------------------------- */

static void on_beat(uv_timer_t *t) {
  lt_ws *ws = t->data;
  if (ws->state != LT_WS_OPEN)
    return;
  if (ws->awaiting_pong) {
    /* No pong in time: the peer is gone. Drop the connection as aiohttp
     * does, with no closing handshake. */
    ws->close_code = 1006;
    set_closed(ws, 1006);
    drop_connection(ws);
    return;
  }
  ws->awaiting_pong = 1;
  /* Not empty: lws reports no empty pong. */
  lt_ws_send(ws, LT_WS_PING, "luatest", 7);
  uv_timer_start(t, on_beat, (uint64_t)(ws->heartbeat * 500), 0);
}

/* Something arrived from the peer: the next ping is a full period away. */
static void heard_from_peer(lt_ws *ws) {
  if (!ws->beat)
    return;
  ws->awaiting_pong = 0;
  uv_timer_start(ws->beat, on_beat, (uint64_t)(ws->heartbeat * 1000), 0);
}

static void start_heartbeat(lt_ws *ws) {
  if (ws->heartbeat <= 0 || ws->beat)
    return;
  ws->beat = malloc(sizeof *ws->beat);
  if (!ws->beat)
    return;
  uv_timer_init(&ws->loop->uv, ws->beat);
  ws->beat->data = ws;
  heard_from_peer(ws);
}

/* ---- the bridge's events (server side) -------------------------------------------- */

static void held_frame(lt_ws *ws, int opcode, const char *payload, size_t n) {
  if (opcode == LT_WS_PING || opcode == LT_WS_PONG) {
    if (!ws->autoping)
      push_msg(ws, opcode, 0, payload, n);
    return;
  }
  if (opcode == LT_WSBRIDGE_FAILED) {
    /* The client broke the protocol: the handler gets an error message,
     * and receiving it sends the close frame with the code (lt_ws_pop). */
    int code = (unsigned char)payload[0] << 8 | (unsigned char)payload[1];
    ws->close_code = code;
    ws->error_held = 1;
    push_msg(ws, LT_WS_ERROR, code, payload + 2, n - 2);
    return;
  }
  /* The client's close frame is held back until the handler receives it,
   * so what the handler sends before that still goes out, as with aiohttp.
   * With autoclose the answer is sent then (lt_ws_pop); without it the
   * handler may go on sending and answers with lt_ws_close. */
  int code = n >= 2 ? ((unsigned char)payload[0] << 8 | (unsigned char)payload[1]) : 1005;
  ws->close_code = code;
  ws->peer_close_held = 1;
  push_msg(ws, LT_WS_CLOSE, code, n > 2 ? payload + 2 : NULL, n > 2 ? n - 2 : 0);
}

static void bridge_gone(void *ud) {
  lt_ws *ws = ud;
  ws->bridge = NULL;
}

static void bridge_failed(void *ud, const char *payload, size_t n) {
  held_frame(ud, LT_WSBRIDGE_FAILED, payload, n);
}

static void bridge_drained(void *ud) {
  lt_ws *ws = ud;
  void (*cb)(lt_ws *, void *) = ws->drain_cb;
  ws->drain_cb = NULL;
  if (cb)
    cb(ws, ws->drain_ud);
}

static const lt_wsbridge_events bridge_events = {bridge_gone, bridge_failed, bridge_drained};

int lt_ws_send_blocked(lt_ws *ws) {
  return ws->bridge && lt_wsbridge_blocked(ws->bridge);
}

void lt_ws_on_drain(lt_ws *ws, void (*cb)(lt_ws *ws, void *ud), void *ud) {
  ws->drain_cb = cb;
  ws->drain_ud = ud;
  if (cb && ws->bridge)
    lt_wsbridge_want_drain(ws->bridge);
}

/* ---- the lws callback -------------------------------------------------------------- */

static int receive(lt_ws *ws, struct lws *wsi, const void *in, size_t len) {
  heard_from_peer(ws);
  if (lws_is_first_fragment(wsi)) {
    ws->frag_len = 0;
    ws->frag_type = lws_frame_is_binary(wsi) ? LT_WS_BINARY : LT_WS_TEXT;
  }
  if (ws->max_msg_size && ws->frag_len + len > ws->max_msg_size) {
    lt_ws_close(ws, 1009, "message too big");
    return 0;
  }
  if (ws->frag_len + len > ws->frag_cap) {
    size_t cap = ws->frag_cap ? ws->frag_cap * 2 : 4096;
    while (cap < ws->frag_len + len)
      cap *= 2;
    char *p = realloc(ws->frag, cap);
    if (!p)
      return -1;
    ws->frag = p;
    ws->frag_cap = cap;
  }
  memcpy(ws->frag + ws->frag_len, in, len);
  ws->frag_len += len;
  if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
    /* A server's text is checked here; a client's was, by the bridge. */
    if (ws->client && ws->frag_type == LT_WS_TEXT &&
        !lt_wsframe_utf8_valid(ws->frag, ws->frag_len)) {
      static const char reason[] = "invalid UTF-8 in a text message";
      ws->frag_len = 0;
      ws->close_code = 1007;
      ws->error_held = 1;
      push_msg(ws, LT_WS_ERROR, 1007, reason, sizeof reason - 1);
      return 0;
    }
    lt_ws_msg *m = msg_new(ws->frag_type, ws->frag, ws->frag_len, 0);
    if (!m)
      return -1;
    push(&ws->in_head, &ws->in_tail, m);
    ws->frag_len = 0;
    notify(ws);
  }
  return 0;
}

static enum lws_write_protocol write_kind(int type) {
  switch (type) {
  case LT_WS_BINARY:
    return LWS_WRITE_BINARY;
  case LT_WS_PING:
    return LWS_WRITE_PING;
  case LT_WS_PONG:
    return LWS_WRITE_PONG;
  default:
    return LWS_WRITE_TEXT;
  }
}

/* lws 4.1's private opcode for a close frame through lws_write (its public
 * header leaves it to lws_close_reason, which cannot wait for the answer in
 * Debian's build). */
#define CLOSE_FRAME ((enum lws_write_protocol)4)

static int writeable(lt_ws *ws, struct lws *wsi) {
  if (ws->want_close && ws->client) {
    /* The client sends its close frame itself and stays open for the
     * server's answer, which lws then reports as the peer's close (and
     * which sets close_code, as aiohttp's client does). */
    if (ws->close_sent)
      return 0;
    unsigned char buf[LWS_PRE + 125];
    size_t n = strlen(ws->want_reason);
    if (n > 123)
      n = 123;
    buf[LWS_PRE] = (unsigned char)(ws->want_code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)ws->want_code;
    memcpy(buf + LWS_PRE + 2, ws->want_reason, n);
    ws->close_sent = 1;
    if (lws_write(wsi, buf + LWS_PRE, n + 2, CLOSE_FRAME) < 0)
      return -1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
    return 0;
  }
  if (ws->want_close) {
    /* Debian's lws 4.1 sends no close frame when a callback returns -1; a
     * close reason and an immediate timeout do. */
    lws_close_reason(wsi, (enum lws_close_status)ws->want_code, (unsigned char *)ws->want_reason,
                     strlen(ws->want_reason));
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    /* Our close frame is out: the client's, held back, now answers it. */
    if (ws->bridge)
      lt_wsbridge_release_close(ws->bridge);
    return 0;
  }
  lt_ws_msg *m = pop(&ws->out_head, &ws->out_tail);
  if (!m)
    return ws->drop ? -1 : 0;
  int n = lws_write(wsi, (unsigned char *)m->data, m->len, write_kind(m->type));
  free(m);
  if (n < 0)
    return -1;
  if (ws->out_head || ws->drop)
    lws_callback_on_writable(wsi);
  return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
  (void)user;
  struct lws_context *ctx = lws_get_context(wsi);
  ws_ctx *wc = ctx ? lws_context_user(ctx) : NULL;
  lt_ws *ws = lws_get_opaque_user_data(wsi);
  switch (reason) {
  case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
    if (wc && wc->adopting) {
      lws_set_opaque_user_data(wsi, wc->adopting);
      wc->adopting->wsi = wsi;
    }
    return 0;
  case LWS_CALLBACK_ADD_HEADERS:
    if (ws) {
      struct lws_process_html_args *args = in;
      unsigned char *p = (unsigned char *)args->p, *end = p + args->max_len;
      if (ws->protocol[0] &&
          lws_add_http_header_by_name(wsi, (const unsigned char *)"sec-websocket-protocol:",
                                      (const unsigned char *)ws->protocol,
                                      (int)strlen(ws->protocol), &p, end))
        return -1;
      args->max_len -= (int)(p - (unsigned char *)args->p);
      args->p = (char *)p;
    }
    return 0;
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    if (ws && ws->headers) {
      char **p = in;
      size_t n = strlen(ws->headers);
      if (n > len)
        return -1;
      memcpy(*p, ws->headers, n);
      *p += n;
    }
    return 0;
  case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
    if (ws && lws_hdr_copy(wsi, ws->protocol, sizeof ws->protocol, WSI_TOKEN_PROTOCOL) < 0)
      ws->protocol[0] = '\0';
    return 0;
  case LWS_CALLBACK_ESTABLISHED:
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (ws) {
      ws->state = LT_WS_OPEN;
      if (ws->out_head || ws->want_close)
        lws_callback_on_writable(wsi);
      start_heartbeat(ws);
      notify(ws);
    }
    return 0;
  case LWS_CALLBACK_RECEIVE:
  case LWS_CALLBACK_CLIENT_RECEIVE:
    return ws ? receive(ws, wsi, in, len) : 0;
  case LWS_CALLBACK_RECEIVE_PONG:
  case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    if (ws) {
      heard_from_peer(ws);
      int opcode;
      char payload[125];
      size_t n;
      if (ws->bridge && lt_wsbridge_held(ws->bridge, in, len, &opcode, payload, &n))
        held_frame(ws, opcode, payload, n);
      else if (!ws->autoping)
        push_msg(ws, LT_WS_PONG, 0, in, len);
    }
    return 0;
  case LWS_CALLBACK_SERVER_WRITEABLE:
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return ws ? writeable(ws, wsi) : 0;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (ws) {
      const unsigned char *b = in;
      ws->close_code = len >= 2 ? (b[0] << 8 | b[1]) : 1005;
      ws->state = LT_WS_CLOSING;
      push_msg(ws, LT_WS_CLOSE, ws->close_code, len > 2 ? b + 2 : NULL, len > 2 ? len - 2 : 0);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (ws) {
      unsigned status = lws_http_client_http_response(wsi);
      if (status && status != 101)
        snprintf(ws->error, sizeof ws->error,
                 "the server answered %u instead of 101 Switching Protocols", status);
      else
        snprintf(ws->error, sizeof ws->error, "%s", in ? (const char *)in : "connection failed");
      set_closed(ws, 1006);
    }
    return 0;
  case LWS_CALLBACK_CLOSED:
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (ws)
      set_closed(ws, ws->want_close ? ws->want_code : 1006);
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    if (ws) {
      lws_set_opaque_user_data(wsi, NULL);
      ws->wsi = NULL;
      if (ws->state != LT_WS_CLOSED)
        set_closed(ws, 1006);
      /* With the context going, no callback will come to free the
       * library's own. */
      if (ws->released || (ws->free_when_closed && wc && wc->destroying))
        ws_free(ws);
    }
    return 0;
  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static const struct lws_protocols protocols[] = {
    {"luatest", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- the context ---------------------------------------------------------------------- */

static void drop_log(int level, const char *line) {
  (void)level, (void)line;
}

static void ctx_free(lt_loop *loop) {
  ws_ctx *wc = loop->ws_ctx;
  struct lws_context *ctx = wc->ctx;
  wc->destroying = 1;
  lt_wsbridge_close_all(&wc->bridges);
  /* On a foreign loop the first destroy only starts closing lws's handles;
   * the second, once they have closed, frees the context. */
  lws_context_destroy(ctx);
  for (int i = 0; i < 8 && uv_run(&loop->uv, UV_RUN_NOWAIT); i++)
    ;
  if (wc->ctx)
    lws_context_destroy(wc->ctx);
  free(wc);
  loop->ws_ctx = NULL;
}

static ws_ctx *get_ctx(lt_loop *loop) {
  if (loop->ws_ctx)
    return loop->ws_ctx;
  ws_ctx *wc = calloc(1, sizeof *wc);
  if (!wc)
    return NULL;
  lws_set_log_level(0, drop_log);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  void *foreign[1] = {&loop->uv};
  /* No VALIDATE_UTF8: 4.1 applies it to control frames between fragments of
   * a text message too; the bridge checks client text itself. */
  info.options = LWS_SERVER_OPTION_LIBUV;
  info.foreign_loops = foreign;
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info.protocols = protocols;
  info.pt_serv_buf_size = 32768;
  info.max_http_header_data = 16384;
  info.user = wc;
  info.pcontext = &wc->ctx;
  wc->ctx = lws_create_context(&info);
  if (!wc->ctx) {
    free(wc);
    return NULL;
  }
  wc->vhost = lws_get_vhost_by_name(wc->ctx, "default");
  loop->ws_ctx = wc;
  loop->ws_free = ctx_free;
  return wc;
}

/* ---- connections ------------------------------------------------------------------------ */

static lt_ws *ws_new(lt_loop *loop, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud) {
  lt_ws *ws = calloc(1, sizeof *ws);
  if (!ws)
    return NULL;
  ws->loop = loop;
  ws->cb = cb;
  ws->ud = ud;
  ws->event.fn = on_event;
  ws->state = LT_WS_CONNECTING;
  ws->autoping = !(opts && opts->no_autoping);
  ws->autoclose = !(opts && opts->no_autoclose);
  if (opts) {
    ws->heartbeat = opts->heartbeat;
    ws->max_msg_size = opts->max_msg_size;
    if (opts->protocol)
      snprintf(ws->protocol, sizeof ws->protocol, "%s", opts->protocol);
    if (opts->headers && *opts->headers)
      ws->headers = strdup(opts->headers);
  }
  return ws;
}

lt_ws *lt_ws_adopt(lt_loop *loop, int fd, const char *head, size_t len, const char *early,
                   size_t early_len, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud) {
  ws_ctx *wc = get_ctx(loop);
  lt_ws *ws = wc ? ws_new(loop, opts, cb, ud) : NULL;
  int lws_fd = -1;
  if (ws)
    ws->bridge =
        lt_wsbridge_new(&loop->uv, fd, &lws_fd, wc->rbuf, &wc->bridges, &bridge_events, ws);
  if (!ws || !ws->bridge) {
    if (ws)
      ws_free(ws);
    close(fd);
    return NULL;
  }
  lt_wsbridge_autoping(ws->bridge, ws->autoping);
  wc->adopting = ws;
  struct lws *wsi = lws_adopt_socket_vhost_readbuf(wc->vhost, lws_fd, head, len);
  wc->adopting = NULL;
  if (!wsi) {
    /* lws closed its descriptor, which ends the bridge; a connection it
     * destroyed already let go of ws. */
    if (ws->wsi)
      ws->released = 1;
    else
      ws_free(ws);
    return NULL;
  }
  if (ws->bridge && lt_wsbridge_start(ws->bridge, early, early_len))
    drop_connection(ws);
  return ws;
}

lt_ws *lt_ws_connect(lt_loop *loop, const char *host, int port, const char *path,
                     const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud) {
  ws_ctx *wc = get_ctx(loop);
  lt_ws *ws = wc ? ws_new(loop, opts, cb, ud) : NULL;
  if (!ws)
    return NULL;
  ws->client = 1;
  char hostport[96];
  snprintf(hostport, sizeof hostport, "%s:%d", host, port);
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = wc->ctx;
  ci.address = host;
  ci.port = port;
  ci.path = path;
  ci.host = hostport;
  ci.origin = hostport;
  ci.protocol = opts && opts->protocols && *opts->protocols ? opts->protocols : NULL;
  ci.local_protocol_name = "luatest";
  ci.opaque_user_data = ws;
  ci.pwsi = &ws->wsi;
  if (!lws_client_connect_via_info(&ci) && !ws->wsi) {
    if (ws->state == LT_WS_CLOSED) {
      /* The error was reported through the callback already. */
      return ws;
    }
    snprintf(ws->error, sizeof ws->error, "cannot connect to %s", hostport);
    set_closed(ws, 1006);
  }
  return ws;
}

int lt_ws_state(const lt_ws *ws) {
  return ws->state;
}

lt_ws_msg *lt_ws_pop(lt_ws *ws) {
  lt_ws_msg *m = pop(&ws->in_head, &ws->in_tail);
  if (m && m->type == LT_WS_CLOSE && ws->peer_close_held) {
    ws->peer_close_held = 0;
    if (ws->autoclose && !ws->want_close)
      lt_ws_close(ws, m->code == 1005 ? 1000 : m->code, "");
  } else if (m && m->type == LT_WS_ERROR && ws->error_held) {
    ws->error_held = 0;
    if (!ws->want_close)
      lt_ws_close(ws, m->code, m->data);
    ws->close_code = m->code;
  }
  return m;
}

int lt_ws_send(lt_ws *ws, int type, const void *data, size_t len) {
  if (ws->want_close || ws->state == LT_WS_CLOSING || ws->state == LT_WS_CLOSED)
    return LT_ECLOSED;
  /* Server side: our frames need nothing of lws (no mask, no state), so
   * they skip the socketpair and go out through the bridge. */
  if (ws->bridge && ws->state == LT_WS_OPEN)
    return lt_wsbridge_send(ws->bridge, type, data, len) ? LT_ECLOSED : 0;
  lt_ws_msg *m = msg_new(type, data, len, LWS_PRE);
  if (!m)
    return LT_ENOMEM;
  /* With nothing queued and room in the socket, write now: waiting for a
   * writeable callback costs an epoll round trip per message. Sends come
   * from tasks, never from inside an lws callback. */
  if (ws->wsi && ws->state == LT_WS_OPEN && !ws->out_head && !lws_send_pipe_choked(ws->wsi)) {
    int n = lws_write(ws->wsi, (unsigned char *)m->data, m->len, write_kind(type));
    free(m);
    return n < 0 ? LT_ECLOSED : 0;
  }
  push(&ws->out_head, &ws->out_tail, m);
  if (ws->wsi && ws->state == LT_WS_OPEN)
    lws_callback_on_writable(ws->wsi);
  return 0;
}

int lt_ws_close(lt_ws *ws, int code, const char *reason) {
  if (ws->want_close || ws->state == LT_WS_CLOSED)
    return LT_ECLOSED;
  ws->want_close = 1;
  ws->want_code = code;
  if (ws->state == LT_WS_OPEN)
    ws->state = LT_WS_CLOSING;
  snprintf(ws->want_reason, sizeof ws->want_reason, "%s", reason ? reason : "");
  if (ws->wsi && ws->state != LT_WS_CONNECTING)
    lws_callback_on_writable(ws->wsi);
  return 0;
}

int lt_ws_close_code(const lt_ws *ws) {
  return ws->close_code;
}

const char *lt_ws_library_version(void) {
  /* "4.1.6-" when libwebsockets was built without a git hash after the dash. */
  static char version[64];
  snprintf(version, sizeof version, "%s", lws_get_library_version());
  size_t n = strlen(version);
  if (n && version[n - 1] == '-')
    version[n - 1] = '\0';
  return version;
}

const char *lt_ws_protocol(const lt_ws *ws) {
  return ws->protocol;
}

void lt_ws_free_when_closed(lt_ws *ws) {
  ws->free_when_closed = 1;
}

const char *lt_ws_error(const lt_ws *ws) {
  return ws->error;
}

void lt_ws_release(lt_ws *ws) {
  ws->released = 1;
  lt_loop_undefer(ws->loop, &ws->event);
  if (!ws->wsi) {
    ws_free(ws);
    return;
  }
  /* Still connected: drop it once what was sent is out (no close frame:
   * the peer sees an abnormal closure); WSI_DESTROY frees ws. */
  if (ws->state == LT_WS_CLOSING || ws->want_close)
    return; /* a closing handshake under way completes by itself */
  if (ws->state == LT_WS_CONNECTING) {
    lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    return;
  }
  drop_connection(ws);
}
