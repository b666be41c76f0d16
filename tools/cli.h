/*
 * The kinesis command's shared state and helpers (issue 17): main() and
 * the client in kinesis.c, the arguments in args.c, the commands in
 * cmd_stream.c, cmd_put.c, cmd_tail.c and cmd_serve.c, the statistics in stats_print.c,
 * the JSON writer in json_writer.c. Not installed.
 */

#ifndef KINESIS_TOOLS_CLI_H
#define KINESIS_TOOLS_CLI_H

#include <kinesis.h>

#include "json_writer.h"

#include <stddef.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
/* parse_args(): go on and run the command. */
#define CLI_CONTINUE (-1)


/* ---- Commands ---- */

typedef enum {
  CMD_CREATE_STREAM = 1,
  CMD_DELETE_STREAM,
  CMD_DESCRIBE_STREAM,
  CMD_PUT,
  CMD_TAIL,
  CMD_LIST_STREAMS,
  CMD_LIST_SHARDS,
  CMD_UPDATE_SHARD_COUNT,
  CMD_SPLIT_SHARD,
  CMD_MERGE_SHARDS,
  CMD_UPDATE_STREAM_MODE,
  CMD_INCREASE_RETENTION,
  CMD_DECREASE_RETENTION,
  CMD_START_ENCRYPTION,
  CMD_STOP_ENCRYPTION,
  CMD_ADD_TAGS,
  CMD_REMOVE_TAGS,
  CMD_LIST_TAGS,
  CMD_UPDATE_MAX_RECORD_SIZE,
  CMD_WHOAMI,
  CMD_SERVE,
  CMD_REGISTER_CONSUMER,
  CMD_DESCRIBE_CONSUMER,
  CMD_LIST_CONSUMERS,
  CMD_DEREGISTER_CONSUMER
} cmd_id_t;

typedef struct {
  const char* name;
  cmd_id_t id;
  const char* synopsis; /* after "kinesis NAME" */
  const char* summary;  /* one line, for kinesis --help */
  const char* help;     /* description and options, for NAME --help */
} command_t;

/* ---- The run ---- */

typedef enum { PUT_FORMAT_LINES = 0, PUT_FORMAT_JSON } put_format_t;

/* put: stdin goes through `buf`; bytes [pos, len) are not handled yet, and
 * the first `scan` of them hold no newline. */
typedef struct {
  kinesis_producer_t* producer;
  uv_fs_t read_req;
  uv_timer_t progress;   /* the progress line, when stderr is a terminal */
  uv_timer_t read_retry; /* a read again after EAGAIN */
  int timers_open;
  char* buf;
  size_t cap;
  size_t len;
  size_t pos;
  size_t scan;
  size_t max_line;       /* longer lines cannot be records */
  uint64_t line;         /* the number of the line at `pos`, from 1 */
  int reading;           /* a uv_fs_read is in flight */
  int paused;            /* the producer's buffer is full: wait for on_drain */
  int skipping;          /* inside a line that is too long */
  int eof;
  int read_failed;
  int closing;           /* kinesis_producer_close() was called */
  uint64_t lines;        /* lines taken (records and refused lines) */
  uint64_t acked;        /* records acknowledged */
  uint64_t failed;       /* refused lines and failed records */
  uint64_t retries;
  uint64_t duplicates;   /* sends that may have put a record twice */
  uint64_t bytes;
  uint64_t started;      /* uv_hrtime() at the start */
  uint64_t rng;
} put_t;

typedef enum { TAIL_FORMAT_RAW = 0, TAIL_FORMAT_JSON } tail_format_t;

/* tail: a record in the output block, acknowledged once its line is
 * written whole: it ends at `end` in the block. */
typedef struct {
  const kinesis_consumer_record_t* rec;
  size_t end;
} tail_held_t;

/* tail: the last second written as ISO 8601, for approximate_arrival:
 * the records of one answer mostly arrived within the same second. */
typedef struct {
  int64_t secs;          /* -1: none yet */
  char text[24];         /* "2026-11-26T05:00:00" */
} tail_clock_t;

/* tail: the block of lines not written yet. */
typedef struct {
  char* data;
  size_t len;
  size_t cap;
} tail_out_t;

/* tail: the consumer, its checkpointer, and the handles that stop it. */
typedef struct {
  kinesis_consumer_t* consumer;
  kinesis_checkpointer_t* checkpointer;
  uv_timer_t idle;       /* --idle-exit, restarted at each block written */
  uv_signal_t sigint;
  uv_signal_t sigterm;
  uv_prepare_t flusher;  /* writes the block before the loop waits */
  int handles_open;
  kinesis_iterator_type_t from;
  double timestamp;      /* --from at-timestamp:, epoch seconds */
  tail_format_t format;
  unsigned long count;   /* --count; 0: no limit */
  unsigned long idle_s;  /* --idle-exit; 0: none */
  const char* app;
  const char* redis_url; /* --checkpoint redis://...; NULL: memory */
  unsigned long session_s; /* --session-timeout; 0: the default */
  kinesis_invalid_checkpoint_t invalid_checkpoint; /* --invalid-checkpoint */
  const char* efo;       /* --efo: the stream consumer's name or ARN */
  int efo_deregister;    /* --efo-deregister */
  int started_efo;       /* a consumer reading through --efo was started */
  char owner[256];       /* the lease owner: APP-HOST-PID */
  uint64_t printed;
  int stopping;          /* tail_stop() was called */
  int exit_code;
  const char* why;       /* why it stopped, for the summary; NULL: failed */
  char idle_why[64];
  uint64_t taken;        /* records put into the block, written or not */
  tail_out_t out;        /* the block: lines not written yet */
  tail_held_t* held;     /* the block's records, in order */
  size_t nheld;
  size_t held_cap;
  tail_clock_t clock;
} tail_t;

