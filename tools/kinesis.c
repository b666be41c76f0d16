/*
 * kinesis: a small command-line tool over libkinesis (DESIGN.md §6,
 * docs/cli.md). It uses only the public API: it parses its arguments, makes
 * a client on its own loop, issues the calls from callbacks, closes the
 * client in the last callback and takes its exit status from the stored
 * result. It includes no header of lib/ and calls no kn_ function
 * (scripts/check-tools-api.sh): `put` parses its JSON lines itself
 * (put_line.c) and checks keys with kinesis_record_validate(), and the
 * arguments of the management commands are checked by the calls that take
 * them.
 *
 * This file holds main(), the loop, the client, the dispatch to the
 * commands and the messages they all write; cli.h says where the rest is:
 * the arguments in args.c, each group of commands in its cmd_*.c.
 *
 * Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.
 */

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* The width of the progress line on stderr, 0 when none is shown. */
int progress_cols;


/* Erases the progress line, so that a message starts on a clean line; the
 * next tick draws it again. */
void progress_clear(void) {
  if (progress_cols > 0)
    fprintf(stderr, "\r%*s\r", progress_cols, "");
  progress_cols = 0;
}


/* Writes one line to stderr. Control characters (a service message may
 * hold newlines, a stream name anything) become spaces, so a failure is
 * always exactly one line. */
void err_line(const char* fmt, ...) {
  char line[4096];
  size_t i;
  size_t n;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  n = strlen(line);
  for (i = 0; i < n; i++)
    if ((unsigned char) line[i] < 0x20 || line[i] == 0x7f)
      line[i] = ' ';
  while (n > 0 && line[n - 1] == ' ')
    n--;
  line[n] = '\0';
  progress_clear();
  fprintf(stderr, "kinesis: %s\n", line);
}


/* ---- Reporting ---- */

static void on_client_closed(void* data, int status, void* arg) {
  cli_t* cli = arg;
  (void) data;
  (void) status;
  cli->closed = 1;
  cli->client = NULL;
}


/* Ends the run: the client closes, then uv_run() returns in main(). */
void finish(cli_t* cli, int exit_code) {
  int r;

  cli->exit_code = exit_code;
  if (cli->closing)
    return;
  cli->closing = 1;
  if (cli->stats_timer_open) {
    cli->stats_timer_open = 0;
    uv_close((uv_handle_t*) &cli->stats_timer, NULL);
  }
  r = kinesis_client_close(cli->client, on_client_closed, cli);
  if (r != 0) {
    err_line("internal error: closing the client failed: %s",
             kinesis_strerror(r));
    cli->exit_code = CLI_EXIT_FAIL;
  }
}


/* What to say about a failure: the service's error code when there is
 * one, else the library's description; then the message, unless it is
 * empty or only repeats that (`*msg` NULL). */
void describe_failure(int status, const char* code,
                             const char* message, const char** what,
                             const char** msg) {
  *what = code;
  *msg = message;
  if (*what == NULL || (*what)[0] == '\0')
    *what = kinesis_strerror(status);
  if (*msg != NULL && ((*msg)[0] == '\0' || strcmp(*msg, *what) == 0))
    *msg = NULL;
}


/* A failure reported through a callback. */
void report_failure(cli_t* cli, int status,
                           const kinesis_result_t* res) {
  const char* what;
  const char* msg;

  describe_failure(status, res->error_code, res->error_message, &what, &msg);
  if (msg != NULL)
    err_line("%s: %s: %s", cli->cmd->name, what, msg);
  else
    err_line("%s: %s", cli->cmd->name, what);
}


/* The call of a management command refused its arguments (KINESIS_EINVAL):
 * the stream, or the shard ids or tags the library checks. Writes what
 * each must be; returns 0 for the other commands. */
