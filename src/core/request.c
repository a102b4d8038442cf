/* Requests and responses on the server side: accessors for handlers, the
 * derived fields (decoded path, query, match info), and serialization of the
 * response a handler filled. */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include "request.h"
#include "url.h"

/* Released requests are kept for the next ones, with their buffers, which
 * have grown to what a request needs: allocating and freeing them for each
 * request cost more than anything else the core does for it. Lua releases
 * them in batches (its collector finalizes a cycle's garbage together), so
 * the pool is bounded by the bytes it holds rather than by a small count.
 * Per thread, as each loop is. Under AddressSanitizer a pooled request and
 * its buffers are poisoned, so a use after the last release is still seen
 * (and the reuse is checked too). */
#define POOL_MAX (1 << 20) /* bytes */
#define POOL_BUF_MAX 8192  /* a buffer grown past this goes (a large body) */

#if defined(__SANITIZE_ADDRESS__)
#define LT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LT_ASAN 1
#endif
#endif
#ifdef LT_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static _Thread_local lt_request *pool;
static _Thread_local size_t pool_bytes;

static void keep_buf(lt_buf *b) {
  if (b->cap > POOL_BUF_MAX)
    lt_buf_free(b);
  else
    lt_buf_clear(b);
}

/* What a pooled request holds. */
static size_t pooled_size(const lt_request *req) {
  return sizeof *req + req->msg.strs.cap + req->msg.body.cap + req->extra.cap +
         req->resp.reason.cap + req->resp.head.cap + req->resp.body.cap +
         (size_t)req->msg.hdrs_cap * sizeof(lt_hdr) + (size_t)req->query_cap * sizeof(lt_pair);
}

static void poison_buf(const lt_buf *b) {
  if (b->data)
    POISON(b->data, b->cap);
}

static void unpoison_buf(const lt_buf *b) {
  if (b->data)
    UNPOISON(b->data, b->cap);
}

/* A pooled request's memory, out of bounds until it is taken again. */
static void poison_pooled(lt_request *req) {
  poison_buf(&req->msg.strs);
  poison_buf(&req->msg.body);
  poison_buf(&req->extra);
  poison_buf(&req->resp.reason);
  poison_buf(&req->resp.head);
  poison_buf(&req->resp.body);
  if (req->msg.hdrs)
    POISON(req->msg.hdrs, (size_t)req->msg.hdrs_cap * sizeof(lt_hdr));
  if (req->query)
    POISON(req->query, (size_t)req->query_cap * sizeof(lt_pair));
  POISON(req, sizeof *req);
}

static void unpoison_pooled(lt_request *req) {
  UNPOISON(req, sizeof *req);
  unpoison_buf(&req->msg.strs);
  unpoison_buf(&req->msg.body);
  unpoison_buf(&req->extra);
  unpoison_buf(&req->resp.reason);
  unpoison_buf(&req->resp.head);
  unpoison_buf(&req->resp.body);
  if (req->msg.hdrs)
    UNPOISON(req->msg.hdrs, (size_t)req->msg.hdrs_cap * sizeof(lt_hdr));
  if (req->query)
    UNPOISON(req->query, (size_t)req->query_cap * sizeof(lt_pair));
}

static lt_request *from_pool(void) {
  lt_request *req = pool;
  unpoison_pooled(req);
  pool = req->next;
  pool_bytes -= pooled_size(req);
  lt_buf strs = req->msg.strs, body = req->msg.body, extra = req->extra;
  lt_hdr *hdrs = req->msg.hdrs;
  int hdrs_cap = req->msg.hdrs_cap;
  lt_pair *query = req->query;
  int query_cap = req->query_cap;
  lt_buf reason = req->resp.reason, head = req->resp.head, rbody = req->resp.body;
  /* Everything else as calloc leaves it, whatever fields come later. */
  memset(req, 0, sizeof *req);
  lt_msg_init(&req->msg);
  lt_response_init(&req->resp);
  req->msg.strs = strs;
  req->msg.body = body;
  req->msg.hdrs = hdrs;
  req->msg.hdrs_cap = hdrs_cap;
  req->extra = extra;
  req->query = query;
  req->query_cap = query_cap;
  req->resp.reason = reason;
  req->resp.head = head;
  req->resp.body = rbody;
  req->refs = 1;
  return req;
}

void lt_request_pool_free(void) {
  while (pool) {
    lt_request *req = pool;
    unpoison_pooled(req);
    pool = req->next;
    lt_msg_free(&req->msg);
    lt_buf_free(&req->extra);
    free(req->query);
    lt_response_free(&req->resp);
    free(req);
  }
  pool_bytes = 0;
}

