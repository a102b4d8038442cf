/* RFC 6455 checks on client frames, incrementally over any split of the
 * byte stream. UTF-8 is checked across the frames of a text message, with
 * the byte ranges of RFC 3629 (no overlongs, surrogates or values past
 * U+10FFFF). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wsframe.h"
#include "coding.h"
#include "luatest.h"

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

void lt_wsframe_init(lt_wsframe *f) {
  memset(f, 0, sizeof *f);
  f->hdr_need = 2;
}

/* The mask as a word lined up with byte `pos` of the payload: it stays
 * lined up for every multiple of 8 bytes after it. */
static uint64_t mask_word(const uint8_t mask[4], size_t pos) {
  uint8_t m[8];
  for (int j = 0; j < 8; j++)
    m[j] = mask[(pos + (size_t)j) & 3];
  uint64_t w;
  memcpy(&w, m, sizeof w);
  return w;
}

#define HIGH_BITS 0x8080808080808080ull

static int utf8_scan(lt_wsframe *f, const uint8_t *p, size_t n, const uint8_t mask[4],
                     unsigned pos) {
  for (size_t k = 0; k < n;) {
    if (!f->utf8_need && n - k >= 8) {
      /* Runs of ASCII, most of a text message, eight bytes at a time. */
      uint64_t m = mask_word(mask, pos + k), w;
      for (; n - k >= 8; k += 8) {
        memcpy(&w, p + k, sizeof w);
        if ((w ^ m) & HIGH_BITS)
          break;
      }
      if (k == n)
        break;
    }
    uint8_t b = p[k] ^ mask[(pos + k) & 3];
    k++;
    if (f->utf8_need) {
      if (b < f->utf8_lo || b > f->utf8_hi)
        return -1;
      f->utf8_lo = 0x80, f->utf8_hi = 0xBF;
      f->utf8_need--;
    } else if (b >= 0x80) {
      f->utf8_lo = 0x80, f->utf8_hi = 0xBF;
      if (b >= 0xC2 && b <= 0xDF)
        f->utf8_need = 1;
      else if (b == 0xE0)
        f->utf8_need = 2, f->utf8_lo = 0xA0;
      else if (b == 0xED)
        f->utf8_need = 2, f->utf8_hi = 0x9F;
      else if (b >= 0xE1 && b <= 0xEF)
        f->utf8_need = 2;
      else if (b == 0xF0)
        f->utf8_need = 3, f->utf8_lo = 0x90;
      else if (b == 0xF4)
        f->utf8_need = 3, f->utf8_hi = 0x8F;
      else if (b >= 0xF1 && b <= 0xF3)
        f->utf8_need = 3;
      else
        return -1;
    }
  }
  return 0;
}

int lt_wsframe_utf8_valid(const char *p, size_t n) {
  lt_wsframe f;
  static const uint8_t no_mask[4];
  memset(&f, 0, sizeof f);
  return utf8_scan(&f, (const uint8_t *)p, n, no_mask, 0) == 0 && !f.utf8_need;
}

static int fail(lt_wsframe *f, int code, const char *reason) {
  f->failed = code;
  f->reason = reason;
  return code;
}

/* The first byte of a frame. */
static int check_first(lt_wsframe *f, uint8_t b) {
  f->fin = b >> 7;
  f->opcode = b & 0x0F;
  /* RSV1 is permessage-deflate's, on the first frame of a data message. */
  if ((b & 0x30) || ((b & 0x40) && (!f->rsv1_ok || f->opcode == OP_CONT || (f->opcode & 8))))
    return fail(f, 1002, "reserved bits set");
  switch (f->opcode) {
  case OP_CONT:
    if (!f->in_message)
      return fail(f, 1002, "continuation frame outside a message");
    return 0;
  case OP_TEXT:
  case OP_BINARY:
    if (f->in_message)
      return fail(f, 1002, "new message inside a fragmented one");
    f->message_text = f->opcode == OP_TEXT;
    f->message_compressed = (b & 0x40) != 0;
    f->utf8_need = 0;
    f->message_bytes = 0;
    return 0;
  case OP_CLOSE:
  case OP_PING:
  case OP_PONG:
    if (!f->fin)
      return fail(f, 1002, "fragmented control frame");
    return 0;
  default:
    return fail(f, 1002, "reserved opcode");
  }
}

