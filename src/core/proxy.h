/* The fault proxy: a TCP listener whose every connection is forwarded to a
 * target, with Toxiproxy's toxics applied to the bytes of each direction
 * (upstream: client to target; downstream: target to client). */
#ifndef LT_PROXY_H
#define LT_PROXY_H

#include "loop.h"

enum {
  LT_TOXIC_LATENCY = 1 << 0,
  LT_TOXIC_BANDWIDTH = 1 << 1,
  LT_TOXIC_SLICER = 1 << 2,
  LT_TOXIC_LIMIT_DATA = 1 << 3,
  LT_TOXIC_TIMEOUT = 1 << 4,
  LT_TOXIC_RESET_PEER = 1 << 5,
  LT_TOXIC_SLOW_CLOSE = 1 << 6,
};

/* The toxics of one direction: `has` says which apply. */
typedef struct lt_toxic_set {
  unsigned has;
  uint64_t latency_ms, jitter_ms; /* each chunk is held latency +- jitter */
  uint64_t kbps;                  /* kilobits per second */
  uint64_t slice_bytes, slice_delay_ms;
  uint64_t limit_bytes;    /* then the connection closes */
  uint64_t timeout_ms;     /* nothing passes; closes after it (0: never) */
  uint64_t reset_after_ms; /* both ends are reset (RST) after it */
  uint64_t slow_close_ms;  /* the end of the stream is passed on this late */
} lt_toxic_set;

typedef struct lt_toxics {
  lt_toxic_set upstream, downstream;
} lt_toxics;

typedef struct lt_proxy lt_proxy;
typedef struct lt_proxy_conn lt_proxy_conn;
typedef void (*lt_proxy_closed_cb)(lt_proxy *p, void *ud);

struct lt_proxy {
  lt_loop *loop;
  uv_tcp_t listener;
  int listening;
  int port;
  struct sockaddr_storage target;
  lt_toxics toxics;
  lt_proxy_conn *conns;
  int open_handles;
  int closing;
  lt_proxy_closed_cb on_closed;
  void *closed_ud;
  lt_task closed_task;
  uint64_t connections; /* accepted so far */
  size_t max_queued;    /* the most one direction held at once */
};

/* A proxy to target_host:target_port (an IP address), with no toxics.
 * NULL when out of memory, or when the host is not an address (*err says
 * which). */
lt_proxy *lt_proxy_new(lt_loop *loop, const char *target_host, int target_port, int *err);
/* Binds and listens; port 0 lets the OS choose (read it back from ->port). */
int lt_proxy_listen(lt_proxy *p, const char *host, int port);
/* Replaces every toxic, for new connections and open ones: the timeout and
 * reset_peer toxics count their time from this call on open connections. */
void lt_proxy_set(lt_proxy *p, const lt_toxics *toxics);
/* Closes the listener and every connection; cb runs from the loop once all
 * of it closed, and the proxy is freed after it returns. */
void lt_proxy_close(lt_proxy *p, lt_proxy_closed_cb cb, void *ud);

#endif