lt_request *lt_request_new(void) {
  if (pool)
    return from_pool();
  lt_request *req = calloc(1, sizeof *req);
  if (!req)
    return NULL;
  lt_msg_init(&req->msg);
  lt_response_init(&req->resp);
  req->refs = 1;
  return req;
}

void lt_request_retain(lt_request *req) {
  req->refs++;
}

void lt_request_release(lt_request *req) {
  if (!req || --req->refs > 0)
    return;
  if (req->drain_loop)
    lt_loop_undefer(req->drain_loop, &req->drain_task);
  free(req->allow);
  req->allow = NULL;
  if (pool_bytes < POOL_MAX && req->msg.hdrs_cap <= 64 && req->query_cap <= 64) {
    keep_buf(&req->msg.strs);
    keep_buf(&req->msg.body);
    keep_buf(&req->extra);
    keep_buf(&req->resp.reason);
    keep_buf(&req->resp.head);
    keep_buf(&req->resp.body);
    static int at_exit;
    if (!at_exit) {
      /* (freed at exit too: a program may release requests without a loop,
       * and a leak check should find nothing) */
      at_exit = 1;
      atexit(lt_request_pool_free);
    }
    pool_bytes += pooled_size(req);
    req->next = pool;
    pool = req;
    poison_pooled(req);
    return;
  }
  lt_msg_free(&req->msg);
  lt_buf_free(&req->extra);
  free(req->query);
  lt_response_free(&req->resp);
  free(req);
}

void lt_request_reset(lt_request *req) {
  lt_msg_reset(&req->msg);
  lt_buf_clear(&req->extra);
  req->method = req->path = req->query_string = req->origin = req->target_host = 0;
  req->nmatch = 0;
  req->nquery = 0;
  req->query_parsed = 0;
  lt_response_reset(&req->resp);
  req->responded = 0;
  req->keep_alive = 0;
  req->head = 0;
  req->max_body = 0;
  req->remote[0] = '\0';
  req->route = NULL;
  req->match_status = 0;
  free(req->allow);
  req->allow = NULL;
  req->next = NULL;
  req->drain_cb = NULL;
  req->c_drain = NULL;
}

static long extra_str(lt_request *req, const char *s, size_t n) {
  size_t off = req->extra.len;
  if (lt_buf_append(&req->extra, s, n) || lt_buf_append(&req->extra, "", 1))
    return LT_ENOMEM;
  return (long)off;
}

int lt_request_prepare(lt_request *req) {
  return lt_request_prepare_as(req, lt_method_name(req->msg.method));
}

/* The length of "http://authority" or "https://authority" at the start of
 * an absolute-form target, or 0. */
static size_t absolute_prefix(const char *url, size_t len, const char **host, size_t *hlen) {
  size_t scheme = len > 7 && !strncasecmp(url, "http://", 7)    ? 7
                  : len > 8 && !strncasecmp(url, "https://", 8) ? 8
                                                                : 0;
  if (!scheme)
    return 0;
  size_t end = scheme;
  while (end < len && url[end] != '/' && url[end] != '?' && url[end] != '#')
    end++;
  const char *a = url + scheme, *stop = url + end;
  const char *at = memchr(a, '@', (size_t)(stop - a));
  if (at)
    a = at + 1;
  const char *colon = NULL;
  for (const char *s = a; s < stop; s++)
    if (*s == ':')
      colon = s;
    else if (*s == ']')
      colon = NULL; /* a colon inside an IPv6 literal is not the port's */
  *host = a;
  *hlen = (size_t)((colon ? colon : stop) - a);
  return end;
}

