/* Server-side requests and responses: a parsed message plus what the server
 * derives from it (decoded path, query pairs, route matches) and the response
 * a handler fills. Shared by real connections and mocked requests. */
#ifndef LT_REQUEST_H
#define LT_REQUEST_H

#include "http.h"
#include "loop.h"
#include "luatest.h"

#define LT_MAX_MATCH 16

typedef struct lt_server lt_server;
typedef struct lt_conn lt_conn;

struct lt_response {
  int status;
  lt_buf reason; /* empty: the standard phrase */
  lt_buf head;   /* "Name: value\r\n" lines set by the handler */
  lt_buf body;
  unsigned has_ctype : 1, has_clen : 1, has_conn : 1, has_date : 1, has_server : 1, has_te : 1;
  unsigned streaming : 1, chunked : 1; /* the body follows the head in pieces */
};

typedef struct lt_pair {
  uint32_t name, value, value_len;
} lt_pair;

struct lt_request {
  lt_msg msg;
  lt_buf extra; /* method, decoded path, query pairs and match values */
  uint32_t method, path, query_string;
  uint32_t origin;      /* where the origin-form (path and query) starts in the target */
  uint32_t target_host; /* an absolute-form target's host, in extra; 0: none */
  lt_pair match[LT_MAX_MATCH];
  int nmatch;
  lt_pair *query;
  int nquery, query_cap, query_parsed;
  lt_response resp;
  lt_server *server;
  lt_conn *conn; /* NULL once the connection is gone, or for mocked requests */
  int refs;
  int responded;
  int keep_alive;
  int head; /* HEAD: the body is counted but not sent */
  /* The limit its body is checked against when read, as aiohttp's
   * client_max_size (lt_request_body_too_large); 0: none, or the server
   * refused a larger body before any handler ran. */
  size_t max_body;
  char remote[48];  /* the peer's address, empty for mocked requests */
  char scheme[8];   /* "http" when empty; a clone may say otherwise */
  void *route;      /* the matched lt_route, if any */
  int match_status; /* 200, or 404/405 when no route matched */
  char *allow;      /* for 405: the allowed methods */
  lt_request *next; /* in the dispatcher's queue */
  /* Called once when the connection's queued output has drained below the
   * low-water mark, or the connection closed (see lt_request_on_drain). */
  void (*drain_cb)(lt_request *req, void *ud);
  void *drain_ud;
  lt_drain_cb c_drain; /* a C handler's (lt_response_on_drain) */
  lt_task drain_task;  /* fires the drain callback when nothing was queued */
  lt_loop *drain_loop;
};

lt_request *lt_request_new(void);
/* Frees the requests this thread keeps for reuse (when its loop goes). */
void lt_request_pool_free(void);
void lt_request_retain(lt_request *req);
void lt_request_release(lt_request *req);
/* Clears everything so the object can carry the next request. */
void lt_request_reset(lt_request *req);
/* Derives method, path and query string from the parsed message; LT_EPARSE
 * when the path has bad percent-coding. */
int lt_request_prepare(lt_request *req);
/* The same with the method given as a string (mocked requests may carry any
 * method, known to llhttp or not). */
int lt_request_prepare_as(lt_request *req, const char *method);
int lt_request_add_match(lt_request *req, const char *name, const char *value, size_t vlen);
/* Query pairs, parsed on first use. Returns the count, or LT_EPARSE. */
int lt_request_query_pairs(lt_request *req, const lt_pair **pairs);
const char *lt_request_str(const lt_request *req, uint32_t off);
/* The target's path and query as sent ("/a?b"), also for an absolute-form
 * target ("http://host/a?b"); "" when such a target has no path. */
const char *lt_request_origin(const lt_request *req);
/* The host named by an absolute-form target (no port), or NULL. */
const char *lt_request_target_host(const lt_request *req);

/* A header given as bytes (may hold NULs). */
typedef struct lt_field {
  const char *name, *value;
  size_t name_len, value_len;
} lt_field;

/* What a mocked request is made of (aiohttp's make_mocked_request). */
typedef struct lt_mock_spec {
  const char *method; /* any token, known to llhttp or not */
  const char *url;
  size_t url_len;
  const lt_field *headers;
  int nheaders;
  const char *body; /* NULL: no payload (and no Content-Length) */
  size_t body_len;
  const char *version; /* "1.1" (NULL) or "1.0" */
  int closing;         /* the request does not keep the connection */
  size_t max_body;     /* client_max_size; 0: none */
  const char *remote;  /* the peer's address (NULL: none) */
  const char *scheme;  /* NULL: "http" */
} lt_mock_spec;

/* A request with no connection, as the server would have handed it over:
 * keep-alive as the version and headers say, a Content-Length header
 * winning over the payload's length. 0 and *out (one reference, the
 * caller's), LT_EPARSE for bad percent-coding in the path, LT_ENOMEM. */
int lt_request_mock(const lt_mock_spec *spec, lt_request **out);

void lt_response_init(lt_response *resp);
void lt_response_reset(lt_response *resp);
void lt_response_free(lt_response *resp);
int lt_response_reason(lt_response *resp, const char *reason);
/* Appends the status line, headers and (unless HEAD) body to out. */
int lt_response_serialize(lt_response *resp, lt_request *req, const char *date, lt_buf *out);
/* A plain-text error answer such as "404: Not Found". */
int lt_response_text(lt_response *resp, int status, const char *text);
/* The one wording of error answers, aiohttp's: "404: Not Found" (the
 * status and its reason, or reason when given) for 404, 405 and HTTP
 * exceptions, and for a handler that failed "500 Internal Server Error",
 * a blank line, "Server got itself in trouble". */
extern const char lt_internal_error_text[];
int lt_error_text(int status, const char *reason, char *buf, size_t n);
int lt_response_error(lt_response *resp, int status);
int lt_response_internal_error(lt_response *resp);

#endif
