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
  void *ud;

  /* Parser state. */
  uint8_t hdr[14];
  unsigned hdr_len, hdr_need;
  uint64_t left; /* payload bytes still to come in this frame */
  uint8_t mask[4];
  unsigned mask_pos;
  int opcode, fin, hold;
  int in_message, message_text;
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
 * reassembled from their fragments, unmasked; ping, pong and close as they
 * come), with the same verdict however the bytes are cut. A message past
 * max_msg_size (0: no limit) fails with 1009, as aiohttp. */
typedef struct lt_wsdecoder {
  lt_wsframe frames;
  size_t max_msg_size;
  char *msg;
  size_t msg_len, msg_cap;
  int msg_opcode;
  int failed;
  const char *reason;
  /* opcode 1 (text), 2 (binary), 8 (close), 9 (ping), 10 (pong). */
  void (*on_message)(void *ud, int opcode, const char *data, size_t n);
  void *ud;
} lt_wsdecoder;

void lt_wsdecoder_init(lt_wsdecoder *d, size_t max_msg_size);
/* Decodes n more bytes. Returns 0, or the close code of the first failure
 * (1002, 1007, 1009); no message after it is reported, and every later call
 * returns the same code. */
int lt_wsdecoder_feed(lt_wsdecoder *d, const char *p, size_t n);
void lt_wsdecoder_free(lt_wsdecoder *d);

#endif