int lt_request_prepare_as(lt_request *req, const char *method) {
  lt_msg *m = &req->msg;
  const char *target = lt_msg_str(m, m->url);
  /* absolute-form (RFC 9112 section 3.2.2): routed by its path, and its
   * host wins over the Host header. */
  const char *host = NULL;
  size_t hlen = 0;
  size_t origin = absolute_prefix(target, m->url_len, &host, &hlen);
  const char *url = target + origin;
  size_t url_len = m->url_len - origin;
  req->origin = (uint32_t)origin;
  const char *q = memchr(url, '?', url_len);
  size_t plen = q ? (size_t)(q - url) : url_len;
  /* Fragments are never sent by clients, but a raw request may carry one. */
  const char *frag = memchr(url, '#', url_len);
  if (frag && (!q || frag < q))
    plen = (size_t)(frag - url);
  lt_buf_clear(&req->extra);
  long off = extra_str(req, method, strlen(method));
  if (off < 0)
    return LT_ENOMEM;
  req->method = (uint32_t)off;
  req->target_host = 0;
  if (host) {
    if ((off = extra_str(req, host, hlen)) < 0)
      return LT_ENOMEM;
    req->target_host = (uint32_t)off;
    for (size_t i = 0; i < hlen; i++)
      req->extra.data[off + i] = (char)tolower((unsigned char)req->extra.data[off + i]);
  }
  req->path = (uint32_t)req->extra.len;
  if (origin && plen == 0 && lt_buf_append(&req->extra, "/", 1))
    return LT_ENOMEM;
  if (lt_url_decode(&req->extra, url, plen, 0))
    return LT_EPARSE;
  if (lt_buf_append(&req->extra, "", 1))
    return LT_ENOMEM;
  size_t qlen = 0;
  const char *qs = "";
  if (q) {
    qs = q + 1;
    const char *end = url + url_len;
    const char *hash = memchr(qs, '#', (size_t)(end - qs));
    qlen = (size_t)((hash ? hash : end) - qs);
  }
  off = extra_str(req, qs, qlen);
  if (off < 0)
    return LT_ENOMEM;
  req->query_string = (uint32_t)off;
  req->keep_alive = m->keep_alive && !m->upgrade;
  req->head = !strcmp(method, "HEAD");
  return 0;
}

int lt_request_add_match(lt_request *req, const char *name, const char *value, size_t vlen) {
  if (req->nmatch == LT_MAX_MATCH)
    return LT_ETOOLARGE;
  long n = extra_str(req, name, strlen(name));
  if (n < 0)
    return LT_ENOMEM;
  long v = extra_str(req, value, vlen);
  if (v < 0)
    return LT_ENOMEM;
  lt_pair *p = &req->match[req->nmatch++];
  p->name = (uint32_t)n;
  p->value = (uint32_t)v;
  p->value_len = (uint32_t)vlen;
  return 0;
}

const char *lt_request_str(const lt_request *req, uint32_t off) {
  return req->extra.data + off;
}

static int add_query(void *ud, const char *name, size_t nlen, const char *value, size_t vlen) {
  lt_request *req = ud;
  if (req->nquery == req->query_cap) {
    int cap = req->query_cap ? req->query_cap * 2 : 8;
    lt_pair *p = realloc(req->query, (size_t)cap * sizeof *p);
    if (!p)
      return LT_ENOMEM;
    req->query = p;
    req->query_cap = cap;
  }
  long n = extra_str(req, name, nlen);
  long v = n < 0 ? n : extra_str(req, value, vlen);
  if (v < 0)
    return LT_ENOMEM;
  lt_pair *p = &req->query[req->nquery++];
  p->name = (uint32_t)n;
  p->value = (uint32_t)v;
  p->value_len = (uint32_t)vlen;
  return 0;
}

int lt_request_query_pairs(lt_request *req, const lt_pair **pairs) {
  if (!req->query_parsed) {
    req->nquery = 0;
    /* The query string lives in `extra`, which parsing appends to. */
    size_t qlen = strlen(lt_request_str(req, req->query_string));
    char *copy = malloc(qlen + 1);
    if (!copy)
      return LT_ENOMEM;
    memcpy(copy, lt_request_str(req, req->query_string), qlen + 1);
    int r = lt_query_parse(copy, qlen, add_query, req);
    free(copy);
    if (r)
      return r;
    req->query_parsed = 1;
  }
  *pairs = req->query;
  return req->nquery;
}

/* ---- Public accessors ---------------------------------------------------- */

const char *lt_request_method(const lt_request *req) {
  return lt_request_str(req, req->method);
}

const char *lt_request_path(const lt_request *req) {
  return lt_request_str(req, req->path);
}

const char *lt_request_raw_path(const lt_request *req) {
  return lt_msg_str(&req->msg, req->msg.url);
}

const char *lt_request_origin(const lt_request *req) {
  return lt_msg_str(&req->msg, req->msg.url) + req->origin;
}

const char *lt_request_target_host(const lt_request *req) {
  return req->target_host ? lt_request_str(req, req->target_host) : NULL;
}

const char *lt_request_query_string(const lt_request *req) {
  return lt_request_str(req, req->query_string);
}

const char *lt_request_query(lt_request *req, const char *name) {
  const lt_pair *pairs;
  int n = lt_request_query_pairs(req, &pairs);
  for (int i = 0; i < n; i++)
    if (!strcmp(lt_request_str(req, pairs[i].name), name))
      return lt_request_str(req, pairs[i].value);
  return NULL;
}

const char *lt_request_header(const lt_request *req, const char *name) {
  return lt_msg_header(&req->msg, name);
}

