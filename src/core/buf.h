/* Growable byte buffers: the one way the core keeps bytes whose size is not
 * known in advance (bodies, serialized headers, read buffers). Bodies may
 * contain NULs; `len` always counts the bytes, a trailing NUL is kept for
 * callers that want a C string. */
#ifndef LT_BUF_H
#define LT_BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct lt_buf {
  char *data;
  size_t len;
  size_t cap;
} lt_buf;

/* Returns 0, or -1 when memory runs out (the buffer is unchanged then). */
static inline int lt_buf_reserve(lt_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

static inline int lt_buf_append(lt_buf *b, const void *p, size_t n) {
  if (lt_buf_reserve(b, n))
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static inline int lt_buf_puts(lt_buf *b, const char *s) {
  return lt_buf_append(b, s, strlen(s));
}

static inline void lt_buf_clear(lt_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

/* Writes v in decimal at p (room for 20 digits), returns the length: the
 * per-request heads use it instead of snprintf, which costs more than the
 * rest of the formatting together. */
static inline size_t lt_fmt_uint(char *p, unsigned long long v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    p[i] = tmp[n - 1 - i];
  return n;
}

static inline int lt_buf_put_uint(lt_buf *b, unsigned long long v) {
  char d[20];
  return lt_buf_append(b, d, lt_fmt_uint(d, v));
}

static inline int lt_buf_put_int(lt_buf *b, long long v) {
  if (v < 0 && lt_buf_append(b, "-", 1))
    return -1;
  return lt_buf_put_uint(b, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
}

static inline void lt_buf_free(lt_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

#endif
