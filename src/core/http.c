/* llhttp wrapper shared by the server and the client: collects a message's
 * url, reason, headers and body into an lt_msg, enforces the size limits, and
 * pauses after each complete message so pipelined input is handled in order. */
#include <strings.h>
#include "http.h"
#include "coding.h"
#include "luatest.h"

void lt_msg_init(lt_msg *m) {
  memset(m, 0, sizeof *m);
  m->content_length = -1;
}

void lt_msg_reset(lt_msg *m) {
  lt_buf_clear(&m->strs);
  lt_buf_clear(&m->body);
  m->nhdrs = 0;
  m->method = m->status = m->major = m->minor = 0;
  m->url = m->url_len = m->reason = m->reason_len = 0;
  m->keep_alive = m->upgrade = m->expect_continue = m->chunked = 0;
  m->content_length = -1;
  m->body_size = 0;
  m->head_bytes = 0;
  m->piece = 0;
}

void lt_msg_free(lt_msg *m) {
  lt_buf_free(&m->strs);
  lt_buf_free(&m->body);
  free(m->hdrs);
  m->hdrs = NULL;
  m->nhdrs = m->hdrs_cap = 0;
}

const char *lt_msg_header(const lt_msg *m, const char *name) {
  /* The lengths first: several lookups per message, through every header.
   * (A mocked name may hold a NUL, which ends it for strcasecmp.) */
  size_t n = strlen(name);
  for (int i = 0; i < m->nhdrs; i++) {
    const lt_hdr *h = &m->hdrs[i];
    if ((h->name_len == n || (h->name_len > n && !m->strs.data[h->name + n])) &&
        !strcasecmp(m->strs.data + h->name, name))
      return m->strs.data + h->value;
  }
  return NULL;
}

static int push_header(lt_msg *m, uint32_t name, uint32_t name_len) {
  if (m->nhdrs == m->hdrs_cap) {
    int cap = m->hdrs_cap ? m->hdrs_cap * 2 : 16;
    lt_hdr *h = realloc(m->hdrs, (size_t)cap * sizeof *h);
    if (!h)
      return -1;
    m->hdrs = h;
    m->hdrs_cap = cap;
  }
  lt_hdr *h = &m->hdrs[m->nhdrs++];
  h->name = name;
  h->name_len = name_len;
  h->value = h->value_len = 0;
  return 0;
}

/* Appends a NUL-terminated piece and returns its offset, or -1. */
static long add_str(lt_msg *m, const char *s, size_t n) {
  size_t off = m->strs.len;
  if (lt_buf_reserve(&m->strs, n + 1))
    return -1;
  memcpy(m->strs.data + off, s, n);
  m->strs.data[off + n] = '\0';
  m->strs.len = off + n + 1;
  m->strs.data[m->strs.len] = '\0';
  return (long)off;
}

int lt_msg_add_header(lt_msg *m, const char *name, size_t nlen, const char *value, size_t vlen) {
  long n = add_str(m, name, nlen);
  if (n < 0 || push_header(m, (uint32_t)n, (uint32_t)nlen))
    return LT_ENOMEM;
  long v = add_str(m, value, vlen);
  if (v < 0)
    return LT_ENOMEM;
  m->hdrs[m->nhdrs - 1].value = (uint32_t)v;
  m->hdrs[m->nhdrs - 1].value_len = (uint32_t)vlen;
  return 0;
}

int lt_msg_set_url(lt_msg *m, const char *url, size_t len) {
  long u = add_str(m, url, len);
  if (u < 0)
    return LT_ENOMEM;
  m->url = (uint32_t)u;
  m->url_len = (uint32_t)len;
  return 0;
}

/* ---- llhttp callbacks ---------------------------------------------------- */

#define P(h) ((lt_parser *)(h)->data)

static int fail(lt_parser *p, int err, int status, const char *reason) {
  p->error = err;
  p->status = status;
  p->reason = reason; /* llhttp replaces its own reason after a callback fails */
  return HPE_USER;
}

/* A size limit passed inside a piece is reported when the piece ends (or
 * the head does), not at once: llhttp hands over a piece in the pieces the
 * reads cut it into, so failing at once would make an input that also has
 * a syntax error later in the same piece fail one way or the other
 * depending on the cut. What comes after the limit is not kept. */
static void over_limit(lt_parser *p, int status, const char *what) {
  if (!p->over_status)
    p->over_status = status, p->over_what = what;
}

static int settle(lt_parser *p) {
  return p->over_status ? fail(p, LT_ETOOLARGE, p->over_status, p->over_what) : 0;
}

