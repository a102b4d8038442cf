/* Unit tests of the route-path translation: aiohttp's `{name:regex}` parts
 * (Python `re`) as POSIX extended regexes, what Python refuses refused the
 * same way, and what POSIX cannot say refused by name. No sockets. */
#include <regex.h>
#include "check.h"
#include "router.h"

/* Whether path matches the route; -1 when the route does not compile. */
static int matches(const char *route, const char *path) {
  lt_buf re = {0};
  char err[256];
  regex_t rx;
  int r = lt_router_translate(route, &re, err, sizeof err);
  if (!r && regcomp(&rx, re.data, REG_EXTENDED | REG_NOSUB))
    r = -2;
  lt_buf_free(&re);
  if (r) {
    fprintf(stderr, "%s: %s\n", route, err);
    return -1;
  }
  r = regexec(&rx, path, 0, NULL, 0) == 0;
  regfree(&rx);
  return r;
}

/* The message for a route that must be refused, or NULL if it compiles. */
static const char *refusal(const char *route) {
  static char err[256];
  lt_buf re = {0};
  int r = lt_router_translate(route, &re, err, sizeof err);
  lt_buf_free(&re);
  return r ? err : NULL;
}

static int has(const char *s, const char *part) {
  return s && strstr(s, part);
}

int main(void) {
  CHECK(matches("/n/{id:\\d+}", "/n/42") == 1);
  CHECK(matches("/n/{id:\\d+}", "/n/4a") == 0);
  CHECK(matches("/y/{y:\\d{4}}", "/y/2024") == 1);
  CHECK(matches("/y/{y:\\d{4}}", "/y/202") == 0);
  CHECK(matches("/y/{y:\\d{2,3}}", "/y/2024") == 0);
  CHECK(matches("/y/{y:\\d{,2}}", "/y/") == 1);
  CHECK(matches("/y/{y:x{2,}}", "/y/xxx") == 1);
  CHECK(matches("/ab/{k:(?:a|b)+}", "/ab/abba") == 1);
  CHECK(matches("/ab/{k:(?:a|b)+}", "/ab/abc") == 0);
  CHECK(matches("/f/{name:[\\w\\-]+\\.txt}", "/f/my-file.txt") == 1);
  CHECK(matches("/f/{name:[\\w\\-]+\\.txt}", "/f/my-filextxt") == 0);
  CHECK(matches("/s/{p:a\\/b}", "/s/a/b") == 1);
  CHECK(matches("/p/{id:%d+}", "/p/%dd") == 1);
  CHECK(matches("/p/{id:%d+}", "/p/42") == 0);
  /* Sets: `]` first, `-` at either end, `^` not first, negated escapes. */
  CHECK(matches("/c/{c:[]a]}", "/c/]") == 1);
  CHECK(matches("/c/{c:[a-]}", "/c/-") == 1);
  CHECK(matches("/c/{c:[\\^x]}", "/c/^") == 1);
  CHECK(matches("/c/{c:[\\^x]}", "/c/y") == 0);
  CHECK(matches("/c/{c:[\\^]}", "/c/^") == 1);
  CHECK(matches("/c/{c:[\\^\\-]}", "/c/-") == 1);
  CHECK(matches("/c/{c:[\\^\\-]}", "/c/a") == 0);
  CHECK(matches("/c/{c:[^\\d]+}", "/c/abc") == 1);
  CHECK(matches("/c/{c:[\\D]+}", "/c/ab1") == 0);
  CHECK(matches("/c/{c:[[:]+}", "/c/[:") == 1);
  CHECK(matches("/c/{c:[Z-_]+}", "/c/[\\]^") == 1);
  CHECK(matches("/c/{c:\\x41}", "/c/A") == 1);
  /* Literal braces where Python reads no count. */
  CHECK(matches("/b/{v:a{x}b}", "/b/a{x}b") == 1);
  CHECK(matches("/b/{v:a{}}", "/b/a{}") == 1);
  /* The literal text is requoted as aiohttp requotes it. */
  CHECK(matches("/sp ace/{x}", "/sp%20ace/1") == 1);
  CHECK(matches("/a.b/{x}", "/aXb/1") == 0);

  CHECK(
      has(refusal("/c/{id:[}"), "bad regex in route path '/c/{id:[}': unterminated character set"));
  CHECK(has(refusal("/c/{id:(a}"), "missing )"));
  CHECK(has(refusal("/c/{id:a)}"), "unbalanced parenthesis"));
  CHECK(has(refusal("/c/{id:*a}"), "nothing to repeat"));
  CHECK(has(refusal("/c/{id:a|*}"), "nothing to repeat"));
  CHECK(has(refusal("/c/{id:a**}"), "multiple repeat"));
  CHECK(has(refusal("/c/{id:a{3,2}}"), "min repeat greater than max repeat"));
  CHECK(has(refusal("/c/{id:[z-a]}"), "bad character range"));
  CHECK(has(refusal("/c/{id:[\\d-z]}"), "bad character range"));
  CHECK(has(refusal("/c/{id:\\q}"), "bad escape '\\q'"));
  CHECK(has(refusal("/c/{id:(?=a)a}"),
            "unsupported regex in route path '/c/{id:(?=a)a}': lookahead"));
  CHECK(has(refusal("/c/{id:(?!a).}"), "negative lookahead"));
  CHECK(has(refusal("/c/{id:(?<=a)b}"), "lookbehind"));
  CHECK(has(refusal("/c/{id:(?P<x>a)}"), "named group"));
  CHECK(has(refusal("/c/{id:(a)\\1}"), "backreference '\\1'"));
  CHECK(has(refusal("/c/{id:(?i)a}"), "inline flags"));
  CHECK(has(refusal("/c/{id:a+?}"), "lazy quantifier"));
  CHECK(has(refusal("/c/{id:\\bx}"), "word boundary"));
  CHECK(has(refusal("/c/{id:}"), "empty regex"));
  CHECK(has(refusal("/c/{1d}"), "bad parameter name"));
  CHECK(has(refusal("/c/{a}/{a}"), "appears twice"));
  CHECK(has(refusal("/c/a}"), "unbalanced '}'"));
  CHECK(has(refusal("/c/{a"), "unbalanced '{'"));
  CHECK(has(refusal("/c/{id:[^\\s\\S]}"), "matches nothing"));
  CHECK(refusal("/c/{id:\\d+}") == NULL);
  return check_done("router");
}
