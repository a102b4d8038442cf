/* Route matching, as aiohttp's UrlDispatcher does it: against the raw
 * (still percent-encoded) path, with the route's literal text requoted the
 * way aiohttp requotes it; match values are decoded afterwards. Plain paths
 * compare as strings; paths with `{...}` compile to one POSIX extended
 * regex, tried only when the literal prefix matches. The `{name:regex}`
 * parts are Python `re` syntax, translated here to POSIX ERE. */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include "router.h"

lt_router *lt_router_new(void) {
  return calloc(1, sizeof(lt_router));
}

static void route_free(lt_route *rt) {
  if (rt->dynamic)
    regfree(&rt->re);
  for (int i = 0; i < rt->nparams; i++)
    free(rt->params[i]);
  free(rt->method);
  free(rt->path);
  free(rt->prefix);
  free(rt);
}

void lt_router_free(lt_router *r) {
  if (!r)
    return;
  for (int i = 0; i < r->n; i++)
    route_free(r->routes[i]);
  free(r->routes);
  free(r);
}

/* ---- Python `re` to POSIX ERE ------------------------------------------------ */

/* A character set as a bitmap of bytes: every class (`[...]`, `\d`, `.`)
 * becomes one, so negated escapes inside sets (`[\D]`) need no POSIX
 * counterpart. */
typedef struct cset {
  unsigned char bit[32];
} cset;

static void cset_add(cset *s, int c) {
  s->bit[c >> 3] |= (unsigned char)(1u << (c & 7));
}

static int cset_has(const cset *s, int c) {
  return (s->bit[c >> 3] >> (c & 7)) & 1;
}

static void cset_range(cset *s, int lo, int hi) {
  for (int c = lo; c <= hi; c++)
    cset_add(s, c);
}

static void cset_invert(cset *s) {
  for (int i = 0; i < 32; i++)
    s->bit[i] = (unsigned char)~s->bit[i];
}

static void cset_merge(cset *s, const cset *t) {
  for (int i = 0; i < 32; i++)
    s->bit[i] |= t->bit[i];
}

/* The class escapes \d \w \s and their negations, ASCII only: a raw path
 * is ASCII (anything else arrives percent-encoded). Returns 0 when e is
 * not one. */
static int class_escape(int e, cset *s) {
  memset(s, 0, sizeof *s);
  switch (tolower(e)) {
  case 'd':
    cset_range(s, '0', '9');
    break;
  case 'w':
    cset_range(s, '0', '9');
    cset_range(s, 'A', 'Z');
    cset_range(s, 'a', 'z');
    cset_add(s, '_');
    break;
  case 's':
    cset_range(s, '\t', '\r');
    cset_add(s, ' ');
    break;
  default:
    return 0;
  }
  if (isupper(e))
    cset_invert(s);
  return 1;
}

typedef struct rx {
  const char *s; /* the Python pattern of one parameter */
  size_t n, i;
  lt_buf *out;
  int *groups; /* POSIX groups opened so far, for the parameters' indices */
  char *err;   /* the construct that failed, for the caller's message */
  size_t errlen;
  int unsupported; /* valid Python, but not expressible in POSIX ERE */
} rx;