/* The stream management commands' arguments. */
typedef struct {
  unsigned long target_shard_count; /* 0: not given */
  const char* shard_id;
  const char* hash_key;             /* --new-starting-hash-key */
  const char* adjacent_shard_id;
  int mode_set;
  kinesis_stream_mode_t mode;
  unsigned long retention_hours;    /* 0: not given */
  const char* key_id;               /* NULL: the default key */
  unsigned long max_record_kib;     /* 0: not given */
  const char* consumer_name;        /* the consumer commands */
  const char* consumer_arn;
  /* --tags and --tag-keys: split in `text`, pieces of copies of the
   * arguments, which `owned` holds */
  char* text[2 * KINESIS_MAX_TAGS_PER_CALL];
  size_t ntext;
  char* owned[2 * KINESIS_MAX_TAGS_PER_CALL];
  size_t nowned;
  kinesis_tag_t tags[KINESIS_MAX_TAGS_PER_CALL];
  size_t ntags;
  const char* keys[KINESIS_MAX_TAGS_PER_CALL];
  size_t nkeys;
} mgmt_t;

/* serve's --reshard: a stream (a name of 1 to 128 [a-zA-Z0-9_.-]), the
 * open shard count to go to, when (ms after the service starts) and how
 * often again (0: once). */
#define CLI_MAX_RESHARDS 16
typedef struct {
  char stream[129];
  uint32_t count;
  uint64_t after_ms;
  uint64_t every_ms;
} cli_reshard_t;

typedef struct {
  const command_t* cmd;
  int help;
  int version;
  int verbose;
  const char* stream;
  unsigned long shards;
  int shards_set;
  int on_demand;
  int wait;
  const char* partition_key;
  put_format_t format;
  kinesis_client_options_t opts;
  kinesis_producer_options_t popts;

  uv_loop_t loop;
  kinesis_client_t* client;
  int closing;
  int closed;
  int exit_code;
  jw_t json; /* describe-stream: built over two callbacks */
  mgmt_t mgmt;
  put_t put;
  tail_t tail;
  int stdin_closed; /* the command was started with fd 0 closed */
  int stdout_failed; /* a write to stdout failed and was reported */
  /* --stats, --stats-every and --stats-format */
  int stats;
  unsigned long stats_every_s;
  int stats_prometheus;
  uv_timer_t stats_timer;
  int stats_timer_open;
  /* serve: --host and --port (0: a free port), --keys (NULL: none),
   * --no-limits */
  const char* serve_host;
  unsigned long serve_port;
  const char* serve_keys;
  int serve_no_limits;
  /* serve: the faults, --throttle, --error-5xx, --partial and --drop
   * (fractions from 0 to 1), --latency (ms) and --seed */
  double serve_throttle;
  double serve_error_5xx;
  double serve_partial;
  double serve_drop;
  unsigned long serve_latency_ms;
  unsigned long serve_seed;
  /* serve: --reshard STREAM:COUNT@AFTER_MS[/EVERY_MS], each a scheduled
   * reshard (kinesis_serve_schedule_reshard()), in the order given. */
  cli_reshard_t serve_reshards[CLI_MAX_RESHARDS];
  size_t serve_nreshards;
} cli_t;


/* ---- kinesis.c: messages and the end of the run ---- */

/* The width of the progress line on stderr, 0 when none is shown. */
extern int progress_cols;
void progress_clear(void);
/* One line on stderr, "kinesis: ...", control characters as spaces. */
void err_line(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Ends the run: the client closes, then uv_run() returns in main(). */
void finish(cli_t* cli, int exit_code);
void describe_failure(int status, const char* code, const char* message,
                      const char** what, const char** msg);
/* A failure reported through a callback. */
void report_failure(cli_t* cli, int status, const kinesis_result_t* res);
/* A failure returned by an API function: its callback will not run. */
void report_call_error(cli_t* cli, int r);
void call_failed(cli_t* cli, int r);


/* ---- args.c: the command line ---- */

/* Returns CLI_CONTINUE to run the command, else the exit status. */
int parse_args(cli_t* cli, int argc, char** argv);
void mgmt_free(mgmt_t* m);


/* ---- stats_print.c: --stats ---- */

void stats_print(cli_t* cli);
void stats_start(cli_t* cli);


/* ---- The commands: what start_command() in kinesis.c calls ---- */

/* cmd_stream.c */
void on_stream_created(kinesis_client_t* client, int status,
                       const kinesis_result_t* res, void* arg);
void on_stream_deleted(kinesis_client_t* client, int status,
                       const kinesis_result_t* res, void* arg);
void on_summary(kinesis_client_t* client, int status,
                const kinesis_result_t* res, void* arg);
int mgmt_start(cli_t* cli);
/* cmd_put.c */
void on_put_shards_listed(kinesis_client_t* client, int status,
                          const kinesis_result_t* res, void* arg);
/* cmd_tail.c */
int tail_begin(cli_t* cli);
/* cmd_serve.c: the whole of `kinesis serve`, on its own loop and without a
 * client; returns the exit status. */
int serve_run(cli_t* cli);

#endif
