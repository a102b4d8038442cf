/* HTTP content codings (gzip, deflate) with zlib: bodies the client
 * decompresses as they arrive, and bodies the server compresses; and the
 * raw deflate streams of WebSocket permessage-deflate (RFC 7692). */
#ifndef LT_CODING_H
#define LT_CODING_H

#include <stddef.h>
#include <stdint.h>
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

/* permessage-deflate: one raw deflate stream per direction and connection,
 * each message ending at a sync flush whose 00 00 ff ff is left off on the
 * wire (RFC 7692 section 7.2). */
typedef struct lt_wsinflate lt_wsinflate;

/* A window of 15 bits takes whatever window the peer used. NULL when
 * memory runs out. */
lt_wsinflate *lt_wsinflate_new(void);
/* Appends what n more wire bytes of a compressed message inflate to to
 * out; with end set they are its last (the 00 00 ff ff goes in after
 * them). LT_ETOOLARGE as soon as out would pass max_out bytes (0: no
 * limit; out then holds at most max_out + 1 bytes and never grew past
 * that, whatever a small input would inflate to), LT_EENCODING when the
 * bytes are not deflate data, LT_ENOMEM. What decoded before a failure is
 * in out. The window carries over to the next message (context takeover;
 * a peer without it simply never refers back). */
int lt_wsinflate_feed(lt_wsinflate *z, const char *p, size_t n, int end, lt_buf *out,
                      size_t max_out);
void lt_wsinflate_free(lt_wsinflate *z);

typedef struct lt_wsdeflate lt_wsdeflate;

/* window_bits 9 to 15; no_context_takeover: each message compressed on
 * its own (a full flush), else against the ones before (a sync flush), at
 * zlib's fastest level as aiohttp's writer. NULL when memory runs out. */
lt_wsdeflate *lt_wsdeflate_new(int window_bits, int no_context_takeover);
/* Appends the wire payload of one message to out: 0, or LT_ENOMEM. */
int lt_wsdeflate_message(lt_wsdeflate *z, const char *p, size_t n, lt_buf *out);
void lt_wsdeflate_free(lt_wsdeflate *z);

/* A 64-bit hash of n bytes, the same in every process (not a secure one):
 * what the runner's compiled-chunk cache tells sources apart by. */
uint64_t lt_hash64(const void *p, size_t n);

#endif
