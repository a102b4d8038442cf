/* Apps and test servers for C-only programs: a route table of C handlers
 * served by the core server with no Lua state, and a thin client API over
 * the core client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "router.h"
#include "server.h"
#include "tls.h"

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

static void on_server_closed(lt_server *srv, void *ud) {
  (void)ud;
  lt_tls_ctx_free(srv->owned_tls);
  free(srv->certificate);
}

static int start(lt_loop *loop, lt_app *app, int port, lt_tls_ctx *tls, const char *cert,
                 lt_server **out) {
  lt_server_opts opts;
  lt_server_default_opts(&opts);
  opts.tls = tls;
  lt_server *srv = lt_server_new(loop, &opts, app_dispatch, app);
  char *copy = cert ? strdup(cert) : NULL;
  if (!srv || (cert && !copy)) {
    free(copy);
    lt_tls_ctx_free(tls);
    if (srv)
      lt_server_close(srv, NULL, NULL);
    return LT_ENOMEM;
  }
  srv->owned_tls = tls;
  srv->certificate = copy;
  int r = lt_server_listen(srv, "127.0.0.1", port);
  if (r) {
    lt_server_close(srv, on_server_closed, NULL);
    return r;
  }
  *out = srv;
  return 0;
}

int lt_test_server_start(lt_loop *loop, lt_app *app, int port, lt_server **out) {
  return start(loop, app, port, NULL, NULL, out);
}

int lt_tls_test_certificate(const char **cert_pem, const char **key_pem) {
  return lt_tls_test_cert(cert_pem, key_pem);
}

int lt_test_server_start_tls(lt_loop *loop, lt_app *app, int port, const lt_tls_opts *tls,
                             lt_server **out) {
  const char *cert = tls ? tls->cert_pem : NULL, *key = tls ? tls->key_pem : NULL;
  if (!cert != !key)
    return LT_ESTATE; /* a certificate needs its key */
  if (!cert) {
    int r = lt_tls_test_cert(&cert, &key);
    if (r)
      return r;
  }
  char err[160];
  lt_tls_ctx *ctx = lt_tls_server_ctx(cert, key, err, sizeof err);
  if (!ctx)
    return LT_ETLS;
  return start(loop, app, port, ctx, cert, out);
}

int lt_server_port(const lt_server *srv) {
  return srv->port;
}

const char *lt_server_certificate(const lt_server *srv) {
  return srv->certificate;
}

void lt_test_server_close(lt_server *srv) {
  lt_server_close(srv, on_server_closed, NULL);
}

/* ---- the client ------------------------------------------------------------------ */

typedef struct fetch {
  lt_reply_cb cb;
  void *ud;
} fetch;

static void on_reply(lt_creq *cr, int status, void *ud) {
  fetch *f = ud;
  if (status == LT_ETLS)
    snprintf(cr->cl->tls_error, sizeof cr->cl->tls_error, "%s", cr->tls_error);
  f->cb(status, status ? NULL : (const lt_reply *)cr, f->ud);
  free(f);
  lt_creq_free(cr);
}

static int request(lt_client *cl, lt_tls_ctx *tls, const char *method, const char *host, int port,
                   const char *target, const char *const *headers, const void *body, size_t len,
                   lt_reply_cb cb, void *ud) {
  lt_creq *cr = lt_creq_new(cl, method, host, port, target);
  fetch *f = malloc(sizeof *f);
  if (!cr || !f) {
    lt_creq_free(cr);
    free(f);
    return LT_ENOMEM;
  }
  lt_creq_tls(cr, tls);
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

int lt_client_request(lt_client *cl, const char *method, const char *host, int port,
                      const char *target, const char *const *headers, const void *body, size_t len,
                      lt_reply_cb cb, void *ud) {
  return request(cl, NULL, method, host, port, target, headers, body, len, cb, ud);
}

int lt_client_request_tls(lt_client *cl, const lt_tls_opts *tls, const char *method,
                          const char *host, int port, const char *target,
                          const char *const *headers, const void *body, size_t len, lt_reply_cb cb,
                          void *ud) {
  lt_tls_ctx *ctx = lt_client_tls_ctx(cl, tls ? tls->ca_pem : NULL, !(tls && tls->no_verify),
                                      cl->tls_error, sizeof cl->tls_error);
  if (!ctx)
    return LT_ETLS;
  return request(cl, ctx, method, host, port, target, headers, body, len, cb, ud);
}

const char *lt_client_tls_error(const lt_client *cl) {
  return cl->tls_error;
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
