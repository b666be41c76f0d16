/* Enhanced fan-out against polling, through the public API only: the CPU
 * a 100-byte record costs the consumer, and the delay from put to
 * on_record. The server is the library's fake service (`kinesis serve
 * --no-limits`, KINESIS_TEST_ENDPOINT), which speaks SubscribeToShard over
 * h2c on its plain http URL; kinesalite does not. It runs in another
 * process, so getrusage(RUSAGE_SELF) is the client alone.
 *
 * Phase "cpu": a 4-shard stream is filled with N records of 100 B by the
 * producer, rate limits off (not measured). Then three consumers read it
 * back from TRIM_HORIZON, each in a child process of its own: polling with
 * the default options (shard_fetch_rate 5), polling at shard_fetch_rate 50,
 * and enhanced fan-out (efo_consumer_name "bench-efo", efo_register 1);
 * max_queue_size 10000 for all. The stream consumer is registered during
 * the setup, so that the EFO run measures reading rather than the wait
 * for it to become ACTIVE (the consumer waits 500 ms after registering). From
 * kinesis_consumer_new() to the last on_record it measures wall time and this
 * process's CPU time (getrusage deltas), and prints records/s, CPU microseconds
 * per record and the server's CPU per record (read from /proc).
 *
 * Phase "latency": for each of polling with the default options, polling
 * with sleep_time_no_records_ms 200, and enhanced fan-out, a child makes a
 * fresh 4-shard stream and runs a consumer (TRIM_HORIZON) and a producer
 * (buffer_time_ms 0, so that a record is sent on the next turn of the
 * loop) on one loop. Once the consumer is ready and one warm-up record per
 * shard has reached on_record, the producer puts one 100 B record every
 * 10 ms (--put-interval), each carrying the CLOCK_MONOTONIC time of its
 * put; on_record takes now minus that. It prints p50, p90, p99 and the
 * maximum, in ms. The fake service looks for new records to push to a
 * subscription every 100 ms (lib/testing/serve.c, SUB_POLL_MS), so EFO's
 * figures here are bounded by that, not by the client; AWS pushes sooner.
 * Polling's are bounded by shard_fetch_rate (one call per shard every
 * 200 ms by default), and by sleep_time_no_records_ms after an empty
 * answer, which at one record per 10 ms over 4 shards hardly ever comes:
 * a longer --put-interval shows it.
 *
 * Every record carries its index and a check word. Each run fails (exit 1)
 * when a record is missing, comes twice or is corrupt, when delivery
 * stalls for 30 s, or when something is left on the loop (uv_loop_close()
 * must return 0). It asserts nothing about speed.
 *
 *   test/with-serve.sh build/tools/kinesis build/bench/bench_efo
 *       [--records N] [--latency-records N] [--put-interval MS]
 *       [--phase cpu|latency|all]
 *
 * or bench/run.sh efo [OPTIONS], or meson test -C build --benchmark efo.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kinesis.h"

#include "bench_util.h"

#define PROG "bench_efo"
#define NSHARDS 4
#define NKEYS 1000
#define RECORD_SIZE 100
#define EFO_NAME "bench-efo"
#define DEFAULT_RECORDS 200000
#define DEFAULT_LATENCY_RECORDS 1000
/* The latency phase puts one record this often, by default. */
#define DEFAULT_PUT_INTERVAL_MS 10
/* Failures printed in full; the rest are only counted. */
#define MAX_PRINTED_FAILURES 10
/* The 64-bit word sum of every record, "kinesis!" in ASCII. */
#define CHECK_SUM UINT64_C(0x216973656e69736b)
/* No new record for this long fails the run, rather than hang it. */
#define STALL_MS 30000
/* After the last record, waiting for one delivered twice: a polling shard
 * fetches again within 1 s (an answer with records is followed by another
 * call 200 ms later at the default rate); in the latency phase an empty
 * answer may be followed by a 2 s sleep. */
#define CPU_GRACE_MS 1000
#define LATENCY_GRACE_MS 2500

/* One hash key inside each quarter of the hash key space: with 4 shards of
 * equal ranges, a warm-up record lands on each shard. */
static const char* const shard_keys[NSHARDS] = {
    "42535295865117307932921825928971026432",
    "127605887595351923798765477786913079296",
    "212676479325586539664609129644855132160",
    "297747071055821155530452781502797185024",
};

typedef enum {
  MODE_POLL,       /* polling, the default options */
  MODE_POLL_RATE,  /* polling, shard_fetch_rate 50 */
  MODE_POLL_TUNED, /* polling, sleep_time_no_records_ms 200 */
  MODE_EFO         /* enhanced fan-out */
} run_mode_t;