static int report_mgmt_arguments(const cli_t* cli) {
  static const char ids[] = "1 to 128 letters, digits, '_', '.' or '-'";
  const char* name = cli->cmd->name;
  const mgmt_t* m = &cli->mgmt;

  switch (cli->cmd->id) {
    case CMD_SPLIT_SHARD:
      err_line("%s: invalid --shard-id '%s' or --stream '%s' (a shard id is "
               "%s; a stream name too, or a stream ARN)", name, m->shard_id,
               cli->stream, ids);
      return 1;
    case CMD_MERGE_SHARDS:
      err_line("%s: invalid --shard-id '%s', --adjacent-shard-id '%s' or "
               "--stream '%s' (a shard id is %s, and they differ; a stream "
               "name too, or a stream ARN)", name, m->shard_id,
               m->adjacent_shard_id, cli->stream, ids);
      return 1;
    case CMD_ADD_TAGS:
      err_line("%s: invalid --tags or --stream '%s' (a tag key needs 1 to "
               "128 characters of UTF-8, a value at most 256; a stream name "
               "is %s, or a stream ARN)", name, cli->stream, ids);
      return 1;
    case CMD_REMOVE_TAGS:
      err_line("%s: invalid --tag-keys or --stream '%s' (a tag key needs 1 "
               "to 128 characters of UTF-8; a stream name is %s, or a "
               "stream ARN)", name, cli->stream, ids);
      return 1;
    case CMD_REGISTER_CONSUMER:
    case CMD_DESCRIBE_CONSUMER:
    case CMD_DEREGISTER_CONSUMER:
      if (m->consumer_arn != NULL)
        err_line("%s: invalid --consumer-arn '%s' (arn:PARTITION:kinesis:"
                 "REGION:ACCOUNT:stream/NAME/consumer/NAME:EPOCH)", name,
                 m->consumer_arn);
      else
        err_line("%s: invalid --consumer-name '%s' or --stream '%s' (a "
                 "consumer name is %s; a stream name too, or a stream ARN)",
                 name, m->consumer_name, cli->stream, ids);
      return 1;
    default: return 0;
  }
}


/* A failure returned by an API function: its callback will not run. */
void report_call_error(cli_t* cli, int r) {
  const char* name = cli->cmd->name;

  if (r == KINESIS_EINVAL && report_mgmt_arguments(cli))
    return;
  if (r == KINESIS_ENOREGION)
    err_line("%s: %s (set --region or AWS_REGION)", name,
             kinesis_strerror(r));
  else if (r == KINESIS_EINVAL && cli->cmd->id == CMD_CREATE_STREAM &&
           strncmp(cli->stream, "arn:", 4) == 0)
    err_line("%s: --stream needs a stream name, not an ARN", name);
  else if (r == KINESIS_EINVAL && strncmp(cli->stream, "arn:", 4) == 0)
    err_line("%s: unusable stream ARN '%s' (arn:PARTITION:kinesis:REGION:"
             "ACCOUNT:stream/NAME, in the region the command uses)", name,
             cli->stream);
  else if (r == KINESIS_EINVAL)
    err_line("%s: invalid stream name '%s' (1 to 128 letters, digits, '_', "
             "'.' or '-', or a stream ARN)", name, cli->stream);
  else
    err_line("%s: %s", name, kinesis_strerror(r));
}


void call_failed(cli_t* cli, int r) {
  report_call_error(cli, r);
  finish(cli, CLI_EXIT_FAIL);
}


static int start_command(cli_t* cli) {
  switch (cli->cmd->id) {
    case CMD_CREATE_STREAM:
      return kinesis_client_create_stream(
          cli->client, cli->stream,
          cli->on_demand ? 0 : (uint32_t) cli->shards, on_stream_created,
          cli);
    case CMD_DELETE_STREAM:
      return kinesis_client_delete_stream(cli->client, cli->stream,
                                          on_stream_deleted, cli);
    case CMD_DESCRIBE_STREAM:
      return kinesis_client_describe_stream_summary(cli->client, cli->stream,
                                                    on_summary, cli);
    case CMD_PUT:
      return kinesis_client_list_shards(cli->client, cli->stream,
                                        on_put_shards_listed, cli);
    case CMD_TAIL:
      return tail_begin(cli);
    default:
      return mgmt_start(cli);
  }
}


/* The endpoint URL the library will use, if one was given. */
static const char* endpoint_in_use(const cli_t* cli) {
  static const char* const vars[] = {"AWS_ENDPOINT_URL_KINESIS",
                                     "AWS_ENDPOINT_URL"};
  const char* v;
  size_t i;

  if (cli->opts.endpoint_url != NULL)
    return cli->opts.endpoint_url;
  for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
    if ((v = getenv(vars[i])) != NULL && v[0] != '\0')
      return v;
  return NULL;
}


/* curl only says that it could not load a CA file; say why. */
static int check_ca_file(const cli_t* cli) {
  FILE* f;

  if (cli->opts.ca_file == NULL)
    return 0;
  f = fopen(cli->opts.ca_file, "r");
  if (f == NULL) {
    err_line("%s: --ca-file %s: %s", cli->cmd->name, cli->opts.ca_file,
             strerror(errno));
    return -1;
  }
  fclose(f);
  return 0;
}


/* A closed stdin, stdout or stderr would be reused by the loop's or curl's
 * first descriptor, and put would then read a socket; /dev/null holds the
 * place. Returns 1 when stdin was closed. */
