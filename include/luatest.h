/* luatest: a scriptable HTTP/WebSocket test environment on libuv.
 *
 * This is the only public C header. It covers three uses:
 *  - C request handlers, routed from Lua like Lua functions (lt_push_handler),
 *    which may also accept WebSockets;
 *  - embedding the Lua modules in a host's own lua_State (lt_openlibs,
 *    lt_run, lt_poll). A host with its own loop drives luatest one of three
 *    ways: lt_poll once a frame; lt_poll when lt_backend_fd is readable or
 *    lt_backend_timeout has passed (a host sleeping in its own poller); or
 *    lt_loop_new_on its own uv_loop_t, which its uv_run then drives (Lua:
 *    core.use_uv_loop). README.md, "Embedding", has a runnable example of
 *    each;
 *  - the loop and error helpers every C user needs.
 *
 * Conventions: functions returning int return 0 or a negative error code;
 * libuv's UV_E* codes pass through unchanged and luatest's own LT_E* codes
 * live in their own range. lt_strerror() describes either.
 *
 * Building: `pkg-config --cflags --libs luatest` links libluatest.so.0. A C
 * handler module built so shares the one copy of luatest's state wherever
 * it loads: a stock interpreter's luatest.core is that library, the luatest
 * binary and hosts built on libluatest.a export these names. */
#ifndef LUATEST_H
#define LUATEST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What this header declares is the library's interface; the build hides
 * everything else (-fvisibility=hidden). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define LT_VERSION "0.1.0"

typedef struct lua_State lua_State;

/* Errors of luatest's own, below libuv's range. */
#define LT_EPARSE (-30001)    /* malformed HTTP message */
#define LT_ETOOLARGE (-30002) /* a configured size limit was exceeded */
#define LT_EHEADER (-30003)   /* a header name or value that cannot be sent */
#define LT_ECLOSED (-30004)   /* the object was already closed */
#define LT_EBUSY (-30005)     /* something is still open or in progress */
#define LT_ENOMEM (-30006)    /* out of memory */
#define LT_ESTATE (-30007)    /* call not valid in the object's current state */
#define LT_EENCODING (-30008) /* a body not of the content coding it claims */
#define LT_ETLS (-30009)      /* OpenSSL failed (key, certificate or handshake) */

/* A human-readable description of an error code (never NULL). */
const char *lt_strerror(int err);
/* The symbolic name of an error code ("ECONNREFUSED", "EPARSE", ...). */
const char *lt_errname(int err);

/* ---- The loop ---------------------------------------------------------- */

typedef struct lt_loop lt_loop;
struct uv_loop_s;

/* A new loop owning its own uv_loop_t; NULL when out of memory. */
lt_loop *lt_loop_new(void);
/* A loop on a libuv loop the host owns and runs (Neovim's, a luv host's):
 * luatest's handles live on it, and lt_loop_free closes only those. */
lt_loop *lt_loop_new_on(struct uv_loop_s *uv);
/* For a host that sleeps in its own poller: a descriptor that becomes
 * readable when luatest has I/O to handle, and how long (ms, -1: no limit)
 * the host may sleep before it must call lt_poll anyway (0 while work is
 * queued). */
int lt_backend_fd(lt_loop *loop);
int lt_backend_timeout(lt_loop *loop);
/* Closes whatever is still open and frees the loop. Returns LT_EBUSY when
 * handles had been left open by their owners (they were closed here). */
int lt_loop_free(lt_loop *loop);
/* Runs until nothing is left to do. */
int lt_loop_run(lt_loop *loop);
/* One turn: waits for at least one event unless work is already queued.
 * Returns nonzero while anything is pending. */
int lt_loop_run_once(lt_loop *loop);
/* Nonzero while handles or deferred work are pending. */
int lt_loop_alive(lt_loop *loop);
/* Loop time in seconds (monotonic, updated once per turn). */
double lt_loop_time(lt_loop *loop);
/* The underlying libuv loop, for hosts that add handles of their own. */
struct uv_loop_s *lt_loop_uv(lt_loop *loop);

/* ---- C request handlers -------------------------------------------------- */

typedef struct lt_request lt_request;
typedef struct lt_response lt_response;

