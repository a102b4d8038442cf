/* Route matching. Plain paths compare as strings; paths with `{...}` compile
 * to one POSIX extended regex, tried only when the literal prefix matches. */
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

/* Rewrites the Python-style escapes users write in aiohttp patterns into
 * POSIX bracket expressions, and counts the groups the regex opens. */
static int translate_regex(lt_buf *out, const char *s, size_t n, int *groups) {
  int in_bracket = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\\' && i + 1 < n) {
      char e = s[++i];
      const char *rep = NULL;
      switch (e) {
      case 'd':
        rep = in_bracket ? "0-9" : "[0-9]";
        break;
      case 'D':
        rep = "[^0-9]";
        break;
      case 'w':
        rep = in_bracket ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
        break;
      case 'W':
        rep = "[^A-Za-z0-9_]";
        break;
      case 's':
        rep = in_bracket ? " \t\r\n" : "[ \t\r\n]";
        break;
      case 'S':
        rep = "[^ \t\r\n]";
        break;
      }
      if (rep) {
        lt_buf_puts(out, rep);
      } else {
        char esc[2] = {'\\', e};
        lt_buf_append(out, esc, 2);
      }
      continue;
    }
    if (c == '[')
      in_bracket = 1;
    else if (c == ']')
      in_bracket = 0;
    else if (c == '(' && !in_bracket) {
      if (i + 1 < n && s[i + 1] == '?')
        return -1; /* (?:...) and friends are not POSIX */
      (*groups)++;
    }
    lt_buf_append(out, &c, 1);
  }
  return 0;
}

static void add_literal(lt_buf *re, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strchr(".[]()*+?{}|^$\\", s[i]))
      lt_buf_append(re, "\\", 1);
    lt_buf_append(re, s + i, 1);
  }
}

static int compile(lt_route *rt, char *err, size_t errlen) {
  lt_buf re = {0};
  int group = 0;
  const char *p = rt->path;
  lt_buf_puts(&re, "^");
  while (*p) {
    const char *open = strchr(p, '{');
    if (!open) {
      add_literal(&re, p, strlen(p));
      break;
    }
    add_literal(&re, p, (size_t)(open - p));
    /* The closing brace is the one that balances, so {id:\d{2,4}} works. */
    int depth = 0;
    const char *close = open;
    for (; *close; close++) {
      if (*close == '{')
        depth++;
      else if (*close == '}' && --depth == 0)
        break;
    }
    if (!*close) {
      snprintf(err, errlen, "unbalanced '{' in route path '%s'", rt->path);
      goto fail;
    }
    const char *colon = memchr(open, ':', (size_t)(close - open));
    const char *name_end = colon ? colon : close;
    size_t nlen = (size_t)(name_end - open - 1);
    if (nlen == 0 || rt->nparams == LT_MAX_MATCH) {
      snprintf(err, errlen, "bad parameter in route path '%s'", rt->path);
      goto fail;
    }
    for (size_t i = 0; i < nlen; i++)
      if (!isalnum((unsigned char)open[1 + i]) && open[1 + i] != '_') {
        snprintf(err, errlen, "bad parameter name in route path '%s'", rt->path);
        goto fail;
      }
    rt->params[rt->nparams] = strndup(open + 1, nlen);
    rt->groups[rt->nparams] = ++group;
    rt->nparams++;
    lt_buf_puts(&re, "(");
    if (colon) {
      if (translate_regex(&re, colon + 1, (size_t)(close - colon - 1), &group)) {
        snprintf(err, errlen, "unsupported regex in route path '%s'", rt->path);
        goto fail;
      }
    } else {
      lt_buf_puts(&re, "[^{}/]+");
    }
    lt_buf_puts(&re, ")");
    p = close + 1;
  }
  lt_buf_puts(&re, "$");
  int rc = regcomp(&rt->re, re.data, REG_EXTENDED);
  if (rc) {
    char msg[128];
    regerror(rc, &rt->re, msg, sizeof msg);
    snprintf(err, errlen, "bad regex in route path '%s': %s", rt->path, msg);
    goto fail;
  }
  lt_buf_free(&re);
  return 0;
fail:
  lt_buf_free(&re);
  return LT_EPARSE;
}

int lt_router_add(lt_router *r, const char *method, const char *path, lt_handler_fn fn, void *ud,
                  lt_route **out, char *err, size_t errlen) {
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
  const char *brace = strchr(path, '{');
  rt->prefix_len = brace ? (size_t)(brace - path) : strlen(path);
  rt->prefix = strndup(path, rt->prefix_len);
  rt->fn = fn;
  rt->ud = ud;
  if (brace) {
    rt->dynamic = 1;
    if (compile(rt, err, errlen)) {
      rt->dynamic = 0;
      route_free(rt);
      return LT_EPARSE;
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
    return !strcmp(rt->path, path);
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

int lt_router_match(lt_router *r, lt_request *req, lt_match *m) {
  const char *path = lt_request_path(req);
  const char *method = lt_request_method(req);
  regmatch_t gm[LT_MAX_MATCH * 2 + 1];
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
    for (int k = 0; k < rt->nparams; k++) {
      regmatch_t g = gm[rt->groups[k]];
      int rc =
          lt_request_add_match(req, rt->params[k], path + g.rm_so, (size_t)(g.rm_eo - g.rm_so));
      if (rc)
        return rc;
    }
    m->route = rt;
    m->status = 200;
    return 0;
  }
  return 0;
}

int lt_router_resolve(lt_router *r, const char *method, const char *path, lt_match *m) {
  regmatch_t gm[LT_MAX_MATCH * 2 + 1];
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
    return 0;
  }
  return 0;
}
