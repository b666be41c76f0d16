/* What a Kinesis server takes and gives back: the fake service
 * (`kinesis serve --no-limits`) or kinesalite, measured from outside by
 * the same client (bench/serve.sh runs both and compares them).
 *
 *   bench_serve [--records N] [--in-flight K] [--shards S]
 *
 * The server is KINESIS_TEST_ENDPOINT. On a new stream of S shards
 * (default 4) it puts N records (default 200,000) of 100 bytes in
 * PutRecords of 500, K requests in flight (default 4), then reads every
 * shard back from TRIM_HORIZON with GetRecords of up to 10,000 records,
 * checking the count. For each phase it prints the records a second of wall
 * time, the server's CPU time (utime + stime of the process that listens
 * on the endpoint's port, from /proc) and the records a second of that CPU
 * time: what the server would take on one core of its own.
 *
 *   RESULT phase=put records=N wall_s=W server_cpu_s=C records_per_s=R
 *          records_per_server_cpu_s=P failed=F
 *
 * It asserts nothing about speed. Exit 1 when a record failed, or the read
 * did not give back exactly N.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench_util.h"

#define PROG "bench_serve"
#define BATCH 500
#define RECORD_SIZE 100

typedef struct {
  bench_client_t b;
  const char* stream;
  uint64_t records;
  uint64_t put;       /* records sent in a request */
  uint64_t acked;
  uint64_t failed;
  uint32_t in_flight; /* requests */
  uint32_t max_in_flight;
  kinesis_record_t batch[BATCH];
  char keys[BATCH][16];
  uint8_t data[RECORD_SIZE];
  int error;
} bench_t;


static void put_next(bench_t* t);


static void on_put(kinesis_client_t* c, int status, const kinesis_result_t* res,
                   void* arg) {
  bench_t* t = arg;
  (void) c;
  t->in_flight--;
  if (status != 0) {
    fprintf(stderr, PROG ": PutRecords: %s\n", kinesis_strerror(status));
    t->error = 1;
    return;
  }
  t->acked += res->nput_entries - res->failed_record_count;
  t->failed += res->failed_record_count;
  put_next(t);
}


static void put_next(bench_t* t) {
  while (!t->error && t->in_flight < t->max_in_flight &&
         t->put < t->records) {
    size_t n = t->records - t->put < BATCH ? (size_t) (t->records - t->put)
                                            : BATCH;
    int r = kinesis_client_put_records(t->b.client, t->stream, t->batch, n,
                                       on_put, t);
    if (r != 0) {
      fprintf(stderr, PROG ": PutRecords: %s\n", kinesis_strerror(r));
      t->error = 1;
      return;
    }
    t->put += n;
    t->in_flight++;
  }
}


static double now_s(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double) tv.tv_sec + (double) tv.tv_usec / 1e6;
}


static void print_phase(const char* phase, uint64_t records, double wall,
                        double cpu, uint64_t failed) {
  printf("RESULT phase=%s records=%" PRIu64 " wall_s=%.3f server_cpu_s=%.3f "
         "records_per_s=%.0f records_per_server_cpu_s=%.0f failed=%" PRIu64
         "\n",
         phase, records, wall, cpu, (double) records / wall,
         cpu > 0 ? (double) records / cpu : 0.0, failed);
  fflush(stdout);
}


/* What a read call gave: its iterator, or its records' count and next
 * iterator. */
typedef struct {
  bench_t* t;
  int done;
  int status;
  char* iterator;
  size_t nrecords;
  int64_t behind;
} read_call_t;


static void on_read(kinesis_client_t* c, int status,
                    const kinesis_result_t* res, void* arg) {
  read_call_t* rc = arg;
  const char* it;
  (void) c;
  rc->done = 1;
  rc->status = status;
  free(rc->iterator);
  rc->iterator = NULL;
  if (status != 0) {
    fprintf(stderr, PROG ": read: %s\n", kinesis_strerror(status));
    return;
  }
  it = res->shard_iterator != NULL ? res->shard_iterator
                                   : res->next_shard_iterator;
  if (it != NULL)
    rc->iterator = strdup(it);
  rc->nrecords = res->nrecords;
  rc->behind = res->millis_behind_latest;
}


static int read_wait(read_call_t* rc, int r) {
  if (r != 0) {
    fprintf(stderr, PROG ": read: %s\n", kinesis_strerror(r));
    return r;
  }
  rc->done = 0;
  while (!rc->done)
    uv_run(&rc->t->b.loop, UV_RUN_ONCE);
  return rc->status;
}


/* Reads one shard from TRIM_HORIZON up to what is there now (an empty
 * answer, or a closed shard's end). Returns the count, or -1. */