static int keep_std_fds_open(void) {
  int closed_stdin = 0;
  int fd;

  for (fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    if (fd == 0)
      closed_stdin = 1;
    /* open() returns the lowest free descriptor: this one. */
    if (open("/dev/null", O_RDWR) != fd)
      exit(CLI_EXIT_FAIL);
  }
  return closed_stdin;
}


/* The library's log messages: warnings and errors always, the rest with
 * -v; one line each, like every message. */
static void on_log(kinesis_log_level_t level, const char* message,
                   void* arg) {
  const cli_t* cli = arg;
  /* put reports each failed line itself; the producer's summaries of the
   * same failures are for -v. Its calls that keep failing (a listing,
   * PutRecords requests) are no line's: they are shown. */
  if (!cli->verbose && level > KINESIS_LOG_ERROR &&
      strncmp(message, "producer: ", 10) == 0 &&
      strncmp(message + 10, "ListShards ", 11) != 0 &&
      strncmp(message + 10, "PutRecords ", 11) != 0)
    return;
  /* tail says it itself, in its own words, when --invalid-checkpoint fail
   * ends the run (on_tail_checkpoint_error). */
  if (!cli->verbose && level == KINESIS_LOG_ERROR &&
      cli->cmd->id == CMD_TAIL &&
      cli->tail.invalid_checkpoint == KINESIS_INVALID_CHECKPOINT_FAIL &&
      strncmp(message, "consumer: shard ", 16) == 0 &&
      strstr(message, ": the service refused checkpoint ") != NULL)
    return;
  err_line("%s", message);
}


int main(int argc, char** argv) {
  static cli_t cli;
  int r;

  cli.stdin_closed = keep_std_fds_open();
  kinesis_client_options_init(&cli.opts);
  kinesis_producer_options_init(&cli.popts);
  /* put waits out a slow service: no TTL and no limit on attempts, only
   * the stall timeout. */
  cli.popts.record_ttl_ms = 0;
  cli.popts.max_attempts = 0;
  r = parse_args(&cli, argc, argv);
  if (r != CLI_CONTINUE) {
    mgmt_free(&cli.mgmt);
    return r;
  }
  /* serve runs a service, not a client: its own loop, in cmd_serve.c. */
  if (cli.cmd->id == CMD_SERVE)
    return serve_run(&cli);

  if (check_ca_file(&cli) != 0) {
    mgmt_free(&cli.mgmt);
    return CLI_EXIT_FAIL;
  }
  cli.opts.log = on_log;
  cli.opts.log_data = &cli;
  cli.opts.log_level = cli.verbose ? KINESIS_LOG_DEBUG : KINESIS_LOG_WARN;
  r = uv_loop_init(&cli.loop);
  if (r != 0) {
    err_line("cannot create the event loop: %s", uv_strerror(r));
    return CLI_EXIT_FAIL;
  }
  r = kinesis_client_new(&cli.loop, &cli.opts, &cli.client);
  if (r != 0) {
    const char* url = endpoint_in_use(&cli);
    if (r == KINESIS_EINVAL && url != NULL)
      err_line("%s: invalid endpoint URL '%s' (expected http://HOST[:PORT] "
               "or https://HOST[:PORT], without a path)", cli.cmd->name, url);
    else
      err_line("%s: cannot create the client: %s", cli.cmd->name,
               kinesis_strerror(r));
    cli.exit_code = CLI_EXIT_FAIL;
    cli.closed = 1;
  } else {
    r = start_command(&cli);
    if (r != 0)
      call_failed(&cli, r);
    else
      stats_start(&cli);
  }

  uv_run(&cli.loop, UV_RUN_DEFAULT);
  sb_free(&cli.json.out);
  mgmt_free(&cli.mgmt);
  free(cli.put.buf);
  free(cli.tail.out.data);
  free(cli.tail.held);
  if (!cli.closed) {
    err_line("internal error: the loop stopped before the client closed");
    cli.exit_code = CLI_EXIT_FAIL;
  }
  r = uv_loop_close(&cli.loop);
  if (r != 0) {
    err_line("internal error: the event loop did not close: %s",
             uv_strerror(r));
    cli.exit_code = CLI_EXIT_FAIL;
  }
  if (!cli.stdout_failed && (fflush(stdout) != 0 || ferror(stdout))) {
    err_line("%s: cannot write to stdout", cli.cmd->name);
    cli.exit_code = CLI_EXIT_FAIL;
  }
  return cli.exit_code;
}
