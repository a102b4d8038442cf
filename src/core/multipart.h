/* Multipart bodies split into parts in place: each part's raw header
 * block and content, found by the boundary, with no copy. */
#ifndef LT_MULTIPART_H
#define LT_MULTIPART_H

#include <stddef.h>

typedef int (*lt_part_fn)(void *ud, const char *head, size_t head_len, const char *data,
                          size_t data_len);

/* Calls fn for each part in order (head without its final blank line).
 * Returns 0, fn's nonzero result, or LT_EPARSE with *why saying what is
 * malformed. */
int lt_multipart_split(const char *body, size_t len, const char *boundary, size_t blen,
                       lt_part_fn fn, void *ud, const char **why);

#endif
