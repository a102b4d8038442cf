/* Percent-coding and query strings (RFC 3986, and the form encoding that
 * turns '+' into a space). */
#ifndef LT_URL_H
#define LT_URL_H

#include "buf.h"

/* Appends the decoded form of s[0..n) to out. Returns 0, or LT_EPARSE on a
 * '%' not followed by two hex digits (nothing useful is left in out then). */
int lt_url_decode(lt_buf *out, const char *s, size_t n, int plus_is_space);

/* Appends s[0..n) percent-encoded. `form` encodes ' ' as '+' and keeps only
 * unreserved characters; otherwise '/' and the sub-delimiters stay as is. */
int lt_url_encode(lt_buf *out, const char *s, size_t n, int form);

typedef int (*lt_query_fn)(void *ud, const char *name, size_t nlen, const char *value, size_t vlen);

/* Splits a query string on '&' (and ';'), decodes each name and value, and
 * calls fn for each pair in order. A pair with no '=' has an empty value.
 * Returns 0, LT_EPARSE on bad percent-coding, or fn's nonzero result. */
int lt_query_parse(const char *qs, size_t n, lt_query_fn fn, void *ud);

#endif
