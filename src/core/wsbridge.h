/* The byte pump between a server WebSocket's TCP connection and
 * libwebsockets. libwebsockets gets one end of a socketpair instead of the
 * socket; the bridge owns the socket and the other end, checks every byte
 * the client sends (wsframe.h) before passing it on, and copies what
 * libwebsockets writes back to the client. On a protocol violation the
 * bridge itself sends the close frame with the right code and drops both
 * sides. */
#ifndef LT_WSBRIDGE_H
#define LT_WSBRIDGE_H

#include <stddef.h>
#include <uv.h>

typedef struct lt_wsbridge lt_wsbridge;

typedef struct lt_wsbridge_events {
  /* The bridge is closed and freed. */
  void (*gone)(void *ud);
  /* The client broke the protocol inside a frame whose start already went
   * on to libwebsockets, which would take a marker as more of that frame:
   * the violation (close code, 2 bytes, and reason) comes here instead. */
  void (*failed)(void *ud, const char *payload, size_t n);
  /* After lt_wsbridge_want_drain: what we sent is down to the low-water
   * mark, or the client side closed. */
  void (*drained)(void *ud);
} lt_wsbridge_events;

/* Takes over tcp_fd, a connected socket. *lws_fd receives the descriptor
 * for libwebsockets. `rbuf` is a 64 KiB read buffer that may be shared by
 * every bridge of a loop; `list` is where open bridges are kept. */
lt_wsbridge *lt_wsbridge_new(uv_loop_t *loop, int tcp_fd, int *lws_fd, char *rbuf,
                             lt_wsbridge **list, const lt_wsbridge_events *ev, void *ud);
/* Starts pumping. `early` holds bytes that followed the request head; they
 * are checked and passed first. 0 or a libuv error (the bridge is closing). */
int lt_wsbridge_start(lt_wsbridge *b, const char *early, size_t n);
/* Sends a frame of ours (text, binary, ping, pong) straight to the client,
 * after libwebsockets' 101 and in order with everything it writes. 0 or a
 * libuv error once the client side is closing. */
int lt_wsbridge_send(lt_wsbridge *b, int opcode, const char *data, size_t len);
/* Whether more than LT_HIGH_WATER of what we sent waits for the client. */
int lt_wsbridge_blocked(lt_wsbridge *b);
/* Asks for one `drained` event. */
void lt_wsbridge_want_drain(lt_wsbridge *b);
/* The client's control frames never reach libwebsockets as they are (its
 * 4.1 checks a ping after a text frame as UTF-8): with autoping (the
 * default) the bridge answers pings itself; otherwise they are held like
 * pongs and the close frame (until lt_wsbridge_release_close). */
void lt_wsbridge_autoping(lt_wsbridge *b, int on);
/* A held "frame" standing for a protocol violation by the client: its
 * payload is the close code (2 bytes) and the reason. */
#define LT_WSBRIDGE_FAILED (-1)

/* Each held frame leaves a pong in the stream to libwebsockets, reported in
 * order with the messages around it. Given a pong's payload, returns 1 and
 * the held frame it stands for (payload: room for 125 bytes), or 0 for a
 * real pong. */
int lt_wsbridge_held(lt_wsbridge *b, const void *pong, size_t n, int *opcode, char *payload,
                     size_t *len);
/* Our close frame is out: the client's close, held back or still to come,
 * goes on to libwebsockets as the answer that ends the handshake. */
void lt_wsbridge_release_close(lt_wsbridge *b);
/* The owner is gone: no more events. */
void lt_wsbridge_detach(lt_wsbridge *b);
/* Closes every bridge of a list at once (loop teardown). */
void lt_wsbridge_close_all(lt_wsbridge **list);

#endif
