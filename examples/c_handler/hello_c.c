/* C request handlers for Lua routes: `require "hello_c"` returns handlers
 * that router:add_get accepts like Lua functions. Built by `make` into
 * build/modules/hello_c.so, linked with libluatest.so (`pkg-config --libs
 * luatest` outside the tree), so it loads in the luatest binary, a stock
 * interpreter that required luatest.core, and an embedding host. */
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

/* A WebSocket echo in C: text comes back prefixed, binary as it is. The
 * WebSocket belongs to the library, which frees it after the callback that
 * sees it closed. */
static void ws_echo_event(lt_ws *ws, void *ud) {
  (void)ud;
  lt_ws_msg *m;
  while ((m = lt_ws_pop(ws))) {
    if (m->type == LT_WS_TEXT && !strcmp(m->data, "close please")) {
      lt_ws_close(ws, 4002, "C says bye");
    } else if (m->type == LT_WS_TEXT) {
      char *reply = malloc(m->len + 6);
      if (reply) {
        memcpy(reply, "C got ", 6);
        memcpy(reply + 6, m->data, m->len);
        lt_ws_send(ws, LT_WS_TEXT, reply, m->len + 6);
        free(reply);
      }
    } else if (m->type == LT_WS_BINARY) {
      lt_ws_send(ws, LT_WS_BINARY, m->data, m->len);
    }
    lt_ws_msg_free(m);
  }
}

static int ws_echo(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  /* Confirm "echo" when the client offers it. */
  const char *offered = lt_request_header(req, "Sec-WebSocket-Protocol");
  const char *protocol = offered && strstr(offered, "echo") ? "echo" : NULL;
  lt_ws *ws;
  int r = lt_response_websocket(resp, protocol, ws_echo_event, NULL, &ws);
  if (r == LT_EPARSE)
    return 0; /* not an upgrade: the 400 it set goes out */
  if (r)
    return r;
  return lt_ws_send(ws, LT_WS_TEXT, "hello from C", 12);
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
  lt_push_handler(L, ws_echo, NULL);
  lua_setfield(L, -2, "ws_echo");
  return 1;
}