static int rx_fail(rx *x, int unsupported, const char *fmt, const char *what) {
  snprintf(x->err, x->errlen, fmt, what);
  x->unsupported = unsupported;
  return -1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One escape after a backslash (x->i is past it), outside or inside a set.
 * A literal byte goes to *lit (returns 1), a class to *set (returns 2);
 * an anchor \A or \Z outside a set returns 3 with *lit '^' or '$'. */
static int rx_escape(rx *x, int in_set, int *lit, cset *set) {
  if (x->i >= x->n)
    return rx_fail(x, 0, "%s", "bad escape (end of pattern)");
  int e = (unsigned char)x->s[x->i++];
  char what[8] = {'\\', (char)e, 0};
  if (class_escape(e, set))
    return 2;
  switch (e) {
  case 'n':
    *lit = '\n';
    return 1;
  case 't':
    *lit = '\t';
    return 1;
  case 'r':
    *lit = '\r';
    return 1;
  case 'f':
    *lit = '\f';
    return 1;
  case 'v':
    *lit = '\v';
    return 1;
  case 'a':
    *lit = '\a';
    return 1;
  case 'x': {
    int hi = x->i < x->n ? hexval((unsigned char)x->s[x->i]) : -1;
    int lo = x->i + 1 < x->n ? hexval((unsigned char)x->s[x->i + 1]) : -1;
    if (hi < 0 || lo < 0 || hi * 16 + lo == 0)
      return rx_fail(x, 0, "incomplete or NUL escape '%s'", "\\x");
    x->i += 2;
    *lit = hi * 16 + lo;
    return 1;
  }
  case 'A':
  case 'Z':
    if (in_set)
      return rx_fail(x, 0, "bad escape '%s' in a character set", what);
    *lit = e == 'A' ? '^' : '$';
    return 3;
  case 'b':
  case 'B':
    if (in_set && e == 'b') {
      *lit = '\b';
      return 1;
    }
    return rx_fail(x, 1, "word boundary '%s' (POSIX regular expressions have none)", what);
  case 'u':
  case 'U':
  case 'N':
    return rx_fail(x, 1, "escape '%s' (write the percent-encoded bytes of the character)", what);
  }
  if (e >= '1' && e <= '9' && !in_set)
    return rx_fail(x, 1, "backreference '%s' (POSIX extended regular expressions have none)", what);
  if (isalnum(e))
    return rx_fail(x, 0, "bad escape '%s'", what);
  *lit = e;
  return 1;
}

/* Appends a set as a POSIX bracket expression: `]` first, `-` last, `^`
 * never first, `[` where it cannot open `[:`; a set holding every high
 * byte is written negated, so it lists ASCII only. */
static void emit_set(lt_buf *out, const cset *s) {
  int neg = 1;
  for (int c = 0x80; c < 0x100; c++)
    neg &= cset_has(s, c);
  cset in = *s;
  if (neg)
    cset_invert(&in);
  in.bit[0] &= (unsigned char)~1u; /* NUL never occurs in a path */
  int count = 0, only = 0;
  for (int c = 1; c < 0x100; c++)
    if (cset_has(&in, c))
      count++, only = c;
  if (neg && count == 0) {
    lt_buf_puts(out, ".");
    return;
  }
  if (!neg && count == 1) {
    char lit[3] = {'\\', (char)only, 0};
    lt_buf_puts(out, strchr(".[]()*+?{}|^$\\", only) ? lit : lit + 1);
    return;
  }
  lt_buf_puts(out, neg ? "[^" : "[");
  if (cset_has(&in, ']'))
    lt_buf_puts(out, "]");
  int emitted = cset_has(&in, ']');
  for (int c = 1; c < 0x100; c++) {
    if (!cset_has(&in, c) || strchr("]^-[", c))
      continue;
    int hi = c;
    while (hi + 1 < 0x100 && cset_has(&in, hi + 1) && !strchr("]^-[", hi + 1))
      hi++;
    char run[4] = {(char)c, 0, 0, 0};
    if (hi > c) {
      run[1] = hi == c + 1 ? (char)hi : '-';
      run[2] = hi == c + 1 ? 0 : (char)hi;
    }
    lt_buf_puts(out, run);
    emitted = 1;
    c = hi;
  }
  if (cset_has(&in, '[')) {
    lt_buf_puts(out, "[");
    emitted = 1;
  }
  if (cset_has(&in, '^') && (emitted || neg))
    lt_buf_puts(out, "^");
  if (cset_has(&in, '-'))
    lt_buf_puts(out, "-");
  if (cset_has(&in, '^') && !emitted && !neg)
    lt_buf_puts(out, "^"); /* after the '-', so it does not negate */
  lt_buf_puts(out, "]");
}

/* A set after its `[` (Python's rules: `]` first is literal, `a-` before
 * the end is literal, ranges only between literals). */
static int rx_set(rx *x, cset *set) {
  memset(set, 0, sizeof *set);
  int negate = x->i < x->n && x->s[x->i] == '^';
  int any = 0;
  x->i += (size_t)negate;
  for (;;) {
    if (x->i >= x->n)
      return rx_fail(x, 0, "%s", "unterminated character set");
    int c = (unsigned char)x->s[x->i++];
    if (c == ']' && any)
      break;
    int lo = c, kind = 1;
    cset cls;
    if (c == '\\' && (kind = rx_escape(x, 1, &lo, &cls)) < 0)
      return -1;
    any = 1;
    if (x->i + 1 < x->n && x->s[x->i] == '-' && x->s[x->i + 1] != ']') {
      x->i++;
      int hi = (unsigned char)x->s[x->i++], hkind = 1;
      cset hcls;
      if (hi == '\\' && (hkind = rx_escape(x, 1, &hi, &hcls)) < 0)
        return -1;
      if (kind != 1 || hkind != 1 || hi < lo)
        return rx_fail(x, 0, "%s", "bad character range");
      cset_range(set, lo, hi);
      continue;
    }
    if (kind == 2)
      cset_merge(set, &cls);
    else
      cset_add(set, lo);
  }
  if (negate)
    cset_invert(set);
  int empty = 1;
  for (int i = 0; i < 32; i++)
    empty &= set->bit[i] == 0 || (i == 0 && set->bit[0] == 1);
  if (empty)
    return rx_fail(x, 1, "%s", "a set that matches nothing, as [^\\s\\S]");
  return 0;
}

/* `{m}`, `{m,}`, `{,n}`, `{m,n}` at x->i (on the `{`): returns 1 and
 * writes the POSIX count to q; 0 when the brace is a literal (as Python
 * reads `a{x` or `a{}`); -1 when m > n. */
static int rx_count(rx *x, char *q, size_t qlen) {
  size_t j = x->i + 1;
  unsigned long lo = 0, hi = 0;
  int has_lo = 0, has_hi = 0, comma = 0;
  while (j < x->n && isdigit((unsigned char)x->s[j]))
    lo = lo * 10 + (unsigned long)(x->s[j++] - '0'), has_lo = 1;
  if (j < x->n && x->s[j] == ',') {
    comma = 1;
    j++;
    while (j < x->n && isdigit((unsigned char)x->s[j]))
      hi = hi * 10 + (unsigned long)(x->s[j++] - '0'), has_hi = 1;
  }
  if (j >= x->n || x->s[j] != '}' || (!has_lo && !comma))
    return 0;
  if (has_hi && hi < lo)
    return rx_fail(x, 0, "%s", "min repeat greater than max repeat");
  if (!comma)
    snprintf(q, qlen, "{%lu}", lo);
  else if (has_hi)
    snprintf(q, qlen, "{%lu,%lu}", lo, hi);
  else
    snprintf(q, qlen, "{%lu,}", lo);
  x->i = j + 1;
  return 1;
}

static const struct {
  const char *open, *what;
} group_exts[] = {
    {"(?=", "lookahead '(?='"},
    {"(?!", "negative lookahead '(?!'"},
    {"(?<=", "lookbehind '(?<='"},
    {"(?<!", "negative lookbehind '(?<!'"},
    {"(?P<", "named group '(?P<name>...)' (the route's {name} is the group)"},
    {"(?P=", "named backreference '(?P=name)'"},
    {"(?>", "atomic group '(?>...)'"},
    {"(?(", "conditional group '(?(...)'"},
    {"(?#", "comment '(?#...)'"},
};

/* Translates one parameter's Python pattern, checking what Python checks
 * (nothing to repeat, multiple repeat, unbalanced parentheses). */
static int rx_translate(rx *x) {
  enum { NONE, ATOM, REPEATED } last = NONE;
  int depth = 0;
  while (x->i < x->n) {
    int c = (unsigned char)x->s[x->i];
    char q[48];
    int counted = 0;
    if (c == '{' && (counted = rx_count(x, q, sizeof q)) < 0)
      return -1;
    if (counted || c == '*' || c == '+' || c == '?') {
      if (!counted)
        snprintf(q, sizeof q, "%c", c);
      if (last == REPEATED) {
        if (c == '?')
          return rx_fail(x, 1, "lazy quantifier '%s' (POSIX regular expressions have none)", "?");
        if (c == '+')
          return rx_fail(x, 1, "possessive quantifier '%s'", "+");
        return rx_fail(x, 0, "%s", "multiple repeat");
      }
      if (last == NONE)
        return rx_fail(x, 0, "%s", "nothing to repeat");
      if (!counted)
        x->i++;
      lt_buf_puts(x->out, q);
      last = REPEATED;
      continue;
    }
    x->i++;
    cset set;
    int lit = c, kind = 1;
    switch (c) {
    case '(':
      if (x->i < x->n && x->s[x->i] == '?') {
        if (x->i + 1 < x->n && x->s[x->i + 1] == ':') {
          x->i += 2;
        } else {
          for (size_t k = 0; k < sizeof group_exts / sizeof group_exts[0]; k++)
            if (!strncmp(x->s + x->i - 1, group_exts[k].open, strlen(group_exts[k].open)))
              return rx_fail(x, 1, "%s (POSIX regular expressions have none)", group_exts[k].what);
          return rx_fail(x, 1, "%s (POSIX regular expressions have none)", "inline flags '(?...)'");
        }
      }
      (*x->groups)++;
      depth++;
      lt_buf_puts(x->out, "(");
      last = NONE;
      continue;
    case ')':
      if (depth == 0)
        return rx_fail(x, 0, "%s", "unbalanced parenthesis");
      depth--;
      lt_buf_puts(x->out, ")");
      last = ATOM;
      continue;
    case '|':
      lt_buf_puts(x->out, "|");
      last = NONE;
      continue;
    case '^':
    case '$':
      lt_buf_append(x->out, &x->s[x->i - 1], 1);
      last = NONE;
      continue;
    case '.':
      /* Python's dot stops at a newline; POSIX's would not. */
      memset(&set, 0, sizeof set);
      cset_add(&set, '\n');
      cset_invert(&set);
      kind = 2;
      break;
    case '[':
      if (rx_set(x, &set))
        return -1;
      kind = 2;
      break;
    case '\\':
      if ((kind = rx_escape(x, 0, &lit, &set)) < 0)
        return -1;
      break;
    }
    if (kind == 3) {
      char anchor = (char)lit;
      lt_buf_append(x->out, &anchor, 1);
      last = NONE;
      continue;
    }
    if (kind == 1) {
      memset(&set, 0, sizeof set);
      cset_add(&set, lit);
    }
    emit_set(x->out, &set);
    last = ATOM;
  }
  if (depth)
    return rx_fail(x, 0, "%s", "missing ), unterminated subpattern");
  return 0;
}

/* ---- route paths -------------------------------------------------------------- */

/* The bytes aiohttp leaves unquoted in a route's literal text (yarl's path
 * quoter); '%' stays too, so a route may spell a byte percent-encoded. */
static int path_safe(int c) {
  return isalnum(c) || (c < 0x80 && c && strchr("-._~!$'()*,+&=;@:/%", c));
}

static void add_requoted(lt_buf *out, const char *s, size_t n, int escape_re) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!path_safe(c)) {
      char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
      lt_buf_append(out, enc, 3);
      continue;
    }
    if (escape_re && strchr(".[]()*+?{}|^$\\", c))
      lt_buf_append(out, "\\", 1);
    lt_buf_append(out, s + i, 1);
  }
}

