/* Percent-coding and query strings, used by requests (decoding path and
 * query) and by the client (encoding params and forms). */
#include "url.h"
#include "luatest.h"

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int lt_url_decode(lt_buf *out, const char *s, size_t n, int plus_is_space) {
  if (lt_buf_reserve(out, n))
    return LT_ENOMEM;
  char *d = out->data + out->len;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return LT_EPARSE;
      *d++ = (char)(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      *d++ = ' ';
    } else {
      *d++ = c;
    }
  }
  out->len = (size_t)(d - out->data);
  out->data[out->len] = '\0';
  return 0;
}

int lt_url_encode(lt_buf *out, const char *s, size_t n, int form) {
  static const char hex[] = "0123456789ABCDEF";
  if (lt_buf_reserve(out, n * 3))
    return LT_ENOMEM;
  char *d = out->data + out->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
    if (!form && !keep)
      keep = c == '/' || c == '!' || c == '$' || c == '\'' || c == '(' || c == ')' || c == '*' ||
             c == ',' || c == ':' || c == '@' || c == '=' || c == ';';
    if (keep) {
      *d++ = (char)c;
    } else if (form && c == ' ') {
      *d++ = '+';
    } else {
      *d++ = '%';
      *d++ = hex[c >> 4];
      *d++ = hex[c & 15];
    }
  }
  out->len = (size_t)(d - out->data);
  out->data[out->len] = '\0';
  return 0;
}

int lt_query_parse(const char *qs, size_t n, lt_query_fn fn, void *ud) {
  lt_buf name = {0}, value = {0};
  int r = 0;
  size_t i = 0;
  while (i < n && !r) {
    size_t j = i;
    while (j < n && qs[j] != '&' && qs[j] != ';')
      j++;
    if (j > i) {
      size_t eq = i;
      while (eq < j && qs[eq] != '=')
        eq++;
      lt_buf_clear(&name);
      lt_buf_clear(&value);
      r = lt_url_decode(&name, qs + i, eq - i, 1);
      if (!r && eq < j)
        r = lt_url_decode(&value, qs + eq + 1, j - eq - 1, 1);
      if (!r)
        r = fn(ud, name.data ? name.data : "", name.len, value.data ? value.data : "", value.len);
    }
    i = j + 1;
  }
  lt_buf_free(&name);
  lt_buf_free(&value);
  return r;
}
