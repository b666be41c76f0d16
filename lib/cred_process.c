#include "cred_process.h"
#include "internal.h"

#include "codec.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for the command's name in messages. */
#define KN_PROC_NAME_MAX 64
/* Room for a message. */
#define KN_PROC_MESSAGE_MAX 512

/* Where the run is in stopping the command. */
enum {
  KILL_NONE = 0,
  KILL_TERM,   /* SIGTERM sent; SIGKILL when the grace period ends */
  KILL_KILL,   /* SIGKILL sent; the pipes get one more grace period */
  KILL_GAVE_UP /* pipes still open: something escaped the group */
};

struct kn_cred_process_s {
  uv_loop_t* loop;
  uv_process_t proc;
  uv_pipe_t out_pipe;
  uv_pipe_t err_pipe;
  uv_timer_t timer;
  int pid;

  /* Standard output, read straight into one block of MAX_OUTPUT + 1 bytes
   * that never moves, so that no copy of a secret is left behind in freed
   * memory; wiped before it is freed. */
  char* out;
  size_t out_len;

  /* Standard error, one line at a time. */
  char err_buf[4096];
  char line[KN_CRED_PROCESS_MAX_LINE + 4];
  size_t line_len;
  int line_cut;   /* the current line was longer than the limit */
  unsigned lines; /* lines logged so far */

  char name[KN_PROC_NAME_MAX + 4];
  uint32_t timeout_ms;

  int exited;
  int64_t exit_status;
  int term_signal;
  int out_open; /* reading stdout until EOF */
  int err_open;
  int kill_stage;
  int pending_closes;
  /* KN_LIFE_CLOSING: canceled. KN_LIFE_FREEING: the handles are closing.
   * depth: the result's callback is running, after which `p` is freed; a
   * cancel from inside it does nothing. */
  kn_life_t life;

  /* A failure decided before the command ended (timeout, too much output,
   * a read error), with its message. */
  int failure;
  char message[KN_PROC_MESSAGE_MAX];

  kn_cred_log_cb log;
  void* log_arg;
  kn_cred_source_cb cb;
  void* arg;
};


static void set_failure(kn_cred_process_t* p, int status, const char* fmt,
                        ...) {
  va_list ap;
  int n;

  if (p->failure != 0)
    return;
  p->failure = status;
  n = snprintf(p->message, sizeof(p->message),
               "credential_process \"%s\": ", p->name);
  if (n < 0 || (size_t) n >= sizeof(p->message))
    return;
  va_start(ap, fmt);
  vsnprintf(p->message + n, sizeof(p->message) - (size_t) n, fmt, ap);
  va_end(ap);
}


/*
 * The command's name for messages: its first word, skipping VAR=value
 * assignments (which may be secrets), with a first quote honoured; cut at
 * KN_PROC_NAME_MAX bytes.
 */
static void command_name(const char* cmd, char* out, size_t size) {
  const char* s = cmd;
  size_t n;

  for (;;) {
    const char* w;
    size_t len;
    while (*s == ' ' || *s == '\t' || *s == '\n')
      s++;
    w = s;
    len = strcspn(w, " \t\n");
    /* A shell assignment is a name, then '=' before any quote. */
    if (len > 0 && memchr(w, '=', len) != NULL) {
      size_t eq = (size_t) ((const char*) memchr(w, '=', len) - w);
      size_t i;
      int name_ok = eq > 0 && !(w[0] >= '0' && w[0] <= '9');
      for (i = 0; i < eq && name_ok; i++)
        name_ok = w[i] == '_' || (w[i] >= 'a' && w[i] <= 'z') ||
                  (w[i] >= 'A' && w[i] <= 'Z') || (w[i] >= '0' && w[i] <= '9');
      if (name_ok && w[len] != '\0') {
        s = w + len;
        continue;
      }
    }
    break;
  }
  if (*s == '"' || *s == '\'') {
    const char* end = strchr(s + 1, *s);
    s++;
    n = end != NULL ? (size_t) (end - s) : strlen(s);
  } else {
    n = strcspn(s, " \t\n;|&<>()");
  }
  if (n == 0) {
    snprintf(out, size, "%s", "?");
    return;
  }
  if (n > KN_PROC_NAME_MAX) {
    snprintf(out, size, "%.*s...", KN_PROC_NAME_MAX, s);
    return;
  }
  snprintf(out, size, "%.*s", (int) n, s);
}