/* The `}` balancing the `{` at open, so {id:\d{2,4}} is one part; NULL if
 * none. */
static const char *closing_brace(const char *open) {
  int depth = 0;
  for (const char *p = open; *p; p++) {
    if (*p == '{')
      depth++;
    else if (*p == '}' && --depth == 0)
      return p;
  }
  return NULL;
}

static int compile(lt_route *rt, lt_buf *re, char *err, size_t errlen) {
  int group = 0;
  const char *p = rt->path;
  lt_buf_puts(re, "^");
  while (*p) {
    const char *open = strchr(p, '{');
    const char *stray = memchr(p, '}', open ? (size_t)(open - p) : strlen(p));
    if (stray) {
      snprintf(err, errlen, "unbalanced '}' in route path '%s'", rt->path);
      return LT_EPARSE;
    }
    if (!open) {
      add_requoted(re, p, strlen(p), 1);
      break;
    }
    add_requoted(re, p, (size_t)(open - p), 1);
    const char *close = closing_brace(open);
    if (!close) {
      snprintf(err, errlen, "unbalanced '{' in route path '%s'", rt->path);
      return LT_EPARSE;
    }
    const char *colon = memchr(open, ':', (size_t)(close - open));
    const char *name_end = colon ? colon : close;
    size_t nlen = (size_t)(name_end - open - 1);
    if (nlen == 0 || rt->nparams == LT_MAX_MATCH) {
      snprintf(err, errlen, "bad parameter in route path '%s'", rt->path);
      return LT_EPARSE;
    }
    /* aiohttp's names: [_a-zA-Z][_a-zA-Z0-9]* */
    for (size_t i = 0; i < nlen; i++) {
      unsigned char c = (unsigned char)open[1 + i];
      if (!(isalpha(c) || c == '_' || (i > 0 && isdigit(c)))) {
        snprintf(err, errlen, "bad parameter name in route path '%s'", rt->path);
        return LT_EPARSE;
      }
    }
    for (int k = 0; k < rt->nparams; k++)
      if (strlen(rt->params[k]) == nlen && !strncmp(rt->params[k], open + 1, nlen)) {
        snprintf(err, errlen, "parameter '%s' appears twice in route path '%s'", rt->params[k],
                 rt->path);
        return LT_EPARSE;
      }
    if (colon && colon + 1 == close) {
      snprintf(err, errlen, "empty regex in route path '%s'", rt->path);
      return LT_EPARSE;
    }
    rt->params[rt->nparams] = strndup(open + 1, nlen);
    rt->groups[rt->nparams] = ++group;
    rt->nparams++;
    lt_buf_puts(re, "(");
    if (colon) {
      char why[160];
      rx x = {colon + 1, (size_t)(close - colon - 1), 0, re, &group, why, sizeof why, 0};
      if (rx_translate(&x)) {
        snprintf(err, errlen, "%s regex in route path '%s': %s",
                 x.unsupported ? "unsupported" : "bad", rt->path, why);
        return LT_EPARSE;
      }
    } else {
      lt_buf_puts(re, "[^{}/]+");
    }
    lt_buf_puts(re, ")");
    p = close + 1;
  }
  lt_buf_puts(re, "$");
  return 0;
}

