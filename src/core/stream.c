/* A queued write carries its own copy of the data, so callers never keep
 * buffers alive across the loop. */
#include <stdlib.h>
#include <string.h>
#include "luatest.h"
#include "stream.h"

typedef struct wreq {
  uv_write_t req;
  lt_written_cb cb;
  void *ud;
  char data[];
} wreq;

static void on_written(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  lt_written_cb cb = w->cb;
  void *ud = w->ud;
  free(w);
  cb(ud, status);
}

int lt_stream_write(uv_stream_t *s, int queued, const uv_buf_t *bufs, unsigned nbufs,
                    lt_written_cb cb, void *ud) {
  size_t total = 0;
  for (unsigned i = 0; i < nbufs; i++)
    total += bufs[i].len;
  size_t done = 0;
  if (!queued) {
    int r = uv_try_write(s, bufs, nbufs);
    if (r == (int)total)
      return 0;
    if (r > 0)
      done = (size_t)r;
    else if (r != UV_EAGAIN && r != UV_ENOSYS)
      return r;
  }
  wreq *w = malloc(sizeof *w + total - done);
  if (!w)
    return LT_ENOMEM;
  w->cb = cb;
  w->ud = ud;
  size_t at = 0;
  for (unsigned i = 0; i < nbufs; i++) {
    size_t skip = done > bufs[i].len ? bufs[i].len : done;
    done -= skip;
    memcpy(w->data + at, bufs[i].base + skip, bufs[i].len - skip);
    at += bufs[i].len - skip;
  }
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)at);
  int r = uv_write(&w->req, s, &buf, 1, on_written);
  if (r) {
    free(w);
    return r;
  }
  return 1;
}

void lt_stream_last_words(uv_stream_t *s, lt_buf *b) {
  if (!b->len)
    return;
  uv_buf_t buf = uv_buf_init(b->data, (unsigned)b->len);
  (void)uv_try_write(s, &buf, 1);
  lt_buf_clear(b);
}
