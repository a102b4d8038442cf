/* Splitting multipart bodies: a preamble, then parts separated by
 * CRLF "--boundary", ending with "--boundary--". */
#include <string.h>
#include "luatest.h"
#include "multipart.h"

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen) {
  return memmem(hay, hlen, needle, nlen);
}

int lt_multipart_split(const char *body, size_t len, const char *boundary, size_t blen,
                       lt_part_fn fn, void *ud, const char **why) {
  char delim[256];
  if (blen == 0 || blen > 200) {
    *why = "bad boundary";
    return LT_EPARSE;
  }
  /* delim is "\r\n--boundary"; the first one may lack the CRLF. */
  memcpy(delim, "\r\n--", 4);
  memcpy(delim + 4, boundary, blen);
  size_t dlen = blen + 4;
  const char *end = body + len, *p;
  if (len >= dlen - 2 && !memcmp(body, delim + 2, dlen - 2)) {
    p = body + dlen - 2;
  } else {
    const char *first = find(body, len, delim, dlen);
    if (!first) {
      *why = "no boundary line";
      return LT_EPARSE;
    }
    p = first + dlen;
  }
  for (;;) {
    if (end - p >= 2 && p[0] == '-' && p[1] == '-')
      return 0;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
      *why = "bad boundary line";
      return LT_EPARSE;
    }
    p += 2;
    const char *head_end = find(p, (size_t)(end - p), "\r\n\r\n", 4);
    /* A part with no headers starts with the blank line itself. */
    const char *data;
    size_t head_len;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      head_len = 0;
      data = p + 2;
    } else if (head_end) {
      head_len = (size_t)(head_end - p) + 2;
      data = head_end + 4;
    } else {
      *why = "part headers do not end";
      return LT_EPARSE;
    }
    const char *next = find(data, (size_t)(end - data), delim, dlen);
    if (!next) {
      *why = "a part does not end";
      return LT_EPARSE;
    }
    int r = fn(ud, p, head_len, data, (size_t)(next - data));
    if (r)
      return r;
    p = next + dlen;
  }
}