int lt_router_translate(const char *path, lt_buf *out, char *err, size_t errlen) {
  lt_route rt = {0};
  rt.path = (char *)path;
  int r = compile(&rt, out, err, errlen);
  for (int i = 0; i < rt.nparams; i++)
    free(rt.params[i]);
  return r;
}

/* An HTTP method is a token (RFC 9110), as aiohttp's HTTP_METHOD_RE has it. */
static int method_ok(const char *m) {
  if (!*m)
    return 0;
  if (!strcmp(m, "*"))
    return 1;
  for (; *m; m++)
    if (!isalnum((unsigned char)*m) && !strchr("!#$%&'*+-.^_`|~", *m))
      return 0;
  return 1;
}

int lt_router_add(lt_router *r, const char *method, const char *path, lt_handler_fn fn, void *ud,
                  lt_route **out, char *err, size_t errlen) {
  if (!method_ok(method)) {
    snprintf(err, errlen, "'%s' is not an HTTP method", method);
    return LT_EPARSE;
  }
  if (path[0] != '/') {
    snprintf(err, errlen, "route path should start with '/': '%s'", path);
    return LT_EPARSE;
  }
  lt_route *rt = calloc(1, sizeof *rt);
  if (!rt)
    return LT_ENOMEM;
  rt->method = strdup(method);
  for (char *m = rt->method; *m; m++)
    *m = (char)toupper((unsigned char)*m);
  rt->path = strdup(path);
  const char *brace = strpbrk(path, "{}");
  size_t literal = brace ? (size_t)(brace - path) : strlen(path);
  lt_buf raw = {0};
  add_requoted(&raw, path, literal, 0);
  rt->prefix_len = raw.len;
  rt->prefix = raw.data ? raw.data : strdup("");
  rt->fn = fn;
  rt->ud = ud;
  if (brace) {
    lt_buf re = {0};
    int rc = compile(rt, &re, err, errlen);
    if (!rc && (rc = regcomp(&rt->re, re.data, REG_EXTENDED))) {
      char msg[128];
      regerror(rc, &rt->re, msg, sizeof msg);
      snprintf(err, errlen, "bad regex in route path '%s': %s", rt->path, msg);
      rc = LT_EPARSE;
    } else if (!rc) {
      rt->dynamic = 1;
    }
    lt_buf_free(&re);
    if (rc) {
      route_free(rt);
      return rc;
    }
  }
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 8;
    lt_route **rs = realloc(r->routes, (size_t)cap * sizeof *rs);
    if (!rs) {
      route_free(rt);
      return LT_ENOMEM;
    }
    r->routes = rs;
    r->cap = cap;
  }
  r->routes[r->n++] = rt;
  if (out)
    *out = rt;
  return 0;
}