int lt_request_header_at(const lt_request *req, int i, const char **name, const char **value) {
  if (i < 0 || i >= req->msg.nhdrs)
    return 0;
  *name = lt_msg_str(&req->msg, req->msg.hdrs[i].name);
  *value = lt_msg_str(&req->msg, req->msg.hdrs[i].value);
  return 1;
}

const char *lt_request_match(const lt_request *req, const char *name) {
  for (int i = 0; i < req->nmatch; i++)
    if (!strcmp(lt_request_str(req, req->match[i].name), name))
      return lt_request_str(req, req->match[i].value);
  return NULL;
}

const char *lt_request_body(const lt_request *req, size_t *len) {
  *len = req->msg.body.len;
  return req->msg.body.data ? req->msg.body.data : "";
}

int lt_request_body_too_large(const lt_request *req, uint64_t *actual) {
  /* aiohttp's read(): body_size >= client_max_size is refused. */
  int over = req->max_body && req->msg.body_size >= (uint64_t)req->max_body;
  if (actual)
    *actual = over ? req->msg.body_size : 0;
  return over;
}

/* ---- Mocked requests ------------------------------------------------------ */

int lt_request_mock(const lt_mock_spec *spec, lt_request **out) {
  *out = NULL;
  lt_request *req = lt_request_new();
  if (!req)
    return LT_ENOMEM;
  lt_msg *m = &req->msg;
  int r = lt_msg_set_url(m, spec->url, spec->url_len);
  for (int i = 0; i < spec->nheaders && !r; i++) {
    const lt_field *f = &spec->headers[i];
    r = lt_msg_add_header(m, f->name, f->name_len, f->value, f->value_len);
  }
  if (!r && spec->body && lt_buf_append(&m->body, spec->body, spec->body_len))
    r = LT_ENOMEM;
  const char *version = spec->version ? spec->version : "1.1";
  m->major = version[0] == '1' ? 1 : 0;
  m->minor = version[0] && version[1] == '.' ? version[2] - '0' : 1;
  m->keep_alive = !spec->closing && (m->minor == 1 || lt_msg_header(m, "Connection") != NULL);
  m->content_length = spec->body ? (int64_t)spec->body_len : -1;
  const char *cl = lt_msg_header(m, "Content-Length");
  if (cl)
    m->content_length = strtoll(cl, NULL, 10);
  /* The payload is all there, as aiohttp's mock payload is: the limit is
   * checked against its whole length when it is read. */
  m->body_size = spec->body_len;
  if (!r)
    r = lt_request_prepare_as(req, spec->method);
  if (r) {
    lt_request_release(req);
    return r;
  }
  req->max_body = spec->max_body;
  if (spec->remote)
    snprintf(req->remote, sizeof req->remote, "%s", spec->remote);
  if (spec->scheme)
    snprintf(req->scheme, sizeof req->scheme, "%s", spec->scheme);
  *out = req;
  return 0;
}

/* ---- Responses ------------------------------------------------------------ */

void lt_response_init(lt_response *resp) {
  memset(resp, 0, sizeof *resp);
  resp->status = 200;
}

void lt_response_reset(lt_response *resp) {
  resp->status = 200;
  lt_buf_clear(&resp->reason);
  lt_buf_clear(&resp->head);
  lt_buf_clear(&resp->body);
  resp->has_ctype = resp->has_clen = resp->has_conn = 0;
  resp->has_date = resp->has_server = resp->has_te = 0;
  resp->streaming = resp->chunked = 0;
}

void lt_response_free(lt_response *resp) {
  lt_buf_free(&resp->reason);
  lt_buf_free(&resp->head);
  lt_buf_free(&resp->body);
}

const char lt_internal_error_text[] = "500 Internal Server Error\n\nServer got itself in trouble";

int lt_error_text(int status, const char *reason, char *buf, size_t n) {
  return snprintf(buf, n, "%d: %s", status, reason ? reason : lt_status_reason(status));
}

int lt_response_error(lt_response *resp, int status) {
  char text[128];
  lt_error_text(status, NULL, text, sizeof text);
  return lt_response_text(resp, status, text);
}

int lt_response_internal_error(lt_response *resp) {
  return lt_response_text(resp, 500, lt_internal_error_text);
}

void lt_response_status(lt_response *resp, int status) {
  resp->status = status;
}

int lt_response_reason(lt_response *resp, const char *reason) {
  for (const char *s = reason; *s; s++)
    if (*s == '\r' || *s == '\n')
      return LT_EHEADER;
  lt_buf_clear(&resp->reason);
  return lt_buf_puts(&resp->reason, reason) ? LT_ENOMEM : 0;
}

