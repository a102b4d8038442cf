/* libFuzzer target: the multipart splitter. The first line of the input is
 * the boundary, the rest the body. Every part it reports lies inside the
 * body, in order. (No split variant: the server splits a body only once it
 * is complete.) */
#include <stdlib.h>
#include <string.h>
#include "luatest.h"
#include "multipart.h"

typedef struct span {
  const char *body, *end, *last;
} span;

static int check_part(void *ud, const char *head, size_t head_len, const char *data,
                      size_t data_len) {
  span *sp = ud;
  if (head < sp->last || head + head_len > sp->end || data < head + head_len ||
      data + data_len > sp->end)
    abort(); /* a part outside the body, or out of order */
  sp->last = data + data_len;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  const char *nl = memchr(s, '\n', size);
  if (!nl || nl == s)
    return 0;
  size_t blen = (size_t)(nl - s);
  /* The body is copied so that a read past its end is one ASan sees. */
  size_t len = size - blen - 1;
  char *body = malloc(len ? len : 1);
  memcpy(body, nl + 1, len);
  span sp = {body, body + len, body};
  const char *why = NULL;
  lt_multipart_split(body, len, s, blen, check_part, &sp, &why);
  free(body);
  return 0;
}