/* ---- Finishing ---- */


static void deliver(kn_cred_process_t* p) {
  kn_credentials_t creds;
  char why[200];
  char msg[KN_PROC_MESSAGE_MAX];
  int status;

  memset(&creds, 0, sizeof(creds));
  if (kn_life_closing(&p->life)) {
    status = KINESIS_ECANCELED;
    snprintf(msg, sizeof(msg), "credential_process \"%s\": canceled", p->name);
  } else if (p->failure != 0) {
    status = p->failure;
    snprintf(msg, sizeof(msg), "%s", p->message);
  } else if (p->term_signal != 0) {
    status = KINESIS_ENOCREDS;
    snprintf(msg, sizeof(msg),
             "credential_process \"%s\": killed by signal %d (%s)", p->name,
             p->term_signal, strsignal(p->term_signal));
  } else if (p->exit_status != 0) {
    char note[96] = "";
    status = KINESIS_ENOCREDS;
    /* The shell reports a command it ran and that a signal killed as
     * 128 + the signal's number. */
    if (p->exit_status == 127)
      snprintf(note, sizeof(note), " (command not found?)");
    else if (p->exit_status > 128 && p->exit_status < 128 + 65)
      snprintf(note, sizeof(note), " (128 + signal %d: killed by %s?)",
               (int) (p->exit_status - 128),
               strsignal((int) (p->exit_status - 128)));
    snprintf(msg, sizeof(msg),
             "credential_process \"%s\": exited with status %lld%s", p->name,
             (long long) p->exit_status, note);
  } else {
    kn_codec_creds_t doc;
    why[0] = '\0';
    status = kn_codec_parse_process_credentials(p->out, p->out_len, &doc, why,
                                                sizeof(why));
    if (status == KINESIS_EPROTO)
      snprintf(msg, sizeof(msg),
               "credential_process \"%s\": its output is not valid: %s",
               p->name, why);
    else if (status != 0)
      snprintf(msg, sizeof(msg), "credential_process \"%s\": %s", p->name,
               kinesis_strerror(status));
    else
      kn_credentials_take(&creds, &doc, "process");
  }
  kn_life_enter(&p->life);
  if (status == 0)
    p->cb(0, &creds, NULL, p->arg);
  else
    p->cb(status, NULL, msg, p->arg);
  kn_credentials_clear(&creds);
}


static void process_free(kn_cred_process_t* p) {
  if (p->out != NULL) {
    /* Standard output held the secret; the volatile pointer keeps the
     * compiler from dropping the stores. */
    volatile char* v = p->out;
    size_t i;
    for (i = 0; i < KN_CRED_PROCESS_MAX_OUTPUT + 1; i++)
      v[i] = 0;
    kn_free(p->out);
  }
  kn_free(p);
}


static void on_handle_closed(uv_handle_t* h) {
  kn_cred_process_t* p = h->data;
  if (--p->pending_closes > 0)
    return;
  if (p->cb != NULL)
    deliver(p);
  process_free(p);
}


static void close_one(kn_cred_process_t* p, uv_handle_t* h) {
  if (uv_is_closing(h))
    return;
  p->pending_closes++;
  uv_close(h, on_handle_closed);
}


static void close_all(kn_cred_process_t* p) {
  (void) kn_life_begin_free(&p->life);
  uv_timer_stop(&p->timer);
  close_one(p, (uv_handle_t*) &p->out_pipe);
  close_one(p, (uv_handle_t*) &p->err_pipe);
  close_one(p, (uv_handle_t*) &p->timer);
  close_one(p, (uv_handle_t*) &p->proc);
}


static void flush_line(kn_cred_process_t* p);


/* Done once the command is reaped and both pipes are at their end (or the
 * pipes were given up on). */
static void maybe_finish(kn_cred_process_t* p) {
  if (kn_life_freeing(&p->life) || !p->exited)
    return;
  if ((p->out_open || p->err_open) && p->kill_stage != KILL_GAVE_UP)
    return;
  if (p->line_len > 0 || p->line_cut)
    flush_line(p);
  close_all(p);
}


/* ---- Stopping the command ---- */


static void on_timer(uv_timer_t* t);


/* Signals the command's whole process group: it was started with setsid,
 * so its group id is its pid. The group outlives the reaped leader only
 * while members remain, and Linux does not reuse a pid that is still a
 * group id, so the signal cannot reach a stranger. */
