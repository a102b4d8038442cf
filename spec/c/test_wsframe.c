/* The client-frame checker: every RFC 6455 violation gets its close code,
 * whole or fed a byte at a time, and valid streams pass through unchanged;
 * the decoder built on it gives the same messages however it is fed. */
#include <stdint.h>
#include <stdlib.h>
#include "check.h"
#include "coding.h"
#include "luatest.h"
#include "wsframe.h"

typedef struct sink {
  char out[4096];
  size_t len;
  int controls;
  int last_opcode;
  char last_payload[126];
  size_t last_payload_len;
} sink;

static void on_pass(void *ud, const char *p, size_t n) {
  sink *s = ud;
  memcpy(s->out + s->len, p, n);
  s->len += n;
}

static void on_control(void *ud, int opcode, const char *payload, size_t n, const char *raw,
                       size_t raw_len) {
  sink *s = ud;
  (void)raw, (void)raw_len;
  s->controls++;
  s->last_opcode = opcode;
  memcpy(s->last_payload, payload, n);
  s->last_payload_len = n;
}

/* Appends a frame; mask 0 sends it unmasked. */
static size_t frame(char *at, int first, const char *payload, size_t n, int masked) {
  static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
  uint8_t *p = (uint8_t *)at;
  size_t h = 0;
  p[h++] = (uint8_t)first;
  uint8_t m = masked ? 0x80 : 0;
  if (n < 126) {
    p[h++] = m | (uint8_t)n;
  } else {
    p[h++] = m | 126;
    p[h++] = (uint8_t)(n >> 8);
    p[h++] = (uint8_t)n;
  }
  if (masked) {
    memcpy(p + h, key, 4);
    h += 4;
  }
  for (size_t i = 0; i < n; i++)
    p[h + i] = (uint8_t)payload[i] ^ (masked ? key[i & 3] : 0);
  return h + n;
}

/* Feeds the stream whole and byte by byte; both must agree. */
static int run(const char *stream, size_t n, sink *whole, int hold_pings) {
  lt_wsframe a, b;
  sink bytewise;
  memset(whole, 0, sizeof *whole);
  memset(&bytewise, 0, sizeof bytewise);
  lt_wsframe_init(&a);
  lt_wsframe_init(&b);
  a.on_pass = b.on_pass = on_pass;
  a.on_control = b.on_control = on_control;
  a.hold_pings = b.hold_pings = hold_pings;
  a.ud = whole;
  b.ud = &bytewise;
  int ra = lt_wsframe_feed(&a, stream, n);
  int rb = 0;
  for (size_t i = 0; i < n && !rb; i++)
    rb = lt_wsframe_feed(&b, stream + i, 1);
  CHECK(ra == rb);
  /* Byte by byte may pass the start of the offending frame; never more. */
  CHECK(bytewise.len >= whole->len);
  CHECK(!memcmp(bytewise.out, whole->out, whole->len));
  CHECK(bytewise.controls == whole->controls);
  return ra;
}

static void test_valid_streams_pass_unchanged(void) {
  char s[2048];
  size_t n = 0;
  sink out;
  n += frame(s + n, 0x81, "hello", 5, 1);
  n += frame(s + n, 0x82, "\0\1\2\377", 4, 1);
  n += frame(s + n, 0x01, "h\xc3", 2, 1); /* UTF-8 split across fragments */
  n += frame(s + n, 0x89, "ping", 4, 1);  /* a control frame between them */
  n += frame(s + n, 0x80, "\xa9!", 2, 1);
  char big[300];
  memset(big, 'x', sizeof big);
  n += frame(s + n, 0x81, big, sizeof big, 1);
  n += frame(s + n, 0x88,
             "\x03\xe8"
             "bye",
             5, 1);
  CHECK(run(s, n, &out, 0) == 0);
  CHECK(out.len == n && !memcmp(out.out, s, n));
  CHECK(out.controls == 0);
}

