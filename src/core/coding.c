/* Content codings on zlib. */
#include "coding.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include "luatest.h"

struct lt_inflate {
  z_stream zs;
  int coding;
  int started; /* inflateInit2 done: a deflate body's first byte decides */
  int ended;   /* the stream's end was seen */
};

int lt_coding_of(const char *v) {
  if (!v)
    return LT_CODING_NONE;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t n = strlen(v);
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  if ((n == 4 && !strncasecmp(v, "gzip", 4)) || (n == 6 && !strncasecmp(v, "x-gzip", 6)))
    return LT_CODING_GZIP;
  if (n == 7 && !strncasecmp(v, "deflate", 7))
    return LT_CODING_DEFLATE;
  return LT_CODING_NONE;
}

lt_inflate *lt_inflate_new(int coding) {
  lt_inflate *z = calloc(1, sizeof *z);
  if (z)
    z->coding = coding;
  return z;
}

static int start(lt_inflate *z, unsigned char first) {
  int bits = 15 + 16; /* gzip */
  if (z->coding == LT_CODING_DEFLATE)
    /* "deflate" is the zlib format, but servers send raw deflate too;
     * a zlib stream starts with a header whose low nibble is 8. */
    bits = (first & 0x0f) == 8 ? 15 : -15;
  if (inflateInit2(&z->zs, bits) != Z_OK)
    return LT_ENOMEM;
  z->started = 1;
  return 0;
}

int lt_inflate_feed(lt_inflate *z, const char *p, size_t n, lt_buf *out, size_t max_out) {
  if (!n)
    return 0;
  if (z->ended)
    return 0; /* bytes after the end of the stream are ignored, as zlib's */
  if (!z->started) {
    int r = start(z, (unsigned char)p[0]);
    if (r)
      return r;
  }
  z->zs.next_in = (Bytef *)p;
  z->zs.avail_in = (uInt)n;
  /* Until the input is used up and zlib has no more output for it (a
   * call that filled the output may have more to give). */
  int full = 1;
  while ((z->zs.avail_in > 0 || full) && !z->ended) {
    if (lt_buf_reserve(out, 16384))
      return LT_ENOMEM;
    size_t room = out->cap - out->len - 1;
    /* Past the limit by one byte at most, however much the buffer has. */
    if (max_out && room > max_out - out->len + 1)
      room = out->len > max_out ? 1 : max_out - out->len + 1;
    z->zs.next_out = (Bytef *)out->data + out->len;
    z->zs.avail_out = (uInt)room;
    int r = inflate(&z->zs, Z_NO_FLUSH);
    out->len += room - z->zs.avail_out;
    out->data[out->len] = '\0';
    if (r == Z_STREAM_END)
      z->ended = 1;
    else if (r != Z_OK && r != Z_BUF_ERROR)
      return LT_EENCODING;
    if (max_out && out->len > max_out)
      return LT_ETOOLARGE;
    full = z->zs.avail_out == 0;
    if (r == Z_BUF_ERROR && z->zs.avail_out > 0)
      break;
  }
  return 0;
}

int lt_inflate_end(lt_inflate *z) {
  if (z->coding == LT_CODING_DEFLATE && z->started && !z->ended)
    return LT_EENCODING;
  return 0;
}

void lt_inflate_free(lt_inflate *z) {
  if (!z)
    return;
  if (z->started)
    inflateEnd(&z->zs);
  free(z);
}

int lt_deflate_body(int coding, const char *p, size_t n, lt_buf *out) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  int bits = coding == LT_CODING_GZIP ? 15 + 16 : 15;
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return LT_ENOMEM;
  size_t bound = deflateBound(&zs, (uLong)n) + 32;
  if (lt_buf_reserve(out, bound)) {
    deflateEnd(&zs);
    return LT_ENOMEM;
  }
  zs.next_in = (Bytef *)p;
  zs.avail_in = (uInt)n;
  zs.next_out = (Bytef *)out->data + out->len;
  zs.avail_out = (uInt)(out->cap - out->len - 1);
  int r = deflate(&zs, Z_FINISH);
  out->len += zs.total_out;
  out->data[out->len] = '\0';
  deflateEnd(&zs);
  return r == Z_STREAM_END ? 0 : LT_ENOMEM;
}