static int collect(llhttp_t *h, const char *at, size_t len, size_t limit, int status,
                   const char *what) {
  lt_parser *p = P(h);
  lt_msg *m = p->msg;
  m->head_bytes += len;
  if (m->head_bytes > limit)
    over_limit(p, status, what);
  if (p->over_status)
    return 0;
  if (lt_buf_append(&m->strs, at, len))
    return fail(p, LT_ENOMEM, 500, "out of memory");
  return 0;
}

/* Ends the piece being collected with a NUL; returns its offset and length. */
static int finish_piece(lt_parser *p, uint32_t *off, uint32_t *len) {
  lt_msg *m = p->msg;
  if (settle(p))
    return HPE_USER;
  *off = m->piece;
  *len = (uint32_t)(m->strs.len - m->piece);
  if (lt_buf_append(&m->strs, "", 1))
    return fail(p, LT_ENOMEM, 500, "out of memory");
  m->piece = (uint32_t)m->strs.len;
  return 0;
}

static int on_message_begin(llhttp_t *h) {
  lt_parser *p = P(h);
  lt_msg_reset(p->msg);
  return 0;
}

static int on_url(llhttp_t *h, const char *at, size_t len) {
  lt_parser *p = P(h);
  return collect(h, at, len, p->limits.max_line, 414, "request line is too long");
}

static int on_url_complete(llhttp_t *h) {
  lt_parser *p = P(h);
  /* A line break right after the target is HTTP/0.9, which has no status
   * line to answer with: the connection just closes. */
  if (h->http_major == 0 && h->http_minor == 9)
    return fail(p, LT_EPARSE, 0, "HTTP/0.9 request");
  int r = finish_piece(p, &p->msg->url, &p->msg->url_len);
  p->msg->head_bytes = 0; /* the header limit counts headers only */
  return r;
}

static int on_status(llhttp_t *h, const char *at, size_t len) {
  lt_parser *p = P(h);
  return collect(h, at, len, p->limits.max_line, 400, "status line is too long");
}

static int on_status_complete(llhttp_t *h) {
  lt_parser *p = P(h);
  int r = finish_piece(p, &p->msg->reason, &p->msg->reason_len);
  p->msg->head_bytes = 0;
  return r;
}

/* A header name or value piece: the field and the whole head have limits. */
static int collect_field(llhttp_t *h, const char *at, size_t len) {
  lt_parser *p = P(h);
  lt_msg *m = p->msg;
  if (m->strs.len - m->piece + len > p->limits.max_field)
    over_limit(p, 431, "a header field is too large");
  return collect(h, at, len, p->limits.max_head, 431, "header fields too large");
}

static int on_header_field(llhttp_t *h, const char *at, size_t len) {
  return collect_field(h, at, len);
}

static int on_header_value(llhttp_t *h, const char *at, size_t len) {
  lt_parser *p = P(h);
  /* llhttp joins obs-fold continuation lines silently; a value piece that
   * starts right after a line break is one, and a smuggling vector. The
   * line break may have ended the previous read. */
  char before = at > p->exec_start ? at[-1] : p->last_byte;
  if (len && before == '\n' && (at[0] == ' ' || at[0] == '\t'))
    return fail(p, LT_EPARSE, 400, "obsolete line folding in a header value");
  return collect_field(h, at, len);
}

/* A table, not strchr: looked up once per byte of every header name. */
#define TC(c) [c] = 1
const unsigned char lt_tchar[256] = {
    TC('!'), TC('#'), TC('$'), TC('%'), TC('&'), TC('\''), TC('*'), TC('+'), TC('-'), TC('.'),
    TC('^'), TC('_'), TC('`'), TC('|'), TC('~'), TC('0'),  TC('1'), TC('2'), TC('3'), TC('4'),
    TC('5'), TC('6'), TC('7'), TC('8'), TC('9'), TC('A'),  TC('B'), TC('C'), TC('D'), TC('E'),
    TC('F'), TC('G'), TC('H'), TC('I'), TC('J'), TC('K'),  TC('L'), TC('M'), TC('N'), TC('O'),
    TC('P'), TC('Q'), TC('R'), TC('S'), TC('T'), TC('U'),  TC('V'), TC('W'), TC('X'), TC('Y'),
    TC('Z'), TC('a'), TC('b'), TC('c'), TC('d'), TC('e'),  TC('f'), TC('g'), TC('h'), TC('i'),
    TC('j'), TC('k'), TC('l'), TC('m'), TC('n'), TC('o'),  TC('p'), TC('q'), TC('r'), TC('s'),
    TC('t'), TC('u'), TC('v'), TC('w'), TC('x'), TC('y'),  TC('z'),
};
#undef TC

static int is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!lt_tchar[(unsigned char)s[i]])
      return 0;
  return 1;
}

