/* Apps and test servers for C-only programs: a route table of C handlers
 * served by the core server with no Lua state, and a thin client API over
 * the core client. */
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "router.h"
#include "server.h"

struct lt_app {
  lt_router *router;
};

lt_app *lt_app_new(void) {
  lt_app *app = calloc(1, sizeof *app);
  if (app && !(app->router = lt_router_new())) {
    free(app);
    return NULL;
  }
  return app;
}

void lt_app_free(lt_app *app) {
  if (!app)
    return;
  lt_router_free(app->router);
  free(app);
}

int lt_app_route(lt_app *app, const char *method, const char *path, lt_handler_fn fn, void *ud) {
  char err[128];
  if (!fn)
    return LT_ESTATE;
  return lt_router_add(app->router, method, path, fn, ud, NULL, err, sizeof err);
}

static void app_dispatch(lt_server *srv, lt_request *req, void *ud) {
  lt_app *app = ud;
  (void)srv;
  lt_match m;
  if (lt_router_match(app->router, req, &m)) {
    lt_response_internal_error(&req->resp);
  } else if (m.status == 404) {
    lt_response_error(&req->resp, 404);
  } else if (m.status == 405) {
    lt_response_error(&req->resp, 405);
    lt_response_header(&req->resp, "Allow", m.allow);
  } else {
    lt_request_run_handler(req, m.route->fn, m.route->ud);
    return;
  }
  lt_request_respond(req);
}

int lt_test_server_start(lt_loop *loop, lt_app *app, int port, lt_server **out) {
  lt_server *srv = lt_server_new(loop, NULL, app_dispatch, app);
  if (!srv)
    return LT_ENOMEM;
  int r = lt_server_listen(srv, "127.0.0.1", port);
  if (r) {
    lt_server_close(srv, NULL, NULL);
    return r;
  }
  *out = srv;
  return 0;
}

int lt_server_port(const lt_server *srv) {
  return srv->port;
}

void lt_test_server_close(lt_server *srv) {
  lt_server_close(srv, NULL, NULL);
}

/* ---- the client ------------------------------------------------------------------ */

typedef struct fetch {
  lt_reply_cb cb;
  void *ud;
} fetch;

static void on_reply(lt_creq *cr, int status, void *ud) {
  fetch *f = ud;
  f->cb(status, status ? NULL : (const lt_reply *)cr, f->ud);
  free(f);
  lt_creq_free(cr);
}

int lt_client_request(lt_client *cl, const char *method, const char *host, int port,
                      const char *target, const char *const *headers, const void *body, size_t len,
                      lt_reply_cb cb, void *ud) {
  lt_creq *cr = lt_creq_new(cl, method, host, port, target);
  fetch *f = malloc(sizeof *f);
  if (!cr || !f) {
    lt_creq_free(cr);
    free(f);
    return LT_ENOMEM;
  }
  int r = 0;
  for (int i = 0; headers && headers[i] && headers[i + 1] && !r; i += 2)
    r = lt_creq_header(cr, headers[i], headers[i + 1]);
  if (!r)
    r = lt_creq_body(cr, body, len);
  f->cb = cb;
  f->ud = ud;
  if (!r)
    r = lt_creq_send(cr, on_reply, f);
  if (r) {
    lt_creq_free(cr);
    free(f);
  }
  return r;
}

void lt_client_free(lt_client *cl) {
  lt_client_close(cl, NULL, NULL);
}

int lt_reply_status(const lt_reply *reply) {
  return ((const lt_creq *)reply)->resp.status;
}

const char *lt_reply_header(const lt_reply *reply, const char *name) {
  return lt_msg_header(&((const lt_creq *)reply)->resp, name);
}

const char *lt_reply_body(const lt_reply *reply, size_t *len) {
  const lt_msg *m = &((const lt_creq *)reply)->resp;
  *len = m->body.len;
  return m->body.data ? m->body.data : "";
}
