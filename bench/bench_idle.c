/* What a consumer costs on many idle shards, against kinesalite, through the
 * public API. It makes a stream with a history, as a long-lived stream has:
 * --parents shards (default 500), each split once, so 2 x parents are open
 * and 3 x parents listed; nothing is put. Then one consumer, set up as
 * `kinesis tail` sets it up (memory checkpointer, TRIM_HORIZON,
 * sleep_time_no_records_ms 1000, every other option at its default), reads
 * it: the parents to their (empty) ends, then every child. Once it holds
 * every child and is ready, it runs for a fixed window (--window, default
 * 30 s) in which it only polls empty shards, and around that window alone
 * it measures:
 *
 *   - GetRecords calls, and this process's CPU time (getrusage) per call:
 *     the cost of one idle poll, target at most 50 us;
 *   - the loop's turns (kinesis_consumer_stats' histogram, taken before and
 *     after), and, by a uv_prepare handle of its own measuring the same way,
 *     the longest turns of the window and when they came: the rounds (one a
 *     heartbeat, every 3 s) show there;
 *   - kinesalite's CPU over the window (/proc), for scale.
 *
 * It asserts nothing about speed. It fails (exit 1) when the stream cannot
 * be made, when the consumer does not take every child within 120 s, or
 * when something is leaked. Each step runs in a child process of its own,
 * as in bench_consumer.
 *
 * Run it with test/with-servers.sh build/bench/bench_idle [--parents N]
 * [--window S]. To profile the window alone:
 *   valgrind --tool=callgrind --toggle-collect=idle_window ...
 * or perf record -g on the whole run and perf report --comm bench_idle.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "kinesis.h"

#include "bench_util.h"
#include "fault.h"

#define PROG "bench_idle"
/* Waiting for the consumer to hold every child fails after this long. */
#define READY_TIMEOUT_MS 120000
/* The longest turns of the window that are printed. */
#define TOP_TURNS 8

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

__extension__ typedef unsigned __int128 u128;

typedef struct job_s {
  uint64_t parents;
  uint64_t window_s;
  char stream[128];
} job_t;

typedef struct turn_s {
  uint64_t us;      /* the turn's work, less the kernel's wait */
  uint64_t at_ms;   /* when it ended, from the start of the window */
} turn_t;

typedef struct bench_s {
  bench_client_t env;
  const char* endpoint;
  long server_pid;
  kinesis_consumer_t* consumer;
  uint64_t delivered;
  /* The window's turns, measured as the consumer measures its own. */
  uv_prepare_t turns;
  uv_timer_t timer;
  uint64_t turn_at;
  uint64_t turn_idle;
  uint64_t window_start;   /* uv_hrtime(); 0: not measuring */
  uint64_t nturns;
  uint64_t turns_us;
  turn_t top[TOP_TURNS];   /* the longest, longest first */
  int done;
} bench_t;

static bench_t bench;


/* ---- Setup: a stream of parents, each split once ---- */

static u128 u128_parse(const char* s) {
  u128 v = 0;
  for (; *s >= '0' && *s <= '9'; s++)
    v = v * 10 + (u128) (*s - '0');
  return v;
}


