/* Consumer throughput and cost against kinesalite, through the public API
 * only. For each configuration (a record shape) it creates a 4-shard stream
 * and fills it with the producer, rate limits off, until every record is
 * acknowledged: that setup is not measured. Then, once for each
 * shard_fetch_rate (5, the AWS limit and the default, and 50, since
 * kinesalite has none), a consumer reads the stream from TRIM_HORIZON until
 * every record has reached on_record. Around that consuming phase alone,
 * from kinesis_consumer_new() to the last on_record, it measures wall time
 * and this process's CPU time (getrusage deltas), and prints records/s, CPU
 * microseconds per record and peak RSS. kinesalite runs in another process,
 * so RUSAGE_SELF is the client alone; the server's CPU is read from /proc,
 * as bench_producer does (bench_util.c).
 *
 * The filling, each consuming run and the deletion of the stream each run
 * in a child process of their own, so that a run's peak RSS (ru_maxrss) is
 * its own, and not the producer's or that of the run before it.
 *
 * Each record carries its index and a checksum. on_record checks both (so
 * the compiler cannot drop the work on the data) and counts the index; a
 * second later, with nothing more arriving, every record must have come
 * exactly once. It asserts nothing about speed. It fails (exit 1) when a
 * record is missing, comes twice or is corrupt, when delivery stalls, or
 * when something is leaked.
 *
 * Run it with bench/run.sh consumer, or test/with-servers.sh
 * build/bench/bench_consumer [--config 1..3] [--records N]
 * [--fetch-rate R] [--queue N] [--record-limit N]. To profile the
 * consuming phase alone:
 *   valgrind --tool=callgrind --toggle-collect=consume ...
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "kinesis.h"

#include "bench_util.h"

#define PROG "bench_consumer"
#define NKEYS 1000
#define NSHARDS 4
/* Failures printed in full; the rest are only counted. */
#define MAX_PRINTED_FAILURES 10
/* The 64-bit word sum of every record, "kinesis!" in ASCII. */
#define CHECK_SUM UINT64_C(0x216973656e69736b)
/* Index and check word come first, so records are at least this long. */
#define MIN_RECORD_SIZE 16
/* No new record for this long fails the run, rather than hang it. */
#define STALL_MS 30000
/* After the last record: long enough for every shard to fetch again at 5
 * calls per second, so that a record delivered twice would show. */
#define GRACE_MS 1000

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

typedef struct config_s {
  int id;
  size_t record_size;
  int aggregate;
  uint64_t records; /* default count: a few seconds each on 2 CPUs */
} config_t;

static const config_t configs[] = {
    {1, 100, 0, 200000},
    {2, 1024, 0, 100000},
    {3, 100, 1, 500000},
};

#define NCONFIGS (sizeof(configs) / sizeof(configs[0]))

static const double default_fetch_rates[] = {5, 50};

/* What a child process does. */
typedef struct job_s {
  const config_t* cfg;
  uint64_t n;
  double fetch_rate; /* for a consuming run */
  char stream[128];
} job_t;

typedef struct bench_s {
  bench_client_t env; /* the loop and the client */
  const char* endpoint;
  long server_pid;         /* 0 when not found */
  uint32_t max_queue_size; /* the consumer's */
  uint32_t record_limit;   /* the consumer's */
  uint64_t n;              /* records in the stream */
  size_t record_size;
  int aggregate;
  /* Filling. */
  kinesis_producer_t* producer;
  uint64_t next;       /* records put so far */
  uint64_t acked;      /* put callbacks run */
  uint64_t put_failed; /* put callbacks with a non-zero status */
  uint8_t* data;       /* one record's bytes, reused for every put */
  char keys[NKEYS][16];
  /* Consuming. */
  kinesis_consumer_t* consumer;
  uv_timer_t timer;    /* stall watchdog, then the grace period */
  uint64_t delivered;  /* on_record calls */
  uint64_t duplicates; /* records delivered a second time, or more */
  uint64_t corrupt;    /* wrong length, kind, checksum or index */
  uint64_t watched;    /* `delivered` at the last watchdog tick */
  uint64_t quiet_ms;   /* since `delivered` last moved */
  int stalled;
  int grace_over;
  uint8_t* seen; /* per record: times delivered, up to 255 */
} bench_t;