/* A request handler. It reads the request, fills `resp`, and returns 0; any
 * other return value answers 500. The request and response are valid only
 * during the call. */
typedef int (*lt_handler_fn)(lt_request *req, lt_response *resp, void *ud);

/* Request accessors. Strings are NUL-terminated and owned by the request. */
const char *lt_request_method(const lt_request *req);       /* "GET" */
const char *lt_request_path(const lt_request *req);         /* decoded, no query */
const char *lt_request_raw_path(const lt_request *req);     /* as sent, with query */
const char *lt_request_query_string(const lt_request *req); /* "" if none */
/* First value of query parameter `name`, decoded; NULL when absent. */
const char *lt_request_query(lt_request *req, const char *name);
/* First value of header `name` (any case); NULL when absent. */
const char *lt_request_header(const lt_request *req, const char *name);
/* Header `i` (0-based) in the order received; returns 0 when i is past the
 * end. */
int lt_request_header_at(const lt_request *req, int i, const char **name, const char **value);
/* Value of a `{name}` path segment of the matched route; NULL when absent. */
const char *lt_request_match(const lt_request *req, const char *name);
/* The body (may contain NULs); *len receives its length. Never NULL. */
const char *lt_request_body(const lt_request *req, size_t *len);
/* Whether the body reached the size limit, by aiohttp's rule for
 * client_max_size: a body of the limit or more is too large. A C handler
 * sees such a body only on a server that checks the limit when the body is
 * read (lt_server_opts.lazy_body_limit in the core's server.h), and as
 * soon as the limit is reached: the body then holds its first limit bytes,
 * *actual (when not NULL) receives how many had come by then (0 when not
 * too large), and the rest is dropped after the answer. Elsewhere the
 * server answers 413 before any handler runs, and this returns 0. */
int lt_request_body_too_large(const lt_request *req, uint64_t *actual);

/* Response setters. Status defaults to 200, the body to empty. */
void lt_response_status(lt_response *resp, int status);
/* Adds a header. Returns LT_EHEADER (and adds nothing) when the name or
 * value contains CR, LF or NUL, or the name is empty or not a token. */
int lt_response_header(lt_response *resp, const char *name, const char *value);
/* Sets the body (copied). Content-Length is added when the response is
 * sent; Content-Type defaults to application/octet-stream. */
int lt_response_body(lt_response *resp, const void *data, size_t len);

/* ---- C-only use: apps, test servers and clients with no Lua ------------------ */

typedef struct lt_app lt_app;
typedef struct lt_server lt_server;
typedef struct lt_client lt_client;
typedef struct lt_reply lt_reply;

/* A route table of C handlers. Free it only after the servers using it
 * have closed. */
lt_app *lt_app_new(void);
void lt_app_free(lt_app *app);
/* Routes method ("GET", ..., or "*") and path (with `{name}` and
 * `{name:regex}` segments) to fn. LT_EPARSE for a malformed path. Requests
 * that match no route get 404, or 405 with an Allow header. */
int lt_app_route(lt_app *app, const char *method, const char *path, lt_handler_fn fn, void *ud);

/* Serves app on 127.0.0.1:port (0: the OS picks; read it back with
 * lt_server_port). The server lives on `loop`; handlers run when the loop
 * runs. */
int lt_test_server_start(lt_loop *loop, lt_app *app, int port, lt_server **out);
int lt_server_port(const lt_server *srv);
/* Closes the listener and the connections; the server is freed once the
 * loop has completed the close (run the loop). */
void lt_test_server_close(lt_server *srv);

/* A client with keep-alive connection pooling, on `loop`. */
lt_client *lt_client_new(lt_loop *loop);
/* Closes the client's connections; requests in flight fail. The client is
 * freed once the loop has completed the close. */
void lt_client_free(lt_client *cl);

/* Called once per request: status 0 with the reply, or a negative error
 * code with reply NULL. The reply is valid only during the call. */
typedef void (*lt_reply_cb)(int status, const lt_reply *reply, void *ud);

/* Sends `method target` to host:port; host is an IPv4 or IPv6 address or
 * a name, looked up (getaddrinfo) and its addresses tried in turn; headers
 * is NULL or a NULL-terminated list of name, value strings; body may be
 * NULL. Returns 0 (cb fires later, from the loop) or a negative error code
 * (cb never fires); a name that does not resolve is a libuv UV_EAI_* code
 * in cb. */
