/* libkinesis as one of the clients of bench/compare.sh: the same records,
 * streams and output line as the peers beside it (node_*.mjs, boto3_*.py),
 * through the public API only. compare.sh also uses it to create, fill and
 * delete the streams, which it does not measure.
 *
 *   kn_peer create STREAM SHARDS
 *   kn_peer delete STREAM
 *   kn_peer produce STREAM RECORDS SIZE [--in-flight N]
 *   kn_peer consume STREAM RECORDS SIZE [--limit N] [--fetch-rate R]
 *                                       [--queue N]
 *
 * The endpoint is KINESIS_TEST_ENDPOINT; credentials are fixed dummies,
 * region us-east-1 (bench_util.c).
 *
 * Records (README.md, "The records"; the peers make the same ones): record
 * i has SIZE bytes, 'a' + k % 26 at offset k, then its index as a
 * little-endian 64-bit word over bytes 0 to 7; its partition key is
 * "pk-" followed by (uint32)(i * 2654435761) % 1000.
 *
 * produce puts records 0 to RECORDS-1 with the backpressure loop (put until
 * KINESIS_EQUEUEFULL, go on from on_drain), rate limits off since kinesalite
 * has none, and waits for every callback. consume reads the stream from
 * TRIM_HORIZON with a memory checkpointer until every record has come,
 * checking each one's length, index and bytes. Both print one line, the
 * same as the peers':
 *
 *   RESULT records=N ok=N failed=0 duplicates=0 corrupt=0 wall_s=W
 *          user_s=U sys_s=S requests=R
 *
 * where wall_s, user_s and sys_s cover the measured phase alone: from the
 * producer's or consumer's creation to the last callback or record
 * (getrusage(RUSAGE_SELF), so every thread of this process, and nothing of
 * kinesalite's). It exits 1 when a record failed, is missing, came twice or
 * is corrupt; the line is printed all the same.
 *
 * bench/peers/setup.sh builds it with the C compiler, with bench_util.c,
 * against the static libkinesis of a release build directory (it is not in
 * bench/meson.build).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "kinesis.h"

#include "bench_util.h"

#define PROG "kn_peer"
#define NKEYS 1000
#define MIN_SIZE 8
/* Failures printed in full; the rest are only counted. */
#define MAX_PRINTED_FAILURES 10
/* No new record for this long ends a consuming run, which then fails. */
#define STALL_MS 15000

typedef struct peer_s {
  bench_client_t env; /* the loop and the client */
  const char* stream;
  uint64_t n;
  size_t size;
  uint8_t* base; /* every record's bytes but its index */
  uint8_t* data; /* the record being put */
  char keys[NKEYS][16];
  uint8_t* seen; /* per record: callbacks run, or times delivered */
  uint64_t ok;
  uint64_t failed;
  uint64_t duplicates;
  uint64_t corrupt;
  /* Producing. */
  kinesis_producer_t* producer;
  uint64_t next; /* records put so far */
  uint64_t done; /* callbacks run */
  /* Consuming. */
  kinesis_consumer_t* consumer;
  uv_timer_t watchdog;
  uint64_t watched;  /* ok + duplicates + corrupt at the last tick */
  uint64_t quiet_ms; /* since it last moved */
  int stalled;
} peer_t;

static peer_t peer;


/* ---- Records ---- */

static unsigned key_index(uint64_t i) {
  return (unsigned) ((uint32_t) (i * UINT64_C(2654435761)) % NKEYS);
}