static const char* const mode_names[] = {
    "polling (defaults)",
    "polling (fetch rate 50)",
    "polling (no-records sleep 200 ms)",
    "EFO",
};

/* What a run found, written by the child into memory shared with the
 * parent, which prints the summary. */
typedef struct result_s {
  int done;         /* the run got as far as its figures */
  int ok;           /* and every check passed */
  uint64_t records; /* delivered */
  double wall_s;
  double cpu_s;
  double server_cpu_s; /* -1 when unreadable */
  double p50_ms;
  double p90_ms;
  double p99_ms;
  double max_ms;
  double mean_ms;
} result_t;

/* The runs, in the order they are made. */
enum {
  RUN_CPU_POLL,
  RUN_CPU_POLL_RATE,
  RUN_CPU_EFO,
  RUN_LAT_POLL,
  RUN_LAT_POLL_TUNED,
  RUN_LAT_EFO,
  NRUNS
};

/* What a child process does. */
typedef struct job_s {
  run_mode_t mode;
  uint64_t n;
  uint64_t put_interval_ms; /* latency phase */
  char stream[128];
  result_t* result;
} job_t;

typedef struct bench_s {
  bench_client_t env; /* the loop and the client */
  const char* endpoint;
  long server_pid; /* 0 when not found */
  uint64_t n;      /* records in the stream, or latency samples */
  /* Producing. */
  kinesis_producer_t* producer;
  uint64_t next;       /* records put so far */
  uint64_t acked;      /* put callbacks run */
  uint64_t put_failed; /* put callbacks with a non-zero status */
  uint8_t data[RECORD_SIZE];
  char keys[NKEYS][16];
  /* Consuming. */
  kinesis_consumer_t* consumer;
  uv_timer_t watchdog;  /* stall watchdog, then the grace period */
  uv_timer_t put_timer; /* the latency phase's puts */
  uint64_t delivered;   /* on_record calls */
  uint64_t duplicates;  /* records delivered a second time, or more */
  uint64_t corrupt;     /* wrong length, kind, check word or index */
  uint64_t watched;     /* `delivered` at the last watchdog tick */
  uint64_t quiet_ms;    /* since `delivered` last moved */
  uint64_t warm;        /* warm-up records delivered */
  uint64_t first_hr;    /* uv_hrtime() at the first on_record */
  int stalled;
  int grace_over;
  uint8_t* seen;        /* per record: times delivered, up to 255 */
  uint64_t* latency_ns; /* per record: put to on_record */
} bench_t;

static bench_t bench;


/* ---- Records ---- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}




/* Record `i`: its index at byte 0, its put time (ns, CLOCK_MONOTONIC; only
 * the latency phase reads it) at 8, the check word at 16, then a pattern. */
static void make_record(uint64_t i, uint64_t put_ns, uint8_t* p) {
  uint64_t check = 0;
  size_t k;
  memcpy(p, &i, sizeof(i));
  memcpy(p + 8, &put_ns, sizeof(put_ns));
  memcpy(p + 16, &check, sizeof(check));
  for (k = 24; k < RECORD_SIZE; k++)
    p[k] = (uint8_t) (i * 131 + k * 7);
  check = CHECK_SUM - bench_checksum(p, RECORD_SIZE);
  memcpy(p + 16, &check, sizeof(check));
}


static const char* record_key(uint64_t i) {
  return bench.keys[(uint32_t) (i * UINT64_C(2654435761)) % NKEYS];
}


/* ---- The client, with the library's warnings on stderr ---- */

static void on_log(kinesis_log_level_t level, const char* message, void* arg) {
  (void) arg;
  fprintf(stderr, PROG ": [%s] %s\n",
          level == KINESIS_LOG_ERROR ? "error" : "warn", message);
}


/* bench_client_open(), with a log callback at KINESIS_LOG_WARN: anything
 * the library says went wrong during a run shows. */
static int client_open(bench_client_t* b) {
  kinesis_client_options_t co;
  int r;
  memset(b, 0, sizeof(*b));
  b->prog = PROG;
  if (uv_loop_init(&b->loop) != 0) {
    fprintf(stderr, PROG ": uv_loop_init failed\n");
    return 1;
  }
  kinesis_client_options_init(&co);
  co.endpoint_url = bench.endpoint;
  co.region = "us-east-1";
  co.access_key_id = "AKIDBENCH";
  co.secret_access_key = "bench-secret-key";
  co.log = on_log;
  co.log_level = KINESIS_LOG_WARN;
  r = kinesis_client_new(&b->loop, &co, &b->client);
  if (r != 0) {
    fprintf(stderr, PROG ": client: %s\n", kinesis_strerror(r));
    uv_loop_close(&b->loop);
    return 1;
  }
  return 0;
}


