/* A C handler module with a bug, for the spec of what a crash leaves: GET
 * /crash/{kind} dies of SIGSEGV (a NULL read) or SIGABRT. */
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include "luatest.h"

static int crash(lt_request *req, lt_response *resp, void *ud) {
  (void)resp;
  (void)ud;
  const char *kind = lt_request_match(req, "kind");
  if (kind && !strcmp(kind, "abort"))
    abort();
  /* A header the request does not have: NULL, known only at run time. */
  const volatile char *missing = lt_request_header(req, "X-Not-Sent");
  return missing[0];
}

int luaopen_crashing(lua_State *L) {
  lt_push_handler(L, crash, NULL);
  return 1;
}