static int on_header_field_complete(llhttp_t *h) {
  lt_parser *p = P(h);
  uint32_t off, len;
  if (p->msg->nhdrs >= (int)p->limits.max_headers)
    over_limit(p, 431, "too many header fields");
  if (finish_piece(p, &off, &len))
    return HPE_USER;
  if (!is_token(lt_msg_str(p->msg, off), len))
    return fail(p, LT_EPARSE, 400, "invalid header field name");
  if (push_header(p->msg, off, len))
    return fail(p, LT_ENOMEM, 500, "out of memory");
  return 0;
}

static int on_header_value_complete(llhttp_t *h) {
  lt_parser *p = P(h);
  lt_hdr *hd = &p->msg->hdrs[p->msg->nhdrs - 1];
  return finish_piece(p, &hd->value, &hd->value_len);
}

static int on_headers_complete(llhttp_t *h) {
  lt_parser *p = P(h);
  lt_msg *m = p->msg;
  if (settle(p))
    return -1; /* on_headers_complete signals errors with -1, not HPE_USER */
  m->method = h->method;
  m->status = h->status_code;
  m->major = h->http_major;
  m->minor = h->http_minor;
  m->keep_alive = llhttp_should_keep_alive(h);
  m->upgrade = h->upgrade;
  m->chunked = (h->flags & F_CHUNKED) != 0;
  /* on_headers_complete signals errors with -1, not HPE_USER. */
  if (h->type == HTTP_REQUEST && m->major != 1) {
    fail(p, LT_EPARSE, 505, "only HTTP/1.x is served");
    return -1;
  }
  if (h->flags & F_CONTENT_LENGTH) {
    if (h->content_length > INT64_MAX) {
      fail(p, LT_EPARSE, 400, "Content-Length does not fit in 63 bits");
      return -1;
    }
    m->content_length = (int64_t)h->content_length;
  }
  const char *expect = lt_msg_header(m, "Expect");
  m->expect_continue = expect && !strcasecmp(expect, "100-continue");
  size_t max_body = p->limits.max_body;
  if (max_body && !p->lazy_body && m->content_length > (int64_t)max_body) {
    fail(p, LT_ETOOLARGE, 413, "body too large");
    return -1;
  }
  /* A known length is allocated once: growing by doubling would copy a
   * large body several times and leave up to twice its size allocated. */
  size_t reserve = (size_t)(m->content_length > 0 ? m->content_length : 0);
  if (p->reserve_max && reserve > p->reserve_max)
    reserve = p->reserve_max;
  if (p->lazy_body && max_body && reserve > max_body)
    reserve = max_body; /* no more is kept */
  p->head_complete = 1;
  if (reserve && lt_buf_reserve(&m->body, reserve)) {
    fail(p, LT_ENOMEM, 500, "out of memory");
    return -1;
  }
  int r = p->on_headers ? p->on_headers(p) : 0;
  if (r < 0) {
    if (!p->error)
      fail(p, LT_EPARSE, 400, "refused");
    return -1;
  }
  lt_inflate_free(p->inflate);
  p->inflate = NULL;
  int coding = p->decompress ? lt_coding_of(lt_msg_header(m, "Content-Encoding")) : LT_CODING_NONE;
  if (coding != LT_CODING_NONE && !(p->inflate = lt_inflate_new(coding))) {
    fail(p, LT_ENOMEM, 500, "out of memory");
    return -1;
  }
  if (p->no_body) {
    p->no_body = 0;
    return 1;
  }
  return r;
}

static int on_body(llhttp_t *h, const char *at, size_t len) {
  lt_parser *p = P(h);
  lt_msg *m = p->msg;
  size_t max_body = p->limits.max_body;
  if (p->drain_body)
    return 0;
  if (p->inflate) {
    /* Decoding is for responses, whose limit is never lazy: what a decoded
     * body would count past the limit is not known without decoding it. */
    int r = lt_inflate_feed(p->inflate, at, len, &m->body, max_body);
    if (r == LT_ETOOLARGE)
      return fail(p, r, 413, "body too large");
    if (r)
      return fail(p, r, 400,
                  r == LT_EENCODING ? "cannot decode the content-encoding" : "out of memory");
    m->body_size = m->body.len;
    return 0;
  }
  m->body_size += len;
  if (max_body && m->body.len + len > max_body) {
    if (!p->lazy_body)
      return fail(p, LT_ETOOLARGE, 413, "body too large");
    len = max_body - m->body.len; /* the rest is dropped */
  }
  if (len && lt_buf_append(&m->body, at, len))
    return fail(p, LT_ENOMEM, 500, "out of memory");
  return 0;
}

