/* Child processes for tests that drive real peers (curl, python3,
 * chromium): spawned on the loop, their output collected, never blocking
 * the servers the peers talk to. */
#ifndef LT_PROCESS_H
#define LT_PROCESS_H

#include "loop.h"
#include "buf.h"

typedef struct lt_process lt_process;
typedef void (*lt_process_cb)(lt_process *p, void *ud);

struct lt_process {
  lt_loop *loop;
  uv_process_t proc;
  uv_pipe_t out, err, in;
  uv_timer_t timer;
  uv_write_t write;
  lt_buf input;
  lt_buf stdout_buf, stderr_buf;
  int64_t exit_status;
  int term_signal;
  int timed_out;
  int open; /* handles not closed yet */
  int exited;
  int freed;
  lt_process_cb cb;
  void *ud;
  lt_task done_task;
};

/* Runs argv[0] (looked up in PATH) with stdin fed from input and stdout and
 * stderr collected; kills it after timeout seconds. cb fires, from the loop,
 * once it has exited and its output is complete. */
int lt_process_start(lt_loop *loop, lt_process **out, char **argv, char **env, const char *cwd,
                     const void *input, size_t input_len, double timeout, lt_process_cb cb,
                     void *ud);
/* Frees after completion; kills and abandons one still running. */
void lt_process_free(lt_process *p);
/* At the loop's end: the children still running (their owners gone, or a
 * killed one not reaped yet) are let go of and their memory freed once
 * their handles close. */
void lt_process_reap_all(lt_loop *loop);

#endif
