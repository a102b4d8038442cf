/* A C handler module that streams a large body with backpressure, for the
 * specs: GET /stream/{mib} sends that many MiB in 64 KiB pieces, writing
 * only while the client keeps up (lt_response_write_blocked), going on from
 * lt_response_on_drain, and counting what it wrote in `written`. */
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include "luatest.h"

typedef struct job {
  size_t left;
} job;

static char piece[64 * 1024];
static lua_Integer written;

static void go_on(lt_response *resp, void *ud) {
  job *j = ud;
  while (j->left && !lt_response_write_blocked(resp)) {
    if (lt_response_write(resp, piece, sizeof piece)) {
      j->left = 0; /* the client went away */
      break;
    }
    written += (lua_Integer)sizeof piece;
    j->left -= sizeof piece;
  }
  if (j->left && lt_response_on_drain(resp, go_on, j) == 0)
    return;
  free(j);
  lt_response_end(resp);
}

static int stream(lt_request *req, lt_response *resp, void *ud) {
  (void)ud;
  job *j = malloc(sizeof *j);
  if (!j)
    return -1;
  j->left = (size_t)atoi(lt_request_match(req, "mib")) * 1024 * 1024;
  memset(piece, 's', sizeof piece);
  lt_response_header(resp, "Content-Type", "application/octet-stream");
  int r = lt_response_stream(resp);
  if (r) {
    free(j);
    return r;
  }
  go_on(resp, j);
  return 0;
}

static int l_written(lua_State *L) {
  lua_pushinteger(L, written);
  return 1;
}

int luaopen_streaming(lua_State *L) {
  lua_newtable(L);
  lt_push_handler(L, stream, NULL);
  lua_setfield(L, -2, "stream");
  lua_pushcfunction(L, l_written);
  lua_setfield(L, -2, "written");
  return 1;
}