static int64_t read_shard(bench_t* t, const char* shard_id) {
  kinesis_iterator_request_t req;
  read_call_t rc;
  int64_t n = 0;

  memset(&rc, 0, sizeof(rc));
  rc.t = t;
  memset(&req, 0, sizeof(req));
  req.stream = t->stream;
  req.shard_id = shard_id;
  req.type = KINESIS_ITERATOR_TRIM_HORIZON;
  if (read_wait(&rc, kinesis_client_get_shard_iterator(t->b.client, &req,
                                                        on_read, &rc)) != 0)
    return -1;
  while (rc.iterator != NULL) {
    if (read_wait(&rc, kinesis_client_get_records(t->b.client, rc.iterator,
                                                  10000, on_read, &rc)) != 0) {
      free(rc.iterator);
      return -1;
    }
    n += (int64_t) rc.nrecords;
    if (rc.nrecords == 0)
      break;
  }
  free(rc.iterator);
  return n;
}


int main(int argc, char** argv) {
  const char* endpoint = getenv("KINESIS_TEST_ENDPOINT");
  uint64_t shards = 4;
  uint64_t in_flight = 4;
  char stream[64];
  bench_t t;
  long pid;
  double wall, cpu;
  int64_t got = 0;
  size_t i;
  int a;

  memset(&t, 0, sizeof(t));
  t.records = 200000;
  for (a = 1; a < argc; a++) {
    uint64_t* dst = strcmp(argv[a], "--records") == 0     ? &t.records
                    : strcmp(argv[a], "--in-flight") == 0 ? &in_flight
                    : strcmp(argv[a], "--shards") == 0    ? &shards
                                                          : NULL;
    if (dst == NULL || a + 1 >= argc || bench_parse_u64(argv[++a], dst) != 0) {
      fprintf(stderr, "usage: " PROG " [--records N] [--in-flight K] "
                      "[--shards S]\n");
      return 2;
    }
  }
  if (endpoint == NULL) {
    fprintf(stderr, PROG ": KINESIS_TEST_ENDPOINT is not set\n");
    return 2;
  }
  t.max_in_flight = (uint32_t) in_flight;
  pid = bench_server_pid(endpoint);
  {
    char model[256];
    bench_cpu_model(model, sizeof(model));
    printf("# " PROG ": %ld CPUs, %s; the server at %s, pid %ld\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, endpoint, pid);
    printf("# %" PRIu64 " records of %d bytes in PutRecords of %d, %" PRIu64
           " in flight, %" PRIu64 " shards\n",
           t.records, RECORD_SIZE, BATCH, in_flight, shards);
  }
  if (pid <= 0) {
    fprintf(stderr, PROG ": cannot see the server's process\n");
    return 1;
  }
  snprintf(stream, sizeof(stream), "bench-serve-%ld", (long) getpid());
  t.stream = stream;
  if (bench_client_open(&t.b, PROG, endpoint) != 0 ||
      bench_create_stream(&t.b, stream, (uint32_t) shards) != 0)
    return 1;

  for (i = 0; i < RECORD_SIZE; i++)
    t.data[i] = (uint8_t) ('a' + i % 26);
  for (i = 0; i < BATCH; i++) {
    snprintf(t.keys[i], sizeof(t.keys[i]), "pk-%zu", i);
    t.batch[i].data = t.data;
    t.batch[i].len = RECORD_SIZE;
    t.batch[i].partition_key = t.keys[i];
  }

  /* Put. */
  cpu = bench_process_cpu_s(pid);
  wall = now_s();
  put_next(&t);
  while (!t.error && (t.in_flight > 0 || t.put < t.records))
    uv_run(&t.b.loop, UV_RUN_ONCE);
  wall = now_s() - wall;
  cpu = bench_process_cpu_s(pid) - cpu;
  print_phase("put", t.acked, wall, cpu, t.failed);

  /* Read back. */
  if (!t.error) {
    cpu = bench_process_cpu_s(pid);
    wall = now_s();
    for (i = 0; i < shards; i++) {
      char shard_id[32];
      int64_t n;
      snprintf(shard_id, sizeof(shard_id), "shardId-%012zu", i);
      n = read_shard(&t, shard_id);
      if (n < 0) {
        t.error = 1;
        break;
      }
      got += n;
    }
    wall = now_s() - wall;
    cpu = bench_process_cpu_s(pid) - cpu;
    print_phase("read", (uint64_t) got, wall, cpu, 0);
  }

  bench_delete_stream(&t.b, stream);
  if (bench_client_close(&t.b) != 0)
    return 1;
  if (t.error || t.failed > 0 || (uint64_t) got != t.records) {
    fprintf(stderr, PROG ": %" PRIu64 " put, %" PRIu64 " failed, %" PRId64
                    " read back\n",
            t.acked, t.failed, got);
    return 1;
  }
  return 0;
}
