/* The WebSocket object both sides share: the queue of messages for the
 * owner, the state, the heartbeat and the closing rules (which message
 * answers what), over one of two transports: our own server on the HTTP
 * connection (ws_server.c) or a libwebsockets client (ws_client.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ws_impl.h"

/* ---- messages ------------------------------------------------------------------- */

lt_ws_msg *lt_ws_msg_new(int type, const void *data, size_t len, size_t headroom) {
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

void lt_ws_msg_push(lt_ws_msg **head, lt_ws_msg **tail, lt_ws_msg *m) {
  m->next = NULL;
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
}

lt_ws_msg *lt_ws_msg_shift(lt_ws_msg **head, lt_ws_msg **tail) {
  lt_ws_msg *m = *head;
  if (m) {
    *head = m->next;
    if (!*head)
      *tail = NULL;
  }
  return m;
}

/* ---- the object ----------------------------------------------------------------- */

static void on_event(lt_task *t) {
  lt_ws *ws = (lt_ws *)((char *)t - offsetof(lt_ws, event));
  if (!ws->released && ws->cb)
    ws->cb(ws, ws->ud);
  if (ws->free_when_closed && !ws->released && ws->state == LT_WS_CLOSED)
    lt_ws_release(ws);
}

void lt_ws_notify(lt_ws *ws) {
  lt_loop_defer(ws->loop, &ws->event);
}

lt_ws *lt_ws_new(lt_loop *loop, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud) {
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
    ws->close_timeout = opts->close_timeout;
    ws->max_msg_size = opts->max_msg_size;
    if (opts->protocol)
      snprintf(ws->protocol, sizeof ws->protocol, "%s", opts->protocol);
    if (opts->headers && *opts->headers)
      ws->headers = strdup(opts->headers);
  }
  return ws;
}

void lt_ws_free(lt_ws *ws) {
  lt_loop_undefer(ws->loop, &ws->event);
  lt_ws_stop_heartbeat(ws);
  if (ws->client)
    lt_ws_client_free(ws);
  else
    lt_ws_server_free(ws);
  lt_ws_msg *m;
  while ((m = lt_ws_msg_shift(&ws->in_head, &ws->in_tail)))
    free(m);
  free(ws->headers);
  free(ws);
}

void lt_ws_deliver(lt_ws *ws, int type, int code, const void *data, size_t len) {
  if (type == LT_WS_CLOSE)
    ws->close_pushed = 1;
  lt_ws_msg *m = lt_ws_msg_new(type, data, len, 0);
  if (m) {
    m->code = code;
    lt_ws_msg_push(&ws->in_head, &ws->in_tail, m);
  }
  lt_ws_notify(ws);
}

void lt_ws_set_closed(lt_ws *ws, int code) {
  if (ws->state == LT_WS_CLOSED)
    return;
  lt_ws_stop_heartbeat(ws);
  if (!ws->close_code)
    ws->close_code = code;
  ws->state = LT_WS_CLOSED;
  if (!ws->close_pushed)
    lt_ws_deliver(ws, LT_WS_CLOSE, ws->close_code, NULL, 0);
  else
    lt_ws_notify(ws);
}

/* Ends the connection without a closing handshake. */
static void drop(lt_ws *ws) {
  if (ws->client)
    lt_ws_client_drop(ws);
  else
    lt_ws_server_drop(ws);
}

void lt_ws_peer_close(lt_ws *ws, int code, const char *reason, size_t n) {
  /* The peer's close frame is held back until the owner receives it, so
   * what the owner sends before that still goes out, as with aiohttp. With
   * autoclose the answer is sent then (lt_ws_pop); without it the owner
   * may go on sending and answers with lt_ws_close. */
  ws->close_code = code;
  ws->peer_close_held = 1;
  lt_ws_deliver(ws, LT_WS_CLOSE, code, n ? reason : NULL, n);
}

void lt_ws_peer_failed(lt_ws *ws, int code, const char *reason) {
  /* The owner gets an error message; receiving it sends the close frame
   * with the code (lt_ws_pop), as aiohttp's receive does. */
  ws->close_code = code;
  ws->error_held = 1;
  lt_ws_deliver(ws, LT_WS_ERROR, code, reason, strlen(reason));
}

void lt_ws_drained(lt_ws *ws) {
  void (*cb)(lt_ws *, void *) = ws->drain_cb;
  ws->drain_cb = NULL;
  if (cb)
    cb(ws, ws->drain_ud);
}

