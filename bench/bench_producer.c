/* Producer throughput and cost against kinesalite, through the public API
 * only. For each configuration it creates a 4-shard stream, then puts every
 * record with the backpressure loop (put until KINESIS_EQUEUEFULL, go on
 * from on_drain) and waits for every callback. Around that producing phase
 * alone it measures wall time and this process's CPU time (getrusage
 * deltas), and prints records/s, CPU microseconds per record and peak RSS.
 * kinesalite runs in another process, so RUSAGE_SELF is the client alone;
 * the server's CPU is read from /proc/<pid>/stat of the process listening
 * on the endpoint's port, when it can be found.
 *
 * Each configuration runs in a child process of its own, so that its peak
 * RSS (ru_maxrss) is its own and not the largest of the runs before it.
 *
 * It asserts nothing about speed. It fails (exit 1) only when a record's
 * callback reports an error, runs twice or never, or something is leaked.
 *
 * Run it with bench/run.sh producer, or test/with-servers.sh
 * build/bench/bench_producer [--config 1..4] [--records N] [--in-flight N]
 * [--queue N].
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "kinesis.h"

#include "bench_util.h"

#define NKEYS 1000
#define NSHARDS 4
/* Failures printed in full; the rest are only counted. */
#define MAX_PRINTED_FAILURES 10

typedef struct config_s {
  int id;
  size_t record_size;
  int aggregate;
  uint64_t records; /* default count: 3 to 10 s each on 2 CPUs */
} config_t;

static const config_t configs[] = {
    {1, 100, 0, 100000},
    {2, 1024, 0, 100000},
    {3, 100, 1, 1000000},
    {4, 1024, 1, 300000},
};

#define NCONFIGS (sizeof(configs) / sizeof(configs[0]))

typedef struct bench_s {
  bench_client_t env; /* the loop and the client */
  kinesis_producer_t* producer;
  const char* endpoint;
  long server_pid;         /* 0 when not found */
  uint32_t max_in_flight;  /* 0: the producer's default */
  uint32_t batch_size;     /* 0: the producer's default */
  uint32_t max_queue_size; /* 0: the producer's default */
  uint64_t n;              /* records to put */
  uint64_t next;           /* records put so far */
  uint64_t done;           /* callbacks run */
  uint64_t failed;         /* callbacks with a non-zero status */
  uint64_t duplicates;     /* callbacks that ran a second time */
  uint64_t drains;
  uint8_t* seen; /* per record: callbacks run */
  uint8_t* data; /* one record's bytes, reused for every put */
  size_t record_size;
  char keys[NKEYS][16];
} bench_t;

static bench_t bench;


/* ---- Closing ---- */

static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  if (status != 0)
    fprintf(stderr, "bench_producer: producer close: %s\n",
            kinesis_strerror(status));
  bench.env.closed = 1;
}


/* ---- The producing phase ---- */

static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  uint64_t i = (uint64_t) (uintptr_t) arg;
  (void) p;
  bench.done++;
  if (bench.seen[i]++ != 0)
    bench.duplicates++;
  if (status == 0)
    return;
  if (bench.failed++ < MAX_PRINTED_FAILURES)
    fprintf(stderr,
            "bench_producer: record %" PRIu64
            " failed after %u attempts: "
            "%s (%s%s%s)\n",
            i, (unsigned) res->attempts, kinesis_err_name(status),
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
    /* Records differ a little, as real ones do. */
    memcpy(bench.data, &i,
           sizeof(i) < bench.record_size ? sizeof(i) : bench.record_size);
    rec.data = bench.data;
    rec.len = bench.record_size;
    rec.partition_key = bench.keys[i % NKEYS];
    rec.explicit_hash_key = NULL;
    r = kinesis_producer_put(p, &rec, on_put, (void*) (uintptr_t) i);
    if (r == KINESIS_EQUEUEFULL)
      return;
    if (r != 0) {
      fprintf(stderr, "bench_producer: put %" PRIu64 ": %s\n", i,
              kinesis_strerror(r));
      exit(1);
    }
    bench.next++;
  }
}


static void on_drain(kinesis_producer_t* p, void* arg) {
  (void) arg;
  bench.drains++;
  put_more(p);
}