static int records_init(uint64_t n, size_t size) {
  size_t k;
  peer.n = n;
  peer.size = size;
  peer.base = malloc(size);
  peer.data = malloc(size);
  peer.seen = calloc(n, 1);
  if (peer.base == NULL || peer.data == NULL || peer.seen == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  for (k = 0; k < size; k++)
    peer.base[k] = (uint8_t) ('a' + k % 26);
  memcpy(peer.data, peer.base, size);
  for (k = 0; k < NKEYS; k++)
    snprintf(peer.keys[k], sizeof(peer.keys[k]), "pk-%u", (unsigned) k);
  return 0;
}


static void put_index(uint8_t* p, uint64_t i) {
  int b;
  for (b = 0; b < 8; b++)
    p[b] = (uint8_t) (i >> (8 * b));
}


static uint64_t get_index(const uint8_t* p) {
  uint64_t i = 0;
  int b;
  for (b = 7; b >= 0; b--)
    i = (i << 8) | p[b];
  return i;
}


/* ---- The result line ---- */

typedef struct phase_s {
  struct rusage ru0;
  uint64_t t0;
  double wall;
  double user;
  double sys;
} phase_t;


static void phase_start(phase_t* ph) {
  getrusage(RUSAGE_SELF, &ph->ru0);
  ph->t0 = uv_hrtime();
}


static void phase_end(phase_t* ph) {
  struct rusage ru1;
  uint64_t t1 = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  ph->wall = (double) (t1 - ph->t0) / 1e9;
  ph->user = bench_tv_s(&ph->ru0.ru_utime, &ru1.ru_utime);
  ph->sys = bench_tv_s(&ph->ru0.ru_stime, &ru1.ru_stime);
}


static void print_result(const phase_t* ph, uint64_t requests) {
  printf("RESULT records=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64
         " duplicates=%" PRIu64 " corrupt=%" PRIu64
         " wall_s=%.6f user_s=%.6f sys_s=%.6f requests=%" PRIu64 "\n",
         peer.n, peer.ok, peer.failed, peer.duplicates, peer.corrupt,
         ph->wall, ph->user, ph->sys, requests);
  fflush(stdout);
}


/* ---- Producing ---- */

static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  uint64_t i = (uint64_t) (uintptr_t) arg;
  (void) p;
  peer.done++;
  if (peer.seen[i]++ != 0) {
    peer.duplicates++;
    return;
  }
  if (status == 0) {
    peer.ok++;
    return;
  }
  if (peer.failed++ < MAX_PRINTED_FAILURES)
    fprintf(stderr, PROG ": record %" PRIu64 " failed: %s (%s%s%s)\n", i,
            kinesis_err_name(status),
            res->error_code != NULL ? res->error_code : "",
            res->error_code != NULL ? ": " : "",
            res->error_message != NULL ? res->error_message : "");
}


static void on_flushed(kinesis_producer_t* p, int status, void* arg) {
  (void) p;
  (void) arg;
  if (status != 0)
    fprintf(stderr, PROG ": flush: %s\n", kinesis_strerror(status));
}


/* Puts until every record is in or the buffer is full. After the last
 * one, flushes, as an application at the end of its input would: the
 * peers send their last, partial request at once too, where the producer
 * would wait buffer_time_ms for more records. */
static void put_more(kinesis_producer_t* p) {
  if (peer.next == peer.n)
    return;
  while (peer.next < peer.n) {
    kinesis_record_t rec;
    uint64_t i = peer.next;
    int r;
    put_index(peer.data, i);
    rec.data = peer.data;
    rec.len = peer.size;
    rec.partition_key = peer.keys[key_index(i)];
    rec.explicit_hash_key = NULL;
    r = kinesis_producer_put(p, &rec, on_put, (void*) (uintptr_t) i);
    if (r == KINESIS_EQUEUEFULL)
      return;
    if (r != 0) {
      fprintf(stderr, PROG ": put %" PRIu64 ": %s\n", i, kinesis_strerror(r));
      exit(1);
    }
    peer.next++;
  }
  if (kinesis_producer_flush(p, on_flushed, NULL) != 0)
    fprintf(stderr, PROG ": flush failed\n");
}


static void on_drain(kinesis_producer_t* p, void* arg) {
  (void) arg;
  put_more(p);
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  if (status != 0)
    fprintf(stderr, PROG ": producer close: %s\n", kinesis_strerror(status));
  peer.env.closed = 1;
}