static void u128_format(u128 v, char* out) {
  char tmp[48];
  size_t n = 0;
  size_t i;
  do {
    tmp[n++] = (char) ('0' + (int) (v % 10));
    v /= 10;
  } while (v > 0);
  for (i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  out[n] = '\0';
}


typedef struct split_s {
  char id[64];
  char mid[48];
} split_t;

typedef struct listing_s {
  bench_client_t* env;
  split_t* splits;
  size_t n;
  size_t listed;
} listing_t;


/* The open shards and the middle of each one's hash-key range. */
static void on_listed(kinesis_client_t* c, int status,
                      const kinesis_result_t* res, void* arg) {
  listing_t* l = arg;
  size_t i;
  bench_on_call(c, status, res, l->env);
  if (status != 0)
    return;
  l->listed = res->nshards;
  for (i = 0; i < res->nshards && l->n < l->listed; i++) {
    const kinesis_shard_t* sh = &res->shards[i];
    u128 lo;
    u128 hi;
    if (sh->ending_sequence_number != NULL)
      continue;
    lo = u128_parse(sh->starting_hash_key);
    hi = u128_parse(sh->ending_hash_key);
    snprintf(l->splits[l->n].id, sizeof(l->splits[l->n].id), "%s",
             sh->shard_id);
    u128_format(lo + (hi - lo) / 2 + 1, l->splits[l->n].mid);
    l->n++;
  }
}


/* Child: creates the stream and splits every shard once. */
static int setup(void* arg) {
  job_t* job = arg;
  listing_t l;
  uint64_t t0;
  uint64_t t1;
  size_t i;
  int r = 0;

  if (bench_client_open(&bench.env, PROG, bench.endpoint) != 0)
    return 1;
  t0 = uv_hrtime();
  if (bench_create_stream(&bench.env, job->stream, (uint32_t) job->parents) !=
      0) {
    bench_client_close(&bench.env);
    return 1;
  }
  memset(&l, 0, sizeof(l));
  l.env = &bench.env;
  l.splits = calloc(job->parents, sizeof(*l.splits));
  if (l.splits == NULL ||
      bench_call_wait(&bench.env, "ListShards",
                      kinesis_client_list_shards(bench.env.client, job->stream,
                                                 on_listed, &l)) != 0 ||
      l.n != job->parents) {
    fprintf(stderr, PROG ": setup: %zu open shards listed, not %" PRIu64 "\n",
            l.n, job->parents);
    r = 1;
  }
  t1 = uv_hrtime();
  /* SplitShard wants the stream ACTIVE: one at a time. */
  for (i = 0; r == 0 && i < l.n; i++) {
    char body[512];
    char* resp = NULL;
    long status = 0;
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"%s\",\"ShardToSplit\":\"%s\","
             "\"NewStartingHashKey\":\"%s\"}",
             job->stream, l.splits[i].id, l.splits[i].mid);
    if (kn_test_kinesis_call(bench.endpoint, "SplitShard", body, &resp,
                             &status) != 0 ||
        status != 200) {
      fprintf(stderr, PROG ": setup: SplitShard %s: HTTP %ld %s\n",
              l.splits[i].id, status, resp != NULL ? resp : "");
      r = 1;
    }
    free(resp);
    if (r == 0 &&
        bench_call_wait(&bench.env, "wait for ACTIVE",
                        kinesis_client_wait_for_active(bench.env.client,
                                                       job->stream, 5, 0,
                                                       bench_on_call,
                                                       &bench.env)) != 0)
      r = 1;
  }
  if (r == 0)
    printf("# setup: %" PRIu64 " shards created in %.1f s, each split once "
           "in %.1f s: %" PRIu64 " open, %" PRIu64 " listed\n",
           job->parents, (double) (t1 - t0) / 1e9,
           (double) (uv_hrtime() - t1) / 1e9, 2 * job->parents,
           3 * job->parents);
  else
    bench_delete_stream(&bench.env, job->stream);
  free(l.splits);
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  return r;
}


/* Child: deletes the stream. */
static int delete_stream(void* arg) {
  job_t* job = arg;
  int r = 0;
  if (bench_client_open(&bench.env, PROG, bench.endpoint) != 0)
    return 1;
  if (bench_delete_stream(&bench.env, job->stream) != 0)
    r = 1;
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  return r;
}


/* ---- The idle consumer ---- */

static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* rec, void* arg) {
  (void) c;
  (void) rec;
  (void) arg;
  bench.delivered++;
}


/* The same measure as the consumer's own (lib/consumer.c, on_turn): the
 * time between two prepare phases less the kernel's wait. Only the
 * window's turns are kept. */
static void on_turn(uv_prepare_t* h) {
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(h->loop);
  if (bench.window_start != 0 && bench.turn_at >= bench.window_start) {
    uint64_t waited = idle - bench.turn_idle;
    uint64_t wall = now - bench.turn_at;
    uint64_t us = (wall > waited ? wall - waited : 0) / 1000;
    size_t i = TOP_TURNS;
    bench.nturns++;
    bench.turns_us += us;
    while (i > 0 && bench.top[i - 1].us < us)
      i--;
    if (i < TOP_TURNS) {
      memmove(&bench.top[i + 1], &bench.top[i],
              (TOP_TURNS - 1 - i) * sizeof(bench.top[0]));
      bench.top[i].us = us;
      bench.top[i].at_ms = (now - bench.window_start) / 1000000;
    }
  }
  bench.turn_at = now;
  bench.turn_idle = idle;
}


static void on_window_over(uv_timer_t* t) {
  (void) t;
  bench.done = 1;
}


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  if (status != 0)
    fprintf(stderr, PROG ": consumer close: %s\n", kinesis_strerror(status));
  bench.env.closed = 1;
}


/* Whether the consumer holds every child, every parent is finished and it
 * is ready. */
static int holds_everything(uint64_t parents) {
  kinesis_consumer_stats_t st;
  uint64_t finished = 0;
  size_t i;
  if (kinesis_consumer_stats(bench.consumer, &st) != 0)
    return 0;
  for (i = 0; i < st.nshards; i++)
    finished += strcmp(st.shards[i].state, "finished") == 0;
  return st.ready && st.leases_held == 2 * parents && finished == parents;
}


/* The window: the consumer polls empty shards, and nothing else runs on
 * the loop but the turn measure. Not inlined, so that callgrind's
 * --toggle-collect=idle_window finds it. */
