/* Unit tests of the content codings: gzip and deflate (zlib and raw) bodies
 * decoded in any cut, corrupt and truncated streams, a body that decodes
 * past the limit, and a response parsed with decompression on. No sockets. */
#include <stdlib.h>
#include <zlib.h>
#include "check.h"
#include "coding.h"
#include "http.h"
#include "luatest.h"

static const char text[] = "The quick brown fox jumps over the lazy dog. "
                           "The quick brown fox jumps over the lazy dog. 0123456789";

static void raw_deflate(const char *p, size_t n, lt_buf *out) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  lt_buf_reserve(out, deflateBound(&zs, (uLong)n));
  zs.next_in = (Bytef *)p;
  zs.avail_in = (uInt)n;
  zs.next_out = (Bytef *)out->data;
  zs.avail_out = (uInt)out->cap;
  deflate(&zs, Z_FINISH);
  out->len = zs.total_out;
  deflateEnd(&zs);
}

/* Decodes `coded` fed `step` bytes at a time; returns the status. */
static int decode(int coding, const lt_buf *coded, size_t step, lt_buf *out, size_t max) {
  lt_inflate *z = lt_inflate_new(coding);
  int r = 0;
  for (size_t at = 0; at < coded->len && !r; at += step) {
    size_t n = coded->len - at < step ? coded->len - at : step;
    r = lt_inflate_feed(z, coded->data + at, n, out, max);
  }
  if (!r)
    r = lt_inflate_end(z);
  lt_inflate_free(z);
  return r;
}

static void test_round_trips_in_any_cut(void) {
  int codings[] = {LT_CODING_GZIP, LT_CODING_DEFLATE};
  size_t steps[] = {1, 3, 17, 4096};
  for (int c = 0; c < 2; c++) {
    lt_buf coded = {0};
    CHECK(lt_deflate_body(codings[c], text, sizeof text - 1, &coded) == 0);
    CHECK(coded.len > 0 && coded.len < sizeof text - 1);
    for (int s = 0; s < 4; s++) {
      lt_buf out = {0};
      CHECK(decode(codings[c], &coded, steps[s], &out, 0) == 0);
      CHECK(out.len == sizeof text - 1 && !memcmp(out.data, text, out.len));
      lt_buf_free(&out);
    }
    lt_buf_free(&coded);
  }
}

static void test_raw_deflate_is_taken_as_deflate(void) {
  lt_buf coded = {0}, out = {0};
  raw_deflate(text, sizeof text - 1, &coded);
  CHECK(decode(LT_CODING_DEFLATE, &coded, 5, &out, 0) == 0);
  CHECK(out.len == sizeof text - 1 && !memcmp(out.data, text, out.len));
  lt_buf_free(&coded);
  lt_buf_free(&out);
}

static void test_corrupt_truncated_and_too_large(void) {
  lt_buf coded = {0}, out = {0};
  lt_deflate_body(LT_CODING_GZIP, text, sizeof text - 1, &coded);
  coded.data[12] ^= 0x55;
  CHECK(decode(LT_CODING_GZIP, &coded, 4096, &out, 0) == LT_EENCODING);
  lt_buf_free(&coded);
  lt_buf_clear(&out);

  lt_deflate_body(LT_CODING_DEFLATE, text, sizeof text - 1, &coded);
  coded.len -= 6;
  CHECK(decode(LT_CODING_DEFLATE, &coded, 4096, &out, 0) == LT_EENCODING);
  lt_buf_free(&coded);
  lt_buf_clear(&out);

  /* a megabyte of zeros is a kilobyte coded: the limit is on what it is */
  char *zeros = calloc(1, 1 << 20);
  lt_deflate_body(LT_CODING_GZIP, zeros, 1 << 20, &coded);
  CHECK(coded.len < 4096);
  CHECK(decode(LT_CODING_GZIP, &coded, 512, &out, 100000) == LT_ETOOLARGE);
  CHECK(out.len == 100001); /* one byte past the limit shows it */
  lt_buf_clear(&out);
  /* all of it in one piece: zlib's pending output is drained too */
  CHECK(decode(LT_CODING_GZIP, &coded, coded.len, &out, 0) == 0);
  CHECK(out.len == 1 << 20);
  free(zeros);
  lt_buf_free(&coded);
  lt_buf_free(&out);
}

static void test_coding_names(void) {
  CHECK(lt_coding_of("gzip") == LT_CODING_GZIP);
  CHECK(lt_coding_of(" X-GZIP ") == LT_CODING_GZIP);
  CHECK(lt_coding_of("Deflate") == LT_CODING_DEFLATE);
  CHECK(lt_coding_of("br") == LT_CODING_NONE);
  CHECK(lt_coding_of("gzip, identity") == LT_CODING_NONE);
  CHECK(lt_coding_of(NULL) == LT_CODING_NONE);
}

static int want_decompress(lt_parser *p) {
  p->decompress = 1;
  return 0;
}

static void test_a_response_is_decoded_as_it_is_parsed(void) {
  lt_buf coded = {0}, in = {0};
  lt_deflate_body(LT_CODING_GZIP, text, sizeof text - 1, &coded);
  char head[128];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", coded.len);
  lt_buf_puts(&in, head);
  lt_buf_append(&in, coded.data, coded.len);
  lt_limits limits = {8190, 8190, 128, 65536, 0};
  lt_parser p;
  lt_parser_init(&p, HTTP_RESPONSE, &limits);
  p.on_headers = want_decompress;
  lt_msg m;
  lt_msg_init(&m);
  for (size_t at = 0; at < in.len && !p.done; at += 7) {
    size_t n = in.len - at < 7 ? in.len - at : 7;
    CHECK(lt_parser_feed(&p, &m, in.data + at, n) >= 0);
  }
  CHECK(p.done);
  CHECK(m.body.len == sizeof text - 1 && !memcmp(m.body.data, text, m.body.len));
  CHECK_STR(lt_msg_header(&m, "Content-Encoding"), "gzip"); /* kept, as aiohttp */
  lt_parser_release(&p);
  lt_msg_free(&m);
  lt_buf_free(&coded);
  lt_buf_free(&in);
}

int main(void) {
  test_round_trips_in_any_cut();
  test_raw_deflate_is_taken_as_deflate();
  test_corrupt_truncated_and_too_large();
  test_coding_names();
  test_a_response_is_decoded_as_it_is_parsed();
  return check_done("coding");
}
