/* For the split variants: the same input cut into pieces chosen from its
 * own bytes (so a failure replays), to check that a parser's verdict does
 * not depend on how TCP happened to split its input. */
#ifndef LT_FUZZ_SPLIT_H
#define LT_FUZZ_SPLIT_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "buf.h"

typedef struct split_state {
  uint64_t x;
} split_state;

static inline void split_init(split_state *s, const uint8_t *data, size_t size) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * 1099511628211ull;
  s->x = h | 1;
}

/* The length of the next piece: mostly tiny (1 to 8 bytes), sometimes up
 * to 300, never more than `left`. */
static inline size_t split_next(split_state *s, size_t left) {
  s->x ^= s->x << 13;
  s->x ^= s->x >> 7;
  s->x ^= s->x << 17;
  size_t n = (s->x & 3) ? 1 + (s->x >> 8) % 8 : 1 + (s->x >> 8) % 300;
  return n < left ? n : left;
}

/* Whether the whole-input verdict `whole` begins the split one `pieces`. */
static inline int split_starts_with(const lt_buf *pieces, const lt_buf *whole) {
  return pieces->len >= whole->len &&
         (!whole->len || !memcmp(pieces->data, whole->data, whole->len));
}

/* Whether the two verdicts are the same. */
static inline int split_same(const lt_buf *pieces, const lt_buf *whole) {
  return pieces->len == whole->len && split_starts_with(pieces, whole);
}

#endif