/* ---- Producing ---- */

static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  (void) p;
  bench.acked++;
  if (status == 0)
    return;
  if (bench.put_failed++ < MAX_PRINTED_FAILURES)
    fprintf(stderr, PROG ": record %" PRIu64 " failed: %s (%s%s%s)\n",
            (uint64_t) (uintptr_t) arg, kinesis_err_name(status),
            res->error_code != NULL ? res->error_code : "",
            res->error_code != NULL ? ": " : "",
            res->error_message != NULL ? res->error_message : "");
}


/* Puts record `i`, stamped now; `hash_key` may be NULL. Returns what
 * kinesis_producer_put() returned. */
static int put_one(uint64_t i, const char* hash_key) {
  kinesis_record_t rec;
  make_record(i, now_ns(), bench.data);
  rec.data = bench.data;
  rec.len = RECORD_SIZE;
  rec.partition_key = record_key(i);
  rec.explicit_hash_key = hash_key;
  return kinesis_producer_put(bench.producer, &rec, on_put,
                              (void*) (uintptr_t) i);
}


/* Filling: puts until every record is in or the buffer is full. */
static void put_more(kinesis_producer_t* p) {
  (void) p;
  while (bench.next < bench.n) {
    int r = put_one(bench.next, NULL);
    if (r == KINESIS_EQUEUEFULL)
      return;
    if (r != 0) {
      fprintf(stderr, PROG ": fill: put %" PRIu64 ": %s\n", bench.next,
              kinesis_strerror(r));
      exit(1);
    }
    bench.next++;
  }
}


static void on_drain(kinesis_producer_t* p, void* arg) {
  (void) arg;
  put_more(p);
}


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  if (status != 0)
    fprintf(stderr, PROG ": %s close: %s\n", (const char*) arg,
            kinesis_strerror(status));
  bench.env.closed = 1;
}


/* A producer with its rate limits off (the fake runs with --no-limits). */
static int producer_open(const char* stream, uint32_t buffer_time_ms,
                         int backpressure) {
  kinesis_producer_options_t po;
  int r;
  kinesis_producer_options_init(&po);
  po.stream = stream;
  po.put_rate_limit_per_shard = 0;
  po.put_bandwidth_limit_per_shard = 0;
  po.buffer_time_ms = buffer_time_ms;
  if (backpressure)
    po.on_drain = on_drain;
  r = kinesis_producer_new(bench.env.client, &po, &bench.producer);
  if (r != 0) {
    fprintf(stderr, PROG ": producer: %s\n", kinesis_strerror(r));
    return 1;
  }
  return 0;
}


static int producer_close(void) {
  if (kinesis_producer_close(bench.producer, on_closed, "producer") != 0 ||
      bench_wait_closed(&bench.env) != 0) {
    fprintf(stderr, PROG ": the producer did not close\n");
    return 1;
  }
  return 0;
}


static void init_keys(void) {
  size_t i;
  for (i = 0; i < NKEYS; i++)
    snprintf(bench.keys[i], sizeof(bench.keys[i]), "pk-%u", (unsigned) i);
}


/* Child: creates the stream and puts job->n records into it. */
static int fill(void* arg) {
  job_t* job = arg;
  uint64_t t0;
  int r = 0;

  bench.n = job->n;
  init_keys();
  if (client_open(&bench.env) != 0)
    return 1;
  t0 = uv_hrtime();
  if (bench_create_stream(&bench.env, job->stream, NSHARDS) != 0) {
    bench_client_close(&bench.env);
    return 1;
  }
  if (producer_open(job->stream, 500, 1) != 0)
    return 1;
  put_more(bench.producer);
  while (bench.acked < bench.n)
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0 && bench.acked < bench.n) {
      fprintf(stderr, PROG ": fill: the loop ran dry\n");
      r = 1;
      break;
    }
  if (bench.put_failed != 0) {
    fprintf(stderr, PROG ": fill: %" PRIu64 " records failed\n",
            bench.put_failed);
    r = 1;
  }
  if (producer_close() != 0)
    return 1;
  /* The stream consumer is registered here, so that the EFO run measures
   * reading, not the wait for it to be ACTIVE (its efo_register finds it
   * there). */
  if (r == 0 && bench_call_wait(&bench.env, "RegisterStreamConsumer",
                                kinesis_client_register_stream_consumer(
                                    bench.env.client, job->stream, EFO_NAME,
                                    bench_on_call, &bench.env)) != 0)
    r = 1;
  if (r == 0)
    printf("# setup: %" PRIu64
           " records of %d B put, stream consumer "
           "\"" EFO_NAME "\" registered, in %.1f s\n",
           bench.n, RECORD_SIZE, (double) (uv_hrtime() - t0) / 1e9);
  else
    bench_delete_stream(&bench.env, job->stream);
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  return r;
}


