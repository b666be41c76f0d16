#ifndef KN_CRED_PROCESS_H
#define KN_CRED_PROCESS_H

#include <stdint.h>

#include <uv.h>

#include "cred_source.h"

/*
 * credential_process: credentials printed by a command the user configured
 * (the shared config file's `credential_process = COMMAND`), as the AWS CLI
 * runs it. The command runs through `/bin/sh -c COMMAND`, so quoting,
 * variables and pipes work as in a shell; it inherits the environment and
 * the working directory, its standard input is /dev/null, and it is started
 * in a session and process group of its own (setsid) so that a timeout or a
 * cancel can stop whatever it started. It therefore has no controlling
 * terminal: a command that prompts on /dev/tty (an MFA code, say) fails,
 * where the AWS CLI would let it ask. Everything happens on the loop:
 * libuv's process API, two pipes and a timer; no thread, no blocking
 * wait.
 *
 * The command prints one JSON object on its standard output:
 *   {"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
 *    "SessionToken": "..." (optional),
 *    "Expiration": "2026-11-26T05:02:44Z" (optional; absent = never expires)}
 * and exits 0. At most KN_CRED_PROCESS_MAX_OUTPUT bytes of output are read.
 * Standard output holds secrets and never reaches a log or a message. Each
 * line of its standard error goes to the log callback, prefixed with the
 * command's name, cut at KN_CRED_PROCESS_MAX_LINE bytes, control characters
 * replaced by '?', at most KN_CRED_PROCESS_MAX_LINES lines a run.
 *
 * Messages name the command by its first word (after any VAR=value
 * assignments), never by the whole command line, which may hold secrets.
 */

#define KN_CRED_PROCESS_TIMEOUT_MS 60000
#define KN_CRED_PROCESS_MAX_OUTPUT (64 * 1024)
#define KN_CRED_PROCESS_MAX_LINE 1024
#define KN_CRED_PROCESS_MAX_LINES 100
/* After SIGTERM, the command's process group has this long to exit before
 * SIGKILL. */
#define KN_CRED_PROCESS_KILL_GRACE_MS 1000

typedef struct kn_cred_process_s kn_cred_process_t;

/* One line for the application's log; never holds the command's standard
 * output. */
typedef void (*kn_cred_log_cb)(const char* line, void* arg);

/*
 * Runs `command` (copied) and answers through `cb` (cred_source.h's
 * contract: exactly once, on a later tick, never inside this call), with
 * source "process" on success. `timeout_ms` 0 means
 * KN_CRED_PROCESS_TIMEOUT_MS. `log` may be NULL (standard error is then
 * read and dropped). `out` may be NULL; otherwise *out is the handle for
 * kn_cred_process_cancel(), valid until `cb` returns.
 *
 * The callback's status is 0; KINESIS_ENOCREDS when the command exited
 * with a non-zero status or was killed by a signal (the message says which);
 * KINESIS_EPROTO when its output is not the JSON above (not JSON, a member
 * missing, Version other than 1, a bad Expiration, or more than
 * KN_CRED_PROCESS_MAX_OUTPUT bytes); KINESIS_ETIMEDOUT when it ran longer
 * than the timeout, or kept its output open past it (it is then sent
 * SIGTERM, and SIGKILL KN_CRED_PROCESS_KILL_GRACE_MS later, and reaped
 * before the callback runs); KINESIS_ECANCELED after a cancel; or a libuv
 * error from reading its output.
 *
 * Returns 0; KINESIS_EINVAL (NULL loop, callback or command, or a command
 * that is empty or only blanks); KINESIS_ENOMEM; or the error of
 * uv_spawn() (such as UV_EAGAIN). On a non-zero return `cb` never runs.
 */
int kn_cred_process_start(uv_loop_t* loop, const char* command,
                          uint32_t timeout_ms, kn_cred_log_cb log,
                          void* log_arg, kn_cred_source_cb cb, void* arg,
                          kn_cred_process_t** out);

/*
 * Stops the command (SIGTERM to its process group, SIGKILL after the grace
 * period) and makes the callback run with KINESIS_ECANCELED once it is
 * reaped and every handle is closed. Does nothing when called from inside
 * the callback. `p` must not be used after the callback returned.
 */
void kn_cred_process_cancel(kn_cred_process_t* p);

#endif /* KN_CRED_PROCESS_H */
