/* Raw TCP tools for tests that must go below HTTP: an exchange that sends
 * bytes as given and collects every byte the peer sends until it closes (or
 * a timeout), and a responder that answers each connection with fixed bytes
 * once it has read a request head. */
#ifndef LT_PROBE_H
#define LT_PROBE_H

#include "loop.h"
#include "buf.h"

typedef struct lt_exchange lt_exchange;
/* status: 0 when the peer closed, UV_ETIMEDOUT, or another error. The
 * received bytes stay in ex->received until lt_exchange_free. */
typedef void (*lt_exchange_cb)(lt_exchange *ex, int status, void *ud);

struct lt_exchange {
  lt_loop *loop;
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t timer;
  lt_buf out;
  lt_buf received;
  int status;
  int pending; /* handles still open */
  int finished;
  int half_close;
  uv_shutdown_t shutdown;
  lt_exchange_cb cb;
  void *ud;
  lt_task done_task;
  int freed;
};

/* Connects to host:port, writes data (then shuts down the write side when
 * half_close), and reads until EOF or timeout seconds. */
int lt_exchange_start(lt_loop *loop, lt_exchange **out, const char *host, int port,
                      const void *data, size_t len, double timeout, int half_close,
                      lt_exchange_cb cb, void *ud);
/* Frees after completion, or aborts one in progress (cb never fires). */
void lt_exchange_free(lt_exchange *ex);

typedef struct lt_responder lt_responder;
int lt_responder_start(lt_loop *loop, lt_responder **out, const char *host, const void *data,
                       size_t len, int close_after);
int lt_responder_port(const lt_responder *r);
/* Requests received so far (each the bytes read before answering). */
int lt_responder_count(const lt_responder *r);
void lt_responder_close(lt_responder *r);

#endif