static void test_violations_and_their_codes(void) {
  struct {
    int first;
    const char *payload;
    size_t n;
    int masked;
    int code;
  } cases[] = {
      {0x81, "hi", 2, 0, 1002},           /* unmasked */
      {0x83, "x", 1, 1, 1002},            /* reserved opcode */
      {0x8B, "x", 1, 1, 1002},            /* reserved control opcode */
      {0xC1, "x", 1, 1, 1002},            /* RSV1 with no extension */
      {0x09, "x", 1, 1, 1002},            /* fragmented ping */
      {0x80, "x", 1, 1, 1002},            /* continuation with no message */
      {0x81, "\xff\xfe", 2, 1, 1007},     /* not UTF-8 */
      {0x81, "\xed\xa0\x80", 3, 1, 1007}, /* a surrogate */
      {0x81, "\xc0\xaf", 2, 1, 1007},     /* overlong */
      {0x81, "ab\xe2\x82", 4, 1, 1007},   /* ends inside a sequence */
      {0x88, "\x03", 1, 1, 1002},         /* one-byte close payload */
      {0x88, "\x03\xed", 2, 1, 1002},     /* close code 1005 may not be sent */
      {0x88, "\x03\xe8\xff", 3, 1, 1007}, /* close reason not UTF-8 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char s[256];
    size_t n = frame(s, 0x81, "ok", 2, 1);
    size_t good = n;
    n += frame(s + n, cases[i].first, cases[i].payload, cases[i].n, cases[i].masked);
    sink out;
    int code = run(s, n, &out, 0);
    if (code != cases[i].code)
      fprintf(stderr, "case %zu: got %d\n", i, code);
    CHECK(code == cases[i].code);
    /* The good frame before it went on; nothing of the bad one did. */
    CHECK(out.len == good);
  }
  /* An oversized control frame: 126 bytes need the 16-bit length. */
  char s[256], payload[126];
  memset(payload, 'p', sizeof payload);
  size_t n = frame(s, 0x89, payload, sizeof payload, 1);
  sink out;
  CHECK(run(s, n, &out, 0) == 1002);
  CHECK(out.len == 0);
  /* A new message inside a fragmented one. */
  n = frame(s, 0x01, "a", 1, 1);
  n += frame(s + n, 0x81, "b", 1, 1);
  CHECK(run(s, n, &out, 0) == 1002);
}

static void test_held_pings_are_taken_out(void) {
  char s[256];
  size_t n = 0;
  n += frame(s + n, 0x81, "one", 3, 1);
  size_t first = n;
  n += frame(s + n, 0x89, "are you there", 13, 1);
  size_t ping_end = n;
  n += frame(s + n, 0x81, "two", 3, 1);
  sink out;
  CHECK(run(s, n, &out, 1) == 0);
  CHECK(out.controls == 1 && out.last_opcode == 9);
  CHECK(out.last_payload_len == 13 && !memcmp(out.last_payload, "are you there", 13));
  CHECK(out.len == n - (ping_end - first));
  CHECK(!memcmp(out.out, s, first) && !memcmp(out.out + first, s + ping_end, n - ping_end));
}

/* ---- the decoder -------------------------------------------------------------------- */

typedef struct messages {
  char log[8192]; /* "opcode:len:data|" for each message */
  size_t len;
} messages;

static void on_message(void *ud, int opcode, const char *data, size_t n) {
  messages *m = ud;
  m->len += (size_t)snprintf(m->log + m->len, sizeof m->log - m->len, "%d:%zu:%.*s|", opcode, n,
                             (int)(n > 40 ? 40 : n), data);
}

/* Decodes the stream whole and byte by byte; both must agree. deflate:
 * with permessage-deflate negotiated. */
