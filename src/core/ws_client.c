/* WebSocket clients by libwebsockets on our loop: one context per loop,
 * created on first use and destroyed (in the two steps lws needs on a
 * foreign loop) when the loop is freed. Callbacks only record what
 * happened and queue a notification; the owner reads messages from the
 * queue (ws.c). This is the only file that includes libwebsockets.h (its
 * enum http_status collides with llhttp.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <libwebsockets.h>
#include "ws_impl.h"

/* The workarounds below (the private close opcode, the drop from a
 * writeable callback, the close reason before a kill timeout) were written
 * for, and measured on, Debian's 4.1 (../shared/notes/libwebsockets.md);
 * spec/websocket_spec.lua checks the version loaded at run time. */
#ifndef LT_LWS_WRITTEN_FOR
#define LT_LWS_WRITTEN_FOR 4001 /* major * 1000 + minor */
#endif
#if LWS_LIBRARY_VERSION_MAJOR * 1000 + LWS_LIBRARY_VERSION_MINOR != LT_LWS_WRITTEN_FOR
#error "ws_client.c: written for libwebsockets 4.1; check its workarounds against this version"
#endif

typedef struct ws_ctx {
  struct lws_context *ctx;
  int destroying;
} ws_ctx;

/* Ends the connection without a closing handshake. lws 4.1 does not wake
 * for a kill timeout set from outside its own callbacks, so the drop is
 * made from the next writeable callback instead. */
void lt_ws_client_drop(lt_ws *ws) {
  if (!ws->wsi)
    return;
  ws->drop = 1;
  lws_callback_on_writable(ws->wsi);
}

void lt_ws_client_free(lt_ws *ws) {
  lt_ws_msg *m;
  while ((m = lt_ws_msg_shift(&ws->out_head, &ws->out_tail)))
    free(m);
  free(ws->frag);
}

/* ---- the lws callback -------------------------------------------------------------- */

