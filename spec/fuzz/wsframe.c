/* libFuzzer target: the checker of client WebSocket frames. The first byte
 * chooses whether pings and the close are held; the rest is the stream.
 * Built twice: plain, and with SPLIT, which feeds the stream in pieces and
 * requires the same verdict: the same close code, and the same bytes passed
 * on and control frames held, except that when a violation lies in a frame
 * the reads cut, the start of that frame went on before it was seen (a
 * checker in front of another parser cannot hold back a whole frame; the
 * decoder of our own WebSocket server is the way out of that). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "split.h"
#include "wsframe.h"

/* Passed bytes go in as they are, so how a run was cut leaves no trace. */
static void on_pass(void *ud, const char *p, size_t n) {
  lt_buf_append(ud, p, n);
}

static void on_control(void *ud, int opcode, const char *payload, size_t n, const char *raw,
                       size_t raw_len) {
  char op[32];
  lt_buf_append(ud, op, (size_t)snprintf(op, sizeof op, "%cC%d:%zu:", 0, opcode, n));
  lt_buf_append(ud, payload, n);
  lt_buf_append(ud, raw, raw_len);
}

/* Fills v with what went on and returns the close code. */
static int verdict(const uint8_t *data, size_t size, split_state *s, lt_buf *v) {
  lt_wsframe f;
  lt_wsframe_init(&f);
  f.hold_pings = size && (data[0] & 1);
  f.hold_close = size && (data[0] & 2);
  f.on_pass = on_pass;
  f.on_control = on_control;
  f.ud = v;
  int code = 0;
  for (size_t off = 1; off < size && !code;) {
    size_t n = s ? split_next(s, size - off) : size - off;
    code = lt_wsframe_feed(&f, (const char *)data + off, n);
    off += n;
  }
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
  int split_code = verdict(data, size, &s, &pieces);
  if (split_code != code || !split_starts_with(&pieces, &whole))
    abort(); /* the verdict depends on the split */
  if (!code && !split_same(&pieces, &whole))
    abort(); /* with no violation, every byte goes on either way */
  lt_buf_free(&pieces);
#endif
  lt_buf_free(&whole);
  return 0;
}
