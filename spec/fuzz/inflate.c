/* libFuzzer target: decoding a content-coded body as it arrives. The first
 * byte chooses the coding (gzip or deflate) and a limit; the rest is the
 * body. Built twice: plain, and with SPLIT, which feeds it in pieces and
 * requires the same verdict (status and decoded bytes). */
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "coding.h"
#include "luatest.h"
#include "split.h"

static int verdict(const uint8_t *data, size_t size, split_state *s, lt_buf *out) {
  int coding = size && (data[0] & 1) ? LT_CODING_DEFLATE : LT_CODING_GZIP;
  size_t limit = size && (data[0] & 2) ? 4096 : 1 << 20;
  lt_inflate *z = lt_inflate_new(coding);
  if (!z)
    return LT_ENOMEM;
  int r = 0;
  for (size_t off = 1; off < size && !r;) {
    size_t n = s ? split_next(s, size - off) : size - off;
    r = lt_inflate_feed(z, (const char *)data + off, n, out, limit);
    off += n;
  }
  if (!r)
    r = lt_inflate_end(z);
  lt_inflate_free(z);
  if (out->len > limit + 1)
    abort(); /* the limit let more through than the byte that shows it */
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_buf whole = {0};
  int r = verdict(data, size, NULL, &whole);
#ifdef SPLIT
  split_state s;
  split_init(&s, data, size);
  lt_buf cut = {0};
  int r2 = verdict(data, size, &s, &cut);
  if (r != r2 || whole.len != cut.len || (whole.len && memcmp(whole.data, cut.data, whole.len)))
    abort();
  lt_buf_free(&cut);
#endif
  (void)r;
  lt_buf_free(&whole);
  return 0;
}
