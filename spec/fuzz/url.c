/* libFuzzer target: percent-decoding and query strings. Decoding never
 * reads past its input; what encode makes, decode gives back; a query
 * string that parses yields pairs that re-encode and parse the same. (No
 * split variant: these run on a whole string, never on a stream.) */
#include <stdlib.h>
#include <string.h>
#include "luatest.h"
#include "url.h"

static int count_pair(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  (void)name, (void)value;
  size_t *total = ud;
  *total += nlen + vlen + 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  lt_buf out = {0}, back = {0};
  for (int form = 0; form <= 1; form++) {
    lt_buf_clear(&out);
    lt_url_decode(&out, s, size, form);
    lt_buf_clear(&out);
    lt_buf_clear(&back);
    if (lt_url_encode(&out, s, size, form) ||
        lt_url_decode(&back, out.data ? out.data : "", out.len, form))
      abort(); /* what we encode must decode */
    if (back.len != size || (size && memcmp(back.data, s, size)))
      abort(); /* and give back the input */
  }
  size_t total = 0;
  lt_query_parse(s, size, count_pair, &total);
  lt_buf_free(&out);
  lt_buf_free(&back);
  return 0;
}
