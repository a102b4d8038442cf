/* The luatest command: a Lua state with the luatest modules, running the
 * command line. Process-wide things a host must not get live here: a fatal
 * signal (a crash in a C handler) still ends a serial run with a report. */
#include <signal.h>
#include <time.h>
#include <sys/time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "compat.h"
#include "luatest.h"
#include "ws.h"

/* What to print if the process dies now: set by the runner before each
 * test (luatest.binary.crash_note), written by the handler with write(2). */
static char crash_test[1024];
/* The counts of the closing line so far, the busy test counted as failed. */
static long crash_passed, crash_failed, crash_skipped;
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[NFATAL]; /* e.g. AddressSanitizer's */

static void put(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, s, n);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void put_count(long n, const char *what) {
  char digits[24];
  int i = (int)sizeof digits;
  digits[--i] = '\0';
  do {
    digits[--i] = (char)('0' + n % 10);
    n /= 10;
  } while (n > 0 && i > 0);
  put(digits + i);
  put(what);
}

/* The closing line, as luatest.report.base's summary writes it (formatted
 * here: snprintf is not safe in a signal handler). */
static void put_counts(void) {
  put_count(crash_passed, " passed, ");
  put_count(crash_failed, " failed");
  if (crash_skipped > 0) {
    put(", ");
    put_count(crash_skipped, " skipped");
  }
  put("\n");
}

static const char *signal_name(int sig) {
  switch (sig) {
  case SIGSEGV:
    return "SIGSEGV";
  case SIGBUS:
    return "SIGBUS";
  case SIGFPE:
    return "SIGFPE";
  case SIGILL:
    return "SIGILL";
  default:
    return "SIGABRT";
  }
}

static void on_fatal_signal(int sig) {
  if (crash_test[0]) {
    /* What the text report had buffered goes first, unless the crash came
     * from inside stdio (then its lock is held and flushing would hang). */
    if (ftrylockfile(stdout) == 0) {
      fflush_unlocked(stdout);
      funlockfile(stdout);
    }
    put("\nCRASH ");
    put(crash_test);
    put(": the process died of ");
    put(signal_name(sig));
    put(" while this test ran (a C handler or module); nothing after it ran\n\n");
    put_counts();
  }
  /* The handler that was there before (the default, or a sanitizer's that
   * prints its own report) takes the signal from here. */
  for (size_t i = 0; i < NFATAL; i++)
    if (fatal_signals[i] == sig)
      sigaction(sig, &previous[i], NULL);
  raise(sig);
}

/* luatest.binary.crash_note(test_id, passed, failed, skipped): the counts
 * of the closing line should the test crash, itself among the failed; no
 * arguments clears it. (Numbers, not the line: it is set for every test.) */
static int l_crash_note(lua_State *L) {
  size_t len;
  const char *test = luaL_optlstring(L, 1, "", &len);
  if (len >= sizeof crash_test)
    len = sizeof crash_test - 1;
  memcpy(crash_test, test, len);
  crash_test[len] = '\0';
  crash_passed = (long)luaL_optinteger(L, 2, 0);
  crash_failed = (long)luaL_optinteger(L, 3, 0);
  crash_skipped = (long)luaL_optinteger(L, 4, 0);
  return 0;
}

static void install_crash_report(lua_State *L) {
  static char alt_stack[64 * 1024]; /* a stack overflow still gets a report */
  stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < NFATAL; i++)
    sigaction(fatal_signals[i], &sa, &previous[i]);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_crash_note);
  lua_setfield(L, -2, "crash_note");
  lua_setfield(L, -2, "luatest.binary");
  lua_pop(L, 1);
}

/* The run cannot go on: the busy test is reported as failed, with the
 * closing line, and the process ends (a -j parent reports the worker's
 * exit and stderr). */
static char busy_text[160];

static void end_busy_run(void) {
  if (ftrylockfile(stdout) == 0) {
    fflush_unlocked(stdout);
    funlockfile(stdout);
  }
  if (crash_test[0]) {
    put("\nFAIL ");
    put(crash_test);
    put(": ");
    put(busy_text);
    put("; nothing after it ran\n\n");
    put_counts();
  } else if (write(STDERR_FILENO, busy_text, strlen(busy_text)) > 0) {
    (void)!write(STDERR_FILENO, "\n", 1);
  }
  _exit(1);
}

static volatile sig_atomic_t busy_strikes;
/* When the busy test is over its limit (CLOCK_MONOTONIC ns; 0: no test is
 * guarded), and when the alarm set last goes off (0: none is set). Tests
 * come one after another with the same limit: the alarm is set again only
 * when a test's deadline comes before it, and one that goes off early is set
 * for the rest, so most tests make no system call for their watchdog. */
static _Atomic int64_t busy_deadline, alarm_at;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_alarm(int64_t now, int64_t at) {
  int64_t ns = at - now;
  if (ns < 1000)
    ns = 1000;
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = (time_t)(ns / 1000000000);
  it.it_value.tv_usec = (suseconds_t)(ns % 1000000000 / 1000);
  alarm_at = at;
  setitimer(ITIMER_REAL, &it, NULL);
}

static void on_alarm(int sig) {
  (void)sig;
  alarm_at = 0;
  int64_t deadline = busy_deadline;
  if (!deadline)
    return; /* set for a test that is over */
  int64_t now = now_ns();
  if (now < deadline) {
    set_alarm(now, deadline);
    return;
  }
  if (busy_strikes++ == 0) {
    lt_interrupt_busy();
#ifdef LUAJIT_VERSION
    /* LuaJIT runs hooks only in interpreted code, so a loop it compiled
     * never sees the one just set: if the test has not stopped a second
     * later, nothing in the process can stop it. */
    set_alarm(now, now + 1000000000);
#endif
    return;
  }
  end_busy_run();
}

/* The busy-test watchdog of the binary: a real-time alarm. */
static void alarm_guard(double seconds) {
  static int installed;
  static double text_seconds = -1;
  if (!installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    installed = 1;
  }
  if (!(seconds > 0)) {
    busy_deadline = 0; /* (the alarm may go off: it then does nothing) */
    return;
  }
  if (seconds != text_seconds) {
    snprintf(busy_text, sizeof busy_text,
             "timeout: busy in Lua for more than %g s without waiting on anything, in code "
             "LuaJIT compiled (which cannot be interrupted)",
             seconds);
    text_seconds = seconds;
  }
  busy_strikes = 0;
  int64_t now = now_ns();
  int64_t deadline = now + (int64_t)(seconds * 1e9);
  busy_deadline = deadline;
  int64_t at = alarm_at;
  if (!at || at > deadline)
    set_alarm(now, deadline);
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L)
    return 2;
  luaL_openlibs(L);
  lt_openlibs(L);
  install_crash_report(L);
  /* A peer that closed makes writes fail with EPIPE; the signal would end
   * the run (children get the default back from libuv's spawn). */
  signal(SIGPIPE, SIG_IGN);
  lt_set_busy_guard(alarm_guard);
  lt_ws_silence_process();
  int rc = lt_run(L, argc, argv);
  lua_close(L);
  return rc;
}
