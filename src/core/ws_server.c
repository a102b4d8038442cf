/* Our own RFC 6455 server, on the HTTP connection the upgrade request came
 * on: the handshake answer, the client's bytes through one incremental
 * decoder (wsframe.c), our frames through the connection's write path
 * (with its backpressure), and the closing handshake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "coding.h"
#include "server.h"
#include "ws_impl.h"

enum { OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

/* How long our close frame waits for the client's answer by default:
 * aiohttp's WebSocketResponse timeout. */
#define CLOSE_ANSWER_S 10.0

static void on_close_wait_closed(uv_handle_t *h) {
  free(h);
}

static void stop_close_wait(lt_ws *ws) {
  if (ws->close_wait) {
    uv_close((uv_handle_t *)ws->close_wait, on_close_wait_closed);
    ws->close_wait = NULL;
  }
}

void lt_ws_server_free(lt_ws *ws) {
  stop_close_wait(ws);
  lt_wsdecoder_free(&ws->decoder);
  lt_wsdeflate_free(ws->deflate);
  ws->deflate = NULL;
  if (ws->conn)
    lt_conn_ws_forget(ws->conn);
}

/* Writes one unmasked frame; rsv1 marks a compressed message. */
static int send_frame_rsv(lt_ws *ws, int opcode, int rsv1, const void *data, size_t len) {
  if (!ws->conn)
    return LT_ECLOSED;
  uint8_t hdr[10];
  size_t hlen = 2;
  hdr[0] = (uint8_t)(0x80 | (rsv1 ? 0x40 : 0) | opcode);
  if (len < 126) {
    hdr[1] = (uint8_t)len;
  } else if (len <= 0xFFFF) {
    hdr[1] = 126;
    hdr[2] = (uint8_t)(len >> 8), hdr[3] = (uint8_t)len;
    hlen = 4;
  } else {
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
      hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    hlen = 10;
  }
  uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, (unsigned)hlen),
                      uv_buf_init((char *)data, (unsigned)len)};
  return lt_conn_writev(ws->conn, bufs, len ? 2 : 1);
}

static int send_frame(lt_ws *ws, int opcode, const void *data, size_t len) {
  return send_frame_rsv(ws, opcode, 0, data, len);
}

/* The connection is done with WebSocket frames: FIN once what we sent is
 * out, and the end of the connection frees what it must. */
static void finish(lt_ws *ws, int code) {
  stop_close_wait(ws);
  ws->input_done = 1;
  if (ws->conn)
    lt_conn_finish(ws->conn);
  lt_ws_set_closed(ws, code);
}

static void on_close_timeout(uv_timer_t *t) {
  lt_ws *ws = t->data;
  /* No answer to our close: aiohttp's close() gives up with 1006. */
  ws->close_code = 1006;
  finish(ws, 1006);
}

int lt_ws_server_send(lt_ws *ws, int type, const void *data, size_t len, int compress) {
  if (ws->state != LT_WS_OPEN)
    return LT_ECLOSED;
  if (ws->deflate && compress && (type == OP_TEXT || type == OP_BINARY)) {
    /* Control frames are never compressed (RFC 7692 section 6.1). */
    lt_buf z = {0};
    int r = lt_wsdeflate_message(ws->deflate, data, len, &z);
    if (!r)
      r = send_frame_rsv(ws, type, 1, z.data, z.len) ? LT_ECLOSED : 0;
    lt_buf_free(&z);
    return r;
  }
  return send_frame(ws, type, data, len) ? LT_ECLOSED : 0;
}

void lt_ws_server_close(lt_ws *ws) {
  char payload[125];
  size_t n = strlen(ws->want_reason);
  if (n > 123)
    n = 123;
  payload[0] = (char)(ws->want_code >> 8);
  payload[1] = (char)ws->want_code;
  memcpy(payload + 2, ws->want_reason, n);
  int r = send_frame(ws, OP_CLOSE, payload, n + 2);
  if (r || ws->peer_closed || ws->input_done) {
    /* Answering the client's close, or after its breach: nothing more to
     * wait for. */
    finish(ws, ws->want_code);
    return;
  }
  ws->close_wait = malloc(sizeof *ws->close_wait);
  if (!ws->close_wait) {
    finish(ws, ws->want_code);
    return;
  }
  uv_timer_init(ws->loop->uv, ws->close_wait);
  ws->close_wait->data = ws;
  double s = ws->close_timeout > 0 ? ws->close_timeout : CLOSE_ANSWER_S;
  uv_timer_start(ws->close_wait, on_close_timeout, (uint64_t)(s * 1000 + 0.5), 0);
}

void lt_ws_server_drop(lt_ws *ws) {
  ws->input_done = 1;
  if (ws->conn)
    lt_conn_finish(ws->conn);
  lt_ws_set_closed(ws, 1006);
}

int lt_ws_server_blocked(lt_ws *ws) {
  return ws->conn && lt_conn_blocked(ws->conn);
}

/* ---- the client's frames ---------------------------------------------------------- */

