/* JSON tokens for the encoder of luatest.json. */
#include "json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the UTF-8 sequence at p (at most n bytes), or 0 when it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * refused, as RFC 3629 says. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  unsigned cp = c & (0x3f >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

int lt_json_put_string(lt_buf *b, const char *s, size_t n, int replace, size_t *bad) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  if (lt_buf_reserve(b, n + 2))
    return LT_JSON_ENOMEM;
  b->data[b->len++] = '"';
  size_t run = 0; /* start of the bytes that go out as they are */
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    const char *esc = NULL;
    char u[7];
    if (c >= 0x20 && c != '"' && c != '\\') {
      size_t k = utf8_seq(p + i, n - i);
      if (!k && replace) {
        if (lt_buf_append(b, s + run, i - run) || lt_buf_puts(b, "\xef\xbf\xbd"))
          return LT_JSON_ENOMEM;
        run = ++i;
        continue;
      }
      if (!k) {
        if (bad)
          *bad = i;
        return LT_JSON_EUTF8;
      }
      i += k;
      continue;
    }
    switch (c) {
    case '"':
      esc = "\\\"";
      break;
    case '\\':
      esc = "\\\\";
      break;
    case '\n':
      esc = "\\n";
      break;
    case '\r':
      esc = "\\r";
      break;
    case '\t':
      esc = "\\t";
      break;
    case '\b':
      esc = "\\b";
      break;
    case '\f':
      esc = "\\f";
      break;
    default:
      u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
      u[6] = '\0';
      esc = u;
    }
    if (lt_buf_append(b, s + run, i - run) || lt_buf_puts(b, esc))
      return LT_JSON_ENOMEM;
    run = ++i;
  }
  if (lt_buf_append(b, s + run, n - run) || lt_buf_append(b, "\"", 1))
    return LT_JSON_ENOMEM;
  return LT_JSON_OK;
}

int lt_json_put_integer(lt_buf *b, long long v) {
  char tmp[24];
  int k = snprintf(tmp, sizeof tmp, "%lld", v);
  return lt_buf_append(b, tmp, (size_t)k) ? LT_JSON_ENOMEM : LT_JSON_OK;
}

int lt_json_put_double(lt_buf *b, double v, int whole_as_integer) {
  if (!isfinite(v))
    return LT_JSON_ENUMBER;
  char tmp[40];
  int k = 0;
  if (whole_as_integer && v == floor(v) && fabs(v) < 9223372036854775808.0)
    k = snprintf(tmp, sizeof tmp, "%.0f", v);
  else {
    for (int digits = 15; digits <= 17; digits++) {
      k = snprintf(tmp, sizeof tmp, "%.*g", digits, v);
      if (strtod(tmp, NULL) == v)
        break;
    }
    /* A float stays a float when read back: 100.0, not 100. */
    if (!strpbrk(tmp, ".en")) {
      tmp[k++] = '.';
      tmp[k++] = '0';
      tmp[k] = '\0';
    }
  }
  return lt_buf_append(b, tmp, (size_t)k) ? LT_JSON_ENOMEM : LT_JSON_OK;
}