int lt_client_request(lt_client *cl, const char *method, const char *host, int port,
                      const char *target, const char *const *headers, const void *body, size_t len,
                      lt_reply_cb cb, void *ud);
int lt_reply_status(const lt_reply *reply);
/* First value of a response header (any case), or NULL. */
const char *lt_reply_header(const lt_reply *reply, const char *name);
/* The response body (may contain NULs); never NULL. */
const char *lt_reply_body(const lt_reply *reply, size_t *len);

/* TLS (https) for C-only test servers and clients. For a server, cert_pem
 * and key_pem are its certificate and key (PEM); both NULL gives the test
 * certificate, an EC P-256 key and a self-signed certificate for
 * 127.0.0.1, ::1 and localhost made once per process. For a client, ca_pem
 * holds the CAs it trusts (PEM; NULL: the system's), and no_verify accepts
 * any certificate for any name; otherwise the certificate must be valid
 * for the host requested. */
typedef struct lt_tls_opts {
  const char *cert_pem;
  const char *key_pem;
  const char *ca_pem;
  int no_verify;
} lt_tls_opts;

/* The test certificate and key (PEM, owned by the library until exit). */
int lt_tls_test_certificate(const char **cert_pem, const char **key_pem);
/* lt_test_server_start serving https. LT_ETLS for a bad certificate or
 * key. */
int lt_test_server_start_tls(lt_loop *loop, lt_app *app, int port, const lt_tls_opts *tls,
                             lt_server **out);
/* The certificate (PEM) of an https test server, to trust in its clients;
 * NULL for a plain one. */
const char *lt_server_certificate(const lt_server *srv);
/* lt_client_request over https with the trust in tls. The callback gets
 * LT_ETLS when the TLS session fails (an untrusted certificate, or one for
 * another name); lt_client_tls_error says why. */
int lt_client_request_tls(lt_client *cl, const lt_tls_opts *tls, const char *method,
                          const char *host, int port, const char *target,
                          const char *const *headers, const void *body, size_t len, lt_reply_cb cb,
                          void *ud);
/* Why the client's last TLS session failed ("" when none did). */
const char *lt_client_tls_error(const lt_client *cl);

/* Streaming from a C handler: lt_response_stream sends the status and the
 * headers set so far at once; each lt_response_write then sends a piece of
 * the body (chunked unless a Content-Length header was set), and the answer
 * ends when the handler returns. Both return 0 or a negative error code
 * (LT_ECLOSED when the client went away). */
int lt_response_stream(lt_response *resp);
int lt_response_write(lt_response *resp, const void *data, size_t len);
/* Backpressure for a streamed answer. lt_response_write_blocked is nonzero
 * while the client has more than 64 KiB of output still to take: a handler
 * with more to send then registers cb with lt_response_on_drain and
 * returns; the answer stays open after the handler returns, and cb(resp,
 * ud) fires once, from the loop, when the queue is down to 16 KiB, or when
 * the connection closed (then lt_response_write returns LT_ECLOSED). cb may
 * write more and register again, and must end the answer some time with
 * lt_response_end (which also releases it after the client left). */
typedef void (*lt_drain_cb)(lt_response *resp, void *ud);
int lt_response_write_blocked(const lt_response *resp);
int lt_response_on_drain(lt_response *resp, lt_drain_cb cb, void *ud);
int lt_response_end(lt_response *resp);

/* ---- WebSockets in C handlers ---------------------------------------------- */

typedef struct lt_ws lt_ws;

/* Message types: the frame opcodes, plus LT_WS_ERROR for a peer that broke
 * the protocol (data is the reason, code the close code sent). */
enum { LT_WS_TEXT = 1, LT_WS_BINARY = 2, LT_WS_CLOSE = 8, LT_WS_PING = 9, LT_WS_PONG = 10 };
enum { LT_WS_ERROR = 256 };
/* lt_ws_state values. */
enum { LT_WS_CONNECTING, LT_WS_OPEN, LT_WS_CLOSING, LT_WS_CLOSED };

