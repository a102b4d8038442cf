/* Unit tests of the HTTP layer: the llhttp wrapper (framing, pipelining,
 * limits, malformed input), percent-coding, query strings, the router and
 * response serialization. No sockets. */
#include <stdlib.h>
#include "check.h"
#include "http.h"
#include "request.h"
#include "router.h"
#include "url.h"
#include "multipart.h"

static lt_limits limits = {
    .max_line = 8190, .max_field = 8190, .max_headers = 128, .max_head = 16384, .max_body = 1024};

/* Parses all of `in` as requests; returns how many messages completed. */
static int parse_all(const char *in, size_t len, lt_msg *msgs, int max, int *err) {
  lt_parser p;
  lt_parser_init(&p, HTTP_REQUEST, &limits);
  int n = 0;
  size_t off = 0;
  *err = 0;
  while (off < len && n < max) {
    long r = lt_parser_feed(&p, &msgs[n], in + off, len - off);
    if (r < 0) {
      *err = p.status;
      return n;
    }
    off += (size_t)r;
    if (p.done) {
      n++;
      lt_parser_next(&p);
    }
  }
  return n;
}

static void test_simple_request(void) {
  const char in[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Multi: one\r\nx-multi: two\r\n\r\n";
  lt_msg m;
  lt_msg_init(&m);
  int err;
  CHECK(parse_all(in, sizeof in - 1, &m, 1, &err) == 1);
  CHECK(err == 0);
  CHECK(m.method == HTTP_GET);
  CHECK_STR(lt_msg_str(&m, m.url), "/a/b?x=1");
  CHECK(m.nhdrs == 3);
  CHECK_STR(lt_msg_header(&m, "x-MULTI"), "one");
  CHECK_STR(lt_msg_str(&m, m.hdrs[2].value), "two");
  CHECK(m.keep_alive == 1);
  CHECK(m.major == 1 && m.minor == 1);
  lt_msg_free(&m);
}

static void test_bodies_and_pipelining(void) {
  const char in[] = "POST /one HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                    "POST /two HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n4\r\n\0def\r\n0\r\n\r\n"
                    "GET /three HTTP/1.0\r\n\r\n";
  lt_msg m[3];
  for (int i = 0; i < 3; i++)
    lt_msg_init(&m[i]);
  int err;
  CHECK(parse_all(in, sizeof in - 1, m, 3, &err) == 3);
  CHECK(m[0].body.len == 5 && !memcmp(m[0].body.data, "hello", 5));
  CHECK(m[0].content_length == 5);
  CHECK(m[1].chunked);
  CHECK(m[1].body.len == 7 && !memcmp(m[1].body.data, "abc\0def", 7));
  CHECK_STR(lt_msg_str(&m[2], m[2].url), "/three");
  CHECK(m[2].keep_alive == 0);
  for (int i = 0; i < 3; i++)
    lt_msg_free(&m[i]);
}

static void test_byte_at_a_time(void) {
  const char in[] = "PUT /x HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\n\r\nabc";
  lt_parser p;
  lt_parser_init(&p, HTTP_REQUEST, &limits);
  lt_msg m;
  lt_msg_init(&m);
  int done = 0;
  for (size_t i = 0; i < sizeof in - 1; i++) {
    long r = lt_parser_feed(&p, &m, in + i, 1);
    CHECK(r == 1);
    done |= p.done;
  }
  CHECK(done);
  CHECK_STR(lt_msg_header(&m, "host"), "example");
  CHECK(m.body.len == 3);
  lt_msg_free(&m);
}

static void test_malformed(void) {
  static const char *bad[] = {
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
      "G@T / HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\nHost: x\n\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lt_msg m;
    lt_msg_init(&m);
    int err;
    int n = parse_all(bad[i], strlen(bad[i]), &m, 1, &err);
    if (n != 0 || err != 400)
      fprintf(stderr, "vector %zu: n=%d status=%d\n", i, n, err);
    CHECK(n == 0 && err == 400);
    lt_msg_free(&m);
  }
}

static void test_limits(void) {
  char big[20000];
  int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: ");
  memset(big + n, 'a', 17000);
  memcpy(big + n + 17000, "\r\n\r\n", 5);
  lt_msg m;
  lt_msg_init(&m);
  int err;
  CHECK(parse_all(big, strlen(big), &m, 1, &err) == 0 && err == 431);
  lt_msg_free(&m);

  lt_msg_init(&m);
  const char body[] = "POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n";
  CHECK(parse_all(body, sizeof body - 1, &m, 1, &err) == 0 && err == 413);
  lt_msg_free(&m);

  n = snprintf(big, sizeof big, "GET /");
  memset(big + n, 'a', 9000);
  memcpy(big + n + 9000, " HTTP/1.1\r\n\r\n", 14);
  lt_msg_init(&m);
  CHECK(parse_all(big, strlen(big), &m, 1, &err) == 0 && err == 414);
  lt_msg_free(&m);
}

/* lazy_body: a body over the limit completes, its first max_body bytes
 * kept and the rest counted; the next pipelined message is parsed as
 * usual. Fed a byte at a time and whole, for the cuts. */
static void test_lazy_body_limit(void) {
  char in[8192];
  int n = snprintf(in, sizeof in, "POST /a HTTP/1.1\r\nContent-Length: 3000\r\n\r\n");
  memset(in + n, 'a', 3000);
  n += 3000;
  n += snprintf(in + n, sizeof in - (size_t)n,
                "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                "800\r\n");
  memset(in + n, 'b', 0x800);
  n += 0x800;
  n += snprintf(in + n, sizeof in - (size_t)n, "\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
  for (size_t step = 1; step <= (size_t)n; step = step == 1 ? (size_t)n : step + 1) {
    lt_parser p;
    lt_parser_init(&p, HTTP_REQUEST, &limits);
    p.lazy_body = 1;
    lt_msg m[3];
    for (int i = 0; i < 3; i++)
      lt_msg_init(&m[i]);
    int done = 0;
    size_t off = 0;
    while (off < (size_t)n && done < 3) {
      size_t len = (size_t)n - off < step ? (size_t)n - off : step;
      long r = lt_parser_feed(&p, &m[done], in + off, len);
      CHECK(r >= 0);
      if (r < 0)
        break;
      off += (size_t)r;
      if (p.done) {
        done++;
        lt_parser_next(&p);
      }
    }
    CHECK(done == 3);
    CHECK(m[0].body.len == 1024 && m[0].body_size == 3000 && m[0].content_length == 3000);
    CHECK(m[0].body.cap <= 2048);
    CHECK(m[0].body.data[0] == 'a' && m[0].body.data[1023] == 'a');
    CHECK(m[1].body.len == 1024 && m[1].body_size == 0x800 && m[1].chunked);
    CHECK(m[1].body.data[0] == 'b');
    CHECK_STR(lt_msg_str(&m[2], m[2].url), "/c");
    CHECK(m[2].body.len == 0 && m[2].body_size == 0);
    for (int i = 0; i < 3; i++)
      lt_msg_free(&m[i]);
  }
}

/* Mocked requests (make_mocked_request) built by the core. */
static void test_mock_request(void) {
  lt_field hdrs[] = {{"Host", "example", 4, 7}, {"X-Nul", "a\0b", 5, 3}};
  lt_mock_spec spec = {.method = "POST",
                       .url = "/p%20q?x=1",
                       .url_len = 10,
                       .headers = hdrs,
                       .nheaders = 2,
                       .body = "0123456789abc",
                       .body_len = 13,
                       .max_body = 10};
  lt_request *req;
  CHECK(lt_request_mock(&spec, &req) == 0);
  CHECK_STR(lt_request_method(req), "POST");
  CHECK_STR(lt_request_path(req), "/p q");
  CHECK_STR(lt_request_query_string(req), "x=1");
  CHECK_STR(lt_request_header(req, "host"), "example");
  CHECK(req->msg.hdrs[1].value_len == 3);
  CHECK(req->keep_alive && req->msg.major == 1 && req->msg.minor == 1);
  CHECK(req->msg.content_length == 13);
  uint64_t actual;
  CHECK(lt_request_body_too_large(req, &actual) && actual == 13);
  size_t len;
  CHECK(!strcmp(lt_request_body(req, &len), "0123456789abc") && len == 13);
  lt_request_release(req);

  /* At the limit is too large (aiohttp's >=); no limit is never. */
  spec.body_len = 10;
  CHECK(lt_request_mock(&spec, &req) == 0);
  CHECK(lt_request_body_too_large(req, &actual) && actual == 10);
  lt_request_release(req);
  spec.body_len = 9;
  CHECK(lt_request_mock(&spec, &req) == 0);
  CHECK(!lt_request_body_too_large(req, &actual) && actual == 0);
  lt_request_release(req);
  spec.body_len = 13;
  spec.max_body = 0;
  CHECK(lt_request_mock(&spec, &req) == 0);
  CHECK(!lt_request_body_too_large(req, NULL));
  lt_request_release(req);

  /* HTTP/1.0 closes unless a Connection header says otherwise; a
   * Content-Length header wins over the payload's length; no payload, no
   * length. */
  lt_field cl[] = {{"Content-Length", "99", 14, 2}};
  lt_mock_spec v10 = {
      .method = "GET", .url = "/", .url_len = 1, .headers = cl, .nheaders = 1, .version = "1.0"};
  CHECK(lt_request_mock(&v10, &req) == 0);
  CHECK(!req->keep_alive && req->msg.minor == 0 && req->msg.content_length == 99);
  lt_request_release(req);
  v10.nheaders = 0;
  v10.closing = 1;
  v10.version = NULL;
  CHECK(lt_request_mock(&v10, &req) == 0);
  CHECK(!req->keep_alive && req->msg.content_length == -1);
  lt_request_release(req);

  lt_mock_spec bad = {.method = "GET", .url = "/%zz", .url_len = 4};
  CHECK(lt_request_mock(&bad, &req) == LT_EPARSE && req == NULL);
}

static void test_response_parse_close_delimited(void) {
  const char in[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
  lt_parser p;
  lt_parser_init(&p, HTTP_RESPONSE, &limits);
  p.limits.max_body = 0;
  lt_msg m;
  lt_msg_init(&m);
  CHECK(lt_parser_feed(&p, &m, in, sizeof in - 1) == (long)(sizeof in - 1));
  CHECK(!p.done);
  CHECK(lt_parser_eof(&p, &m) == 0);
  CHECK(p.done);
  CHECK(m.status == 200);
  CHECK_STR(lt_msg_str(&m, m.reason), "OK");
  CHECK(m.body.len == 13);
  lt_msg_free(&m);
}

static int collect(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  lt_buf *out = ud;
  lt_buf_append(out, name, nlen);
  lt_buf_append(out, "=", 1);
  lt_buf_append(out, value, vlen);
  lt_buf_append(out, ";", 1);
  return 0;
}

static void test_url(void) {
  lt_buf b = {0};
  CHECK(lt_url_decode(&b, "/a%20b+c%2F", 11, 0) == 0);
  CHECK_STR(b.data, "/a b+c/");
  lt_buf_clear(&b);
  CHECK(lt_url_decode(&b, "a+b", 3, 1) == 0);
  CHECK_STR(b.data, "a b");
  lt_buf_clear(&b);
  CHECK(lt_url_decode(&b, "%zz", 3, 0) == LT_EPARSE);
  lt_buf_clear(&b);
  CHECK(lt_url_decode(&b, "%4", 2, 0) == LT_EPARSE);
  lt_buf_clear(&b);
  CHECK(lt_url_encode(&b, "a b&c=d/é", 10, 1) == 0);
  CHECK_STR(b.data, "a+b%26c%3Dd%2F%C3%A9");
  lt_buf_clear(&b);
  CHECK(lt_query_parse("a=1&b=x+y&a=2&flag&&c=%41", 25, collect, &b) == 0);
  CHECK_STR(b.data, "a=1;b=x y;a=2;flag=;c=A;");
  lt_buf_free(&b);
}

static lt_request *request_for(const char *method_line) {
  lt_request *req = lt_request_new();
  lt_parser p;
  lt_parser_init(&p, HTTP_REQUEST, &limits);
  lt_parser_feed(&p, &req->msg, method_line, strlen(method_line));
  CHECK(p.done);
  CHECK(lt_request_prepare(req) == 0);
  return req;
}

static void test_router(void) {
  lt_router *r = lt_router_new();
  char err[256];
  CHECK(lt_router_add(r, "GET", "/", NULL, (void *)1, NULL, err, sizeof err) == 0);
  CHECK(lt_router_add(r, "GET", "/users/{id:\\d+}/posts/{slug}", NULL, (void *)2, NULL, err,
                      sizeof err) == 0);
  CHECK(lt_router_add(r, "post", "/users/{id}", NULL, (void *)3, NULL, err, sizeof err) == 0);
  CHECK(lt_router_add(r, "*", "/any", NULL, (void *)4, NULL, err, sizeof err) == 0);
  CHECK(lt_router_add(r, "GET", "/bad/{", NULL, NULL, NULL, err, sizeof err) == LT_EPARSE);
  CHECK(lt_router_add(r, "GET", "nope", NULL, NULL, NULL, err, sizeof err) == LT_EPARSE);

  lt_match m;
  lt_request *req = request_for("GET /users/42/posts/hello%20world HTTP/1.1\r\n\r\n");
  CHECK(lt_router_match(r, req, &m) == 0);
  CHECK(m.status == 200 && m.route && m.route->ud == (void *)2);
  CHECK_STR(lt_request_match(req, "id"), "42");
  CHECK_STR(lt_request_match(req, "slug"), "hello world");
  lt_request_release(req);

  req = request_for("GET /users/abc/posts/x HTTP/1.1\r\n\r\n");
  CHECK(lt_router_match(r, req, &m) == 0 && m.status == 404 && !m.route);
  lt_request_release(req);

  req = request_for("DELETE /users/7 HTTP/1.1\r\n\r\n");
  CHECK(lt_router_match(r, req, &m) == 0 && m.status == 405);
  CHECK_STR(m.allow, "POST");
  lt_request_release(req);

  req = request_for("PATCH /any HTTP/1.1\r\n\r\n");
  CHECK(lt_router_match(r, req, &m) == 0 && m.status == 200 && m.route->ud == (void *)4);
  lt_request_release(req);
  lt_router_free(r);
}

static void test_response_serialize(void) {
  lt_request *req = request_for("HEAD /x HTTP/1.1\r\n\r\n");
  lt_response_status(&req->resp, 201);
  CHECK(lt_response_header(&req->resp, "X-Ok", "yes") == 0);
  CHECK(lt_response_header(&req->resp, "X-Bad", "a\r\nInjected: 1") == LT_EHEADER);
  CHECK(lt_response_header(&req->resp, "Bad Name", "v") == LT_EHEADER);
  lt_response_body(&req->resp, "abc", 3);
  lt_buf out = {0};
  CHECK(lt_response_serialize(&req->resp, req, "Mon, 01 Jan 2026 00:00:00 GMT", &out) == 0);
  CHECK(strstr(out.data, "HTTP/1.1 201 Created\r\n") == out.data);
  CHECK(strstr(out.data, "X-Ok: yes\r\n") != NULL);
  CHECK(strstr(out.data, "Content-Length: 3\r\n") != NULL);
  CHECK(strstr(out.data, "Injected") == NULL);
  /* HEAD: the length is announced, the body is not sent. */
  CHECK(out.len >= 4 && !memcmp(out.data + out.len - 4, "\r\n\r\n", 4));
  lt_buf_free(&out);
  lt_request_release(req);
}

static int count_part(void *ud, const char *head, size_t hlen, const char *data, size_t dlen) {
  lt_buf *out = ud;
  lt_buf_append(out, "[", 1);
  lt_buf_append(out, head, hlen);
  lt_buf_append(out, "|", 1);
  lt_buf_append(out, data, dlen);
  lt_buf_append(out, "]", 1);
  return 0;
}

static void test_multipart(void) {
  const char ok[] = "preamble\r\n--xy\r\nA: 1\r\n\r\none\r\n--xy\r\n\r\ntwo\0\r\n--x\r\n--xy--\r\n";
  lt_buf out = {0};
  const char *why = NULL;
  CHECK(lt_multipart_split(ok, sizeof ok - 1, "xy", 2, count_part, &out, &why) == 0);
  CHECK(out.len == 24 && !memcmp(out.data, "[A: 1\r\n|one][|two\0\r\n--x]", 24));
  lt_buf_clear(&out);
  static const char *bad[] = {"no boundary at all", "--xy\r\nA: 1\r\n\r\nunterminated",
                              "--xy\r\nA: 1 no blank line", "--xyjunk"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = NULL;
    CHECK(lt_multipart_split(bad[i], strlen(bad[i]), "xy", 2, count_part, &out, &why) == LT_EPARSE);
    CHECK(why != NULL);
  }
  lt_buf_free(&out);
}

int main(void) {
  test_multipart();
  test_simple_request();
  test_bodies_and_pipelining();
  test_byte_at_a_time();
  test_malformed();
  test_limits();
  test_lazy_body_limit();
  test_mock_request();
  test_response_parse_close_delimited();
  test_url();
  test_router();
  test_response_serialize();
  return check_done("test_http");
}
