/* The route table, shared by Lua and C handlers: paths with `{name}` and
 * `{name:regex}` segments, methods (or "*" for any), and the 404/405 answer
 * when nothing matches. */
#ifndef LT_ROUTER_H
#define LT_ROUTER_H

#include <regex.h>
#include "request.h"

typedef struct lt_route {
  char *method; /* upper case, or "*" */
  char *path;   /* the pattern as given */
  char *prefix; /* literal text before the first `{`, requoted as aiohttp does
                 * (the whole path of a plain route) */
  size_t prefix_len;
  int dynamic;
  regex_t re;
  int nparams;
  char *params[LT_MAX_MATCH];
  int groups[LT_MAX_MATCH]; /* regex group of each param */
  lt_handler_fn fn;         /* a C handler, or NULL */
  void *ud;                 /* fn's argument, or the binding's handler token */
} lt_route;

typedef struct lt_router {
  lt_route **routes;
  int n, cap;
} lt_router;

typedef struct lt_match {
  lt_route *route; /* NULL when nothing matched */
  int status;      /* 200, 404 or 405 */
  char allow[160]; /* for 405: the allowed methods, comma separated */
} lt_match;

lt_router *lt_router_new(void);
void lt_router_free(lt_router *r);
/* Adds a route. Returns 0, or LT_EPARSE with a message in err (size errlen)
 * for a malformed pattern. */
int lt_router_add(lt_router *r, const char *method, const char *path, lt_handler_fn fn, void *ud,
                  lt_route **out, char *err, size_t errlen);
/* Writes the POSIX extended regex a route path compiles to (anchored, its
 * `{name:regex}` parts translated from Python's `re`). Returns 0, or
 * LT_EPARSE with a message in err naming the path and the construct. */
int lt_router_translate(const char *path, lt_buf *out, char *err, size_t errlen);
/* Matches the request's method and raw path (as aiohttp does: a parameter
 * may hold "%2F"), the parameters decoded; on success the route's
 * parameters are added to req's match info. */
int lt_router_match(lt_router *r, lt_request *req, lt_match *m);
/* Matches a method and a raw path (percent-encoded, no query) as
 * lt_router_match would, without a
 * request and without collecting parameters (asking whether another path
 * would resolve). Returns 0. */
int lt_router_resolve(lt_router *r, const char *method, const char *path, lt_match *m);

#endif
