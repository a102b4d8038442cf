/* Writing JSON tokens into a buffer: strings (escaped, checked as UTF-8),
 * integers, and doubles in the shortest form that reads back the same.
 * Reading JSON is jansson's (bound in src/lua/json.c). */
#ifndef LT_JSON_H
#define LT_JSON_H

#include <stddef.h>
#include "buf.h"

enum {
  LT_JSON_OK = 0,
  LT_JSON_ENOMEM = -1,
  LT_JSON_EUTF8 = -2,   /* a string that is not UTF-8 */
  LT_JSON_ENUMBER = -3, /* NaN or an infinity: no JSON for them */
};

/* s as a quoted JSON string: `"`, `\` and control characters escaped, `/`
 * and non-ASCII kept as they are. A byte that is not UTF-8 is U+FFFD with
 * `replace`; otherwise LT_JSON_EUTF8, with *bad its offset. */
int lt_json_put_string(lt_buf *b, const char *s, size_t n, int replace, size_t *bad);
int lt_json_put_integer(lt_buf *b, long long v);
/* The shortest decimal form that reads back as v (as Python's repr): a
 * whole number keeps a ".0" (4.0, not 4) unless whole_as_integer. */
int lt_json_put_double(lt_buf *b, double v, int whole_as_integer);

#endif