static int decode_with(const char *stream, size_t n, size_t max, int deflate, messages *whole) {
  lt_wsdecoder a, b;
  messages bytewise;
  memset(whole, 0, sizeof *whole);
  memset(&bytewise, 0, sizeof bytewise);
  lt_wsdecoder_init(&a, max);
  lt_wsdecoder_init(&b, max);
  if (deflate) {
    CHECK(lt_wsdecoder_enable_deflate(&a) == 0);
    CHECK(lt_wsdecoder_enable_deflate(&b) == 0);
  }
  a.on_message = b.on_message = on_message;
  a.ud = whole;
  b.ud = &bytewise;
  int ra = lt_wsdecoder_feed(&a, stream, n), rb = 0;
  for (size_t i = 0; i < n && !rb; i++)
    rb = lt_wsdecoder_feed(&b, stream + i, 1);
  CHECK(ra == rb);
  CHECK(whole->len == bytewise.len && !memcmp(whole->log, bytewise.log, whole->len));
  lt_wsdecoder_free(&a);
  lt_wsdecoder_free(&b);
  return ra;
}

static int decode(const char *stream, size_t n, size_t max, messages *whole) {
  return decode_with(stream, n, max, 0, whole);
}

static void test_the_decoder_reassembles_messages_around_control_frames(void) {
  char s[2048];
  size_t n = 0;
  n += frame(s + n, 0x01, "caf\xc3", 4, 1); /* "café" cut inside the é */
  n += frame(s + n, 0x89, "ping", 4, 1);
  n += frame(s + n, 0x80, "\xa9!", 2, 1);
  n += frame(s + n, 0x82, "\x01\x02\x03", 3, 1);
  n += frame(s + n, 0x88,
             "\x03\xe8"
             "bye",
             5, 1);
  messages m;
  CHECK(decode(s, n, 0, &m) == 0);
  CHECK_STR(m.log, "9:4:ping|1:6:caf\xc3\xa9!|2:3:\x01\x02\x03|8:5:\x03\xe8"
                   "bye|");
}

static void test_the_decoder_refuses_what_the_checker_refuses_and_big_messages(void) {
  char s[2048], big[300];
  memset(big, 'b', sizeof big);
  size_t n = frame(s, 0x81, "ok", 2, 1);
  n += frame(s + n, 0x01, big, 200, 1);
  n += frame(s + n, 0x80, big, 100, 1); /* 300 bytes in all: past 256 */
  n += frame(s + n, 0x81, "never", 5, 1);
  messages m;
  CHECK(decode(s, n, 256, &m) == 1009);
  CHECK_STR(m.log, "1:2:ok|");
  CHECK(decode(s, n, 0, &m) == 0); /* no limit */
  /* Control frames inside a message do not count toward its size. */
  n = frame(s, 0x01, big, 200, 1);
  for (int i = 0; i < 5; i++)
    n += frame(s + n, 0x89, big, 100, 1);
  n += frame(s + n, 0x80, big, 56, 1); /* 256 exactly */
  CHECK(decode(s, n, 256, &m) == 0);
  CHECK(strstr(m.log, "|1:256:bbbb") != NULL);
  n = frame(s, 0x81, "ok", 2, 1);
  n += frame(s + n, 0x81, "unmasked", 8, 0);
  CHECK(decode(s, n, 0, &m) == 1002);
  CHECK_STR(m.log, "1:2:ok|");
  n = frame(s, 0x81, "\xff", 1, 1);
  CHECK(decode(s, n, 0, &m) == 1007);
  CHECK(m.len == 0);
}

/* ---- permessage-deflate ------------------------------------------------------------ */

/* Appends a masked frame of text compressed by z (our own compressor, as a
 * client's would be); rsv1 0 sends it as it is. */
static size_t packed(char *at, lt_wsdeflate *z, int first, const char *text) {
  lt_buf b = {0};
  CHECK(lt_wsdeflate_message(z, text, strlen(text), &b) == 0);
  size_t n = frame(at, first | 0x40, b.data, b.len, 1);
  lt_buf_free(&b);
  return n;
}