typedef struct lt_ws_msg {
  struct lt_ws_msg *next;
  int type;
  int code;   /* LT_WS_CLOSE and LT_WS_ERROR: the close code */
  size_t len; /* of data (a close message: of the reason) */
  char *data; /* NUL-terminated; may contain NULs */
} lt_ws_msg;

/* Messages arrived or the state changed. Called from the loop, never
 * inside a handler or libwebsockets; pop the messages with lt_ws_pop. */
typedef void (*lt_ws_event_cb)(lt_ws *ws, void *ud);

/* Accepts the request as a WebSocket, from inside a C handler, which then
 * returns 0 (its response is not sent). `protocol` is the subprotocol to
 * confirm (one the client offered in Sec-WebSocket-Protocol) or NULL. The
 * client's frames are checked as RFC 6455 asks: a violation arrives as an
 * LT_WS_ERROR message, and popping it sends the close frame. The peer's
 * close arrives as an LT_WS_CLOSE message; popping it answers it. The
 * WebSocket belongs to the library: it is freed after the callback that
 * sees lt_ws_state() == LT_WS_CLOSED returns (or with the loop), so do not
 * keep the pointer past that call.
 * Returns 0 and *out, or: LT_EPARSE for a request that is not a WebSocket
 * upgrade (the response is set to 400 or 426, as aiohttp answers);
 * LT_ESTATE when the request was answered already. The 101 goes out after
 * any earlier pipelined answers on the connection. */
int lt_response_websocket(lt_response *resp, const char *protocol, lt_ws_event_cb cb, void *ud,
                          lt_ws **out);
int lt_ws_state(const lt_ws *ws);
/* The next message, which the caller frees with lt_ws_msg_free; NULL when
 * none is waiting. */
lt_ws_msg *lt_ws_pop(lt_ws *ws);
void lt_ws_msg_free(lt_ws_msg *m);
/* Sends a text, binary, ping or pong frame. LT_ECLOSED once closing. */
int lt_ws_send(lt_ws *ws, int type, const void *data, size_t len);
/* Starts the closing handshake with code and reason (at most 123 bytes). */
int lt_ws_close(lt_ws *ws, int code, const char *reason);
/* The close code received or sent, 1006 for a dropped connection; 0
 * while open. */
int lt_ws_close_code(const lt_ws *ws);
/* Lets go of a WebSocket early: an open connection is dropped (the peer
 * sees 1006) and the callback never fires again. */
void lt_ws_release(lt_ws *ws);

/* ---- Lua ----------------------------------------------------------------- */

/* Pushes a value that `router:add_get(path, value)` and the other route
 * methods accept like a Lua function; `ud` is passed to every call. The
 * handler runs on the loop thread, synchronously, for each request. */
void lt_push_handler(lua_State *L, lt_handler_fn fn, void *ud);

/* Makes `luatest`, `luatest.web`, `luatest.test_utils` and `luatest.core`
 * requirable in L (through package.preload; the Lua sources are compiled
 * into the library). Returns 0. */
int lt_openlibs(lua_State *L);
/* The `luatest` command line as a function; returns the exit status. */
int lt_run(lua_State *L, int argc, char **argv);
/* One non-blocking turn of L's loop, for a host's frame loop: runs ready
 * work and returns at once. Returns nonzero while work is pending. */
int lt_poll(lua_State *L);
/* The loop luatest runs on in L (NULL before luatest.core was loaded). */
lt_loop *lt_loop_of(lua_State *L);

/* Tests busy in Lua without ever waiting: while a test runs, luatest calls
 * the guard with its limit in seconds (0 when it ends); the guard arranges
 * for lt_interrupt_busy to be called when the limit passes (from a signal
 * handler if need be: it only sets a hook), which ends the running Lua code
 * with a timeout error. The luatest binary's guard is a real-time alarm;
 * the library itself installs no signal handler or timer. */
typedef void (*lt_busy_guard_fn)(double seconds);
void lt_set_busy_guard(lt_busy_guard_fn fn);
void lt_interrupt_busy(void);

/* The Lua C module for a stock interpreter: `require "luatest.core"`. */
int luaopen_luatest_core(lua_State *L);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif
