/* A checker for the WebSocket frames a client sends, run on the bytes before
 * libwebsockets sees them (and, below, the decoder our own server will use): libwebsockets 4.1
 * accepts unmasked client frames and drops an oversized control frame without a close frame, so RFC
 * 6455's checks are made here, with the close code each failure calls for. It can also hold pings
 * and the close frame back from libwebsockets (autoping and autoclose off), handing them to the
 * owner instead. */
#ifndef LT_WSFRAME_H
#define LT_WSFRAME_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

typedef struct lt_wsframe {
  /* The owner's choices. */
  int hold_pings; /* pings and pongs go to on_control, not on to libwebsockets */
  int hold_close; /* so does the close frame */
  /* Called with each run of bytes to pass on, and with each held control
   * frame (payload unmasked; the frame's raw bytes in raw, raw_len). */
  void (*on_pass)(void *ud, const char *p, size_t n);
  void (*on_control)(void *ud, int opcode, const char *payload, size_t n, const char *raw,
                     size_t raw_len);
  /* When set: the unmasked payload of text and binary frames as it comes,
   * and (NULL, 0, 1) when a message's last frame has ended. */
  void (*on_data)(void *ud, const char *data, size_t n, int message_end);
  /* 0, or the size past which a text or binary message fails with 1009
   * (at the byte that passes it, so the verdict does not depend on cuts). */
  uint64_t max_message;
  /* permessage-deflate was negotiated: RSV1 may mark a message's first
   * frame as compressed (its payload is then not checked as UTF-8 here). */
  int rsv1_ok;
  void *ud;

  /* Parser state. */
  uint8_t hdr[14];
  unsigned hdr_len, hdr_need;
  uint64_t left; /* payload bytes still to come in this frame */
  uint8_t mask[4];
  unsigned mask_pos;
  int opcode, fin, hold;
  int in_message, message_text, message_compressed;
  uint64_t message_bytes;
  unsigned utf8_need;
  uint8_t utf8_lo, utf8_hi;
  uint8_t ctl[125 + 14]; /* a held or checked control frame, raw */
  unsigned ctl_len, ctl_hdr;
  int failed;
  const char *reason; /* of the failure, for the close frame */
  int cut;            /* the offending frame began in an earlier call: its start went on */
} lt_wsframe;

void lt_wsframe_init(lt_wsframe *f);
/* Scans n more bytes. Returns 0, or the close code of the first violation
 * (1002 protocol error, 1007 invalid UTF-8); bytes from the offending frame
 * on are never passed, and every later call returns the same code. */
int lt_wsframe_feed(lt_wsframe *f, const char *p, size_t n);

/* 1 when p holds complete, valid UTF-8. */
int lt_wsframe_utf8_valid(const char *p, size_t n);

/* The decoder a WebSocket server on its own connection needs, on top of
 * the checker: client bytes in, whole messages out (text and binary
 * reassembled from their fragments, unmasked, inflated when compressed;
 * ping, pong and close as they come), with the same verdict however the
 * bytes are cut. A message past max_msg_size (0: no limit), on the wire or
 * inflated, fails with 1009, as aiohttp; data that does not inflate with
 * 1002. */
typedef struct lt_wsdecoder {
  lt_wsframe frames;
  size_t max_msg_size;
  lt_buf msg;
  struct lt_wsinflate *inflate; /* permessage-deflate, once enabled */
  int msg_opcode;
  int failed;
  const char *reason;
  /* opcode 1 (text), 2 (binary), 8 (close), 9 (ping), 10 (pong). */
  void (*on_message)(void *ud, int opcode, const char *data, size_t n);
  void *ud;
} lt_wsdecoder;

void lt_wsdecoder_init(lt_wsdecoder *d, size_t max_msg_size);
/* Accepts compressed messages (RSV1) from now on: 0, or LT_ENOMEM. */
int lt_wsdecoder_enable_deflate(lt_wsdecoder *d);
/* Decodes n more bytes. Returns 0, or the close code of the first failure
 * (1002, 1007, 1009); no message after it is reported, and every later call
 * returns the same code. */
int lt_wsdecoder_feed(lt_wsdecoder *d, const char *p, size_t n);
void lt_wsdecoder_free(lt_wsdecoder *d);

/* permessage-deflate negotiation as aiohttp's server (ws_ext_parse): the
 * offers of a Sec-WebSocket-Extensions value in order, the first
 * acceptable one taken. Returns the window bits our compressor is to use
 * (15, or the offer's server_max_window_bits, 9 to 15), or 0 when nothing
 * is acceptable; *no_takeover is whether it asked for
 * server_no_context_takeover. */
int lt_wsdeflate_accept(const char *offers, int *no_takeover);
/* The Sec-WebSocket-Extensions value that answers it (aiohttp's
 * ws_ext_gen), in out (at least 80 bytes). */
void lt_wsdeflate_answer(int window_bits, int no_takeover, char *out, size_t size);

#endif