/* The header is complete: length and mask. */
static int check_header(lt_wsframe *f) {
  uint8_t len7 = f->hdr[1] & 0x7F;
  const uint8_t *ext = f->hdr + 2;
  uint64_t len = len7;
  if (len7 == 126) {
    len = (uint64_t)ext[0] << 8 | ext[1];
    ext += 2;
  } else if (len7 == 127) {
    if (ext[0] & 0x80)
      return fail(f, 1002, "frame length over 63 bits");
    len = 0;
    for (int i = 0; i < 8; i++)
      len = len << 8 | ext[i];
    ext += 8;
  }
  memcpy(f->mask, ext, 4);
  f->mask_pos = 0;
  f->left = len;
  if (f->opcode == OP_CLOSE && len == 1)
    return fail(f, 1002, "close frame with a one-byte payload");
  return 0;
}

static int valid_close_code(unsigned code) {
  if (code < 1000 || code >= 5000)
    return 0;
  if (code >= 3000)
    return 1;
  return code <= 1003 || (code >= 1007 && code <= 1014);
}

static void unmask(const lt_wsframe *f, const uint8_t *raw, size_t n, uint8_t *out) {
  for (size_t k = 0; k < n; k++)
    out[k] = raw[k] ^ f->mask[k & 3];
}

/* The frame's last byte was scanned. */
static int frame_end(lt_wsframe *f) {
  if (f->opcode & 8) {
    uint8_t payload[125];
    size_t n = f->ctl_len - f->ctl_hdr;
    unmask(f, f->ctl + f->ctl_hdr, n, payload);
    if (f->opcode == OP_CLOSE && n >= 2) {
      if (!valid_close_code((unsigned)payload[0] << 8 | payload[1]))
        return fail(f, 1002, "invalid close code");
      if (!lt_wsframe_utf8_valid((const char *)payload + 2, n - 2))
        return fail(f, 1007, "close reason is not UTF-8");
    }
    if (f->hold && f->on_control)
      f->on_control(f->ud, f->opcode, (const char *)payload, n, (const char *)f->ctl, f->ctl_len);
  } else {
    if (f->fin && f->message_text && !f->message_compressed && f->utf8_need)
      return fail(f, 1007, "text message ends inside a UTF-8 sequence");
    f->in_message = !f->fin;
    if (f->fin && f->on_data)
      f->on_data(f->ud, NULL, 0, 1);
  }
  f->hdr_len = 0;
  f->hdr_need = 2;
  f->ctl_len = 0;
  f->hold = 0;
  return 0;
}

