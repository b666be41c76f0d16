/*
 * kinesis serve: a fake Kinesis service in a process of its own
 * (kinesis/testing.h, issue 18). It schedules the --reshard's, prints its
 * URL as the first line on stdout once it listens, then runs until SIGINT or SIGTERM, closes the
 * service and exits 0. Built with the service only when meson built
 * libkinesis-testing (KINESIS_CLI_SERVE); without it, the command says so
 * and exits 2.
 */

#include "cli.h"

#ifdef KINESIS_CLI_SERVE
#include <kinesis/testing.h>
#endif

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#ifndef KINESIS_CLI_SERVE

int serve_run(cli_t* cli) {
  (void) cli;
  err_line("serve: this kinesis was built without the fake service "
           "(libh2o was not found; rebuild with -Dserve=enabled)");
  return CLI_EXIT_USAGE;
}

#else

typedef struct {
  kinesis_serve_t* serve;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  int closing;
  int closed;
} serve_state_t;


static void on_serve_closed(void* data, int status, void* arg) {
  serve_state_t* st = arg;
  (void) data;
  (void) status;
  st->closed = 1;
}


static void on_signal(uv_signal_t* sig, int signum) {
  serve_state_t* st = sig->data;
  int r;

  (void) signum;
  if (st->closing)
    return;
  st->closing = 1;
  uv_close((uv_handle_t*) &st->sigint, NULL);
  uv_close((uv_handle_t*) &st->sigterm, NULL);
  r = kinesis_serve_close(st->serve, on_serve_closed, st);
  if (r != 0) {
    err_line("serve: internal error: closing the service failed: %s",
             kinesis_strerror(r));
    st->closed = 1;
  }
}


/* The region of the streams' ARNs: --region, else the environment's, else
 * the service's default. */
static const char* serve_region(const cli_t* cli) {
  const char* v;

  if (cli->opts.region != NULL)
    return cli->opts.region;
  if ((v = getenv("AWS_REGION")) != NULL && v[0] != '\0')
    return v;
  if ((v = getenv("AWS_DEFAULT_REGION")) != NULL && v[0] != '\0')
    return v;
  return NULL;
}


/* --keys "A:S,B:T" as the NULL-terminated list the options take: one
 * allocation, the pointers then the strings. NULL when out of memory. */
static const char* const* split_keys(const char* value) {
  size_t n = 2;
  size_t len = strlen(value);
  const char* p;
  char** v;
  char* text;
  size_t i = 0;

  for (p = value; (p = strchr(p, ',')) != NULL; p++)
    n++;
  v = malloc(n * sizeof(*v) + len + 1);
  if (v == NULL)
    return NULL;
  text = (char*) (v + n);
  memcpy(text, value, len + 1);
  v[i++] = text;
  for (; (text = strchr(text, ',')) != NULL;) {
    *text++ = '\0';
    v[i++] = text;
  }
  v[i] = NULL;
  return (const char* const*) v;
}


int serve_run(cli_t* cli) {
  kinesis_serve_options_t o;
  kinesis_serve_faults_t f;
  serve_state_t st = {0};
  const char* const* keys = NULL;
  int exit_code = CLI_EXIT_OK;
  size_t i;
  int r;

  r = uv_loop_init(&cli->loop);
  if (r != 0) {
    err_line("cannot create the event loop: %s", uv_strerror(r));
    return CLI_EXIT_FAIL;
  }
  kinesis_serve_options_init(&o);
  o.host = cli->serve_host;
  o.port = (uint16_t) cli->serve_port;
  o.region = serve_region(cli);
  if (cli->serve_keys != NULL &&
      (o.keys = keys = split_keys(cli->serve_keys)) == NULL) {
    err_line("serve: %s", kinesis_strerror(KINESIS_ENOMEM));
    uv_loop_close(&cli->loop);
    return CLI_EXIT_FAIL;
  }
  /* --drop P: half of the drops before the request is applied, half
   * after: P/2 before, then P/(2-P) of the rest after, P in all. */
  kinesis_serve_faults_init(&f);
  f.throttle = cli->serve_throttle;
  f.error_5xx = cli->serve_error_5xx;
  f.partial = cli->serve_partial;
  f.drop_before = cli->serve_drop / 2;
  f.drop_after = cli->serve_drop / (2 - cli->serve_drop);
  f.latency_ms = (uint32_t) cli->serve_latency_ms;
  f.seed = cli->serve_seed;
  o.faults = &f;
  if (cli->serve_no_limits)
    o.limits_off = KINESIS_SERVE_LIMITS_ALL;
  r = kinesis_serve_new(&cli->loop, &o, &st.serve);
  free((void*) keys); /* copied */
  if (r != 0) {
    if (r == KINESIS_EBUSY)
      err_line("serve: port %lu is already in use", cli->serve_port);
    else if (r == KINESIS_EINVAL)
      err_line("serve: cannot listen on %s port %lu (an IP address of this "
               "machine is needed, and a port above 1023 unless privileged)",
               cli->serve_host != NULL ? cli->serve_host : "127.0.0.1",
               cli->serve_port);
    else
      err_line("serve: cannot start the service: %s", kinesis_strerror(r));
    uv_loop_close(&cli->loop);
    return CLI_EXIT_FAIL;
  }
  uv_signal_init(&cli->loop, &st.sigint);
  uv_signal_init(&cli->loop, &st.sigterm);
  st.sigint.data = &st;
  st.sigterm.data = &st;
  uv_signal_start(&st.sigint, on_signal, SIGINT);
  uv_signal_start(&st.sigterm, on_signal, SIGTERM);
  /* A client gone while its answer is written must not end the service. */
  signal(SIGPIPE, SIG_IGN);

  /* --reshard: their times count from now, before the URL is out. */
  for (i = 0; i < cli->serve_nreshards && exit_code == CLI_EXIT_OK; i++) {
    const cli_reshard_t* rs = &cli->serve_reshards[i];
    r = kinesis_serve_schedule_reshard(st.serve, rs->stream, rs->after_ms,
                                       rs->count, rs->every_ms);
    if (r != 0) {
      err_line("serve: cannot schedule the reshard of %s: %s", rs->stream,
               kinesis_strerror(r));
      exit_code = CLI_EXIT_FAIL;
      on_signal(&st.sigint, SIGTERM);
    }
  }

  /* The first line: whoever started us waits for it before connecting. */
  if (exit_code != CLI_EXIT_OK) {
    /* closing already */
  } else if (printf("%s\n", kinesis_serve_url(st.serve)) < 0 ||
             fflush(stdout) != 0) {
    err_line("serve: cannot write to stdout");
    exit_code = CLI_EXIT_FAIL;
    on_signal(&st.sigint, SIGTERM);
  }

  uv_run(&cli->loop, UV_RUN_DEFAULT);
  if (!st.closed) {
    err_line("serve: internal error: the loop stopped before the service "
             "closed");
    exit_code = CLI_EXIT_FAIL;
  }
  r = uv_loop_close(&cli->loop);
  if (r != 0) {
    err_line("serve: internal error: the event loop did not close: %s",
             uv_strerror(r));
    exit_code = CLI_EXIT_FAIL;
  }
  return exit_code;
}

#endif
