/* core.fs_watch(): what --watch waits on. A watcher owns one uv_fs_event
 * per directory (inotify is not recursive: the caller adds each directory
 * of a tree) and the uv_signal handles of the signals it catches; the
 * events collect in a list that wait() hands over. Its handles keep the
 * loop alive only while a task waits in wait(), so that a run between
 * waits still finds a test that waits on nothing. close() (or __gc, which
 * only requests it) closes the handles; the memory goes when the last one
 * has closed and the box is gone. */
#include <stdlib.h>
#include <string.h>
#include "lfswatch.h"
#include "runtime.h"

#define WATCHER "luatest.FsWatcher"
#define MAX_SIGNALS 4

typedef struct watcher watcher;

typedef struct wdir {
  uv_fs_event_t h;
  watcher *w;
  char *path;
} wdir;

typedef struct wsig {
  uv_signal_t h;
  watcher *w;
  int started;
} wsig;

struct watcher {
  ltl_state *S;
  wdir **dirs;
  int ndirs, capdirs;
  wsig sigs[MAX_SIGNALS];
  int nsigs;
  int open; /* handles not closed yet */
  int closed, box_gone;
  char **pending;
  int npending, cappending;
  int caught; /* the signal received, 0 when none */
  ltl_task *waiter;
  unsigned waiter_gen;
};

typedef struct wbox {
  watcher *w;
} wbox;

static void clear_pending(watcher *w) {
  for (int i = 0; i < w->npending; i++)
    free(w->pending[i]);
  w->npending = 0;
}

static void maybe_free(watcher *w) {
  if (w->open > 0 || !w->box_gone || w->waiter)
    return;
  clear_pending(w);
  free(w->pending);
  free(w->dirs);
  free(w);
}

static void set_ref(watcher *w, int on) {
  for (int i = 0; i < w->ndirs; i++)
    on ? uv_ref((uv_handle_t *)&w->dirs[i]->h) : uv_unref((uv_handle_t *)&w->dirs[i]->h);
  for (int i = 0; i < w->nsigs; i++)
    on ? uv_ref((uv_handle_t *)&w->sigs[i].h) : uv_unref((uv_handle_t *)&w->sigs[i].h);
}

static void wake(watcher *w) {
  ltl_task *t = w->waiter;
  if (t && t->gen == w->waiter_gen) {
    ltl_timer_stop(t);
    ltl_wake(t, 0);
  }
}

static void add_pending(watcher *w, const char *dir, const char *name) {
  size_t n = strlen(dir) + (name ? strlen(name) + 1 : 0) + 1;
  char *path = malloc(n);
  if (!path)
    return;
  strcpy(path, dir);
  if (name) {
    strcat(path, "/");
    strcat(path, name);
  }
  for (int i = 0; i < w->npending; i++) {
    if (!strcmp(w->pending[i], path)) {
      free(path);
      return;
    }
  }
  if (w->npending == w->cappending) {
    int cap = w->cappending ? 2 * w->cappending : 16;
    char **p = realloc(w->pending, sizeof *p * (size_t)cap);
    if (!p) {
      free(path);
      return;
    }
    w->pending = p;
    w->cappending = cap;
  }
  w->pending[w->npending++] = path;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  (void)events;
  wdir *d = h->data;
  if (status < 0 || d->w->closed)
    return;
  add_pending(d->w, d->path, filename);
  wake(d->w);
}

static void on_signal(uv_signal_t *h, int signum) {
  wsig *s = h->data;
  s->w->caught = signum;
  wake(s->w);
}

static void on_dir_closed(uv_handle_t *h) {
  wdir *d = h->data;
  watcher *w = d->w;
  free(d->path);
  free(d);
  w->open--;
  maybe_free(w);
}

static void on_sig_closed(uv_handle_t *h) {
  watcher *w = ((wsig *)h->data)->w;
  w->open--;
  maybe_free(w);
}

static void close_watcher(watcher *w) {
  if (w->closed)
    return;
  w->closed = 1;
  for (int i = 0; i < w->ndirs; i++)
    uv_close((uv_handle_t *)&w->dirs[i]->h, on_dir_closed);
  w->ndirs = 0;
  for (int i = 0; i < w->nsigs; i++)
    uv_close((uv_handle_t *)&w->sigs[i].h, on_sig_closed);
  wake(w);
}

static watcher *check_open(lua_State *L, const char *call) {
  wbox *b = luaL_checkudata(L, 1, WATCHER);
  if (!b->w || b->w->closed)
    luaL_error(L, "%s: attempt to use a closed watcher", call);
  return b->w;
}

/* core.fs_watch() -> a watcher (no directory yet). */
static int l_fs_watch(lua_State *L) {
  watcher *w = calloc(1, sizeof *w);
  if (!w)
    return luaL_error(L, "fs_watch: out of memory");
  w->S = ltl_S(L);
  wbox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->w = w;
  luaL_setmetatable(L, WATCHER);
  return 1;
}

/* watcher:add(dir) -> true, or nil and a message: reports the changes of
 * the entries of dir (not of its subdirectories). */