static void test_compressed_messages_inflate_across_the_connection(void) {
  char s[4096];
  size_t n = 0;
  lt_wsdeflate *z = lt_wsdeflate_new(15, 0);
  n += packed(s + n, z, 0x81, "hello hello hello hello");
  n += frame(s + n, 0x89, "ping", 4, 1);
  n += packed(s + n, z, 0x81, "hello hello hello hello"); /* refers back to the first */
  n += frame(s + n, 0x81, "plain", 5, 1);                 /* RSV1 clear: as it is */
  n += packed(s + n, z, 0x82, "");
  lt_buf b = {0};
  CHECK(lt_wsdeflate_message(z, "in two frames", 13, &b) == 0);
  n += frame(s + n, 0x41, b.data, 4, 1);
  n += frame(s + n, 0x80, b.data + 4, b.len - 4, 1);
  lt_buf_free(&b);
  messages m;
  CHECK(decode_with(s, n, 0, 1, &m) == 0);
  CHECK_STR(m.log, "1:23:hello hello hello hello|9:4:ping|1:23:hello hello hello hello|"
                   "1:5:plain|2:0:|1:13:in two frames|");
  /* Without the extension, RSV1 is a protocol error. */
  CHECK(decode_with(s, n, 0, 0, &m) == 1002);
  lt_wsdeflate_free(z);
  /* RSV1 on a continuation or a control frame is one either way. */
  n = frame(s, 0x01, "a", 1, 1);
  n += frame(s + n, 0xC0, "b", 1, 1);
  CHECK(decode_with(s, n, 0, 1, &m) == 1002);
  n = frame(s, 0xC9, "", 0, 1);
  CHECK(decode_with(s, n, 0, 1, &m) == 1002);
  /* Not deflate data; and invalid UTF-8 once inflated. */
  n = frame(s, 0xC1, "\xff\xff\xff", 3, 1);
  CHECK(decode_with(s, n, 0, 1, &m) == 1002);
  z = lt_wsdeflate_new(15, 0);
  n = packed(s, z, 0x81, "caf\xc3");
  CHECK(decode_with(s, n, 0, 1, &m) == 1007);
  lt_wsdeflate_free(z);
}

static void test_our_compressor_strips_the_tail_and_honours_no_takeover(void) {
  lt_wsdeflate *z = lt_wsdeflate_new(15, 0), *fresh = lt_wsdeflate_new(15, 1);
  lt_buf a = {0}, b = {0}, c = {0}, d = {0};
  const char *text = "the same text, twice over: the same text, twice over";
  CHECK(lt_wsdeflate_message(z, text, strlen(text), &a) == 0);
  CHECK(lt_wsdeflate_message(z, text, strlen(text), &b) == 0);
  CHECK(b.len < a.len); /* the second refers to the first */
  CHECK(lt_wsdeflate_message(fresh, text, strlen(text), &c) == 0);
  CHECK(lt_wsdeflate_message(fresh, text, strlen(text), &d) == 0);
  CHECK(c.len == d.len && !memcmp(c.data, d.data, c.len));
  CHECK(a.len >= 4 && memcmp(a.data + a.len - 4, "\0\0\xff\xff", 4) != 0);
  lt_buf e = {0};
  CHECK(lt_wsdeflate_message(z, "", 0, &e) == 0);
  CHECK(e.len == 1 && e.data[0] == 0); /* an empty message is one empty block */
  lt_buf_free(&a), lt_buf_free(&b), lt_buf_free(&c), lt_buf_free(&d), lt_buf_free(&e);
  lt_wsdeflate_free(z);
  lt_wsdeflate_free(fresh);
}

static void count_message(void *ud, int opcode, const char *data, size_t n) {
  (void)opcode, (void)data, (void)n;
  ++*(int *)ud;
}