static void on_message(void *ud, int opcode, const char *data, size_t n) {
  lt_ws *ws = ud;
  if (ws->input_done)
    return;
  lt_ws_heard(ws);
  switch (opcode) {
  case OP_PING:
    if (ws->autoping)
      send_frame(ws, OP_PONG, data, n);
    else
      lt_ws_deliver(ws, LT_WS_PING, 0, data, n);
    return;
  case OP_PONG:
    if (!ws->autoping)
      lt_ws_deliver(ws, LT_WS_PONG, 0, data, n);
    return;
  case OP_CLOSE: {
    int code = n >= 2 ? ((unsigned char)data[0] << 8 | (unsigned char)data[1]) : 1005;
    ws->peer_closed = 1;
    ws->input_done = 1; /* nothing may follow a close frame */
    if (ws->want_close) {
      /* The answer to ours: aiohttp's close() takes its code. */
      if (code != 1005)
        ws->close_code = code;
      finish(ws, ws->want_code);
      return;
    }
    lt_ws_peer_close(ws, code, data + 2, n > 2 ? n - 2 : 0);
    return;
  }
  default:
    lt_ws_deliver(ws, opcode, 0, data, n);
  }
}

void lt_ws_conn_input(lt_ws *ws, const char *p, size_t n) {
  if (ws->input_done)
    return;
  int code = lt_wsdecoder_feed(&ws->decoder, p, n);
  if (code && !ws->input_done) {
    ws->input_done = 1;
    lt_ws_peer_failed(ws, code, ws->decoder.reason ? ws->decoder.reason : "");
  }
}

void lt_ws_conn_drained(lt_ws *ws) {
  lt_ws_drained(ws);
}

void lt_ws_conn_gone(lt_ws *ws) {
  ws->conn = NULL;
  stop_close_wait(ws);
  lt_ws_set_closed(ws, 1006);
  lt_ws_drained(ws); /* a sender waiting learns of the end */
  if (ws->released)
    lt_ws_free(ws);
}

/* ---- the handshake ------------------------------------------------------------------ */

/* RFC 6455 section 4.2.2: base64 of the SHA-1 of the key and this GUID. */
static int accept_value(const char *key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char in[24 + sizeof guid];
  size_t klen = strlen(key);
  if (klen != 24)
    return -1;
  memcpy(in, key, klen);
  memcpy(in + klen, guid, sizeof guid - 1);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned dlen = 0;
  if (!EVP_Digest(in, klen + sizeof guid - 1, digest, &dlen, EVP_sha1(), NULL) || dlen != 20)
    return -1;
  EVP_EncodeBlock((unsigned char *)out, digest, 20);
  return 0;
}

static int write_101(lt_conn *c, lt_request *req, const lt_ws_opts *opts, const char *ext) {
  char accept[29];
  if (accept_value(lt_request_header(req, "Sec-WebSocket-Key"), accept))
    return LT_EPARSE;
  lt_buf head = {0};
  /* The headers aiohttp's handshake answer carries, in its order. */
  lt_buf_puts(&head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: upgrade\r\nSec-WebSocket-Accept: ");
  lt_buf_puts(&head, accept);
  lt_buf_puts(&head, "\r\n");
  if (ext) {
    lt_buf_puts(&head, "Sec-WebSocket-Extensions: ");
    lt_buf_puts(&head, ext);
    lt_buf_puts(&head, "\r\n");
  }
  if (opts && opts->protocol && *opts->protocol) {
    lt_buf_puts(&head, "Sec-WebSocket-Protocol: ");
    lt_buf_puts(&head, opts->protocol);
    lt_buf_puts(&head, "\r\n");
  }
  if (opts && opts->headers)
    lt_buf_puts(&head, opts->headers);
  lt_buf_puts(&head, "Date: ");
  lt_buf_puts(&head, lt_loop_date(req->server->loop));
  lt_buf_puts(&head, "\r\nServer: luatest/" LT_VERSION "\r\n");
  int r = lt_buf_puts(&head, "\r\n") ? LT_ENOMEM : 0;
  if (!r) {
    uv_buf_t b = uv_buf_init(head.data, (unsigned)head.len);
    r = lt_conn_writev(c, &b, 1);
  }
  lt_buf_free(&head);
  return r;
}

int lt_request_upgrade(lt_request *req, const lt_ws_opts *opts, lt_ws_event_cb cb, void *ud,
                       lt_ws **out) {
  *out = NULL;
  if (lt_request_ws_refusal(req))
    return LT_EPARSE;
  lt_ws *ws = lt_ws_new(req->server->loop, opts, cb, ud);
  if (!ws)
    return LT_ENOMEM;
  lt_wsdecoder_init(&ws->decoder, ws->max_msg_size);
  ws->decoder.on_message = on_message;
  ws->decoder.ud = ws;
  /* permessage-deflate as aiohttp's server negotiates it. */
  char ext[96];
  int no_takeover = 0;
  int bits =
      opts && opts->compress
          ? lt_wsdeflate_accept(lt_request_header(req, "Sec-WebSocket-Extensions"), &no_takeover)
          : 0;
  if (bits) {
    if (lt_wsdecoder_enable_deflate(&ws->decoder) ||
        !(ws->deflate = lt_wsdeflate_new(bits, no_takeover))) {
      lt_ws_free(ws);
      return LT_ENOMEM;
    }
    ws->compress_bits = bits;
    lt_wsdeflate_answer(bits, no_takeover, ext, sizeof ext);
  }
  int r = lt_request_hand_over(req, ws, &ws->conn);
  if (r) {
    lt_ws_free(ws);
    return r;
  }
  if ((r = write_101(ws->conn, req, opts, bits ? ext : NULL))) {
    lt_ws_release(ws);
    return r;
  }
  ws->state = LT_WS_OPEN;
  lt_ws_start_heartbeat(ws);
  lt_ws_notify(ws);
  *out = ws;
  /* Frames that came with the request, then the rest as they come. */
  lt_conn_ws_start(ws->conn);
  return 0;
}