static int path_matches(lt_route *rt, const char *path, regmatch_t *gm) {
  if (!rt->dynamic)
    return !strcmp(rt->prefix, path);
  if (strncmp(rt->prefix, path, rt->prefix_len))
    return 0;
  return regexec(&rt->re, path, LT_MAX_MATCH * 2 + 1, gm, 0) == 0;
}

static void add_allowed(lt_match *m, const char *method) {
  /* Keep the list sorted and free of repeats, as aiohttp prints it. */
  char list[16][16];
  int n = 0;
  char copy[sizeof m->allow];
  snprintf(copy, sizeof copy, "%s", m->allow);
  for (char *tok = strtok(copy, ","); tok && n < 16; tok = strtok(NULL, ","))
    snprintf(list[n++], sizeof list[0], "%s", tok);
  for (int i = 0; i < n; i++)
    if (!strcmp(list[i], method))
      return;
  if (n < 16)
    snprintf(list[n++], sizeof list[0], "%s", method);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
      char t[16];
      memcpy(t, list[j], sizeof t);
      memcpy(list[j], list[j - 1], sizeof t);
      memcpy(list[j - 1], t, sizeof t);
    }
  size_t off = 0;
  m->allow[0] = '\0';
  for (int i = 0; i < n && off < sizeof m->allow; i++)
    off += (size_t)snprintf(m->allow + off, sizeof m->allow - off, "%s%s", i ? "," : "", list[i]);
}