static int l_add(lua_State *L) {
  watcher *w = check_open(L, "watcher:add");
  const char *path = luaL_checkstring(L, 2);
  if (w->ndirs == w->capdirs) {
    int cap = w->capdirs ? 2 * w->capdirs : 16;
    wdir **p = realloc(w->dirs, sizeof *p * (size_t)cap);
    if (!p)
      return luaL_error(L, "watcher:add: out of memory");
    w->dirs = p;
    w->capdirs = cap;
  }
  wdir *d = calloc(1, sizeof *d);
  char *copy = d ? malloc(strlen(path) + 1) : NULL;
  if (!copy) {
    free(d);
    return luaL_error(L, "watcher:add: out of memory");
  }
  strcpy(copy, path);
  d->w = w;
  d->path = copy;
  uv_fs_event_init(w->S->loop->uv, &d->h);
  d->h.data = d;
  w->open++;
  int r = uv_fs_event_start(&d->h, on_fs_event, path, 0);
  if (r) {
    uv_close((uv_handle_t *)&d->h, on_dir_closed);
    lua_pushnil(L);
    lua_pushfstring(L, "watcher:add: %s: %s", path, uv_strerror(r));
    return 2;
  }
  uv_unref((uv_handle_t *)&d->h);
  w->dirs[w->ndirs++] = d;
  lua_pushboolean(L, 1);
  return 1;
}

/* watcher:catch(signum): from now on signum ends a wait (see wait). */
static int l_catch(lua_State *L) {
  watcher *w = check_open(L, "watcher:catch");
  int signum = (int)luaL_checkinteger(L, 2);
  for (int i = 0; i < w->nsigs; i++) {
    if (w->sigs[i].h.signum == signum && w->sigs[i].started)
      return 0;
  }
  wsig *s = NULL;
  for (int i = 0; i < w->nsigs && !s; i++)
    if (!w->sigs[i].started)
      s = &w->sigs[i];
  if (!s) {
    if (w->nsigs == MAX_SIGNALS)
      return luaL_error(L, "watcher:catch: at most %d signals", MAX_SIGNALS);
    s = &w->sigs[w->nsigs++];
    uv_signal_init(w->S->loop->uv, &s->h);
    s->h.data = s;
    s->w = w;
    w->open++;
    uv_unref((uv_handle_t *)&s->h);
  }
  int r = uv_signal_start(&s->h, on_signal, signum);
  if (r)
    return luaL_error(L, "watcher:catch: %s", uv_strerror(r));
  s->started = 1;
  return 0;
}

/* watcher:release(): the signals caught take their default action again
 * (a run between waits can be interrupted). */
static int l_release(lua_State *L) {
  watcher *w = check_open(L, "watcher:release");
  for (int i = 0; i < w->nsigs; i++) {
    if (w->sigs[i].started)
      uv_signal_stop(&w->sigs[i].h);
    w->sigs[i].started = 0;
  }
  return 0;
}

static void cancel_wait(ltl_task *t) {
  watcher *w = t->op;
  ltl_timer_stop(t);
  w->waiter = NULL;
  if (!w->closed)
    set_ref(w, 0);
  maybe_free(w);
}

/* Pushes what wait returns, and forgets it. */
static int push_changes(lua_State *L, watcher *w) {
  if (w->caught) {
    lua_pushnil(L);
    lua_pushliteral(L, "signal");
    lua_pushinteger(L, w->caught);
    w->caught = 0;
    return 3;
  }
  lua_createtable(L, w->npending, 0);
  for (int i = 0; i < w->npending; i++) {
    lua_pushstring(L, w->pending[i]);
    lua_rawseti(L, -2, i + 1);
  }
  clear_pending(w);
  return 1;
}

static int wait_results(ltl_task *t, void *op) {
  watcher *w = op;
  w->waiter = NULL;
  ltl_timer_stop(t);
  if (!w->closed)
    set_ref(w, 0);
  int n = push_changes(t->co, w);
  maybe_free(w);
  return n;
}

/* watcher:wait([seconds]) -> the paths changed since the last wait (dir/name,
 * each once; empty when the time ran out first), or nil, "signal", signum
 * when a caught signal came. Without seconds it waits for either. */
static int l_wait(lua_State *L) {
  watcher *w = check_open(L, "watcher:wait");
  double seconds = luaL_optnumber(L, 2, -1);
  if (w->caught || w->npending > 0)
    return push_changes(L, w);
  ltl_task *t = ltl_need_task(L, "watcher:wait");
  if (w->waiter)
    return luaL_error(L, "watcher:wait: another task is waiting on this watcher");
  w->waiter = t;
  w->waiter_gen = t->gen;
  set_ref(w, 1);
  if (seconds >= 0)
    ltl_timer_start(t, seconds, NULL);
  return ltl_wait_for(L, t, "watcher:wait()", cancel_wait, w, wait_results);
}

static int l_close(lua_State *L) {
  wbox *b = luaL_checkudata(L, 1, WATCHER);
  if (b->w)
    close_watcher(b->w);
  return 0;
}

static int l_gc(lua_State *L) {
  wbox *b = luaL_checkudata(L, 1, WATCHER);
  watcher *w = b->w;
  if (w) {
    b->w = NULL;
    close_watcher(w);
    w->box_gone = 1;
    maybe_free(w);
  }
  return 0;
}

static const luaL_Reg methods[] = {
    {"add", l_add},   {"catch", l_catch}, {"release", l_release},
    {"wait", l_wait}, {"close", l_close}, {NULL, NULL},
};

static const luaL_Reg meta[] = {
    {"__gc", l_gc},
    {"__close", l_close},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"fs_watch", l_fs_watch},
    {NULL, NULL},
};

void ltl_open_fswatch(lua_State *L) {
  ltl_newclass(L, WATCHER, meta, methods);
  ltl_setfuncs(L, funcs);
}
