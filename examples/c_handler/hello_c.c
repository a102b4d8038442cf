/* C request handlers for Lua routes: `require "hello_c"` returns handlers
 * that router:add_get accepts like Lua functions. Built by `make` into
 * build/modules/hello_c.so; the luatest binary provides the lt_* symbols. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include "luatest.h"

/* GET /hello/{name}?greeting=Hi -> "Hi, name" */
static int hello(lt_request *req, lt_response *resp, void *ud) {
  const char *suffix = ud;
  const char *name = lt_request_match(req, "name");
  const char *greeting = lt_request_query(req, "greeting");
  char text[256];
  int n = snprintf(text, sizeof text, "%s, %s%s", greeting ? greeting : "Hello",
                   name ? name : "world", suffix);
  lt_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
  lt_response_header(resp, "X-Handler", "c");
  return lt_response_body(resp, text, (size_t)n);
}

/* The benchmarks' hello handler: the same answer as the Lua one. */
static int hello_world(lt_request *req, lt_response *resp, void *ud) {
  (void)req, (void)ud;
  lt_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
  return lt_response_body(resp, "Hello, world", 12);
}

/* Echoes the method, a header and the body back, to show what a C handler
 * can read. */
static int echo(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  size_t len;
  const char *body = lt_request_body(req, &len);
  const char *agent = lt_request_header(req, "user-agent");
  char head[512];
  int n = snprintf(head, sizeof head, "%s %s ua=%s len=%zu\n", lt_request_method(req),
                   lt_request_path(req), agent ? agent : "-", len);
  lt_response_status(resp, 201);
  lt_response_header(resp, "Content-Type", "text/plain");
  char *out = malloc((size_t)n + len);
  if (!out)
    return -1;
  memcpy(out, head, (size_t)n);
  memcpy(out + n, body, len);
  int r = lt_response_body(resp, out, (size_t)n + len);
  free(out);
  return r;
}

/* Streams its body in pieces: chunked on the wire, one body for the
 * client. */
static int countdown(lt_request *req, lt_response *resp, void *ud) {
  (void)req, (void)ud;
  lt_response_header(resp, "Content-Type", "text/plain");
  int r = lt_response_stream(resp);
  for (int i = 3; i > 0 && !r; i--) {
    char piece[8];
    int n = snprintf(piece, sizeof piece, "%d...", i);
    r = lt_response_write(resp, piece, (size_t)n);
  }
  return r ? r : lt_response_write(resp, "go", 2);
}

/* A handler that fails: the client gets a 500. */
static int broken(lt_request *req, lt_response *resp, void *ud) {
  (void)req, (void)resp, (void)ud;
  return -1;
}

int luaopen_hello_c(lua_State *L) {
  lua_newtable(L);
  lt_push_handler(L, hello, "");
  lua_setfield(L, -2, "hello");
  lt_push_handler(L, hello, "!");
  lua_setfield(L, -2, "hello_loud");
  lt_push_handler(L, hello_world, NULL);
  lua_setfield(L, -2, "hello_world");
  lt_push_handler(L, echo, NULL);
  lua_setfield(L, -2, "echo");
  lt_push_handler(L, countdown, NULL);
  lua_setfield(L, -2, "countdown");
  lt_push_handler(L, broken, NULL);
  lua_setfield(L, -2, "broken");
  return 1;
}
