/* Writing to a libuv stream without waiting when the kernel has room: the
 * one write path of the server's connections and the WebSocket bridge. */
#ifndef LT_STREAM_H
#define LT_STREAM_H

#include <uv.h>
#include "buf.h"

/* Writes bufs to s. With nothing of the caller's queued (`queued` 0) it
 * tries at once; what the kernel does not take is copied and queued, and
 * cb(ud, status) fires when that copy is out. Returns 0 when all was
 * written, 1 when a write was queued, or a negative libuv error. The bufs
 * may be reused when this returns. */
typedef void (*lt_written_cb)(void *ud, int status);

/* Backpressure, as asyncio's write buffer limits (aiohttp): output queued on
 * a connection above LT_HIGH_WATER makes its writer wait, or its reader
 * pause; they go on once the queue is down to LT_LOW_WATER. */
#define LT_HIGH_WATER (64 * 1024)
#define LT_LOW_WATER (16 * 1024)
int lt_stream_write(uv_stream_t *s, int queued, const uv_buf_t *bufs, unsigned nbufs,
                    lt_written_cb cb, void *ud);

/* What a closing connection still has to say (TLS's close_notify), tried
 * once without waiting, and the buffer cleared: best effort, for a handle
 * about to be closed, whose queued writes would be cancelled anyway. */
void lt_stream_last_words(uv_stream_t *s, lt_buf *b);

#endif
