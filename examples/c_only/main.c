/* A C-only program: no Lua state at all. It routes C handlers, starts a
 * test server on a port the OS picks, makes client requests against it and
 * checks the answers. Built and run by `make test`. */
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
  int want_status;
  const char *want_body; /* a substring */
  int done, ok;
} check;

static void on_reply(int status, const lt_reply *reply, void *ud) {
  check *c = ud;
  c->done = 1;
  if (status) {
    fprintf(stderr, "%s: %s\n", c->what, lt_strerror(status));
    return;
  }
  size_t len;
  const char *body = lt_reply_body(reply, &len);
  c->ok = lt_reply_status(reply) == c->want_status && strstr(body, c->want_body) != NULL;
  printf("%s -> %d %.*s%s\n", c->what, lt_reply_status(reply), (int)(len > 60 ? 60 : len), body,
         c->ok ? "" : "   <-- unexpected");
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
  lt_client *client = lt_client_new(loop);

  check checks[] = {
      {"GET /hello/c?greeting=Hi", 200, "Hi, c", 0, 0},
      {"GET /headers", 200, "X-From: c-only", 0, 0},
      {"POST /echo", 201, "bytes\nin C", 0, 0},
      {"GET /missing", 404, "404: Not Found", 0, 0},
      {"DELETE /echo", 405, "405: Method Not Allowed", 0, 0},
  };
  const char *hdrs[] = {"X-From", "c-only", NULL};
  lt_client_request(client, "GET", "127.0.0.1", port, "/hello/c?greeting=Hi", NULL, NULL, 0,
                    on_reply, &checks[0]);
  lt_client_request(client, "GET", "127.0.0.1", port, "/headers", hdrs, NULL, 0, on_reply,
                    &checks[1]);
  lt_client_request(client, "POST", "127.0.0.1", port, "/echo", NULL, "bytes\nin C", 10, on_reply,
                    &checks[2]);
  lt_client_request(client, "GET", "127.0.0.1", port, "/missing", NULL, NULL, 0, on_reply,
                    &checks[3]);
  lt_client_request(client, "DELETE", "127.0.0.1", port, "/echo", NULL, NULL, 0, on_reply,
                    &checks[4]);

  /* Run until every answer arrived, then close everything. */
  size_t n = sizeof checks / sizeof checks[0];
  for (size_t done = 0; done < n;) {
    lt_loop_run_once(loop);
    done = 0;
    for (size_t i = 0; i < n; i++)
      done += (size_t)checks[i].done;
  }
  lt_client_free(client);
  lt_test_server_close(server);
  lt_loop_run(loop);
  lt_app_free(app);
  int leaked = lt_loop_free(loop);
  int failed = 0;
  for (size_t i = 0; i < n; i++)
    failed += !checks[i].ok;
  printf("c_only: %zu passed, %d failed\n", n - (size_t)failed, failed);
  return failed || leaked ? 1 : 0;
}