static int produce(uint32_t in_flight) {
  kinesis_producer_options_t po;
  kinesis_producer_stats_t st;
  phase_t ph;
  int r;

  kinesis_producer_options_init(&po);
  po.stream = peer.stream;
  /* kinesalite enforces no shard limits, and the peers have no limiter. */
  po.put_rate_limit_per_shard = 0;
  po.put_bandwidth_limit_per_shard = 0;
  if (in_flight != 0)
    po.max_in_flight = in_flight;
  po.on_drain = on_drain;

  phase_start(&ph);
  r = kinesis_producer_new(peer.env.client, &po, &peer.producer);
  if (r != 0) {
    fprintf(stderr, PROG ": producer: %s\n", kinesis_strerror(r));
    return 1;
  }
  put_more(peer.producer);
  r = 0;
  while (peer.done < peer.n)
    if (uv_run(&peer.env.loop, UV_RUN_ONCE) == 0 && peer.done < peer.n) {
      fprintf(stderr, PROG ": the loop ran dry at %" PRIu64 " of %" PRIu64
              " callbacks\n", peer.done, peer.n);
      r = 1;
      break;
    }
  phase_end(&ph);

  if (kinesis_producer_stats(peer.producer, &st) != 0)
    memset(&st, 0, sizeof(st));
  print_result(&ph, st.requests);
  if (kinesis_producer_close(peer.producer, on_producer_closed, NULL) != 0 ||
      bench_wait_closed(&peer.env) != 0) {
    fprintf(stderr, PROG ": the producer did not close\n");
    return 1;
  }
  if (r != 0 || peer.ok != peer.n || peer.failed != 0 || peer.duplicates != 0)
    return 1;
  return 0;
}


/* ---- Consuming ---- */

static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* rec, void* arg) {
  uint64_t i;
  (void) c;
  (void) arg;
  if (rec->len == peer.size &&
      memcmp(rec->data + MIN_SIZE, peer.base + MIN_SIZE,
             peer.size - MIN_SIZE) == 0 &&
      (i = get_index(rec->data)) < peer.n) {
    if (peer.seen[i] != 0) {
      peer.duplicates++;
      return;
    }
    peer.seen[i] = 1;
    peer.ok++;
    return;
  }
  if (peer.corrupt++ < MAX_PRINTED_FAILURES)
    fprintf(stderr, PROG ": corrupt record: %zu bytes, shard %s, sequence %s\n",
            rec->len, rec->shard_id, rec->sequence_number);
}


static void on_watchdog(uv_timer_t* t) {
  uint64_t now = peer.ok + peer.duplicates + peer.corrupt;
  if (now != peer.watched) {
    peer.watched = now;
    peer.quiet_ms = 0;
    return;
  }
  peer.quiet_ms += uv_timer_get_repeat(t);
  if (peer.quiet_ms >= STALL_MS)
    peer.stalled = 1;
}


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  if (status != 0)
    fprintf(stderr, PROG ": consumer close: %s\n", kinesis_strerror(status));
  peer.env.closed = 1;
}


static int consume(uint32_t limit, double fetch_rate, uint32_t queue) {
  kinesis_consumer_options_t co;
  kinesis_consumer_stats_t st;
  phase_t ph;
  int r;

  uv_timer_init(&peer.env.loop, &peer.watchdog);
  uv_timer_start(&peer.watchdog, on_watchdog, 1000, 1000);

  kinesis_consumer_options_init(&co);
  co.stream = peer.stream;
  co.on_record = on_record;
  co.record_limit = limit;
  co.shard_fetch_rate = fetch_rate;
  co.max_queue_size = queue;
  co.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;

  /* From the consumer's creation (its ListShards, leases and
   * GetShardIterator calls are part of it) to the last record. */
  phase_start(&ph);
  r = kinesis_consumer_new(peer.env.client, &co, &peer.consumer);
  if (r == 0)
    r = kinesis_consumer_start(peer.consumer);
  if (r != 0) {
    fprintf(stderr, PROG ": consumer: %s\n", kinesis_strerror(r));
    return 1;
  }
  while (peer.ok < peer.n && !peer.stalled)
    if (uv_run(&peer.env.loop, UV_RUN_ONCE) == 0 && peer.ok < peer.n) {
      fprintf(stderr, PROG ": the loop ran dry at %" PRIu64 " of %" PRIu64
              " records\n", peer.ok, peer.n);
      r = 1;
      break;
    }
  phase_end(&ph);
  if (peer.stalled)
    fprintf(stderr, PROG ": nothing came for %d s, at %" PRIu64 " of %" PRIu64
            " records\n", STALL_MS / 1000, peer.ok, peer.n);

  if (kinesis_consumer_stats(peer.consumer, &st) != 0)
    memset(&st, 0, sizeof(st));
  /* For a consumer, "failed" are the records that never came. */
  peer.failed = peer.n - peer.ok;
  print_result(&ph, st.get_records_calls);
  uv_close((uv_handle_t*) &peer.watchdog, NULL);
  if (kinesis_consumer_close(peer.consumer, on_consumer_closed, NULL) != 0 ||
      bench_wait_closed(&peer.env) != 0) {
    fprintf(stderr, PROG ": the consumer did not close\n");
    return 1;
  }
  if (r != 0 || peer.stalled || peer.ok != peer.n || peer.duplicates != 0 ||
      peer.corrupt != 0)
    return 1;
  return 0;
}