static int run_config(const config_t* cfg, uint64_t n) {
  kinesis_producer_options_t po;
  kinesis_producer_stats_t st;
  struct rusage ru0;
  struct rusage ru1;
  char stream[128];
  uint64_t t0;
  uint64_t t1;
  double srv0;
  double srv1;
  double wall;
  double cpu;
  size_t i;
  int r;

  bench.n = n;
  bench.record_size = cfg->record_size;
  bench.seen = calloc(n, 1);
  bench.data = malloc(cfg->record_size);
  if (bench.seen == NULL || bench.data == NULL) {
    fprintf(stderr, "bench_producer: out of memory\n");
    return 1;
  }
  for (i = 0; i < cfg->record_size; i++)
    bench.data[i] = (uint8_t) ('a' + i % 26);
  for (i = 0; i < NKEYS; i++)
    snprintf(bench.keys[i], sizeof(bench.keys[i]), "pk-%u", (unsigned) i);

  if (bench_client_open(&bench.env, "bench_producer", bench.endpoint) != 0)
    return 1;
  snprintf(stream, sizeof(stream), "bench-producer-%ld-%d", (long) getpid(),
           cfg->id);
  if (bench_create_stream(&bench.env, stream, NSHARDS) != 0)
    return 1;

  kinesis_producer_options_init(&po);
  po.stream = stream;
  po.aggregate = cfg->aggregate;
  /* kinesalite enforces no shard limits; the limiter is not measured. */
  po.put_rate_limit_per_shard = 0;
  po.put_bandwidth_limit_per_shard = 0;
  if (bench.max_in_flight != 0)
    po.max_in_flight = bench.max_in_flight;
  if (bench.max_queue_size != 0)
    po.max_queue_size = bench.max_queue_size;
  if (bench.batch_size != 0)
    po.batch_size = bench.batch_size;
  po.on_drain = on_drain;

  /* The producing phase: from the producer's creation (its ListShards is
   * part of it) to the last callback. */
  srv0 = bench_process_cpu_s(bench.server_pid);
  getrusage(RUSAGE_SELF, &ru0);
  t0 = uv_hrtime();
  r = kinesis_producer_new(bench.env.client, &po, &bench.producer);
  if (r != 0) {
    fprintf(stderr, "bench_producer: producer: %s\n", kinesis_strerror(r));
    return 1;
  }
  put_more(bench.producer);
  while (bench.done < bench.n)
    if (uv_run(&bench.env.loop, UV_RUN_ONCE) == 0 && bench.done < bench.n) {
      fprintf(stderr,
              "bench_producer: the loop ran dry at %" PRIu64 " of %" PRIu64
              " callbacks\n",
              bench.done, bench.n);
      return 1;
    }
  t1 = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  srv1 = bench_process_cpu_s(bench.server_pid);

  if (kinesis_producer_stats(bench.producer, &st) != 0)
    memset(&st, 0, sizeof(st));
  wall = (double) (t1 - t0) / 1e9;
  cpu = bench_rusage_cpu_s(&ru1) - bench_rusage_cpu_s(&ru0);
  printf("producer %6s  %-5s : %" PRIu64
         " records in %.1f s = %.0f rec/s, "
         "client CPU %.2f s = %.2f us/record, peak RSS %.1f MiB",
         cfg->record_size == 1024 ? "1 KiB" : "100 B",
         cfg->aggregate ? "agg" : "plain", n, wall, (double) n / wall, cpu,
         cpu * 1e6 / (double) n, (double) ru1.ru_maxrss / 1024.0);
  if (srv0 >= 0 && srv1 >= 0)
    printf(", server CPU %.2f s = %.1f us/record\n", srv1 - srv0,
           (srv1 - srv0) * 1e6 / (double) n);
  else
    printf(", server CPU n/a\n");
  printf(
      "    user %.2f s + sys %.2f s; %" PRIu64
      " requests of %.1f "
      "records (%" PRIu64
      " Kinesis records), batch fill %.2f, "
      "%" PRIu64 " retried, %" PRIu64 " drains\n",
      bench_tv_s(&ru0.ru_utime, &ru1.ru_utime),
      bench_tv_s(&ru0.ru_stime, &ru1.ru_stime), st.requests,
      st.requests ? (double) st.user_records_sent / (double) st.requests : 0.0,
      st.entries_sent, st.batch_fill, st.records_retried, bench.drains);
  fflush(stdout);

  /* Correctness, not speed. */
  r = 0;
  if (bench.next != n || bench.done != n || bench.failed != 0 ||
      bench.duplicates != 0) {
    fprintf(stderr,
            "bench_producer: FAILED: %" PRIu64 " put, %" PRIu64
            " callbacks, %" PRIu64 " errors, %" PRIu64 " duplicates\n",
            bench.next, bench.done, bench.failed, bench.duplicates);
    r = 1;
  }
  for (i = 0; i < n; i++)
    if (bench.seen[i] != 1) {
      fprintf(stderr, "bench_producer: FAILED: record %zu had %u callbacks\n",
              i, (unsigned) bench.seen[i]);
      r = 1;
      break;
    }

  if (kinesis_producer_close(bench.producer, on_producer_closed, NULL) != 0 ||
      bench_wait_closed(&bench.env) != 0) {
    fprintf(stderr, "bench_producer: the producer did not close\n");
    return 1;
  }
  if (bench.done != n) {
    fprintf(stderr, "bench_producer: FAILED: callbacks after close\n");
    r = 1;
  }
  /* kinesalite keeps every record in memory; give it back. */
  if (bench_delete_stream(&bench.env, stream) != 0)
    r = 1;
  if (bench_client_close(&bench.env) != 0)
    r = 1;
  free(bench.seen);
  free(bench.data);
  return r;
}