static NOINLINE void idle_window(uint64_t ms) {
  uv_timer_start(&bench.timer, on_window_over, ms, 0);
  while (!bench.done)
    uv_run(&bench.env.loop, UV_RUN_ONCE);
}


static void print_turns(const char* what, const uint64_t* b) {
  static const char* const names[KINESIS_LOOP_TURN_BUCKETS] = {
      "<1ms", "<2ms", "<5ms", "<10ms", "<20ms", "<50ms", "<100ms", ">=100ms"};
  size_t i;
  printf("    %s:", what);
  for (i = 0; i < KINESIS_LOOP_TURN_BUCKETS; i++)
    printf(" %s %" PRIu64, names[i], b[i]);
  printf("\n");
}


/* Child: one consumer, from its creation until it holds every child, then
 * the measured window. */
static int run_consumer(void* arg) {
  job_t* job = arg;
  kinesis_consumer_options_t co;
  kinesis_consumer_stats_t st0;
  kinesis_consumer_stats_t st1;
  uint64_t window_turns[KINESIS_LOOP_TURN_BUCKETS];
  struct rusage ru0;
  struct rusage ru1;
  uint64_t t0;
  uint64_t t_ready;
  uint64_t waited = 0;
  uint64_t calls;
  double srv0;
  double srv1;
  double cpu;
  double wall;
  size_t i;
  int r = 0;

  if (bench_client_open(&bench.env, PROG, bench.endpoint) != 0)
    return 1;
  uv_timer_init(&bench.env.loop, &bench.timer);
  uv_prepare_init(&bench.env.loop, &bench.turns);
  uv_prepare_start(&bench.turns, on_turn);

  /* As `kinesis tail` makes it (tools/kinesis.c), less the Redis
   * checkpointer: the private memory one. */
  kinesis_consumer_options_init(&co);
  co.stream = job->stream;
  co.on_record = on_record;
  co.sleep_time_no_records_ms = 1000;
  co.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  t0 = uv_hrtime();
  r = kinesis_consumer_new(bench.env.client, &co, &bench.consumer);
  if (r == 0)
    r = kinesis_consumer_start(bench.consumer);
  if (r != 0) {
    fprintf(stderr, PROG ": consumer: %s\n", kinesis_strerror(r));
    return 1;
  }
  /* Until it holds every child: checked every 100 ms, not in the window,
   * since the stats walk every shard. */
  while (!holds_everything(job->parents)) {
    if (waited >= READY_TIMEOUT_MS) {
      if (kinesis_consumer_stats(bench.consumer, &st0) == 0)
        fprintf(stderr,
                PROG ": FAILED: after %d s the consumer holds %u shards, "
                     "ready %d\n",
                READY_TIMEOUT_MS / 1000, st0.leases_held, st0.ready);
      r = 1;
      break;
    }
    uv_timer_start(&bench.timer, on_window_over, 100, 0);
    bench.done = 0;
    while (!bench.done)
      uv_run(&bench.env.loop, UV_RUN_ONCE);
    waited += 100;
  }
  bench.done = 0;
  t_ready = uv_hrtime();

  if (r == 0) {
    if (kinesis_consumer_stats(bench.consumer, &st0) != 0)
      memset(&st0, 0, sizeof(st0));
    printf("consumer: %" PRIu64 " parents finished and %u children leased "
           "%.1f s after kinesis_consumer_new(); before the window: "
           "%" PRIu64 " GetRecords, longest turn %.2f ms\n",
           job->parents, st0.leases_held, (double) (t_ready - t0) / 1e9,
           st0.get_records_calls, (double) st0.loop_turn_max_us / 1000.0);
    print_turns("turns so far", st0.loop_turns);
    fflush(stdout);

    srv0 = bench_process_cpu_s(bench.server_pid);
    getrusage(RUSAGE_SELF, &ru0);
    bench.window_start = uv_hrtime();
    idle_window(job->window_s * 1000);
    wall = (double) (uv_hrtime() - bench.window_start) / 1e9;
    getrusage(RUSAGE_SELF, &ru1);
    srv1 = bench_process_cpu_s(bench.server_pid);
    bench.window_start = 0;
    if (kinesis_consumer_stats(bench.consumer, &st1) != 0)
      memset(&st1, 0, sizeof(st1));

    calls = st1.get_records_calls - st0.get_records_calls;
    cpu = bench_rusage_cpu_s(&ru1) - bench_rusage_cpu_s(&ru0);
    for (i = 0; i < KINESIS_LOOP_TURN_BUCKETS; i++)
      window_turns[i] = st1.loop_turns[i] - st0.loop_turns[i];
    printf("idle window %.1f s: %" PRIu64 " GetRecords (%.0f/s, %.2f per "
           "shard and second), %" PRIu64 " records\n",
           wall, calls, (double) calls / wall,
           (double) calls / wall / (double) (2 * job->parents),
           bench.delivered);
    printf("    consumer CPU %.3f s (user %.3f + sys %.3f) = %.1f%% of a "
           "core = %.1f us per GetRecords (target <= 50)\n",
           cpu, bench_tv_s(&ru0.ru_utime, &ru1.ru_utime),
           bench_tv_s(&ru0.ru_stime, &ru1.ru_stime), cpu * 100.0 / wall,
           calls ? cpu * 1e6 / (double) calls : 0.0);
    if (srv0 >= 0 && srv1 >= 0)
      printf("    kinesalite CPU %.2f s = %.0f%% of a core = %.0f us per "
             "GetRecords\n",
             srv1 - srv0, (srv1 - srv0) * 100.0 / wall,
             calls ? (srv1 - srv0) * 1e6 / (double) calls : 0.0);
    print_turns("loop turns in the window (consumer stats)", window_turns);
    printf("    turns in the window (own measure): %" PRIu64
           ", %.1f us on average; the longest (ms at s into the window):",
           bench.nturns,
           bench.nturns ? (double) bench.turns_us / (double) bench.nturns
                        : 0.0);
    for (i = 0; i < TOP_TURNS && bench.top[i].us > 0; i++)
      printf(" %.2f@%.1f", (double) bench.top[i].us / 1000.0,
             (double) bench.top[i].at_ms / 1000.0);
    printf("\n    longest turn since the start (consumer stats): %.2f ms; "
           "throttled %" PRIu64 ", expired iterators %" PRIu64 "\n",
           (double) st1.loop_turn_max_us / 1000.0, st1.throttled,
           st1.expired_iterators);
    if (st1.leases_held != 2 * job->parents || st1.leases_lost != 0) {
      fprintf(stderr,
              PROG ": FAILED: %u leases held, %" PRIu64 " lost at the end\n",
              st1.leases_held, st1.leases_lost);
      r = 1;
    }
  }

  uv_close((uv_handle_t*) &bench.timer, NULL);
  uv_close((uv_handle_t*) &bench.turns, NULL);
  if (kinesis_consumer_close(bench.consumer, on_consumer_closed, NULL) != 0 ||
      bench_wait_closed(&bench.env) != 0) {
    fprintf(stderr, PROG ": the consumer did not close\n");
    return 1;
  }
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  return r;
}


