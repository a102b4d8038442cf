/* libFuzzer target: the WebSocket decoder (messages out of client bytes).
 * The first byte chooses max_msg_size (0: none, else 16 times it) and,
 * when odd, permessage-deflate (RSV1 marks compressed messages); the rest
 * is the stream. Built twice: plain, and with SPLIT, which feeds the stream
 * in pieces and requires exactly the same messages and close code: the
 * decoder reports a message only once it is whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "split.h"
#include "wsframe.h"

static void on_message(void *ud, int opcode, const char *data, size_t n) {
  char head[32];
  lt_buf_append(ud, head, (size_t)snprintf(head, sizeof head, "%d:%zu:", opcode, n));
  lt_buf_append(ud, data, n);
}

static int verdict(const uint8_t *data, size_t size, split_state *s, lt_buf *v) {
  lt_wsdecoder d;
  lt_wsdecoder_init(&d, size ? (size_t)data[0] * 16 : 0);
  if (size && (data[0] & 1) && lt_wsdecoder_enable_deflate(&d))
    abort();
  d.on_message = on_message;
  d.ud = v;
  int code = 0;
  for (size_t off = 1; off < size && !code;) {
    size_t n = s ? split_next(s, size - off) : size - off;
    code = lt_wsdecoder_feed(&d, (const char *)data + off, n);
    off += n;
  }
  lt_wsdecoder_free(&d);
  return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_buf whole = {0};
  int code = verdict(data, size, NULL, &whole);
  (void)code;
#ifdef SPLIT
  lt_buf pieces = {0};
  split_state s;
  split_init(&s, data, size);
  if (verdict(data, size, &s, &pieces) != code || !split_same(&pieces, &whole))
    abort(); /* the verdict depends on the split */
  lt_buf_free(&pieces);
#endif
  lt_buf_free(&whole);
  return 0;
}