/* Child: deletes the stream (and with it the stream consumer). */
static int delete_stream(void* arg) {
  job_t* job = arg;
  int r = 0;
  if (client_open(&bench.env) != 0)
    return 1;
  if (bench_delete_stream(&bench.env, job->stream) != 0)
    r = 1;
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  return r;
}


/* ---- Consuming ---- */

static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* rec, void* arg) {
  uint64_t t = now_ns();
  uint64_t i;
  uint64_t put_ns;
  (void) c;
  (void) arg;
  if (rec->len == RECORD_SIZE && !rec->aggregated &&
      bench_checksum(rec->data, rec->len) == CHECK_SUM) {
    i = bench_load64(rec->data);
    put_ns = bench_load64(rec->data + 8);
    if (i < bench.n) {
      if (bench.delivered++ == 0)
        bench.first_hr = uv_hrtime();
      if (bench.seen[i] != 0)
        bench.duplicates++;
      else if (bench.latency_ns != NULL)
        bench.latency_ns[i] = t - put_ns;
      if (bench.seen[i] != UINT8_MAX)
        bench.seen[i]++;
      return;
    }
    /* The latency phase's warm-up records come after the n samples. */
    if (bench.latency_ns != NULL && i < bench.n + NSHARDS) {
      if (bench.seen[i]++ != 0)
        bench.duplicates++;
      else
        bench.warm++;
      return;
    }
  }
  if (bench.corrupt++ < MAX_PRINTED_FAILURES)
    fprintf(stderr,
            PROG
            ": corrupt record: %zu bytes, aggregated %d, shard %s, "
            "sequence %s\n",
            rec->len, rec->aggregated, rec->shard_id, rec->sequence_number);
}


static void on_watchdog(uv_timer_t* t) {
  uint64_t progress = bench.delivered + bench.warm;
  if (progress != bench.watched) {
    bench.watched = progress;
    bench.quiet_ms = 0;
    return;
  }
  bench.quiet_ms += uv_timer_get_repeat(t);
  if (bench.quiet_ms >= STALL_MS)
    bench.stalled = 1;
}


static void on_grace_over(uv_timer_t* t) {
  (void) t;
  bench.grace_over = 1;
}


static void consumer_options(kinesis_consumer_options_t* co, const job_t* job) {
  kinesis_consumer_options_init(co);
  co->stream = job->stream;
  co->on_record = on_record;
  co->max_queue_size = 10000;
  co->iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  switch (job->mode) {
    case MODE_POLL:
      break;
    case MODE_POLL_RATE:
      co->shard_fetch_rate = 50;
      break;
    case MODE_POLL_TUNED:
      co->sleep_time_no_records_ms = 200;
      break;
    case MODE_EFO:
      co->efo_consumer_name = EFO_NAME;
      co->efo_register = 1;
      break;
  }
}


static int consumer_start(const kinesis_consumer_options_t* co) {
  int r = kinesis_consumer_new(bench.env.client, co, &bench.consumer);
  if (r != 0) {
    fprintf(stderr, PROG ": consumer: %s\n", kinesis_strerror(r));
    return 1;
  }
  r = kinesis_consumer_start(bench.consumer);
  if (r != 0) {
    fprintf(stderr, PROG ": consumer start: %s\n", kinesis_strerror(r));
    return 1;
  }
  return 0;
}


/* Runs the loop until `*count` reaches `want`, or nothing has come for
 * STALL_MS. Returns 0, or 1 after printing why. */
static int run_until(const uint64_t* count, uint64_t want, const char* what) {
  while (*count < want && !bench.stalled)
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0 && *count < want) {
      fprintf(stderr,
              PROG ": the loop ran dry %s at %" PRIu64 " of %" PRIu64 "\n",
              what, *count, want);
      return 1;
    }
  if (bench.stalled) {
    fprintf(stderr,
            PROG ": FAILED: nothing delivered for %d s %s, at %" PRIu64
                 " of %" PRIu64 "\n",
            STALL_MS / 1000, what, *count, want);
    return 1;
  }
  return 0;
}