/* ---- Driver ---- */

static void usage(FILE* f) {
  fprintf(f,
          "usage: " PROG " [--parents N] [--window S]\n"
          "  --parents N  shards created, then each split once: 2N open, "
          "3N listed\n"
          "               (default 500)\n"
          "  --window S   seconds measured once the consumer holds every "
          "child (default 30)\n"
          "Needs KINESIS_TEST_ENDPOINT (run it under test/with-servers.sh).\n");
}


int main(int argc, char** argv) {
  job_t job;
  int status = 0;
  int i;

  memset(&job, 0, sizeof(job));
  job.parents = 500;
  job.window_s = 30;
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--parents") == 0 &&
               bench_parse_u64(v, &job.parents) == 0 && job.parents <= 5000) {
      i++;
    } else if (strcmp(a, "--window") == 0 &&
               bench_parse_u64(v, &job.window_s) == 0 &&
               job.window_s <= 3600) {
      i++;
    } else {
      fprintf(stderr, PROG ": bad argument: %s%s%s\n", a, v != NULL ? " " : "",
              v != NULL ? v : "");
      usage(stderr);
      return 2;
    }
  }

  bench.endpoint = getenv("KINESIS_TEST_ENDPOINT");
  if (bench.endpoint == NULL || bench.endpoint[0] == '\0') {
    fprintf(stderr, PROG
            ": SKIP: KINESIS_TEST_ENDPOINT is not set; run it under "
            "test/with-servers.sh\n");
    return 77;
  }
  bench.server_pid = bench_server_pid(bench.endpoint);
  bench_print_header(PROG, "kinesalite", bench.endpoint, bench.server_pid);
  printf("# %" PRIu64 " shards each split once, nothing put; one consumer "
         "as `kinesis tail` makes it (TRIM_HORIZON, "
         "sleep_time_no_records_ms 1000, memory checkpointer); a %" PRIu64
         " s window once it holds every child\n",
         job.parents, job.window_s);
  snprintf(job.stream, sizeof(job.stream), "bench-idle-%ld", (long) getpid());
  if (bench_run_child(PROG, "setup", setup, &job) != 0)
    return 1;
  if (bench_run_child(PROG, "consumer", run_consumer, &job) != 0)
    status = 1;
  if (bench_run_child(PROG, "delete", delete_stream, &job) != 0)
    status = 1;
  return status;
}