static int receive(lt_ws *ws, struct lws *wsi, const void *in, size_t len) {
  lt_ws_heard(ws);
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
    /* The context has no VALIDATE_UTF8 (4.1 applies it to control frames
     * between the fragments of a text message too): checked here. */
    if (ws->frag_type == LT_WS_TEXT && !lt_wsframe_utf8_valid(ws->frag, ws->frag_len)) {
      ws->frag_len = 0;
      lt_ws_peer_failed(ws, 1007, "invalid UTF-8 in a text message");
      return 0;
    }
    lt_ws_msg *m = lt_ws_msg_new(ws->frag_type, ws->frag, ws->frag_len, 0);
    if (!m)
      return -1;
    lt_ws_msg_push(&ws->in_head, &ws->in_tail, m);
    ws->frag_len = 0;
    lt_ws_notify(ws);
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
  if (ws->want_close) {
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
  lt_ws_msg *m = lt_ws_msg_shift(&ws->out_head, &ws->out_tail);
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
  struct lws_context *ctx = lws_get_context(wsi);
  ws_ctx *wc = ctx ? lws_context_user(ctx) : NULL;
  lt_ws *ws = lws_get_opaque_user_data(wsi);
  switch (reason) {
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
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (ws) {
      ws->state = LT_WS_OPEN;
      if (ws->out_head || ws->want_close)
        lws_callback_on_writable(wsi);
      lt_ws_start_heartbeat(ws);
      lt_ws_notify(ws);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    return ws ? receive(ws, wsi, in, len) : 0;
  case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    if (ws) {
      lt_ws_heard(ws);
      if (!ws->autoping)
        lt_ws_deliver(ws, LT_WS_PONG, 0, in, len);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return ws ? writeable(ws, wsi) : 0;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (ws) {
      const unsigned char *b = in;
      ws->close_code = len >= 2 ? (b[0] << 8 | b[1]) : 1005;
      ws->state = LT_WS_CLOSING;
      lt_ws_deliver(ws, LT_WS_CLOSE, ws->close_code, len > 2 ? b + 2 : NULL, len > 2 ? len - 2 : 0);
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
      lt_ws_set_closed(ws, 1006);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (ws)
      lt_ws_set_closed(ws, ws->want_close ? ws->want_code : 1006);
    return 0;
  case LWS_CALLBACK_WSI_DESTROY:
    if (ws) {
      lws_set_opaque_user_data(wsi, NULL);
      ws->wsi = NULL;
      if (ws->state != LT_WS_CLOSED)
        lt_ws_set_closed(ws, 1006);
      /* With the context going, no callback will come to free the
       * library's own. */
      if (ws->released || (ws->free_when_closed && wc && wc->destroying))
        lt_ws_free(ws);
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

/* lws 4.1 has one log level for the whole process (per-context logging
 * came with 4.3), and a host that embeds luatest may have set it for its
 * own contexts. So luatest silences lws only while it calls into lws, puts
 * the host's level back afterwards, and never replaces its emit function;
 * what lws logs from its own callbacks follows the host's level. */
static int log_quiet(void) {
  int saved = 0;
  for (int bit = 0; bit < LLL_COUNT; bit++)
    if (lwsl_visible(1 << bit))
      saved |= 1 << bit;
  lws_set_log_level(0, NULL);
  return saved;
}

static void log_restore(int saved) {
  lws_set_log_level(saved, NULL);
}

void lt_ws_silence_process(void) {
  lws_set_log_level(0, NULL);
}

static void ctx_free(lt_loop *loop) {
  ws_ctx *wc = loop->ws_ctx;
  struct lws_context *ctx = wc->ctx;
  wc->destroying = 1;
  int host_log = log_quiet();
  /* On a foreign loop the first destroy only starts closing lws's handles;
   * the second, once they have closed, frees the context. */
  lws_context_destroy(ctx);
  for (int i = 0; i < 8 && uv_run(loop->uv, UV_RUN_NOWAIT); i++)
    ;
  if (wc->ctx)
    lws_context_destroy(wc->ctx);
  log_restore(host_log);
  free(wc);
  loop->ws_ctx = NULL;
}

static ws_ctx *get_ctx(lt_loop *loop) {
  if (loop->ws_ctx)
    return loop->ws_ctx;
  ws_ctx *wc = calloc(1, sizeof *wc);
  if (!wc)
    return NULL;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  void *foreign[1] = {loop->uv};
  info.options = LWS_SERVER_OPTION_LIBUV;
  info.foreign_loops = foreign;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.pt_serv_buf_size = 32768;
  info.max_http_header_data = 16384;
  info.user = wc;
  info.pcontext = &wc->ctx;
  int host_log = log_quiet();
  wc->ctx = lws_create_context(&info);
  log_restore(host_log);
  if (!wc->ctx) {
    free(wc);
    return NULL;
  }
  loop->ws_ctx = wc;
  loop->ws_free = ctx_free;
  return wc;
}

/* ---- connections ------------------------------------------------------------------------ */

lt_ws *lt_ws_connect(lt_loop *loop, const char *host, int port, const char *path,
                     const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud) {
  ws_ctx *wc = get_ctx(loop);
  lt_ws *ws = wc ? lt_ws_new(loop, opts, cb, ud) : NULL;
  if (!ws)
    return NULL;
  ws->client = 1;
  ws->protocol[0] = '\0'; /* the server's choice, once it answered */
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
  int host_log = log_quiet();
  struct lws *wsi = lws_client_connect_via_info(&ci);
  log_restore(host_log);
  if (!wsi && !ws->wsi) {
    if (ws->state == LT_WS_CLOSED) {
      /* The error was reported through the callback already. */
      return ws;
    }
    snprintf(ws->error, sizeof ws->error, "cannot connect to %s", hostport);
    lt_ws_set_closed(ws, 1006);
  }
  return ws;
}

int lt_ws_client_send(lt_ws *ws, int type, const void *data, size_t len) {
  lt_ws_msg *m = lt_ws_msg_new(type, data, len, LWS_PRE);
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
  lt_ws_msg_push(&ws->out_head, &ws->out_tail, m);
  if (ws->wsi && ws->state == LT_WS_OPEN)
    lws_callback_on_writable(ws->wsi);
  return 0;
}

void lt_ws_client_close(lt_ws *ws) {
  if (ws->wsi && ws->state != LT_WS_CONNECTING)
    lws_callback_on_writable(ws->wsi);
}

void lt_ws_client_release(lt_ws *ws) {
  if (!ws->wsi) {
    lt_ws_free(ws);
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
  lt_ws_client_drop(ws);
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