int lt_wsframe_feed(lt_wsframe *f, const char *data, size_t n) {
  if (f->failed)
    return f->failed;
  const uint8_t *p = (const uint8_t *)data;
  /* Bytes from `run` to `i` are passed on at the next held frame or the
   * end; while a frame is held, run stays at n. */
  size_t i = 0, run = f->hold ? n : 0, frame_start = 0;
  int r = 0, began_here = 0;
  while (i < n && !r) {
    if (f->hdr_need) {
      uint8_t b = p[i];
      if (f->hdr_len == 0) {
        frame_start = i;
        began_here = 1;
        if ((r = check_first(f, b)))
          break;
        f->hold = ((f->opcode == OP_PING || f->opcode == OP_PONG) && f->hold_pings) ||
                  (f->opcode == OP_CLOSE && f->hold_close);
        if (f->hold) {
          if (i > run && f->on_pass)
            f->on_pass(f->ud, data + run, i - run);
          run = n; /* nothing passes until the held frame ends */
        }
      } else if (f->hdr_len == 1) {
        if (!(b & 0x80)) {
          r = fail(f, 1002, "unmasked client frame");
          break;
        }
        uint8_t len7 = b & 0x7F;
        if ((f->opcode & 8) && len7 > 125) {
          r = fail(f, 1002, "control frame longer than 125 bytes");
          break;
        }
        f->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
      }
      f->hdr[f->hdr_len++] = b;
      if (f->opcode & 8)
        f->ctl[f->ctl_len++] = b;
      i++;
      if (f->hdr_len == f->hdr_need) {
        f->hdr_need = 0;
        f->ctl_hdr = f->ctl_len;
        if ((r = check_header(f)))
          break;
        if (!f->left && (r = frame_end(f)) == 0 && run == n)
          run = i;
      }
      continue;
    }
    size_t take = n - i < f->left ? n - i : (size_t)f->left;
    int too_big = 0;
    if (!(f->opcode & 8) && f->max_message && f->message_bytes + take > f->max_message) {
      take = (size_t)(f->max_message - f->message_bytes); /* what is allowed is still checked */
      too_big = 1;
    }
    if (f->opcode & 8) {
      memcpy(f->ctl + f->ctl_len, p + i, take);
      f->ctl_len += (unsigned)take;
    } else if (f->message_text && !f->message_compressed &&
               utf8_scan(f, p + i, take, f->mask, f->mask_pos)) {
      r = fail(f, 1007, "invalid UTF-8 in a text message");
      break;
    } else if (f->on_data) {
      uint8_t out[4096];
      for (size_t done = 0; done < take;) {
        size_t k = take - done < sizeof out ? take - done : sizeof out, j = 0;
        const uint8_t *src = p + i + done;
        size_t at = f->mask_pos + done;
        uint64_t m = mask_word(f->mask, at), w;
        for (; k - j >= 8; j += 8) {
          memcpy(&w, src + j, sizeof w);
          w ^= m;
          memcpy(out + j, &w, sizeof w);
        }
        for (; j < k; j++)
          out[j] = src[j] ^ f->mask[(at + j) & 3];
        f->on_data(f->ud, (const char *)out, k, 0);
        done += k;
      }
    }
    if (too_big) {
      r = fail(f, 1009, "message too big");
      break;
    }
    if (!(f->opcode & 8))
      f->message_bytes += take;
    f->mask_pos += (unsigned)take;
    f->left -= take;
    i += take;
    if (!f->left) {
      int held = f->hold;
      if ((r = frame_end(f)) == 0 && held)
        run = i;
    }
  }
  if (r) {
    f->cut = !began_here && !f->hold;
    /* Nothing of the offending frame goes on from this call. */
    size_t end = frame_start < i ? frame_start : i;
    if (end > run && f->on_pass)
      f->on_pass(f->ud, data + run, end - run);
    return r;
  }
  if (n > run && f->on_pass)
    f->on_pass(f->ud, data + run, n - run);
  return 0;
}

/* ---- the decoder ----------------------------------------------------------------- */

static void decoder_fail(lt_wsdecoder *d, int code, const char *reason) {
  if (!d->failed)
    d->failed = code, d->reason = reason;
}

/* A compressed message's wire bytes (NULL at its end): inflated into msg,
 * text checked as UTF-8 as it comes out. */
static void inflated_data(lt_wsdecoder *d, const char *data, size_t n, int message_end) {
  static const uint8_t no_mask[4];
  size_t from = d->msg.len;
  int r = lt_wsinflate_feed(d->inflate, data, n, message_end, &d->msg, d->max_msg_size);
  /* What came out is checked first, so the verdict is the same however
   * the bytes were cut. */
  if (d->frames.message_text &&
      utf8_scan(&d->frames, (const uint8_t *)d->msg.data + from, d->msg.len - from, no_mask, 0))
    decoder_fail(d, 1007, "invalid UTF-8 in a text message");
  else if (r == LT_ETOOLARGE)
    decoder_fail(d, 1009, "message too big");
  else if (r == LT_EENCODING)
    decoder_fail(d, 1002, "invalid compressed data");
  else if (r)
    decoder_fail(d, 1011, "out of memory");
  else if (message_end && d->frames.message_text && d->frames.utf8_need)
    decoder_fail(d, 1007, "text message ends inside a UTF-8 sequence");
}

static void decoded_data(void *ud, const char *data, size_t n, int message_end) {
  lt_wsdecoder *d = ud;
  if (d->failed)
    return;
  if (d->frames.message_compressed) {
    inflated_data(d, data, n, message_end);
    if (d->failed)
      return;
  }
  if (message_end) {
    d->on_message(d->ud, d->frames.message_text ? OP_TEXT : OP_BINARY,
                  d->msg.data ? d->msg.data : "", d->msg.len);
    d->msg.len = 0;
    return;
  }
  if (!d->frames.message_compressed && lt_buf_append(&d->msg, data, n))
    decoder_fail(d, 1011, "out of memory");
}