static void signal_group(kn_cred_process_t* p, int sig) {
  if (uv_kill(-p->pid, sig) != 0 && !p->exited)
    uv_kill(p->pid, sig);
}


static void start_kill(kn_cred_process_t* p) {
  if (p->kill_stage != KILL_NONE)
    return;
  p->kill_stage = KILL_TERM;
  signal_group(p, SIGTERM);
  uv_timer_start(&p->timer, on_timer, KN_CRED_PROCESS_KILL_GRACE_MS, 0);
}


static void on_timer(uv_timer_t* t) {
  kn_cred_process_t* p = t->data;

  switch (p->kill_stage) {
    case KILL_NONE:
      if (p->exited)
        set_failure(p, KINESIS_ETIMEDOUT,
                    "exited, but what it started kept its output open past "
                    "the timeout of %u ms",
                    (unsigned) p->timeout_ms);
      else
        set_failure(p, KINESIS_ETIMEDOUT,
                    "did not finish within %u ms; stopped it",
                    (unsigned) p->timeout_ms);
      start_kill(p);
      break;
    case KILL_TERM:
      p->kill_stage = KILL_KILL;
      signal_group(p, SIGKILL);
      uv_timer_start(&p->timer, on_timer, KN_CRED_PROCESS_KILL_GRACE_MS, 0);
      break;
    default:
      /* Something left the group and holds a pipe: stop waiting for it. */
      p->kill_stage = KILL_GAVE_UP;
      maybe_finish(p);
      break;
  }
}


/* ---- The command's output ---- */


static void on_proc_exit(uv_process_t* proc, int64_t exit_status,
                         int term_signal) {
  kn_cred_process_t* p = proc->data;
  p->exited = 1;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  maybe_finish(p);
}


static void on_out_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  kn_cred_process_t* p = h->data;
  (void) suggested;
  /* One byte past the limit is room to see that the limit was passed. */
  buf->base = p->out + p->out_len;
  buf->len = KN_CRED_PROCESS_MAX_OUTPUT + 1 - p->out_len;
}


static void on_out_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  kn_cred_process_t* p = s->data;
  (void) buf;

  if (nread == 0)
    return;
  if (nread > 0) {
    p->out_len += (size_t) nread;
    if (p->out_len <= KN_CRED_PROCESS_MAX_OUTPUT)
      return;
    set_failure(p, KINESIS_EPROTO,
                "wrote more than %d bytes on its standard output; stopped it",
                KN_CRED_PROCESS_MAX_OUTPUT);
    start_kill(p);
  } else if (nread != UV_EOF) {
    set_failure(p, (int) nread, "reading its standard output failed: %s",
                uv_strerror((int) nread));
    start_kill(p);
  }
  uv_read_stop(s);
  p->out_open = 0;
  maybe_finish(p);
}


static void flush_line(kn_cred_process_t* p) {
  char msg[KN_CRED_PROCESS_MAX_LINE + KN_PROC_NAME_MAX + 48];

  size_t i;

  /* CRLF ends a line too; any other carriage return would let the line
   * overwrite itself on a terminal. */
  if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
    p->line_len--;
  for (i = 0; i < p->line_len; i++)
    if (p->line[i] == '\r')
      p->line[i] = '?';
  p->line[p->line_len] = '\0';
  if (p->log != NULL && p->lines <= KN_CRED_PROCESS_MAX_LINES) {
    if (p->lines == KN_CRED_PROCESS_MAX_LINES)
      snprintf(msg, sizeof(msg),
               "credential_process \"%s\": more standard error output, "
               "not logged",
               p->name);
    else
      snprintf(msg, sizeof(msg), "credential_process \"%s\": %s%s", p->name,
               p->line, p->line_cut ? "..." : "");
    p->log(msg, p->log_arg);
  }
  p->lines++;
  p->line_len = 0;
  p->line_cut = 0;
}


static void on_err_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  kn_cred_process_t* p = h->data;
  (void) suggested;
  buf->base = p->err_buf;
  buf->len = sizeof(p->err_buf);
}