/* ---- heartbeat ------------------------------------------------------------------- */

static void on_beat_closed(uv_handle_t *h) {
  free(h);
}

void lt_ws_stop_heartbeat(lt_ws *ws) {
  if (ws->beat) {
    uv_close((uv_handle_t *)ws->beat, on_beat_closed);
    ws->beat = NULL;
  }
}

static void on_beat(uv_timer_t *t) {
  lt_ws *ws = t->data;
  if (ws->state != LT_WS_OPEN)
    return;
  if (ws->awaiting_pong) {
    /* No pong in time: the peer is gone. Drop the connection as aiohttp
     * does, with no closing handshake. */
    ws->close_code = 1006;
    lt_ws_set_closed(ws, 1006);
    drop(ws);
    return;
  }
  ws->awaiting_pong = 1;
  /* Not empty: lws reports no empty pong. */
  lt_ws_send(ws, LT_WS_PING, "luatest", 7);
  uv_timer_start(t, on_beat, (uint64_t)(ws->heartbeat * 500), 0);
}

void lt_ws_heard(lt_ws *ws) {
  if (!ws->beat)
    return;
  ws->awaiting_pong = 0;
  uv_timer_start(ws->beat, on_beat, (uint64_t)(ws->heartbeat * 1000), 0);
}

void lt_ws_start_heartbeat(lt_ws *ws) {
  if (ws->heartbeat <= 0 || ws->beat)
    return;
  ws->beat = malloc(sizeof *ws->beat);
  if (!ws->beat)
    return;
  uv_timer_init(ws->loop->uv, ws->beat);
  ws->beat->data = ws;
  lt_ws_heard(ws);
}

/* ---- the public calls ------------------------------------------------------------- */

int lt_ws_state(const lt_ws *ws) {
  return ws->state;
}

lt_ws_msg *lt_ws_pop(lt_ws *ws) {
  lt_ws_msg *m = lt_ws_msg_shift(&ws->in_head, &ws->in_tail);
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

int lt_ws_send_message(lt_ws *ws, int type, const void *data, size_t len, int compress) {
  if (ws->want_close || ws->state == LT_WS_CLOSING || ws->state == LT_WS_CLOSED)
    return LT_ECLOSED;
  return ws->client ? lt_ws_client_send(ws, type, data, len, compress)
                    : lt_ws_server_send(ws, type, data, len, compress);
}

int lt_ws_send(lt_ws *ws, int type, const void *data, size_t len) {
  return lt_ws_send_message(ws, type, data, len, 1);
}

int lt_ws_close(lt_ws *ws, int code, const char *reason) {
  if (ws->want_close || ws->state == LT_WS_CLOSED)
    return LT_ECLOSED;
  ws->want_close = 1;
  ws->want_code = code;
  if (ws->state == LT_WS_OPEN)
    ws->state = LT_WS_CLOSING;
  snprintf(ws->want_reason, sizeof ws->want_reason, "%s", reason ? reason : "");
  if (ws->client)
    lt_ws_client_close(ws);
  else
    lt_ws_server_close(ws);
  return 0;
}

int lt_ws_close_code(const lt_ws *ws) {
  return ws->close_code;
}

const char *lt_ws_protocol(const lt_ws *ws) {
  return ws->protocol;
}

int lt_ws_compress(const lt_ws *ws) {
  return ws->compress_bits;
}

const char *lt_ws_error(const lt_ws *ws) {
  return ws->error;
}

void lt_ws_free_when_closed(lt_ws *ws) {
  ws->free_when_closed = 1;
}

int lt_ws_send_blocked(lt_ws *ws) {
  return !ws->client && lt_ws_server_blocked(ws);
}

void lt_ws_on_drain(lt_ws *ws, void (*cb)(lt_ws *ws, void *ud), void *ud) {
  ws->drain_cb = cb;
  ws->drain_ud = ud;
}

void lt_ws_release(lt_ws *ws) {
  ws->released = 1;
  lt_loop_undefer(ws->loop, &ws->event);
  if (ws->client)
    lt_ws_client_release(ws);
  else if (!ws->conn)
    lt_ws_free(ws);
  else if (ws->state == LT_WS_OPEN && !ws->want_close)
    lt_ws_server_drop(ws); /* the peer sees an abnormal closure */
  /* A closing handshake under way completes by itself; the connection's
   * end frees ws. */
}