static void test_a_compression_bomb_stops_at_the_limit(void) {
  /* 8 MiB of zeros in a few kilobytes, against a 64 KiB limit. */
  size_t big = (size_t)8 << 20, max = 64 * 1024;
  char *zeros = calloc(1, big);
  lt_wsdeflate *z = lt_wsdeflate_new(15, 0);
  lt_buf b = {0};
  CHECK(lt_wsdeflate_message(z, zeros, big, &b) == 0);
  CHECK(b.len < 65536);
  char *s = malloc(b.len + 16);
  size_t n = frame(s, 0xC2, b.data, b.len, 1);
  lt_wsdecoder d;
  int count = 0;
  lt_wsdecoder_init(&d, max);
  d.on_message = count_message;
  d.ud = &count;
  CHECK(lt_wsdecoder_enable_deflate(&d) == 0);
  CHECK(lt_wsdecoder_feed(&d, s, n) == 1009);
  CHECK(count == 0);
  CHECK(d.msg.cap <= max + 2); /* memory never grew past the limit */
  lt_wsdecoder_free(&d);
  free(s), free(zeros), lt_buf_free(&b);
  lt_wsdeflate_free(z);
}

static void test_offers_are_negotiated_as_aiohttp_does(void) {
  int nt = -1;
  char answer[96];
  CHECK(lt_wsdeflate_accept(NULL, &nt) == 0);
  CHECK(lt_wsdeflate_accept("permessage-deflate; client_max_window_bits", &nt) == 15 && !nt);
  CHECK(lt_wsdeflate_accept("permessage-deflate; server_max_window_bits=8, "
                            "permessage-deflate; server_max_window_bits=10; "
                            "server_no_context_takeover",
                            &nt) == 10 &&
        nt);
  lt_wsdeflate_answer(10, 1, answer, sizeof answer);
  CHECK_STR(answer, "permessage-deflate; server_max_window_bits=10; server_no_context_takeover");
  lt_wsdeflate_answer(15, 0, answer, sizeof answer);
  CHECK_STR(answer, "permessage-deflate");
  CHECK(lt_wsdeflate_accept("permessage-deflate; foo", &nt) == 0);
  CHECK(lt_wsdeflate_accept("permessage-deflate ; server_no_context_takeover", &nt) == 0);
  CHECK(lt_wsdeflate_accept("x-webkit-deflate-frame", &nt) == 0);
}

/* UTF-8 and unmasking go eight bytes at a time through ASCII: a
 * multi-byte character or a bad byte at any offset, and the payload's
 * bytes, come out as byte by byte. */
static void test_text_checks_and_unmasking_at_every_offset(void) {
  for (size_t at = 0; at + 2 <= 38; at++) {
    char text[39], s[64];
    memset(text, 'a' + (int)(at % 26), sizeof text - 1);
    text[38] = 0;
    memcpy(text + at, "\xc3\xa9", 2); /* é */
    messages m;
    size_t n = frame(s, 0x81, text, 38, 1);
    CHECK(decode(s, n, 0, &m) == 0);
    char want[64];
    snprintf(want, sizeof want, "1:38:%s|", text);
    CHECK_STR(m.log, want);
    text[at] = (char)0xff;
    n = frame(s, 0x81, text, 38, 1);
    CHECK(decode(s, n, 0, &m) == 1007);
  }
}

int main(void) {
  test_valid_streams_pass_unchanged();
  test_violations_and_their_codes();
  test_held_pings_are_taken_out();
  test_the_decoder_reassembles_messages_around_control_frames();
  test_the_decoder_refuses_what_the_checker_refuses_and_big_messages();
  test_compressed_messages_inflate_across_the_connection();
  test_our_compressor_strips_the_tail_and_honours_no_takeover();
  test_a_compression_bomb_stops_at_the_limit();
  test_offers_are_negotiated_as_aiohttp_does();
  test_text_checks_and_unmasking_at_every_offset();
  return check_done("test_wsframe");
}