/* The path as sent (origin-form, without query or fragment), which aiohttp
 * matches routes against. */
static int raw_path(lt_request *req, lt_buf *out) {
  const char *target = lt_request_origin(req);
  size_t n = strcspn(target, "?#");
  if (n == 0)
    return lt_buf_puts(out, "/") ? LT_ENOMEM : 0;
  return lt_buf_append(out, target, n) ? LT_ENOMEM : 0;
}

/* The length of the UTF-8 sequence at b[0..n), or 0 if none starts there. */
static size_t utf8_len(const unsigned char *b, size_t n) {
  size_t len = b[0] < 0x80                   ? 1
               : b[0] >= 0xC2 && b[0] < 0xE0 ? 2
               : b[0] >= 0xE0 && b[0] < 0xF0 ? 3
               : b[0] >= 0xF0 && b[0] < 0xF5 ? 4
                                             : 0;
  if (len == 0 || len > n)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((b[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/* A match value, percent-decoded as yarl decodes it: escapes that do not
 * make UTF-8 (as "%dd") are kept as sent. */
static int add_value(lt_request *req, const char *name, const char *s, size_t n) {
  lt_buf v = {0};
  unsigned char run[240]; /* a longer run is split, keeping a cut character encoded */
  int oom = 0;
  for (size_t i = 0; i < n;) {
    size_t k = 0, start = i;
    while (k < sizeof run && i + 2 < n && s[i] == '%' && isxdigit((unsigned char)s[i + 1]) &&
           isxdigit((unsigned char)s[i + 2])) {
      char hex[3] = {s[i + 1], s[i + 2], 0};
      run[k++] = (unsigned char)strtol(hex, NULL, 16);
      i += 3;
    }
    if (k == 0) {
      oom |= lt_buf_append(&v, s + i, 1);
      i++;
      continue;
    }
    for (size_t j = 0; j < k;) {
      size_t len = utf8_len(run + j, k - j);
      if (len)
        oom |= lt_buf_append(&v, run + j, len);
      else
        oom |= lt_buf_append(&v, s + start + 3 * j, 3);
      j += len ? len : 1;
    }
  }
  int rc = oom      ? LT_ENOMEM
           : v.data ? lt_request_add_match(req, name, v.data, v.len)
                    : lt_request_add_match(req, name, "", 0);
  lt_buf_free(&v);
  return rc;
}

/* The first route whose pattern matches path and whose method is method;
 * m says 200, 405 with the methods the path allows, or 404. gm holds the
 * matched groups. */
static void find_route(lt_router *r, const char *method, const char *path, regmatch_t *gm,
                       lt_match *m) {
  m->route = NULL;
  m->status = 404;
  m->allow[0] = '\0';
  for (int i = 0; i < r->n; i++) {
    lt_route *rt = r->routes[i];
    if (!path_matches(rt, path, gm))
      continue;
    if (strcmp(rt->method, "*") && strcmp(rt->method, method)) {
      m->status = 405;
      add_allowed(m, rt->method);
      continue;
    }
    m->route = rt;
    m->status = 200;
    return;
  }
}

int lt_router_match(lt_router *r, lt_request *req, lt_match *m) {
  regmatch_t gm[LT_MAX_MATCH * 2 + 1];
  lt_buf path = {0};
  int rc = raw_path(req, &path);
  if (rc) {
    m->route = NULL;
    m->status = 404;
    m->allow[0] = '\0';
    lt_buf_free(&path);
    return rc;
  }
  find_route(r, lt_request_method(req), path.data, gm, m);
  lt_route *rt = m->route;
  for (int k = 0; rt && !rc && k < rt->nparams; k++) {
    regmatch_t g = gm[rt->groups[k]];
    rc = add_value(req, rt->params[k], path.data + g.rm_so, (size_t)(g.rm_eo - g.rm_so));
  }
  if (rc) {
    m->route = NULL;
    m->status = 404;
  }
  lt_buf_free(&path);
  return rc;
}

int lt_router_resolve(lt_router *r, const char *method, const char *path, lt_match *m) {
  regmatch_t gm[LT_MAX_MATCH * 2 + 1];
  find_route(r, method, path, gm, m);
  return 0;
}