static bench_t bench;


/* ---- Records ---- */



/* Record `i`: its index, a check word that makes the checksum CHECK_SUM,
 * then bytes that differ from record to record. */
static void make_record(uint64_t i, uint8_t* p, size_t len) {
  uint64_t check = 0;
  size_t k;
  memcpy(p, &i, sizeof(i));
  memcpy(p + 8, &check, sizeof(check));
  for (k = MIN_RECORD_SIZE; k < len; k++)
    p[k] = (uint8_t) (i * 131 + k * 7);
  check = CHECK_SUM - bench_checksum(p, len);
  memcpy(p + 8, &check, sizeof(check));
}


/* ---- Filling: the producer, not measured ---- */

static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  (void) p;
  bench.acked++;
  if (status == 0)
    return;
  if (bench.put_failed++ < MAX_PRINTED_FAILURES)
    fprintf(stderr, PROG ": fill: record %" PRIu64 " failed: %s (%s%s%s)\n",
            (uint64_t) (uintptr_t) arg, kinesis_err_name(status),
            res->error_code != NULL ? res->error_code : "",
            res->error_code != NULL ? ": " : "",
            res->error_message != NULL ? res->error_message : "");
}


/* Puts until every record is in or the buffer is full. */
static void put_more(kinesis_producer_t* p) {
  while (bench.next < bench.n) {
    kinesis_record_t rec;
    uint64_t i = bench.next;
    int r;
    make_record(i, bench.data, bench.record_size);
    rec.data = bench.data;
    rec.len = bench.record_size;
    rec.partition_key = bench.keys[i % NKEYS];
    rec.explicit_hash_key = NULL;
    r = kinesis_producer_put(p, &rec, on_put, (void*) (uintptr_t) i);
    if (r == KINESIS_EQUEUEFULL)
      return;
    if (r != 0) {
      fprintf(stderr, PROG ": fill: put %" PRIu64 ": %s\n", i,
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


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  if (status != 0)
    fprintf(stderr, PROG ": fill: producer close: %s\n",
            kinesis_strerror(status));
  bench.env.closed = 1;
}


/* Child: creates the stream and puts job->n records into it. */
static int fill(void* arg) {
  job_t* job = arg;
  kinesis_producer_options_t po;
  kinesis_producer_stats_t st;
  uint64_t t0;
  double wall;
  size_t i;
  int r;

  bench.n = job->n;
  bench.record_size = job->cfg->record_size;
  bench.data = malloc(bench.record_size);
  if (bench.data == NULL)
    return 1;
  for (i = 0; i < NKEYS; i++)
    snprintf(bench.keys[i], sizeof(bench.keys[i]), "pk-%u", (unsigned) i);
  if (bench_client_open(&bench.env, PROG, bench.endpoint) != 0)
    return 1;
  t0 = uv_hrtime();
  if (bench_create_stream(&bench.env, job->stream, NSHARDS) != 0) {
    bench_client_close(&bench.env);
    return 1;
  }

  kinesis_producer_options_init(&po);
  po.stream = job->stream;
  po.aggregate = job->cfg->aggregate;
  /* kinesalite enforces no shard limits. */
  po.put_rate_limit_per_shard = 0;
  po.put_bandwidth_limit_per_shard = 0;
  po.on_drain = on_drain;
  r = kinesis_producer_new(bench.env.client, &po, &bench.producer);
  if (r != 0) {
    fprintf(stderr, PROG ": fill: producer: %s\n", kinesis_strerror(r));
    return 1;
  }
  put_more(bench.producer);
  r = 0;
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
  if (kinesis_producer_stats(bench.producer, &st) != 0)
    memset(&st, 0, sizeof(st));
  wall = (double) (uv_hrtime() - t0) / 1e9;
  if (kinesis_producer_close(bench.producer, on_producer_closed, NULL) != 0 ||
      bench_wait_closed(&bench.env) != 0) {
    fprintf(stderr, PROG ": fill: the producer did not close\n");
    return 1;
  }
  if (r == 0)
    printf("# setup: %" PRIu64 " records of %zu B in %" PRIu64
           " Kinesis records (%.1f per record), put in %.1f s\n",
           bench.n, bench.record_size, st.entries_sent,
           st.entries_sent ? (double) bench.n / (double) st.entries_sent : 0.0,
           wall);
  else
    bench_delete_stream(&bench.env, job->stream);
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  free(bench.data);
  return r;
}


/* Child: deletes the stream; kinesalite keeps every record in memory. */
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


/* ---- Consuming: measured ---- */

static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* rec, void* arg) {
  uint64_t i;
  (void) c;
  (void) arg;
  bench.delivered++;
  if (rec->len == bench.record_size && rec->aggregated == bench.aggregate &&
      bench_checksum(rec->data, rec->len) == CHECK_SUM) {
    memcpy(&i, rec->data, sizeof(i));
    if (i < bench.n) {
      if (bench.seen[i] != 0)
        bench.duplicates++;
      if (bench.seen[i] != UINT8_MAX)
        bench.seen[i]++;
      return;
    }
  }
  if (bench.corrupt++ < MAX_PRINTED_FAILURES)
    fprintf(stderr,
            PROG
            ": corrupt record: %zu bytes, aggregated %d, shard %s, "
            "sequence %s/%u\n",
            rec->len, rec->aggregated, rec->shard_id, rec->sequence_number,
            (unsigned) rec->sub_sequence_number);
}


static void on_watchdog(uv_timer_t* t) {
  (void) t;
  if (bench.delivered != bench.watched) {
    bench.watched = bench.delivered;
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


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  if (status != 0)
    fprintf(stderr, PROG ": consumer close: %s\n", kinesis_strerror(status));
  bench.env.closed = 1;
}


/* The measured phase: from the consumer's creation (its ListShards, lease
 * claims and GetShardIterator calls are part of it) to the last record.
 * Not inlined, so that callgrind's --toggle-collect=consume finds it. */
static NOINLINE int consume(const kinesis_consumer_options_t* co) {
  int r = kinesis_consumer_new(bench.env.client, co, &bench.consumer);
  if (r != 0) {
    fprintf(stderr, PROG ": consumer: %s\n", kinesis_strerror(r));
    exit(1);
  }
  r = kinesis_consumer_start(bench.consumer);
  if (r != 0) {
    fprintf(stderr, PROG ": consumer start: %s\n", kinesis_strerror(r));
    exit(1);
  }
  while (bench.delivered < bench.n && !bench.stalled)
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0 &&
        bench.delivered < bench.n) {
      fprintf(stderr,
              PROG ": the loop ran dry at %" PRIu64 " of %" PRIu64 " records\n",
              bench.delivered, bench.n);
      return 1;
    }
  return bench.stalled;
}


/* Child: one consuming run. */
static int run_consumer(void* arg) {
  job_t* job = arg;
  const config_t* cfg = job->cfg;
  kinesis_consumer_options_t co;
  kinesis_consumer_stats_t st;
  struct rusage ru0;
  struct rusage ru1;
  uint64_t t0;
  uint64_t t1;
  uint64_t at_end;
  uint64_t missing = 0;
  uint64_t calls;
  double srv0;
  double srv1;
  double wall;
  double cpu;
  uint64_t i;
  int r;

  bench.n = job->n;
  bench.record_size = cfg->record_size;
  bench.aggregate = cfg->aggregate;
  bench.seen = calloc(bench.n, 1);
  if (bench.seen == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  if (bench_client_open(&bench.env, PROG, bench.endpoint) != 0)
    return 1;
  uv_timer_init(&bench.env.loop, &bench.timer);
  uv_timer_start(&bench.timer, on_watchdog, 1000, 1000);

  kinesis_consumer_options_init(&co);
  co.stream = job->stream;
  co.on_record = on_record;
  co.record_limit = bench.record_limit;
  co.shard_fetch_rate = job->fetch_rate;
  co.max_queue_size = bench.max_queue_size;
  co.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;

  srv0 = bench_process_cpu_s(bench.server_pid);
  getrusage(RUSAGE_SELF, &ru0);
  t0 = uv_hrtime();
  r = consume(&co);
  t1 = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  srv1 = bench_process_cpu_s(bench.server_pid);
  if (r != 0 && bench.stalled)
    fprintf(stderr,
            PROG ": FAILED: nothing delivered for %d s, at %" PRIu64
                 " of %" PRIu64 " records\n",
            STALL_MS / 1000, bench.delivered, bench.n);

  if (kinesis_consumer_stats(bench.consumer, &st) != 0)
    memset(&st, 0, sizeof(st));
  calls = st.get_records_calls;
  wall = (double) (t1 - t0) / 1e9;
  cpu = bench_rusage_cpu_s(&ru1) - bench_rusage_cpu_s(&ru0);
  printf("consumer %5s %-5s rate %2g : %" PRIu64
         " records in %.1f s = %.0f rec/s, "
         "client CPU %.2f s = %.2f us/record, peak RSS %.1f MiB",
         cfg->record_size == 1024 ? "1 KiB" : "100 B",
         cfg->aggregate ? "agg" : "plain", job->fetch_rate, bench.delivered,
         wall, (double) bench.delivered / wall, cpu,
         cpu * 1e6 / (double) bench.n, (double) ru1.ru_maxrss / 1024.0);
  if (srv0 >= 0 && srv1 >= 0)
    printf(", kinesalite CPU %.2f s = %.1f us/record\n", srv1 - srv0,
           (srv1 - srv0) * 1e6 / (double) bench.n);
  else
    printf(", kinesalite CPU n/a\n");
  printf("    user %.2f s + sys %.2f s; %" PRIu64
         " GetRecords calls of %.0f user records, %" PRIu64
         " throttled, %" PRIu64 " expired iterators\n",
         bench_tv_s(&ru0.ru_utime, &ru1.ru_utime),
         bench_tv_s(&ru0.ru_stime, &ru1.ru_stime), calls,
         calls ? (double) bench.delivered / (double) calls : 0.0, st.throttled,
         st.expired_iterators);
  fflush(stdout);

  /* Anything more that arrives now was delivered twice. */
  at_end = bench.delivered;
  uv_timer_stop(&bench.timer);
  uv_timer_start(&bench.timer, on_grace_over, GRACE_MS, 0);
  while (!bench.grace_over)
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0)
      break;

  /* Correctness, not speed. */
  for (i = 0; i < bench.n; i++)
    if (bench.seen[i] == 0 && missing++ == 0)
      fprintf(stderr, PROG ": FAILED: record %" PRIu64 " never came\n", i);
  if (r != 0 || missing != 0 || bench.duplicates != 0 || bench.corrupt != 0 ||
      bench.delivered != bench.n) {
    fprintf(stderr,
            PROG ": FAILED: %" PRIu64 " of %" PRIu64
                 " records delivered (%" PRIu64
                 " more within %d ms after), %" PRIu64 " missing, %" PRIu64
                 " duplicates, %" PRIu64 " corrupt\n",
            bench.delivered, bench.n, bench.delivered - at_end, GRACE_MS,
            missing, bench.duplicates, bench.corrupt);
    r = 1;
  }

  uv_close((uv_handle_t*) &bench.timer, NULL);
  if (kinesis_consumer_close(bench.consumer, on_consumer_closed, NULL) != 0 ||
      bench_wait_closed(&bench.env) != 0) {
    fprintf(stderr, PROG ": the consumer did not close\n");
    return 1;
  }
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  free(bench.seen);
  return r;
}


/* ---- Driver ---- */

static void usage(FILE* f) {
  fprintf(f,
          "usage: " PROG
          " [--config 1..3] [--records N] [--fetch-rate R]\n"
          "                      [--queue N] [--record-limit N]\n"
          "  --config K        run configuration K only (default: all)\n"
          "    1: 100 B plain, 200000    2: 1 KiB plain, 100000\n"
          "    3: 100 B aggregated, 500000\n"
          "  --records N       records in the stream of each configuration\n"
          "  --fetch-rate R    shard_fetch_rate R only (default: 5, then 50)\n"
          "  --queue N         the consumer's max_queue_size (default 10000)\n"
          "  --record-limit N  the consumer's record_limit (default 10000)\n"
          "Needs KINESIS_TEST_ENDPOINT (run it under test/with-servers.sh).\n");
}


static int parse_rate(const char* s, double* out) {
  char* end;
  double v;
  if (s == NULL || *s == '\0')
    return -1;
  errno = 0;
  v = strtod(s, &end);
  /* The consumer takes (0, 1000]. */
  if (errno != 0 || *end != '\0' || !(v > 0 && v <= 1000))
    return -1;
  *out = v;
  return 0;
}


int main(int argc, char** argv) {
  uint64_t records = 0;
  uint64_t only = 0;
  uint64_t queue = 10000;
  uint64_t limit = 10000;
  double rate = 0;
  const double* rates = default_fetch_rates;
  size_t nrates = sizeof(default_fetch_rates) / sizeof(default_fetch_rates[0]);
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
    } else if (strcmp(a, "--config") == 0 && bench_parse_u64(v, &only) == 0 &&
               only <= NCONFIGS) {
      i++;
    } else if (strcmp(a, "--fetch-rate") == 0 && parse_rate(v, &rate) == 0) {
      rates = &rate;
      nrates = 1;
      i++;
    } else if (strcmp(a, "--queue") == 0 && bench_parse_u64(v, &queue) == 0 &&
               queue <= UINT32_MAX) {
      i++;
    } else if (strcmp(a, "--record-limit") == 0 &&
               bench_parse_u64(v, &limit) == 0 && limit <= 10000) {
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
            ": SKIP: KINESIS_TEST_ENDPOINT is not set; "
            "run it as bench/run.sh consumer, or under "
            "test/with-servers.sh\n");
    return 77;
  }
  bench.max_queue_size = (uint32_t) queue;
  bench.record_limit = (uint32_t) limit;
  bench.server_pid = bench_server_pid(bench.endpoint);
  bench_print_header(PROG, "kinesalite", bench.endpoint, bench.server_pid);
  printf(
      "# %d shards, %d partition keys; consumer from TRIM_HORIZON, "
      "record_limit %u, max_queue_size %u, memory checkpointer; setup "
      "(create, fill with the producer) not measured\n",
      NSHARDS, NKEYS, bench.record_limit, bench.max_queue_size);
  printf(
      "# target: <= 1 us consumer CPU per record "
      "(async-kinesis: ~43 us here)\n");

  for (i = 0; i < (int) NCONFIGS; i++) {
    job_t job;
    size_t k;
    if (only != 0 && (uint64_t) configs[i].id != only)
      continue;
    memset(&job, 0, sizeof(job));
    job.cfg = &configs[i];
    job.n = records != 0 ? records : configs[i].records;
    snprintf(job.stream, sizeof(job.stream), "bench-consumer-%ld-%d",
             (long) getpid(), configs[i].id);
    if (bench_run_child(PROG, "fill", fill, &job) != 0) {
      status = 1;
      continue;
    }
    for (k = 0; k < nrates; k++) {
      job.fetch_rate = rates[k];
      if (bench_run_child(PROG, "consumer", run_consumer, &job) != 0)
        status = 1;
    }
    if (bench_run_child(PROG, "delete", delete_stream, &job) != 0)
      status = 1;
  }
  return status;
}
