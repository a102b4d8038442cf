/* A C-only program: no Lua state at all. It routes C handlers, starts a
 * test server on a port the OS picks, and an https one with the test
 * certificate, makes client requests against both and checks the answers.
 * Built and run by `make test`. */
#include <stdio.h>
#include <string.h>
#include "luatest.h"

static int hello(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  char text[128];
  const char *greeting = lt_request_query(req, "greeting");
  int n = snprintf(text, sizeof text, "%s, %s", greeting ? greeting : "Hello",
                   lt_request_match(req, "name"));
  lt_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
  return lt_response_body(resp, text, (size_t)n);
}

/* Answers with every request header, one "name: value" line each. */
static int headers(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  char text[1024];
  size_t off = 0;
  const char *name, *value;
  for (int i = 0; lt_request_header_at(req, i, &name, &value) && off < sizeof text; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "%s: %s\n", name, value);
  return lt_response_body(resp, text, off < sizeof text ? off : sizeof text - 1);
}

static int echo(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  size_t len;
  const char *body = lt_request_body(req, &len);
  lt_response_status(resp, 201);
  return lt_response_body(resp, body, len);
}

typedef struct check {
  const char *what;
  int want_status;       /* or the error code wanted */
  const char *want_body; /* a substring */
  int done, ok;
} check;

static void on_reply(int status, const lt_reply *reply, void *ud) {
  check *c = ud;
  c->done = 1;
  if (status) {
    c->ok = status == c->want_status;
    printf("%s -> %s%s\n", c->what, lt_strerror(status), c->ok ? "" : "   <-- unexpected");
    return;
  }
  size_t len;
  const char *body = lt_reply_body(reply, &len);
  c->ok = lt_reply_status(reply) == c->want_status && strstr(body, c->want_body) != NULL;
  printf("%s -> %d %.*s%s\n", c->what, lt_reply_status(reply), (int)(len > 60 ? 60 : len), body,
         c->ok ? "" : "   <-- unexpected");
}

/* A request that could not start gets its answer at once. */
static void started(int r, check *c) {
  if (r)
    on_reply(r, NULL, c);
}

int main(void) {
  lt_loop *loop = lt_loop_new();
  lt_app *app = lt_app_new();
  if (!loop || !app)
    return 1;
  if (lt_app_route(app, "GET", "/hello/{name}", hello, NULL) ||
      lt_app_route(app, "GET", "/headers", headers, NULL) ||
      lt_app_route(app, "POST", "/echo", echo, NULL))
    return 1;
  lt_server *server;
  int r = lt_test_server_start(loop, app, 0, &server);
  if (r) {
    fprintf(stderr, "server: %s\n", lt_strerror(r));
    return 1;
  }
  int port = lt_server_port(server);
  lt_server *https;
  r = lt_test_server_start_tls(loop, app, 0, NULL, &https); /* the test certificate */
  if (r) {
    fprintf(stderr, "https server: %s\n", lt_strerror(r));
    return 1;
  }
  int https_port = lt_server_port(https);
  lt_client *client = lt_client_new(loop);

  check checks[] = {
      {"GET /hello/c?greeting=Hi", 200, "Hi, c", 0, 0},
      {"GET /headers", 200, "X-From: c-only", 0, 0},
      {"POST /echo", 201, "bytes\nin C", 0, 0},
      {"GET /missing", 404, "404: Not Found", 0, 0},
      {"DELETE /echo", 405, "405: Method Not Allowed", 0, 0},
      {"https GET localhost:PORT/hello/tls, trusting the server's certificate", 200, "Hello, tls",
       0, 0},
      {"https POST /echo", 201, "over TLS", 0, 0},
      {"https GET / with the system's CAs", LT_ETLS, "", 0, 0},
      {"https GET /hello/any, not verified", 200, "Hello, any", 0, 0},
  };
  const char *hdrs[] = {"X-From", "c-only", NULL};
  started(lt_client_request(client, "GET", "127.0.0.1", port, "/hello/c?greeting=Hi", NULL, NULL, 0,
                            on_reply, &checks[0]),
          &checks[0]);
  started(lt_client_request(client, "GET", "127.0.0.1", port, "/headers", hdrs, NULL, 0, on_reply,
                            &checks[1]),
          &checks[1]);
  started(lt_client_request(client, "POST", "127.0.0.1", port, "/echo", NULL, "bytes\nin C", 10,
                            on_reply, &checks[2]),
          &checks[2]);
  started(lt_client_request(client, "GET", "127.0.0.1", port, "/missing", NULL, NULL, 0, on_reply,
                            &checks[3]),
          &checks[3]);
  started(lt_client_request(client, "DELETE", "127.0.0.1", port, "/echo", NULL, NULL, 0, on_reply,
                            &checks[4]),
          &checks[4]);
  lt_tls_opts trust = {.ca_pem = lt_server_certificate(https)};
  started(lt_client_request_tls(client, &trust, "GET", "localhost", https_port, "/hello/tls", NULL,
                                NULL, 0, on_reply, &checks[5]),
          &checks[5]);
  started(lt_client_request_tls(client, &trust, "POST", "127.0.0.1", https_port, "/echo", NULL,
                                "over TLS", 8, on_reply, &checks[6]),
          &checks[6]);
  started(lt_client_request_tls(client, NULL, "GET", "127.0.0.1", https_port, "/", NULL, NULL, 0,
                                on_reply, &checks[7]),
          &checks[7]);
  lt_tls_opts any = {.no_verify = 1};
  started(lt_client_request_tls(client, &any, "GET", "127.0.0.1", https_port, "/hello/any", NULL,
                                NULL, 0, on_reply, &checks[8]),
          &checks[8]);

  /* Run until every answer arrived, then close everything. */
  size_t n = sizeof checks / sizeof checks[0];
  for (size_t done = 0; done < n;) {
    lt_loop_run_once(loop);
    done = 0;
    for (size_t i = 0; i < n; i++)
      done += (size_t)checks[i].done;
  }
  printf("why the untrusted one failed: %s\n", lt_client_tls_error(client));
  lt_client_free(client);
  lt_test_server_close(server);
  lt_test_server_close(https);
  lt_loop_run(loop);
  lt_app_free(app);
  int leaked = lt_loop_free(loop);
  int failed = 0;
  for (size_t i = 0; i < n; i++)
    failed += !checks[i].ok;
  printf("c_only: %zu passed, %d failed\n", n - (size_t)failed, failed);
  return failed || leaked ? 1 : 0;
}
