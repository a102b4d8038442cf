/* libFuzzer target: the HTTP request parser (llhttp and our checks), with
 * pipelined messages. Built twice: plain, and with SPLIT, which parses the
 * same bytes in pieces and requires the same verdict (each message's
 * method, target, headers, body and framing, then the refusal's status). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"
#include "split.h"

static const lt_limits limits = {
    .max_line = 8190, .max_field = 8190, .max_headers = 128, .max_head = 65536, .max_body = 65536};

static void note(lt_buf *v, const char *s, size_t n) {
  char len[16];
  int k = snprintf(len, sizeof len, "%zu:", n);
  lt_buf_append(v, len, (size_t)k);
  lt_buf_append(v, s, n);
}

static void note_msg(lt_buf *v, const lt_msg *m) {
  char head[96];
  int k = snprintf(head, sizeof head, "M%d %d.%d ka=%d up=%d ch=%d cl=%lld ", m->method, m->major,
                   m->minor, m->keep_alive, m->upgrade, m->chunked, (long long)m->content_length);
  lt_buf_append(v, head, (size_t)k);
  note(v, lt_msg_str(m, m->url), m->url_len);
  for (int i = 0; i < m->nhdrs; i++) {
    note(v, lt_msg_str(m, m->hdrs[i].name), m->hdrs[i].name_len);
    note(v, lt_msg_str(m, m->hdrs[i].value), m->hdrs[i].value_len);
  }
  note(v, m->body.data ? m->body.data : "", m->body.len);
}

/* Parses data in pieces (all of it at once when s is NULL) into a verdict. */
static void verdict(const uint8_t *data, size_t size, split_state *s, lt_buf *v) {
  lt_parser p;
  lt_parser_init(&p, HTTP_REQUEST, &limits);
  lt_msg m;
  lt_msg_init(&m);
  size_t off = 0, end = 0;
  while (off < size) {
    if (off == end)
      end = off + (s ? split_next(s, size - off) : size - off);
    long r = lt_parser_feed(&p, &m, (const char *)data + off, end - off);
    if (r < 0) {
      char e[32];
      lt_buf_append(v, e, (size_t)snprintf(e, sizeof e, "E%d", p.status));
      break;
    }
    off += (size_t)r;
    if (p.done) {
      note_msg(v, &m);
      lt_parser_next(&p);
    }
  }
  lt_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_buf whole = {0};
  verdict(data, size, NULL, &whole);
#ifdef SPLIT
  lt_buf pieces = {0};
  split_state s;
  split_init(&s, data, size);
  verdict(data, size, &s, &pieces);
  if (!split_same(&pieces, &whole))
    abort(); /* the verdict depends on the split */
  lt_buf_free(&pieces);
#endif
  lt_buf_free(&whole);
  return 0;
}