static int on_message_complete(llhttp_t *h) {
  lt_parser *p = P(h);
  if (p->inflate) {
    int r = lt_inflate_end(p->inflate);
    lt_inflate_free(p->inflate);
    p->inflate = NULL;
    if (r)
      return fail(p, r, 400, "the body ended inside its content-encoding");
  }
  p->done = 1;
  return HPE_PAUSED;
}

static llhttp_settings_t settings;
static int settings_ready;

void lt_parser_init(lt_parser *p, llhttp_type_t type, const lt_limits *limits) {
  if (!settings_ready) {
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_url_complete = on_url_complete;
    settings.on_status = on_status;
    settings.on_status_complete = on_status_complete;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    settings_ready = 1;
  }
  memset(p, 0, sizeof *p);
  llhttp_init(&p->http, type, &settings);
  p->http.data = p;
  p->limits = *limits;
}

long lt_parser_feed(lt_parser *p, lt_msg *msg, const char *data, size_t len) {
  p->msg = msg;
  if (p->error)
    return p->error;
  p->exec_start = data;
  llhttp_errno_t e = llhttp_execute(&p->http, data, len);
  switch (e) {
  case HPE_OK:
    if (len)
      p->last_byte = data[len - 1];
    return (long)len;
  case HPE_PAUSED:
  case HPE_PAUSED_UPGRADE: {
    p->done = 1;
    long used = (long)(llhttp_get_error_pos(&p->http) - data);
    if (used > 0)
      p->last_byte = data[used - 1];
    return used;
  }
  default:
    if (p->error)
      return p->error;
    p->error = LT_EPARSE;
    /* A version llhttp does not know (HTTP/3.1) is one we do not serve. */
    p->status = e == HPE_INVALID_VERSION && p->http.type == HTTP_REQUEST ? 505 : 400;
    return LT_EPARSE;
  }
}

int lt_parser_eof(lt_parser *p, lt_msg *msg) {
  p->msg = msg;
  llhttp_errno_t e = llhttp_finish(&p->http);
  if (e == HPE_OK || e == HPE_PAUSED)
    return 0;
  p->error = LT_EPARSE;
  p->status = 400;
  return LT_EPARSE;
}

void lt_parser_release(lt_parser *p) {
  lt_inflate_free(p->inflate);
  p->inflate = NULL;
}

void lt_parser_drain(lt_parser *p) {
  p->drain_body = 1;
}

void lt_parser_next(lt_parser *p) {
  p->done = 0;
  p->head_complete = 0;
  p->drain_body = 0;
  if (llhttp_get_errno(&p->http) == HPE_PAUSED_UPGRADE)
    llhttp_resume_after_upgrade(&p->http);
  else
    llhttp_resume(&p->http);
}

int lt_parser_midway(const lt_parser *p) {
  return p->http.finish == HTTP_FINISH_UNSAFE;
}

void lt_parser_refuse(lt_parser *p, int status, const char *reason) {
  fail(p, LT_EPARSE, status, reason);
}

const char *lt_parser_reason(const lt_parser *p) {
  if (p->reason)
    return p->reason;
  const char *r = llhttp_get_error_reason(&p->http);
  return r ? r : "malformed message";
}

const char *lt_method_name(int method) {
  return llhttp_method_name((llhttp_method_t)method);
}

#define STR(x) #x
#define VERSION_OF(a, b, c) STR(a) "." STR(b) "." STR(c)

const char *lt_parser_version(void) {
  return VERSION_OF(LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
}

const char *lt_status_reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 102:
    return "Processing";
  case 103:
    return "Early Hints";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 203:
    return "Non-Authoritative Information";
  case 204:
    return "No Content";
  case 205:
    return "Reset Content";
  case 206:
    return "Partial Content";
  case 207:
    return "Multi-Status";
  case 208:
    return "Already Reported";
  case 226:
    return "IM Used";
  case 300:
    return "Multiple Choices";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 305:
    return "Use Proxy";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 402:
    return "Payment Required";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Request Entity Too Large";
  case 414:
    return "Request-URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 416:
    return "Requested Range Not Satisfiable";
  case 417:
    return "Expectation Failed";
  case 418:
    return "I'm a teapot";
  case 421:
    return "Misdirected Request";
  case 422:
    return "Unprocessable Entity";
  case 423:
    return "Locked";
  case 424:
    return "Failed Dependency";
  case 425:
    return "Too Early";
  case 426:
    return "Upgrade Required";
  case 428:
    return "Precondition Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 451:
    return "Unavailable For Legal Reasons";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  case 506:
    return "Variant Also Negotiates";
  case 507:
    return "Insufficient Storage";
  case 508:
    return "Loop Detected";
  case 510:
    return "Not Extended";
  case 511:
    return "Network Authentication Required";
  default:
    return "";
  }
}
