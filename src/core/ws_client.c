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
#include "tls.h"
#include "ws_impl.h"

/* The workarounds below (the private close opcode, the drop from a
 * writeable callback, the close reason before a kill timeout, the
 * permessage-deflate offer filled in per connection and the wrapper of
 * lws's deflate with its private result codes) were written for, and
 * measured on, Debian's 4.1 (../shared/notes/libwebsockets.md);
 * spec/websocket_spec.lua checks the version loaded at run time, and
 * spec/peers/ws_client_tls_deflate_spec.lua what each one fixes. */
#ifndef LT_LWS_WRITTEN_FOR
#define LT_LWS_WRITTEN_FOR 4001 /* major * 1000 + minor */
#endif
#if LWS_LIBRARY_VERSION_MAJOR * 1000 + LWS_LIBRARY_VERSION_MINOR != LT_LWS_WRITTEN_FOR
#error "ws_client.c: written for libwebsockets 4.1; check its workarounds against this version"
#endif

/* wss needs a vhost per trust: lws 4.1 keeps the client SSL_CTX on the
 * vhost. Ours are made by tls.c (a CA bundle in memory, which lws's own
 * loader cuts to its first certificate) and kept with the context. */
#define MAX_TLS_VHOSTS 16

typedef struct ws_ctx {
  struct lws_context *ctx;
  int destroying;
  struct {
    char *ca_pem; /* "" for the system's CAs */
    int verify;
    char name[16];
    lt_tls_ctx *tls;
    struct lws_vhost *vh;
  } vhosts[MAX_TLS_VHOSTS];
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
  free(ws->written);
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

/* An outgoing message's code field: send it uncompressed. */
#define NO_COMPRESS 1

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
  /* permessage-deflate reads a message in pieces as its output buffer
   * drains, from our memory, and lws calls back only once it is done. */
  free(ws->written);
  ws->written = NULL;
  lt_ws_msg *m = lt_ws_msg_shift(&ws->out_head, &ws->out_tail);
  if (!m)
    return ws->drop ? -1 : 0;
  ws->send_plain = m->code == NO_COMPRESS;
  int n = lws_write(wsi, (unsigned char *)m->data, m->len, write_kind(m->type));
  ws->send_plain = 0;
  ws->written = m;
  if (n < 0)
    return -1;
  if (ws->out_head || ws->drop)
    lws_callback_on_writable(wsi);
  return 0;
}

/* The Sec-WebSocket-Extensions the server answered: the window bits our
 * messages are compressed with (its client_max_window_bits, else 15), as
 * aiohttp's client reads them; 0 when it declined. */
static int negotiated_bits(struct lws *wsi) {
  char ext[256];
  if (lws_hdr_copy(wsi, ext, sizeof ext, WSI_TOKEN_EXTENSIONS) <= 0 ||
      !strstr(ext, "permessage-deflate"))
    return 0;
  const char *p = strstr(ext, "client_max_window_bits=");
  int bits = p ? atoi(p + strlen("client_max_window_bits=")) : 15;
  return bits >= 9 && bits <= 15 ? bits : 15;
}

/* lws offers a vhost's extensions to every client it connects; the offer
 * is written from ext->client_offer right after the
 * CLIENT_CONFIRM_EXTENSION_SUPPORTED callback that lets a connection
 * decline it, so that callback fills in this connection's offer. */