/* After the last record: anything that arrives within `ms` was delivered
 * twice. Then every record must have come exactly once. Returns 0 or 1. */
static int grace_and_check(int r, uint64_t ms, uint64_t warm) {
  uint64_t at_end = bench.delivered;
  uint64_t missing = 0;
  uint64_t i;
  uv_timer_stop(&bench.watchdog);
  uv_timer_start(&bench.watchdog, on_grace_over, ms, 0);
  while (!bench.grace_over)
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0)
      break;
  for (i = 0; i < bench.n + warm; i++)
    if (bench.seen[i] == 0 && missing++ == 0)
      fprintf(stderr, PROG ": FAILED: record %" PRIu64 " never came\n", i);
  if (r != 0 || missing != 0 || bench.duplicates != 0 || bench.corrupt != 0 ||
      bench.delivered != bench.n || bench.put_failed != 0) {
    fprintf(stderr,
            PROG ": FAILED: %" PRIu64 " of %" PRIu64
                 " records delivered (%" PRIu64 " more within %" PRIu64
                 " ms after), %" PRIu64 " missing, %" PRIu64
                 " duplicates, %" PRIu64 " corrupt, %" PRIu64 " puts failed\n",
            bench.delivered, bench.n, bench.delivered - at_end, ms, missing,
            bench.duplicates, bench.corrupt, bench.put_failed);
    return 1;
  }
  return 0;
}


/* Closes the consumer and the timers. Returns 0 or 1. */
static int consumer_close(void) {
  if (!uv_is_closing((uv_handle_t*) &bench.watchdog))
    uv_close((uv_handle_t*) &bench.watchdog, NULL);
  if (kinesis_consumer_close(bench.consumer, on_closed, "consumer") != 0 ||
      bench_wait_closed(&bench.env) != 0) {
    fprintf(stderr, PROG ": the consumer did not close\n");
    return 1;
  }
  return 0;
}


static void print_stats(const kinesis_consumer_stats_t* st) {
  printf("    %" PRIu64 " GetRecords calls, %" PRIu64 " subscriptions, %" PRIu64
         " events, %" PRIu64 " fetch failures, %" PRIu64
         " throttled; longest loop turn %.1f ms\n",
         st->get_records_calls, st->subscriptions, st->subscription_events,
         st->fetch_failures, st->throttled,
         (double) st->loop_turn_max_us / 1e3);
}


/* Child: one consuming run of the CPU phase, on the filled stream. */
static int cpu_run(void* arg) {
  job_t* job = arg;
  result_t* res = job->result;
  kinesis_consumer_options_t co;
  kinesis_consumer_stats_t st;
  struct rusage ru0;
  struct rusage ru1;
  uint64_t t0;
  uint64_t t1;
  double srv0;
  double srv1;
  int r;

  bench.n = job->n;
  bench.seen = calloc(bench.n, 1);
  if (bench.seen == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  if (client_open(&bench.env) != 0)
    return 1;
  uv_timer_init(&bench.env.loop, &bench.watchdog);
  uv_timer_start(&bench.watchdog, on_watchdog, 1000, 1000);
  consumer_options(&co, job);

  /* The measured phase: from the consumer's creation (ListShards, leases,
   * and with EFO the stream consumer's lookup and registration) to the
   * last record. */
  srv0 = bench_process_cpu_s(bench.server_pid);
  getrusage(RUSAGE_SELF, &ru0);
  t0 = uv_hrtime();
  r = consumer_start(&co);
  if (r == 0)
    r = run_until(&bench.delivered, bench.n, "reading");
  t1 = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  srv1 = bench_process_cpu_s(bench.server_pid);
  if (bench.consumer == NULL)
    exit(1);

  if (kinesis_consumer_stats(bench.consumer, &st) != 0)
    memset(&st, 0, sizeof(st));
  res->records = bench.delivered;
  res->wall_s = (double) (t1 - t0) / 1e9;
  res->cpu_s = bench_rusage_cpu_s(&ru1) - bench_rusage_cpu_s(&ru0);
  res->server_cpu_s = srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1;
  res->done = 1;
  printf("cpu %-24s: %" PRIu64
         " records in %.2f s (the first after "
         "%.0f ms) = %.0f rec/s, client CPU %.2f s = %.2f us/record (user "
         "%.2f + sys %.2f s), peak RSS %.1f MiB",
         mode_names[job->mode], bench.delivered, res->wall_s,
         bench.delivered > 0 ? (double) (bench.first_hr - t0) / 1e6 : 0.0,
         (double) bench.delivered / res->wall_s, res->cpu_s,
         res->cpu_s * 1e6 / (double) bench.n,
         bench_tv_s(&ru0.ru_utime, &ru1.ru_utime),
         bench_tv_s(&ru0.ru_stime, &ru1.ru_stime),
         (double) ru1.ru_maxrss / 1024.0);
  if (res->server_cpu_s >= 0)
    printf(", server CPU %.2f us/record\n",
           res->server_cpu_s * 1e6 / (double) bench.n);
  else
    printf(", server CPU n/a\n");
  print_stats(&st);
  fflush(stdout);

  r = grace_and_check(r, CPU_GRACE_MS, 0);
  if (consumer_close() != 0)
    r = 1;
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  free(bench.seen);
  res->ok = r == 0;
  return r;
}


/* ---- Latency ---- */

static void on_put_timer(uv_timer_t* t) {
  int r;
  if (bench.next >= bench.n) {
    uv_timer_stop(t);
    return;
  }
  r = put_one(bench.next, NULL);
  if (r != 0) {
    /* EQUEUEFULL cannot come at 100 records/s; anything else is a bug. */
    fprintf(stderr, PROG ": put %" PRIu64 ": %s\n", bench.next,
            kinesis_strerror(r));
    bench.put_failed++;
  }
  bench.next++;
}


static int compare_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*) a;
  uint64_t y = *(const uint64_t*) b;
  return x < y ? -1 : x > y;
}


