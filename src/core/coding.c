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
    /* Past the limit wins over bad data after it, as in lt_wsinflate. */
    if (max_out && out->len > max_out)
      return LT_ETOOLARGE;
    if (r == Z_STREAM_END)
      z->ended = 1;
    else if (r != Z_OK && r != Z_BUF_ERROR)
      return LT_EENCODING;
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

/* ---- permessage-deflate ---------------------------------------------------------- */

struct lt_wsinflate {
  z_stream zs;
  int skip; /* the peer ended its stream (BFINAL) in this message: the rest is not read */
};

lt_wsinflate *lt_wsinflate_new(void) {
  lt_wsinflate *z = calloc(1, sizeof *z);
  if (z && inflateInit2(&z->zs, -15) != Z_OK) {
    free(z);
    return NULL;
  }
  return z;
}

/* Room for more output, the buffer never growing past max_out + 1 bytes
 * (and lt_buf's NUL). */
static int inflate_room(lt_buf *out, size_t max_out) {
  size_t avail = out->cap > out->len ? out->cap - out->len - 1 : 0;
  size_t top = max_out ? max_out + 2 : (size_t)-1;
  if (avail >= 4096 || (avail && out->cap >= top))
    return 0;
  size_t cap = out->cap ? out->cap : 4096;
  while (cap < out->len + 4097 && cap < top)
    cap *= 2;
  if (cap > top)
    cap = top;
  char *p = realloc(out->data, cap);
  if (!p)
    return LT_ENOMEM;
  out->data = p;
  out->cap = cap;
  return 0;
}

/* A stream that ended starts again with the window it had: the next
 * message may still refer back to this one. */
static void inflate_restart(lt_wsinflate *z) {
  Bytef dict[32768];
  uInt len = sizeof dict;
  if (inflateGetDictionary(&z->zs, dict, &len) != Z_OK)
    len = 0;
  inflateReset(&z->zs);
  if (len)
    inflateSetDictionary(&z->zs, dict, len);
}

static int inflate_run(lt_wsinflate *z, const char *p, size_t n, lt_buf *out, size_t max_out) {
  z->zs.next_in = (Bytef *)p;
  z->zs.avail_in = (uInt)n;
  for (;;) {
    if (inflate_room(out, max_out))
      return LT_ENOMEM;
    size_t room = out->cap - out->len - 1;
    if (max_out && room > max_out + 1 - out->len)
      room = max_out + 1 - out->len;
    z->zs.next_out = (Bytef *)out->data + out->len;
    z->zs.avail_out = (uInt)room;
    int r = inflate(&z->zs, Z_SYNC_FLUSH);
    out->len += room - z->zs.avail_out;
    out->data[out->len] = '\0';
    if (r == Z_MEM_ERROR)
      return LT_ENOMEM;
    /* zlib may fill the output and then fail on the input after it in the
     * same call; fed in smaller pieces, the same stream overflows first,
     * so the overflow is the verdict either way (lt_inflate_feed too). */
    if (max_out && out->len > max_out)
      return LT_ETOOLARGE;
    if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
      return LT_EENCODING;
    if (r == Z_STREAM_END) {
      inflate_restart(z);
      z->skip = 1;
      return 0;
    }
    /* Output room left: the input is used up. */
    if (z->zs.avail_out)
      return 0;
  }
}

int lt_wsinflate_feed(lt_wsinflate *z, const char *p, size_t n, int end, lt_buf *out,
                      size_t max_out) {
  static const char tail[4] = {0, 0, (char)0xff, (char)0xff};
  int r = 0;
  if (!z->skip && n)
    r = inflate_run(z, p, n, out, max_out);
  if (!r && end && !z->skip)
    r = inflate_run(z, tail, sizeof tail, out, max_out);
  if (end)
    z->skip = 0;
  return r;
}

void lt_wsinflate_free(lt_wsinflate *z) {
  if (!z)
    return;
  inflateEnd(&z->zs);
  free(z);
}

struct lt_wsdeflate {
  z_stream zs;
  int flush;
};

lt_wsdeflate *lt_wsdeflate_new(int window_bits, int no_context_takeover) {
  lt_wsdeflate *z = calloc(1, sizeof *z);
  if (!z)
    return NULL;
  if (deflateInit2(&z->zs, Z_BEST_SPEED, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(z);
    return NULL;
  }
  z->flush = no_context_takeover ? Z_FULL_FLUSH : Z_SYNC_FLUSH;
  return z;
}

/* Runs deflate until it has nothing more to give for this flush mode. */
static int deflate_run(lt_wsdeflate *z, int flush, size_t hint, lt_buf *out) {
  do {
    if (lt_buf_reserve(out, hint))
      return LT_ENOMEM;
    size_t room = out->cap - out->len - 1;
    if (room > (1u << 30))
      room = 1u << 30;
    z->zs.next_out = (Bytef *)out->data + out->len;
    z->zs.avail_out = (uInt)room;
    int r = deflate(&z->zs, flush);
    out->len += room - z->zs.avail_out;
    out->data[out->len] = '\0';
    if (r != Z_OK && r != Z_BUF_ERROR)
      return LT_ENOMEM;
  } while (z->zs.avail_out == 0);
  return 0;
}

int lt_wsdeflate_message(lt_wsdeflate *z, const char *p, size_t n, lt_buf *out) {
  size_t start = out->len;
  const char *in = p;
  size_t left = n;
  /* All input with no flush first (a flush right after another with no
   * input between would give nothing, not the empty block a message needs),
   * then the flush that ends the message. */
  do {
    size_t take = left > (1u << 30) ? (1u << 30) : left;
    z->zs.next_in = (Bytef *)in;
    z->zs.avail_in = (uInt)take;
    in += take;
    left -= take;
    if (deflate_run(z, Z_NO_FLUSH, take / 2 + 4096, out))
      return LT_ENOMEM;
  } while (left);
  if (deflate_run(z, z->flush, 4096, out))
    return LT_ENOMEM;
  if (out->len - start >= 4 && !memcmp(out->data + out->len - 4, "\0\0\xff\xff", 4)) {
    out->len -= 4;
    out->data[out->len] = '\0';
  }
  return 0;
}

void lt_wsdeflate_free(lt_wsdeflate *z) {
  if (!z)
    return;
  deflateEnd(&z->zs);
  free(z);
}

/* ---- content hash ------------------------------------------------------------ */

static uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t lt_hash64(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0x87c37b91114253d5ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    w *= 0x87c37b91114253d5ULL;
    w = (w << 31) | (w >> 33);
    w *= 0x4cf5ad432745937fULL;
    h ^= w;
    h = ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < n; k++)
    tail |= (uint64_t)s[i + k] << (8 * k);
  h ^= mix64(tail ^ 0x2545f4914f6cdd1dULL);
  return mix64(h);
}