static char pmd_offer[96];

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  ws_ctx *wc = ctx ? lws_context_user(ctx) : NULL;
  lt_ws *ws = lws_get_opaque_user_data(wsi);
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    if (ws)
      ws->connected = 1;
    if (ws && ws->headers) {
      char **p = in;
      size_t n = strlen(ws->headers);
      if (n > len)
        return -1;
      memcpy(*p, ws->headers, n);
      *p += n;
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED:
    if (!ws || !ws->offer_bits || strcmp(in, "permessage-deflate"))
      return 1;
    if (ws->offer_bits < 15)
      snprintf(pmd_offer, sizeof pmd_offer,
               "permessage-deflate; client_max_window_bits; server_max_window_bits=%d",
               ws->offer_bits);
    else
      snprintf(pmd_offer, sizeof pmd_offer, "permessage-deflate; client_max_window_bits");
    return 0;
  case LWS_CALLBACK_WS_EXT_DEFAULTS:
    /* lws's default 1 KiB buffers cut a compressed message into a frame
     * (and a writeable round trip) per KiB. */
    if (len > 40)
      snprintf(in, len, "rx_buf_size=14; tx_buf_size=14");
    return 0;
  case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
    if (ws) {
      if (lws_hdr_copy(wsi, ws->protocol, sizeof ws->protocol, WSI_TOKEN_PROTOCOL) < 0)
        ws->protocol[0] = '\0';
      ws->compress_bits = ws->offer_bits ? negotiated_bits(wsi) : 0;
    }
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
      const char *why = in ? (const char *)in : "connection failed";
      char tls_why[112];
      if (status && status != 101)
        snprintf(ws->error, sizeof ws->error,
                 "the server answered %u instead of 101 Switching Protocols", status);
      else if (lws_is_ssl(wsi) && lws_get_ssl(wsi) &&
               lt_tls_verify_failure(lws_get_ssl(wsi), "handshake", tls_why, sizeof tls_why))
        snprintf(ws->error, sizeof ws->error, "ETLS: %s", tls_why);
      else if (lws_is_ssl(wsi) && (strstr(why, "SSL") || strstr(why, "tls")))
        snprintf(ws->error, sizeof ws->error, "ETLS: %s", why);
      else if (!ws->connected)
        /* Before the upgrade request went out: no connection (lws 4.1
         * says "closed before established" for a refused one). */
        snprintf(ws->error, sizeof ws->error, "ECONNECT: cannot connect (%s)", why);
      else
        snprintf(ws->error, sizeof ws->error, "%s", why);
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

/* lws 4.1's private results of an extension's PAYLOAD_RX (enum pmd_return
 * in lib/core-net/private-lib-core-net.h). */
#define PMDR_UNKNOWN 0
#define PMDR_NOTHING_WE_SHOULD_DO 5

/* lws's permessage-deflate with two fixes for 4.1:
 * - it compresses every data message once negotiated: a message sent with
 *   compress false passes through (lws sends it as it is, without RSV1);
 * - its client parser hands a frame that is not compressed (a control
 *   frame, or a message without RSV1) to the application again and again,
 *   for ever (fixed upstream by 9202017c2, in 4.3): reported as "unknown",
 *   lws counts it consumed. */
static int pm_deflate(struct lws_context *context, const struct lws_extension *ext, struct lws *wsi,
                      enum lws_extension_callback_reasons reason, void *user, void *in,
                      size_t len) {
  lt_ws *ws = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  if (reason == LWS_EXT_CB_PAYLOAD_TX && ws && ws->send_plain)
    return 0;
  int r = lws_extension_callback_pm_deflate(context, ext, wsi, reason, user, in, len);
  if (reason == LWS_EXT_CB_PAYLOAD_RX && r == PMDR_NOTHING_WE_SHOULD_DO)
    return PMDR_UNKNOWN;
  return r;
}

static const struct lws_extension extensions[] = {
    {"permessage-deflate", pm_deflate, pmd_offer},
    {NULL, NULL, NULL},
};

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
  for (int i = 0; i < MAX_TLS_VHOSTS && wc->vhosts[i].ca_pem; i++) {
    free(wc->vhosts[i].ca_pem);
    lt_tls_ctx_free(wc->vhosts[i].tls);
  }
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
  info.extensions = extensions;
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

/* The vhost whose client SSL_CTX trusts ca_pem (NULL: the system's CAs),
 * made on first use. NULL with why in err. */
static struct lws_vhost *tls_vhost(ws_ctx *wc, const char *ca_pem, int verify, char *err,
                                   size_t errlen) {
  const char *trust = ca_pem ? ca_pem : "";
  int i = 0;
  for (; i < MAX_TLS_VHOSTS && wc->vhosts[i].ca_pem; i++)
    if (wc->vhosts[i].verify == verify && !strcmp(wc->vhosts[i].ca_pem, trust))
      return wc->vhosts[i].vh;
  if (i == MAX_TLS_VHOSTS) {
    snprintf(err, errlen, "more than %d different ssl settings", MAX_TLS_VHOSTS);
    return NULL;
  }
  lt_tls_ctx *tls = lt_tls_client_ctx(ca_pem, verify, err, errlen);
  char *copy = tls ? strdup(trust) : NULL;
  if (!copy) {
    if (tls)
      snprintf(err, errlen, "out of memory");
    lt_tls_ctx_free(tls);
    return NULL;
  }
  snprintf(wc->vhosts[i].name, sizeof wc->vhosts[i].name, "tls%d", i);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.extensions = extensions;
  info.pt_serv_buf_size = 32768;
  info.max_http_header_data = 16384;
  info.vhost_name = wc->vhosts[i].name;
  info.provided_client_ssl_ctx = lt_tls_ctx_openssl(tls);
  int host_log = log_quiet();
  struct lws_vhost *vh = lws_create_vhost(wc->ctx, &info);
  log_restore(host_log);
  if (!vh) {
    snprintf(err, errlen, "libwebsockets refused a TLS client vhost");
    free(copy);
    lt_tls_ctx_free(tls);
    return NULL;
  }
  wc->vhosts[i].ca_pem = copy;
  wc->vhosts[i].verify = verify;
  wc->vhosts[i].tls = tls;
  wc->vhosts[i].vh = vh;
  return vh;
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
  ws->offer_bits = opts && opts->compress >= 9 && opts->compress <= 15 ? opts->compress : 0;
  if (opts && opts->tls) {
    char err[96];
    ci.vhost = tls_vhost(wc, opts->tls_ca_pem, opts->tls_verify, err, sizeof err);
    if (!ci.vhost) {
      snprintf(ws->error, sizeof ws->error, "ETLS: %s", err);
      lt_ws_set_closed(ws, 1006);
      return ws;
    }
    ci.ssl_connection = LCCSCF_USE_SSL;
    if (!opts->tls_verify)
      ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED |
                           LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
  }
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

int lt_ws_client_send(lt_ws *ws, int type, const void *data, size_t len, int compress) {
  lt_ws_msg *m = lt_ws_msg_new(type, data, len, LWS_PRE);
  if (!m)
    return LT_ENOMEM;
  m->code = compress ? 0 : NO_COMPRESS;
  /* With nothing queued and nothing of ours still buffered in lws, write
   * now: waiting for a writeable callback costs an epoll round trip per
   * message. (lws_send_pipe_choked would also tell whether the socket has
   * room, with a poll() per message; lws keeps what a full socket does
   * not take and flushes it itself, so one message at most waits there.)
   * Sends come from tasks, never from inside an lws callback. Not under
   * permessage-deflate, whose output lws may still be draining, which
   * only a writeable callback continues. */
  if (ws->wsi && ws->state == LT_WS_OPEN && !ws->out_head && !ws->compress_bits &&
      !lws_partial_buffered(ws->wsi)) {
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