static void decoded_control(void *ud, int opcode, const char *payload, size_t n, const char *raw,
                            size_t raw_len) {
  lt_wsdecoder *d = ud;
  (void)raw, (void)raw_len;
  if (!d->failed)
    d->on_message(d->ud, opcode, payload, n);
}

void lt_wsdecoder_init(lt_wsdecoder *d, size_t max_msg_size) {
  memset(d, 0, sizeof *d);
  lt_wsframe_init(&d->frames);
  d->frames.hold_pings = d->frames.hold_close = 1;
  d->frames.on_data = decoded_data;
  d->frames.on_control = decoded_control;
  d->frames.ud = d;
  d->frames.max_message = max_msg_size;
  d->max_msg_size = max_msg_size;
}

int lt_wsdecoder_feed(lt_wsdecoder *d, const char *p, size_t n) {
  if (d->failed)
    return d->failed;
  int code = lt_wsframe_feed(&d->frames, p, n);
  if (code)
    decoder_fail(d, code, d->frames.reason);
  return d->failed;
}

int lt_wsdecoder_enable_deflate(lt_wsdecoder *d) {
  if (!d->inflate && !(d->inflate = lt_wsinflate_new()))
    return LT_ENOMEM;
  d->frames.rsv1_ok = 1;
  return 0;
}

void lt_wsdecoder_free(lt_wsdecoder *d) {
  lt_buf_free(&d->msg);
  lt_wsinflate_free(d->inflate);
  d->inflate = NULL;
}

/* ---- permessage-deflate negotiation ------------------------------------------- */

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* aiohttp's _WS_EXT_RE on one offer's parameters p[0..n): "(; *param)*"
 * with nothing else, each param one of server_no_context_takeover,
 * client_no_context_takeover, server_max_window_bits[=digits],
 * client_max_window_bits[=digits]; a repeated one counts with its last
 * value, as Python's groups. Returns 0 when they do not match; *bits is
 * server_max_window_bits' value (-1: none given; 99: out of range). */
static int match_params(const char *p, size_t n, int *bits, int *server_no_takeover) {
  static const char *const names[] = {"server_no_context_takeover", "client_no_context_takeover",
                                      "server_max_window_bits", "client_max_window_bits"};
  size_t i = 0;
  *bits = -1;
  *server_no_takeover = 0;
  while (i < n) {
    if (p[i++] != ';')
      return 0;
    while (i < n && is_space(p[i]))
      i++;
    int which = -1;
    for (int k = 0; k < 4 && which < 0; k++) {
      size_t len = strlen(names[k]);
      if (n - i >= len && !memcmp(p + i, names[k], len))
        which = k, i += len;
    }
    if (which < 0)
      return 0;
    if (which >= 2 && i < n && p[i] == '=') {
      size_t j = i + 1;
      long v = 0;
      while (j < n && p[j] >= '0' && p[j] <= '9') {
        if (v < 1000)
          v = v * 10 + (p[j] - '0');
        j++;
      }
      if (j == i + 1)
        return 0; /* "=" with no digits matches nothing */
      if (which == 2)
        *bits = v > 99 ? 99 : (int)v;
      i = j;
    }
    if (which == 0)
      *server_no_takeover = 1;
  }
  return 1;
}

int lt_wsdeflate_accept(const char *offers, int *no_takeover) {
  static const char name[] = "permessage-deflate";
  *no_takeover = 0;
  if (!offers)
    return 0;
  const char *at = offers;
  while ((at = strstr(at, name))) {
    const char *params = at + sizeof name - 1;
    size_t n = strcspn(params, ",");
    at = params + n;
    if (!n)
      return 15;
    int bits, server_no_takeover;
    if (!match_params(params, n, &bits, &server_no_takeover))
      continue;
    if (bits >= 0 && (bits < 9 || bits > 15))
      continue; /* a window zlib cannot make: the next offer */
    *no_takeover = server_no_takeover;
    return bits >= 0 ? bits : 15;
  }
  return 0;
}

void lt_wsdeflate_answer(int window_bits, int no_takeover, char *out, size_t size) {
  int n = snprintf(out, size, "permessage-deflate");
  if (window_bits < 15 && n > 0 && (size_t)n < size)
    n += snprintf(out + n, size - (size_t)n, "; server_max_window_bits=%d", window_bits);
  if (no_takeover && n > 0 && (size_t)n < size)
    snprintf(out + n, size - (size_t)n, "; server_no_context_takeover");
}