static void on_err_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  kn_cred_process_t* p = s->data;
  ssize_t i;

  if (nread == 0)
    return;
  if (nread < 0) {
    /* Standard error is only for the log: a read error there is not the
     * run's failure. */
    uv_read_stop(s);
    p->err_open = 0;
    maybe_finish(p);
    return;
  }
  for (i = 0; i < nread; i++) {
    unsigned char c = (unsigned char) buf->base[i];
    if (c == '\n') {
      flush_line(p);
      continue;
    }
    if (p->line_len >= KN_CRED_PROCESS_MAX_LINE) {
      p->line_cut = 1;
      continue;
    }
    /* Keep the log one line per line: no terminal escapes. */
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
      c = '?';
    p->line[p->line_len++] = (char) c;
  }
}


/* ---- Starting ---- */


int kn_cred_process_start(uv_loop_t* loop, const char* command,
                          uint32_t timeout_ms, kn_cred_log_cb log,
                          void* log_arg, kn_cred_source_cb cb, void* arg,
                          kn_cred_process_t** out) {
  kn_cred_process_t* p;
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  char* args[4];
  int r;

  if (loop == NULL || command == NULL || cb == NULL ||
      command[strspn(command, " \t\r\n")] == '\0')
    return KINESIS_EINVAL;
  p = kn_calloc(1, sizeof(*p));
  if (p == NULL)
    return KINESIS_ENOMEM;
  p->out = kn_malloc(KN_CRED_PROCESS_MAX_OUTPUT + 1);
  args[2] = kn_strdup(command);
  if (p->out == NULL || args[2] == NULL) {
    kn_free(args[2]);
    kn_free(p->out);
    kn_free(p);
    return KINESIS_ENOMEM;
  }
  p->loop = loop;
  p->timeout_ms = timeout_ms != 0 ? timeout_ms : KN_CRED_PROCESS_TIMEOUT_MS;
  p->log = log;
  p->log_arg = log_arg;
  command_name(command, p->name, sizeof(p->name));

  uv_pipe_init(loop, &p->out_pipe, 0);
  uv_pipe_init(loop, &p->err_pipe, 0);
  uv_timer_init(loop, &p->timer);
  p->out_pipe.data = p;
  p->err_pipe.data = p;
  p->timer.data = p;
  p->proc.data = p;

  args[0] = "/bin/sh";
  args[1] = "-c";
  args[3] = NULL;
  memset(stdio, 0, sizeof(stdio));
  /* libuv opens /dev/null for an ignored descriptor 0, 1 or 2. */
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t*) &p->out_pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t*) &p->err_pipe;
  memset(&opts, 0, sizeof(opts));
  opts.file = args[0];
  opts.args = args;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  opts.exit_cb = on_proc_exit;
  /* A process group of its own (setsid), so that stopping it stops what it
   * started too. It is still our child: libuv reaps it. */
  opts.flags = UV_PROCESS_DETACHED;
  r = uv_spawn(loop, &p->proc, &opts);
  kn_free(args[2]);
  if (r != 0) {
    /* The handles are initialized and must be closed; with cb NULL the
     * last close frees `p` without calling anything. */
    close_all(p);
    return r;
  }
  p->pid = p->proc.pid;
  p->out_open = 1;
  p->err_open = 1;
  p->cb = cb;
  p->arg = arg;
  r = uv_read_start((uv_stream_t*) &p->out_pipe, on_out_alloc, on_out_read);
  if (r == 0)
    r = uv_read_start((uv_stream_t*) &p->err_pipe, on_err_alloc, on_err_read);
  if (r != 0) {
    /* Cannot happen with fresh pipes; if it does, the run still ends
     * through the callback, as the command is already running. */
    set_failure(p, r, "reading its output failed: %s", uv_strerror(r));
    uv_read_stop((uv_stream_t*) &p->out_pipe);
    uv_read_stop((uv_stream_t*) &p->err_pipe);
    p->out_open = 0;
    p->err_open = 0;
    start_kill(p);
  } else {
    uv_timer_start(&p->timer, on_timer, p->timeout_ms, 0);
  }
  if (out != NULL)
    *out = p;
  return 0;
}


void kn_cred_process_cancel(kn_cred_process_t* p) {
  /* From inside its own callback, `p` is about to be freed. */
  if (p == NULL || p->life.depth > 0 || kn_life_begin_close(&p->life) < 0)
    return;
  /* After the command exited this stops only what it left behind. */
  if (!kn_life_freeing(&p->life))
    start_kill(p);
}