/* One configuration, for bench_run_child(). */
typedef struct job_s {
  const config_t* cfg;
  uint64_t n;
} job_t;


static int run_job(void* arg) {
  job_t* job = arg;
  return run_config(job->cfg, job->n);
}


static void usage(FILE* f) {
  fprintf(f,
          "usage: bench_producer [--config 1..4] [--records N] "
          "[--in-flight N] [--queue N]\n"
          "  --config K     run configuration K only (default: all)\n"
          "    1: 100 B plain, 100000    2: 1 KiB plain, 100000\n"
          "    3: 100 B aggregated, 1000000    4: 1 KiB aggregated, 300000\n"
          "  --records N    put N records in each configuration run\n"
          "  --in-flight N  the producer's max_in_flight (default its own)\n"
          "  --queue N      the producer's max_queue_size (default its own)\n"
          "  --batch N      the producer's batch_size (default its own)\n"
          "Needs KINESIS_TEST_ENDPOINT (run it under test/with-servers.sh).\n");
}


int main(int argc, char** argv) {
  uint64_t records = 0;
  uint64_t only = 0;
  uint64_t in_flight = 0;
  uint64_t queue = 0;
  uint64_t batch = 0;
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
    } else if (strcmp(a, "--in-flight") == 0 &&
               bench_parse_u64(v, &in_flight) == 0 && in_flight <= UINT32_MAX) {
      i++;
    } else if (strcmp(a, "--queue") == 0 && bench_parse_u64(v, &queue) == 0 &&
               queue <= UINT32_MAX) {
      i++;
    } else if (strcmp(a, "--batch") == 0 && bench_parse_u64(v, &batch) == 0 &&
               batch >= 1 && batch <= 500) {
      i++;
    } else {
      fprintf(stderr, "bench_producer: bad argument: %s%s%s\n", a,
              v != NULL ? " " : "", v != NULL ? v : "");
      usage(stderr);
      return 2;
    }
  }

  bench.endpoint = getenv("KINESIS_TEST_ENDPOINT");
  if (bench.endpoint == NULL || bench.endpoint[0] == '\0') {
    fprintf(stderr,
            "bench_producer: SKIP: KINESIS_TEST_ENDPOINT is not set; "
            "run it as bench/run.sh producer, or under "
            "test/with-servers.sh\n");
    return 77;
  }
  bench.max_in_flight = (uint32_t) in_flight;
  bench.max_queue_size = (uint32_t) queue;
  bench.batch_size = (uint32_t) batch;
  bench.server_pid = bench_server_pid(bench.endpoint);
  bench_print_header("bench_producer", "kinesalite", bench.endpoint,
                     bench.server_pid);
  {
    kinesis_producer_options_t defaults;
    kinesis_producer_options_init(&defaults);
    printf(
        "# %d shards, %d partition keys, rate limits off, max_in_flight "
        "%" PRIu64 ", max_queue_size %" PRIu64
        ", buffer_time_ms %u, "
        "batch_size %u\n",
        NSHARDS, NKEYS,
        in_flight != 0 ? in_flight : (uint64_t) defaults.max_in_flight,
        queue != 0 ? queue : (uint64_t) defaults.max_queue_size,
        (unsigned) defaults.buffer_time_ms, batch != 0 ? (unsigned) batch : (unsigned) defaults.batch_size);
  }
  printf(
      "# target: <= 1 us client CPU per 100-byte record; "
      ">= 300,000 user records/s aggregated\n");

  for (i = 0; i < (int) NCONFIGS; i++) {
    const config_t* cfg = &configs[i];
    if (only != 0 && (uint64_t) cfg->id != only)
      continue;
    job_t job;
    job.cfg = cfg;
    job.n = records != 0 ? records : cfg->records;
    if (bench_run_child("bench_producer", "configuration", run_job, &job) != 0)
      status = 1;
  }
  return status;
}
