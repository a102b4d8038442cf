/* HTTP content codings (gzip, deflate) with zlib: bodies the client
 * decompresses as they arrive, and bodies the server compresses. */
#ifndef LT_CODING_H
#define LT_CODING_H

#include <stddef.h>
#include "buf.h"

enum { LT_CODING_NONE, LT_CODING_GZIP, LT_CODING_DEFLATE };

/* The coding a Content-Encoding value names (one of gzip, x-gzip,
 * deflate, any case); LT_CODING_NONE for identity and for what zlib does
 * not decode. */
int lt_coding_of(const char *content_encoding);

typedef struct lt_inflate lt_inflate;

lt_inflate *lt_inflate_new(int coding);
/* Appends what n bytes of the coded body decode to to out. LT_EENCODING
 * when they are not of that coding, LT_ETOOLARGE when out would pass
 * max_out bytes (0: no limit; a small body may decode to a huge one). */
int lt_inflate_feed(lt_inflate *z, const char *p, size_t n, lt_buf *out, size_t max_out);
/* At the end of the body: LT_EENCODING when a deflate stream stopped
 * short (as aiohttp; a gzip stream cut short is taken as it is). */
int lt_inflate_end(lt_inflate *z);
void lt_inflate_free(lt_inflate *z);

/* Compresses a whole body with the coding (gzip or deflate, as zlib's
 * default level); 0, or LT_ENOMEM. */
int lt_deflate_body(int coding, const char *p, size_t n, lt_buf *out);

#endif