int lt_response_header(lt_response *resp, const char *name, const char *value) {
  size_t nlen = 0;
  for (; name[nlen]; nlen++)
    if (!lt_tchar[(unsigned char)name[nlen]])
      return LT_EHEADER;
  if (!nlen)
    return LT_EHEADER;
  size_t vlen = strcspn(value, "\r\n");
  if (value[vlen])
    return LT_EHEADER;
  /* (by length first: this runs for every header of every response) */
  switch (nlen) {
  case 12:
    resp->has_ctype |= !strcasecmp(name, "Content-Type");
    break;
  case 14:
    resp->has_clen |= !strcasecmp(name, "Content-Length");
    break;
  case 10:
    resp->has_conn |= !strcasecmp(name, "Connection");
    break;
  case 4:
    resp->has_date |= !strcasecmp(name, "Date");
    break;
  case 6:
    resp->has_server |= !strcasecmp(name, "Server");
    break;
  case 17:
    resp->has_te |= !strcasecmp(name, "Transfer-Encoding");
    break;
  }
  lt_buf *h = &resp->head;
  if (lt_buf_reserve(h, nlen + vlen + 4))
    return LT_ENOMEM;
  char *p = h->data + h->len;
  memcpy(p, name, nlen);
  p += nlen;
  *p++ = ':';
  *p++ = ' ';
  memcpy(p, value, vlen);
  p += vlen;
  *p++ = '\r';
  *p++ = '\n';
  *p = '\0';
  h->len = (size_t)(p - h->data);
  return 0;
}

int lt_response_body(lt_response *resp, const void *data, size_t len) {
  lt_buf_clear(&resp->body);
  return lt_buf_append(&resp->body, data, len) ? LT_ENOMEM : 0;
}

int lt_response_text(lt_response *resp, int status, const char *text) {
  lt_response_reset(resp);
  resp->status = status;
  lt_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
  return lt_response_body(resp, text, strlen(text));
}

static int status_has_body(int status) {
  return !(status < 200 || status == 204 || status == 304);
}

int lt_response_serialize(lt_response *resp, lt_request *req, const char *date, lt_buf *out) {
  char line[64] = "HTTP/1.";
  int minor = req->msg.major == 1 ? req->msg.minor : 1;
  size_t n = 7 + lt_fmt_uint(line + 7, (unsigned)minor);
  line[n++] = ' ';
  n += lt_fmt_uint(line + n, (unsigned)resp->status);
  line[n++] = ' ';
  int body = status_has_body(resp->status);
  if (lt_buf_reserve(out, n + resp->head.len + 160 + (req->head ? 0 : resp->body.len)))
    return LT_ENOMEM;
  lt_buf_append(out, line, n);
  if (resp->reason.len)
    lt_buf_append(out, resp->reason.data, resp->reason.len);
  else
    lt_buf_puts(out, lt_status_reason(resp->status));
  lt_buf_append(out, "\r\n", 2);
  lt_buf_append(out, resp->head.data, resp->head.len);
  if (resp->streaming) {
    /* A streamed body without a length is chunked, or in HTTP/1.0 ends when
     * the connection closes. */
    if (body && !resp->has_clen && !resp->has_te) {
      if (minor == 1) {
        lt_buf_puts(out, "Transfer-Encoding: chunked\r\n");
        resp->chunked = 1;
      } else {
        req->keep_alive = 0;
      }
    }
  } else if (body && !resp->has_clen && !resp->has_te) {
    lt_buf_append(out, "Content-Length: ", 16);
    lt_buf_put_uint(out, resp->body.len);
    lt_buf_append(out, "\r\n", 2);
  }
  if (body && !resp->has_ctype && resp->body.len && !resp->streaming)
    lt_buf_puts(out, "Content-Type: application/octet-stream\r\n");
  if (!resp->has_date && date) {
    lt_buf_puts(out, "Date: ");
    lt_buf_puts(out, date);
    lt_buf_append(out, "\r\n", 2);
  }
  if (!resp->has_server)
    lt_buf_puts(out, "Server: luatest/" LT_VERSION "\r\n");
  if (!resp->has_conn) {
    if (!req->keep_alive && minor == 1)
      lt_buf_puts(out, "Connection: close\r\n");
    else if (req->keep_alive && minor == 0)
      lt_buf_puts(out, "Connection: keep-alive\r\n");
  }
  lt_buf_append(out, "\r\n", 2);
  if (body && !req->head && !resp->streaming)
    lt_buf_append(out, resp->body.data, resp->body.len);
  return 0;
}
