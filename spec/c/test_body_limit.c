/* The body size limit on a real server: by default a body over it gets 413
 * before any handler runs; with lazy_body_limit the C handler runs, asks
 * lt_request_body_too_large, and the connection keeps serving. Loopback
 * sockets, the core alone. */
#include <stdlib.h>
#include "check.h"
#include "client.h"
#include "server.h"

#define LIMIT 1024

typedef struct seen {
  int calls;
  int too_large;
  uint64_t actual;
  size_t kept, kept_cap;
} seen;

static seen last;

/* Answers with what it saw of the body. */
static int inspect(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  size_t len;
  lt_request_body(req, &len);
  last.calls++;
  last.too_large = lt_request_body_too_large(req, &last.actual);
  last.kept = len;
  last.kept_cap = req->msg.body.cap;
  char text[64];
  int n = snprintf(text, sizeof text, "%s %zu", last.too_large ? "too large" : "read", len);
  return lt_response_body(resp, text, (size_t)n);
}

/* /refuse answers the way a server with C handlers that cannot read lazily
 * does (lt_request_body_refusal); everything else goes to inspect. */
static void dispatch(lt_server *srv, lt_request *req, void *ud) {
  (void)srv;
  (void)ud;
  if (!strcmp(lt_request_path(req), "/refuse") && lt_request_body_refusal(req)) {
    lt_request_respond(req);
    return;
  }
  lt_request_run_handler(req, inspect, NULL);
}

typedef struct reply {
  int done, err, status;
  char body[256];
  char connection[32];
} reply;

static void on_reply(int status, const lt_reply *r, void *ud) {
  reply *out = ud;
  out->done = 1;
  out->err = status;
  if (status)
    return;
  out->status = lt_reply_status(r);
  size_t len;
  const char *body = lt_reply_body(r, &len);
  snprintf(out->body, sizeof out->body, "%.*s", (int)len, body);
  const char *conn = lt_reply_header(r, "Connection");
  snprintf(out->connection, sizeof out->connection, "%s", conn ? conn : "");
}

typedef struct fixture {
  lt_loop *loop;
  lt_server *srv;
  lt_client *client;
} fixture;

static void start(fixture *f, int lazy, size_t max_body) {
  lt_server_opts opts;
  lt_server_default_opts(&opts);
  opts.limits.max_body = max_body;
  opts.lazy_body_limit = lazy;
  f->loop = lt_loop_new();
  f->srv = lt_server_new(f->loop, &opts, dispatch, NULL);
  CHECK(f->srv && lt_server_listen(f->srv, "127.0.0.1", 0) == 0);
  f->client = lt_client_new(f->loop);
  memset(&last, 0, sizeof last);
}

static void stop(fixture *f) {
  lt_client_free(f->client);
  lt_server_close(f->srv, NULL, NULL);
  lt_loop_run(f->loop);
  CHECK(lt_loop_free(f->loop) == 0);
}

/* One request with a body of n bytes; waits for the answer. */
static reply post(fixture *f, const char *path, size_t n) {
  reply out;
  memset(&out, 0, sizeof out);
  char *body = malloc(n ? n : 1);
  memset(body, 'x', n);
  int r = lt_client_request(f->client, "POST", "127.0.0.1", f->srv->port, path, NULL, body, n,
                            on_reply, &out);
  free(body);
  CHECK(r == 0);
  while (!r && !out.done)
    lt_loop_run_once(f->loop);
  return out;
}

static void test_by_default_413_comes_before_the_handler(void) {
  fixture f;
  start(&f, 0, LIMIT);
  reply r = post(&f, "/", 2000);
  CHECK(r.status == 413);
  CHECK_STR(r.body, "Maximum request body size 1024 exceeded, actual body size 2000");
  CHECK_STR(r.connection, "close");
  CHECK(last.calls == 0);
  /* The eager limit lets a body of the limit itself through. */
  r = post(&f, "/", LIMIT);
  CHECK(r.status == 200);
  CHECK_STR(r.body, "read 1024");
  CHECK(last.calls == 1 && !last.too_large);
  stop(&f);
}

static void test_lazy_the_handler_runs_and_asks(void) {
  fixture f;
  start(&f, 1, LIMIT);
  reply r = post(&f, "/", 2000);
  CHECK(r.status == 200);
  CHECK_STR(r.body, "too large 1024");
  CHECK(last.too_large && last.actual >= LIMIT && last.actual <= 2000);
  CHECK_STR(r.connection, "");
  /* aiohttp's rule: the limit itself is too large, one byte less is not. */
  r = post(&f, "/", LIMIT);
  CHECK_STR(r.body, "too large 1024");
  CHECK(last.actual == LIMIT);
  r = post(&f, "/", LIMIT - 1);
  CHECK_STR(r.body, "read 1023");
  CHECK(!last.too_large && last.actual == 0);
  /* All on one keep-alive connection. */
  CHECK(last.calls == 3);
  CHECK(f.srv->nconns == 1 && f.srv->requests == 3);
  stop(&f);
}

static void test_lazy_memory_stays_at_the_limit(void) {
  fixture f;
  start(&f, 1, LIMIT);
  size_t big = 20u * 1024 * 1024;
  reply r = post(&f, "/", big);
  CHECK(r.status == 200);
  /* The handler ran once the limit was reached, not at the end. */
  CHECK(last.too_large && last.actual >= LIMIT && last.actual < big);
  CHECK(last.kept == LIMIT);
  CHECK(last.kept_cap <= 2 * LIMIT);
  /* (The client closes a connection it has not finished writing to.) */
  r = post(&f, "/", 10);
  CHECK_STR(r.body, "read 10");
  stop(&f);
}

static void test_lazy_without_a_limit_keeps_everything(void) {
  fixture f;
  start(&f, 1, 0);
  reply r = post(&f, "/", 5000);
  CHECK_STR(r.body, "read 5000");
  CHECK(!last.too_large);
  stop(&f);
}

static void test_a_handler_that_cannot_read_lazily_refuses_and_the_connection_stays(void) {
  fixture f;
  start(&f, 1, LIMIT);
  reply r = post(&f, "/refuse", 3000);
  CHECK(r.status == 413);
  CHECK_STR(r.body, "Maximum request body size 1024 exceeded, actual body size 3000");
  CHECK(last.calls == 0);
  r = post(&f, "/refuse", 10);
  CHECK_STR(r.body, "read 10");
  CHECK(f.srv->nconns == 1 && f.srv->requests == 2);
  stop(&f);
}

int main(void) {
  test_by_default_413_comes_before_the_handler();
  test_lazy_the_handler_runs_and_asks();
  test_lazy_memory_stays_at_the_limit();
  test_lazy_without_a_limit_keeps_everything();
  test_a_handler_that_cannot_read_lazily_refuses_and_the_connection_stays();
  return check_done("test_body_limit");
}