/* ---- Driver ---- */

static void usage(FILE* f) {
  fprintf(f,
          "usage: " PROG " create STREAM SHARDS\n"
          "       " PROG " delete STREAM\n"
          "       " PROG " produce STREAM RECORDS SIZE [--in-flight N]\n"
          "       " PROG " consume STREAM RECORDS SIZE [--limit N] "
          "[--fetch-rate R] [--queue N]\n"
          "  --in-flight N   the producer's max_in_flight (default its own)\n"
          "  --limit N       the consumer's record_limit (default 10000)\n"
          "  --fetch-rate R  the consumer's shard_fetch_rate (default 50)\n"
          "  --queue N       the consumer's max_queue_size (default 10000)\n"
          "Needs KINESIS_TEST_ENDPOINT (bench/compare.sh runs it).\n");
}


static int parse_rate(const char* s, double* out) {
  char* end;
  double v;
  if (s == NULL || *s == '\0')
    return -1;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !(v > 0 && v <= 1000))
    return -1;
  *out = v;
  return 0;
}


int main(int argc, char** argv) {
  const char* cmd = argc > 1 ? argv[1] : "";
  const char* endpoint = getenv("KINESIS_TEST_ENDPOINT");
  uint64_t n = 0;
  uint64_t size = 0;
  uint64_t shards = 0;
  uint64_t in_flight = 0;
  uint64_t limit = 10000;
  uint64_t queue = 10000;
  double fetch_rate = 50;
  int first_opt;
  int status;
  int i;

  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "create") == 0 && argc == 4 &&
      bench_parse_u64(argv[3], &shards) == 0 && shards <= 1000) {
    first_opt = argc;
  } else if (strcmp(cmd, "delete") == 0 && argc == 3) {
    first_opt = argc;
  } else if ((strcmp(cmd, "produce") == 0 || strcmp(cmd, "consume") == 0) &&
             argc >= 5 && bench_parse_u64(argv[3], &n) == 0 &&
             bench_parse_u64(argv[4], &size) == 0 && size >= MIN_SIZE &&
             size <= 1048576) {
    first_opt = 5;
  } else {
    usage(stderr);
    return 2;
  }
  for (i = first_opt; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--in-flight") == 0 && bench_parse_u64(v, &in_flight) == 0 &&
        in_flight <= UINT32_MAX) {
      i++;
    } else if (strcmp(a, "--limit") == 0 && bench_parse_u64(v, &limit) == 0 &&
               limit <= 10000) {
      i++;
    } else if (strcmp(a, "--queue") == 0 && bench_parse_u64(v, &queue) == 0 &&
               queue <= UINT32_MAX) {
      i++;
    } else if (strcmp(a, "--fetch-rate") == 0 &&
               parse_rate(v, &fetch_rate) == 0) {
      i++;
    } else {
      fprintf(stderr, PROG ": bad argument: %s%s%s\n", a, v != NULL ? " " : "",
              v != NULL ? v : "");
      usage(stderr);
      return 2;
    }
  }
  if (endpoint == NULL || endpoint[0] == '\0') {
    fprintf(stderr, PROG ": KINESIS_TEST_ENDPOINT is not set\n");
    return 2;
  }

  peer.stream = argv[2];
  if (bench_client_open(&peer.env, PROG, endpoint) != 0)
    return 1;
  if (strcmp(cmd, "create") == 0) {
    status = bench_create_stream(&peer.env, peer.stream, (uint32_t) shards) != 0;
  } else if (strcmp(cmd, "delete") == 0) {
    status = bench_delete_stream(&peer.env, peer.stream) != 0;
  } else if (records_init(n, (size_t) size) != 0) {
    status = 1;
  } else if (strcmp(cmd, "produce") == 0) {
    status = produce((uint32_t) in_flight);
  } else {
    status = consume((uint32_t) limit, fetch_rate, (uint32_t) queue);
  }
  if (bench_client_close(&peer.env) != 0)
    status = 1;
  free(peer.base);
  free(peer.data);
  free(peer.seen);
  return status;
}