/* The nearest-rank percentile `p` of `sorted[0..n)`, in ms. */
static double percentile_ms(const uint64_t* sorted, uint64_t n, double p) {
  uint64_t rank = (uint64_t) (p / 100.0 * (double) n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return (double) sorted[rank - 1] / 1e6;
}


/* Child: one latency run, on a fresh stream, producer and consumer on one
 * loop. */
static int latency_run(void* arg) {
  job_t* job = arg;
  result_t* res = job->result;
  kinesis_consumer_options_t co;
  kinesis_consumer_stats_t st;
  double warm_ms;
  uint64_t t0;
  uint64_t sum = 0;
  uint64_t i;
  int r = 0;

  bench.n = job->n;
  init_keys();
  bench.seen = calloc(bench.n + NSHARDS, 1);
  bench.latency_ns = calloc(bench.n, sizeof(*bench.latency_ns));
  if (bench.seen == NULL || bench.latency_ns == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  if (client_open(&bench.env) != 0)
    return 1;
  if (bench_create_stream(&bench.env, job->stream, NSHARDS) != 0) {
    bench_client_close(&bench.env);
    return 1;
  }
  if (producer_open(job->stream, 0, 0) != 0)
    return 1;
  uv_timer_init(&bench.env.loop, &bench.watchdog);
  uv_timer_init(&bench.env.loop, &bench.put_timer);
  uv_timer_start(&bench.watchdog, on_watchdog, 1000, 1000);
  consumer_options(&co, job);
  if (consumer_start(&co) != 0)
    exit(1);

  /* Warm-up: one record per shard, to be read before the clock starts, so
   * that every shard's reading (and with EFO its subscription) is under
   * way, and the producer knows the shards. */
  t0 = uv_hrtime();
  for (i = 0; i < NSHARDS; i++)
    if (put_one(bench.n + i, shard_keys[i]) != 0) {
      fprintf(stderr, PROG ": warm-up put failed\n");
      exit(1);
    }
  r = run_until(&bench.warm, NSHARDS, "warming up");
  while (r == 0 && !kinesis_consumer_ready(bench.consumer))
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0 || bench.stalled) {
      fprintf(stderr, PROG ": FAILED: the consumer never became ready\n");
      r = 1;
    }
  warm_ms = (double) (uv_hrtime() - t0) / 1e6;

  if (r == 0) {
    uv_timer_start(&bench.put_timer, on_put_timer, job->put_interval_ms,
                   job->put_interval_ms);
    r = run_until(&bench.delivered, bench.n, "measuring latency");
  }
  uv_timer_stop(&bench.put_timer);
  uv_close((uv_handle_t*) &bench.put_timer, NULL);
  if (kinesis_consumer_stats(bench.consumer, &st) != 0)
    memset(&st, 0, sizeof(st));

  if (r == 0) {
    for (i = 0; i < bench.n; i++)
      sum += bench.latency_ns[i];
    qsort(bench.latency_ns, bench.n, sizeof(*bench.latency_ns), compare_u64);
    res->records = bench.n;
    res->p50_ms = percentile_ms(bench.latency_ns, bench.n, 50);
    res->p90_ms = percentile_ms(bench.latency_ns, bench.n, 90);
    res->p99_ms = percentile_ms(bench.latency_ns, bench.n, 99);
    res->max_ms = (double) bench.latency_ns[bench.n - 1] / 1e6;
    res->mean_ms = (double) sum / (double) bench.n / 1e6;
    res->done = 1;
    printf("latency %-34s: %" PRIu64 " records, 1 per %" PRIu64
           " ms; put to "
           "on_record p50 %.1f, p90 %.1f, p99 %.1f, max %.1f, mean %.1f ms "
           "(warm-up %.1f ms)\n",
           mode_names[job->mode], bench.n, job->put_interval_ms, res->p50_ms,
           res->p90_ms, res->p99_ms, res->max_ms, res->mean_ms, warm_ms);
    print_stats(&st);
    fflush(stdout);
  }

  r = grace_and_check(r, LATENCY_GRACE_MS, NSHARDS);
  if (producer_close() != 0)
    r = 1;
  if (consumer_close() != 0)
    r = 1;
  if (bench_delete_stream(&bench.env, job->stream) != 0)
    r = 1;
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  free(bench.seen);
  free(bench.latency_ns);
  res->ok = r == 0;
  return r;
}


/* ---- Driver ---- */

static void usage(FILE* f) {
  fprintf(f,
          "usage: " PROG
          " [--records N] [--latency-records N] [--put-interval MS]\n"
          "                 [--phase cpu|latency|all]\n"
          "  --records N          records read back in the CPU phase "
          "(default %d)\n"
          "  --latency-records N  records timed in each latency run "
          "(default %d)\n"
          "  --put-interval MS    the latency phase puts a record every MS "
          "ms (default %d)\n"
          "  --phase P            cpu, latency or all (default all)\n"
          "Needs KINESIS_TEST_ENDPOINT: run it as\n"
          "  test/with-serve.sh build/tools/kinesis build/bench/" PROG
          " [OPTIONS]\n",
          DEFAULT_RECORDS, DEFAULT_LATENCY_RECORDS, DEFAULT_PUT_INTERVAL_MS);
}


static void print_summary(const result_t* runs, int cpu, int latency) {
  size_t i;
  printf("\n# summary\n");
  if (cpu) {
    static const int order[] = {RUN_CPU_POLL, RUN_CPU_POLL_RATE, RUN_CPU_EFO};
    static const run_mode_t modes[] = {MODE_POLL, MODE_POLL_RATE, MODE_EFO};
    const result_t* poll = &runs[RUN_CPU_POLL];
    const result_t* efo = &runs[RUN_CPU_EFO];
    printf("%-34s %12s %14s %16s\n", "read back, 100 B records", "records/s",
           "client us/rec", "server us/rec");
    for (i = 0; i < 3; i++) {
      const result_t* x = &runs[order[i]];
      if (!x->done) {
        printf("%-34s %12s\n", mode_names[modes[i]], "FAILED");
        continue;
      }
      printf("%-34s %12.0f %14.2f", mode_names[modes[i]],
             (double) x->records / x->wall_s,
             x->cpu_s * 1e6 / (double) x->records);
      if (x->server_cpu_s >= 0)
        printf(" %16.2f", x->server_cpu_s * 1e6 / (double) x->records);
      else
        printf(" %16s", "n/a");
      printf("%s\n", x->ok ? "" : "  FAILED");
    }
    if (poll->done && efo->done && poll->cpu_s > 0 && efo->wall_s > 0)
      printf(
          "EFO / polling (defaults): %.2fx the client CPU per record, "
          "%.2fx the records/s\n",
          efo->cpu_s / poll->cpu_s,
          ((double) efo->records / efo->wall_s) /
              ((double) poll->records / poll->wall_s));
  }
  if (latency) {
    static const int order[] = {RUN_LAT_POLL, RUN_LAT_POLL_TUNED, RUN_LAT_EFO};
    static const run_mode_t modes[] = {MODE_POLL, MODE_POLL_TUNED, MODE_EFO};
    printf("%-34s %8s %8s %8s %8s %8s\n", "put to on_record, ms", "p50", "p90",
           "p99", "max", "mean");
    for (i = 0; i < 3; i++) {
      const result_t* x = &runs[order[i]];
      if (!x->done) {
        printf("%-34s %8s\n", mode_names[modes[i]], "FAILED");
        continue;
      }
      printf("%-34s %8.1f %8.1f %8.1f %8.1f %8.1f%s\n", mode_names[modes[i]],
             x->p50_ms, x->p90_ms, x->p99_ms, x->max_ms, x->mean_ms,
             x->ok ? "" : "  FAILED");
    }
  }
}


int main(int argc, char** argv) {
  uint64_t records = DEFAULT_RECORDS;
  uint64_t latency_records = DEFAULT_LATENCY_RECORDS;
  uint64_t put_interval_ms = DEFAULT_PUT_INTERVAL_MS;
  int do_cpu = 1;
  int do_latency = 1;
  result_t* runs;
  int status = 0;
  int i;

  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--records") == 0 &&
               bench_parse_u64(v, &records) == 0) {
      i++;
    } else if (strcmp(a, "--latency-records") == 0 &&
               bench_parse_u64(v, &latency_records) == 0) {
      i++;
    } else if (strcmp(a, "--put-interval") == 0 &&
               bench_parse_u64(v, &put_interval_ms) == 0 &&
               put_interval_ms <= 60000) {
      i++;
    } else if (strcmp(a, "--phase") == 0 && v != NULL &&
               (strcmp(v, "cpu") == 0 || strcmp(v, "latency") == 0 ||
                strcmp(v, "all") == 0)) {
      do_cpu = strcmp(v, "latency") != 0;
      do_latency = strcmp(v, "cpu") != 0;
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
            ": SKIP: KINESIS_TEST_ENDPOINT is not set; run it "
            "under test/with-serve.sh build/tools/kinesis\n");
    return 77;
  }
  /* Shared with the children, which write their figures into it. */
  runs = mmap(NULL, sizeof(result_t) * NRUNS, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (runs == MAP_FAILED) {
    perror(PROG ": mmap");
    return 1;
  }
  memset(runs, 0, sizeof(result_t) * NRUNS);

  bench.server_pid = bench_server_pid(bench.endpoint);
  bench_print_header(PROG, "kinesis serve", bench.endpoint, bench.server_pid);
  printf("# %d shards, %d partition keys, %d B records; consumers from "
         "TRIM_HORIZON, max_queue_size 10000, memory checkpointer; EFO "
         "consumer \"" EFO_NAME "\", efo_register 1\n",
         NSHARDS, NKEYS, RECORD_SIZE);

  if (do_cpu) {
    static const run_mode_t modes[] = {MODE_POLL, MODE_POLL_RATE, MODE_EFO};
    static const int slots[] = {RUN_CPU_POLL, RUN_CPU_POLL_RATE, RUN_CPU_EFO};
    job_t job;
    size_t k;
    memset(&job, 0, sizeof(job));
    job.n = records;
    snprintf(job.stream, sizeof(job.stream), "bench-efo-%ld-cpu",
             (long) getpid());
    if (bench_run_child(PROG, "fill", fill, &job) != 0) {
      status = 1;
    } else {
      for (k = 0; k < 3; k++) {
        job.mode = modes[k];
        job.result = &runs[slots[k]];
        if (bench_run_child(PROG, mode_names[modes[k]], cpu_run, &job) != 0)
          status = 1;
      }
      if (bench_run_child(PROG, "delete", delete_stream, &job) != 0)
        status = 1;
    }
  }

  if (do_latency) {
    static const run_mode_t modes[] = {MODE_POLL, MODE_POLL_TUNED, MODE_EFO};
    static const int slots[] = {RUN_LAT_POLL, RUN_LAT_POLL_TUNED, RUN_LAT_EFO};
    size_t k;
    for (k = 0; k < 3; k++) {
      job_t job;
      memset(&job, 0, sizeof(job));
      job.n = latency_records;
      job.put_interval_ms = put_interval_ms;
      job.mode = modes[k];
      job.result = &runs[slots[k]];
      snprintf(job.stream, sizeof(job.stream), "bench-efo-%ld-latency-%d",
               (long) getpid(), (int) modes[k]);
      if (bench_run_child(PROG, mode_names[modes[k]], latency_run, &job) != 0)
        status = 1;
    }
  }

  print_summary(runs, do_cpu, do_latency);
  if (status != 0)
    printf("FAILED: see the messages above\n");
  munmap(runs, sizeof(result_t) * NRUNS);
  return status;
}
