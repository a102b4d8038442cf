/* HTTP/1.1 messages parsed by llhttp: one lt_msg per request or response,
 * with headers kept as parsed (offsets into one string buffer) and the body
 * as length-counted bytes. Shared by the server and the client. */
#ifndef LT_HTTP_H
#define LT_HTTP_H

#include <stdint.h>
#include <llhttp.h>
#include "buf.h"

typedef struct lt_hdr {
  uint32_t name, name_len, value, value_len;
} lt_hdr;

typedef struct lt_msg {
  lt_buf strs; /* url, reason, header names and values, each NUL-terminated */
  lt_hdr *hdrs;
  int nhdrs, hdrs_cap;
  lt_buf body;
  int method; /* llhttp_method_t (requests) */
  int status; /* responses */
  int major, minor;
  uint32_t url, url_len;
  uint32_t reason, reason_len;
  int keep_alive;
  int upgrade;
  int expect_continue;
  int chunked;
  int64_t content_length; /* -1 when absent */
  /* The body's bytes as they came, kept or not: past a lazy limit (see
   * lt_parser.lazy_body) only the first max_body of them are in `body`. */
  uint64_t body_size;
  size_t head_bytes; /* request line + headers, for the limits */
  uint32_t piece;    /* start of the url/field/value being collected */
} lt_msg;

/* aiohttp's names and defaults where it has them (max_line_size 8190,
 * max_field_size 8190, max_headers 128). */
typedef struct lt_limits {
  size_t max_line;    /* request line / status line: 414 (requests) */
  size_t max_field;   /* one header name or value: 431 */
  size_t max_headers; /* header lines: 431 */
  size_t max_head;    /* all header bytes together: 431 */
  size_t max_body;    /* 0 = unlimited: 413 (above it), unless lazy_body */
} lt_limits;

typedef struct lt_parser lt_parser;

/* Called when the headers are complete; return 0 to go on, 1 to tell the
 * parser the message has no body (responses to HEAD), -1 to fail. */
typedef int (*lt_headers_cb)(lt_parser *p);

struct lt_parser {
  llhttp_t http;
  lt_msg *msg;
  lt_limits limits;
  int error;          /* an LT_E* code once parsing failed */
  int status;         /* the HTTP status that answers the failure (0: none) */
  const char *reason; /* why, when we refused it (llhttp says it otherwise) */
  int over_status;    /* a size limit passed in the piece being collected */
  const char *over_what;
  int done;               /* a whole message was parsed and parsing paused */
  int no_body;            /* the next response has no body (HEAD) */
  const char *exec_start; /* the buffer being parsed */
  char last_byte;         /* the last byte of the previous buffer */
  lt_headers_cb on_headers;
  /* At most this much of a known Content-Length is allocated up front (0:
   * all of it); a client reading a body as it comes keeps less. */
  size_t reserve_max;
  /* A body over limits.max_body is not refused: its first max_body bytes
   * are kept and the rest counted in msg->body_size and dropped, so the
   * message completes and whoever reads the body decides (aiohttp checks
   * client_max_size when the handler reads). Memory stays bounded. */
  int lazy_body;
  int drain_body;    /* the rest of this message's body goes unseen (lt_parser_drain) */
  int head_complete; /* the current message's headers are in */
  /* Decode a gzip or deflate body as it arrives (set by on_headers for the
   * message whose headers it saw); the limits apply to what it decodes to. */
  int decompress;
  struct lt_inflate *inflate;
  void *data;
};

void lt_msg_init(lt_msg *m);
void lt_msg_reset(lt_msg *m);
void lt_msg_free(lt_msg *m);
static inline const char *lt_msg_str(const lt_msg *m, uint32_t off) {
  return m->strs.data + off;
}
/* First value of a header, matched without regard to case; NULL if absent. */
const char *lt_msg_header(const lt_msg *m, const char *name);
/* RFC 9110 tchar: 1 for the bytes a field name (a token) may hold. */
extern const unsigned char lt_tchar[256];
/* Adds a header (client requests and mocked requests build messages too). */
int lt_msg_add_header(lt_msg *m, const char *name, size_t nlen, const char *value, size_t vlen);
int lt_msg_set_url(lt_msg *m, const char *url, size_t len);

void lt_parser_init(lt_parser *p, llhttp_type_t type, const lt_limits *limits);
/* Parses from `data`; returns the bytes consumed, or a negative LT_E* code.
 * Stops after each complete message with p->done set. */
long lt_parser_feed(lt_parser *p, lt_msg *msg, const char *data, size_t len);
/* The peer closed: completes a close-delimited body. 0 or an LT_E* code. */
int lt_parser_eof(lt_parser *p, lt_msg *msg);
/* Midway through a body: the rest of it is read past, not kept nor
 * counted, for a message handed over before its end; its end still sets
 * p->done. */
void lt_parser_drain(lt_parser *p);
/* After p->done: ready for the next message on the same connection. */
void lt_parser_next(lt_parser *p);
/* Frees what the parser holds beyond itself (a decoder midway). */
void lt_parser_release(lt_parser *p);
/* Whether the parser is in the middle of a message. */
int lt_parser_midway(const lt_parser *p);
const char *lt_parser_reason(const lt_parser *p);
/* For an on_headers callback that refuses the message: records the status
 * that answers it and why; return -1 from the callback afterwards. */
void lt_parser_refuse(lt_parser *p, int status, const char *reason);

/* llhttp's version, as compiled in ("8.1.0"). */
const char *lt_parser_version(void);
const char *lt_status_reason(int status);
const char *lt_method_name(int method);

#endif
