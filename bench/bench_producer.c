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
 * Run it with bench/run-producer.sh, or test/with-servers.sh
 * build/bench/bench_producer [--config 1..4] [--records N] [--in-flight N]
 * [--queue N].
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

#include "kinesis.h"

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
  uv_loop_t loop;
  kinesis_client_t* client;
  kinesis_producer_t* producer;
  const char* endpoint;
  long server_pid;         /* 0 when not found */
  uint32_t max_in_flight;  /* 0: the producer's default */
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
  /* One client call at a time (create, wait, delete). */
  int call_done;
  int call_status;
  char call_error[256];
  int closed;
} bench_t;

static bench_t bench;


/* ---- Machine and server facts ---- */

static void cpu_model(char* out, size_t size) {
  char line[512];
  FILE* f = fopen("/proc/cpuinfo", "r");
  snprintf(out, size, "unknown");
  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f) != NULL) {
    char* colon;
    size_t len;
    if (strncmp(line, "model name", 10) != 0)
      continue;
    colon = strchr(line, ':');
    if (colon == NULL)
      break;
    colon++;
    while (*colon == ' ' || *colon == '\t')
      colon++;
    len = strcspn(colon, "\n");
    snprintf(out, size, "%.*s", (int) len, colon);
    break;
  }
  fclose(f);
}


/* The port of "scheme://host:port[/...]", or 0. */
static unsigned endpoint_port(const char* url) {
  const char* host = strstr(url, "://");
  const char* end;
  const char* colon = NULL;
  const char* s;
  host = host != NULL ? host + 3 : url;
  end = host + strcspn(host, "/");
  for (s = host; s < end; s++)
    if (*s == ':')
      colon = s;
  if (colon == NULL || colon + 1 == end)
    return 0;
  return (unsigned) strtoul(colon + 1, NULL, 10);
}


/* The inode of a socket listening on `port`, from /proc/net/tcp{,6}, or 0. */
static unsigned long listening_inode(unsigned port) {
  static const char* const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  size_t i;
  for (i = 0; i < 2; i++) {
    char line[512];
    FILE* f = fopen(files[i], "r");
    if (f == NULL)
      continue;
    while (fgets(line, sizeof(line), f) != NULL) {
      unsigned lport;
      unsigned state;
      unsigned long inode;
      /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
       * inode; 0A is TCP_LISTEN. */
      if (sscanf(line, "%*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu",
                 &lport, &state, &inode) == 3 &&
          lport == port && state == 0x0A && inode != 0) {
        fclose(f);
        return inode;
      }
    }
    fclose(f);
  }
  return 0;
}


/* The process holding socket `inode`, by scanning /proc/<pid>/fd; 0 when
 * none is visible (another user's processes cannot be read). */
static long socket_owner(unsigned long inode) {
  char want[64];
  DIR* proc = opendir("/proc");
  struct dirent* de;
  long found = 0;
  if (proc == NULL)
    return 0;
  snprintf(want, sizeof(want), "socket:[%lu]", inode);
  while (found == 0 && (de = readdir(proc)) != NULL) {
    char path[300];
    DIR* fds;
    struct dirent* fe;
    if (!isdigit((unsigned char) de->d_name[0]))
      continue;
    snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
    fds = opendir(path);
    if (fds == NULL)
      continue;
    while ((fe = readdir(fds)) != NULL) {
      char target[64];
      ssize_t len;
      if (fe->d_name[0] == '.')
        continue;
      len = readlinkat(dirfd(fds), fe->d_name, target, sizeof(target) - 1);
      if (len <= 0)
        continue;
      target[len] = '\0';
      if (strcmp(target, want) == 0) {
        found = strtol(de->d_name, NULL, 10);
        break;
      }
    }
    closedir(fds);
  }
  closedir(proc);
  return found;
}


/* utime + stime of `pid`, all threads, in seconds; -1 when unreadable. */
static double process_cpu_s(long pid) {
  char path[64];
  char buf[1024];
  char* p;
  size_t len;
  unsigned long utime;
  unsigned long stime;
  FILE* f;
  if (pid <= 0)
    return -1;
  snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  len = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[len] = '\0';
  /* The command name may hold spaces and parentheses: fields resume after
   * the last ')'. utime and stime are fields 14 and 15; this is field 3. */
  p = strrchr(buf, ')');
  if (p == NULL ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
             &utime, &stime) != 2)
    return -1;
  return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}


static double rusage_cpu_s(const struct rusage* ru) {
  return (double) ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
         (double) ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}


static double tv_s(const struct timeval* a, const struct timeval* b) {
  return (double) (b->tv_sec - a->tv_sec) +
         (double) (b->tv_usec - a->tv_usec) / 1e6;
}


/* ---- Client calls, one at a time ---- */

static void on_call(kinesis_client_t* c, int status,
                    const kinesis_result_t* res, void* arg) {
  (void) c;
  (void) arg;
  bench.call_done = 1;
  bench.call_status = status;
  snprintf(bench.call_error, sizeof(bench.call_error), "%s%s%s",
           res->error_code != NULL ? res->error_code : "",
           res->error_code != NULL ? ": " : "",
           res->error_message != NULL ? res->error_message : "");
}


static int call_wait(const char* what, int r) {
  if (r != 0) {
    fprintf(stderr, "bench_producer: %s: %s\n", what, kinesis_strerror(r));
    return r;
  }
  while (!bench.call_done)
    if (uv_run(&bench.loop, UV_RUN_ONCE) == 0 && !bench.call_done) {
      fprintf(stderr, "bench_producer: %s: the loop ran dry\n", what);
      return KINESIS_EPROTO;
    }
  bench.call_done = 0;
  if (bench.call_status != 0)
    fprintf(stderr, "bench_producer: %s: %s (%s)\n", what,
            kinesis_strerror(bench.call_status), bench.call_error);
  return bench.call_status;
}


static void on_closed(void* arg) {
  (void) arg;
  bench.closed = 1;
}


static void on_producer_closed(kinesis_producer_t* p, int status, void* arg) {
  (void) p;
  (void) arg;
  if (status != 0)
    fprintf(stderr, "bench_producer: producer close: %s\n",
            kinesis_strerror(status));
  bench.closed = 1;
}


static int wait_closed(void) {
  while (!bench.closed)
    if (uv_run(&bench.loop, UV_RUN_ONCE) == 0 && !bench.closed)
      return -1;
  bench.closed = 0;
  return 0;
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
  kinesis_client_options_t co;
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

  if (uv_loop_init(&bench.loop) != 0)
    return 1;
  kinesis_client_options_init(&co);
  co.endpoint_url = bench.endpoint;
  co.region = "us-east-1";
  co.access_key_id = "AKIDBENCH";
  co.secret_access_key = "bench-secret-key";
  r = kinesis_client_new(&bench.loop, &co, &bench.client);
  if (r != 0) {
    fprintf(stderr, "bench_producer: client: %s\n", kinesis_strerror(r));
    return 1;
  }
  snprintf(stream, sizeof(stream), "bench-producer-%ld-%d", (long) getpid(),
           cfg->id);
  if (call_wait("CreateStream",
                kinesis_client_create_stream(bench.client, stream, NSHARDS,
                                             on_call, NULL)) != 0 ||
      call_wait("wait for ACTIVE",
                kinesis_client_wait_for_active(bench.client, stream, 50, 0,
                                               on_call, NULL)) != 0)
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
  po.on_drain = on_drain;

  /* The producing phase: from the producer's creation (its ListShards is
   * part of it) to the last callback. */
  srv0 = process_cpu_s(bench.server_pid);
  getrusage(RUSAGE_SELF, &ru0);
  t0 = uv_hrtime();
  r = kinesis_producer_new(bench.client, &po, &bench.producer);
  if (r != 0) {
    fprintf(stderr, "bench_producer: producer: %s\n", kinesis_strerror(r));
    return 1;
  }
  put_more(bench.producer);
  while (bench.done < bench.n)
    if (uv_run(&bench.loop, UV_RUN_ONCE) == 0 && bench.done < bench.n) {
      fprintf(stderr,
              "bench_producer: the loop ran dry at %" PRIu64 " of %" PRIu64
              " callbacks\n",
              bench.done, bench.n);
      return 1;
    }
  t1 = uv_hrtime();
  getrusage(RUSAGE_SELF, &ru1);
  srv1 = process_cpu_s(bench.server_pid);

  if (kinesis_producer_stats(bench.producer, &st) != 0)
    memset(&st, 0, sizeof(st));
  wall = (double) (t1 - t0) / 1e9;
  cpu = rusage_cpu_s(&ru1) - rusage_cpu_s(&ru0);
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
      tv_s(&ru0.ru_utime, &ru1.ru_utime), tv_s(&ru0.ru_stime, &ru1.ru_stime),
      st.requests,
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
      wait_closed() != 0) {
    fprintf(stderr, "bench_producer: the producer did not close\n");
    return 1;
  }
  if (bench.done != n) {
    fprintf(stderr, "bench_producer: FAILED: callbacks after close\n");
    r = 1;
  }
  /* kinesalite keeps every record in memory; give it back. */
  if (call_wait("DeleteStream", kinesis_client_delete_stream(
                                    bench.client, stream, on_call, NULL)) != 0)
    r = 1;
  if (kinesis_client_close(bench.client, on_closed, NULL) != 0 ||
      wait_closed() != 0) {
    fprintf(stderr, "bench_producer: the client did not close\n");
    return 1;
  }
  uv_run(&bench.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&bench.loop) != 0) {
    fprintf(stderr, "bench_producer: FAILED: handles left on the loop:\n");
    uv_print_all_handles(&bench.loop, stderr);
    r = 1;
  }
  free(bench.seen);
  free(bench.data);
  return r;
}


/* Runs one configuration in a child process: its ru_maxrss is its own. */
static int run_child(const config_t* cfg, uint64_t n) {
  pid_t pid;
  int status;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0) {
    perror("bench_producer: fork");
    return 1;
  }
  if (pid == 0) {
#ifdef __linux__
    /* Do not outlive the parent when with-servers.sh stops it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    exit(run_config(cfg, n));
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      perror("bench_producer: waitpid");
      return 1;
    }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  fprintf(stderr, "bench_producer: configuration %d: killed by signal %d\n",
          cfg->id, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 1;
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
          "Needs KINESIS_TEST_ENDPOINT (run it under test/with-servers.sh).\n");
}


static int parse_u64(const char* s, uint64_t* out) {
  char* end;
  unsigned long long v;
  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0)
    return -1;
  *out = v;
  return 0;
}


int main(int argc, char** argv) {
  char model[256];
  uint64_t records = 0;
  uint64_t only = 0;
  uint64_t in_flight = 0;
  uint64_t queue = 0;
  unsigned port;
  int status = 0;
  int i;

  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--records") == 0 && parse_u64(v, &records) == 0) {
      i++;
    } else if (strcmp(a, "--config") == 0 && parse_u64(v, &only) == 0 &&
               only <= NCONFIGS) {
      i++;
    } else if (strcmp(a, "--in-flight") == 0 && parse_u64(v, &in_flight) == 0 &&
               in_flight <= UINT32_MAX) {
      i++;
    } else if (strcmp(a, "--queue") == 0 && parse_u64(v, &queue) == 0 &&
               queue <= UINT32_MAX) {
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
            "run it as bench/run-producer.sh, or under "
            "test/with-servers.sh\n");
    return 77;
  }
  bench.max_in_flight = (uint32_t) in_flight;
  bench.max_queue_size = (uint32_t) queue;
  port = endpoint_port(bench.endpoint);
  if (port != 0) {
    unsigned long inode = listening_inode(port);
    if (inode != 0)
      bench.server_pid = socket_owner(inode);
  }

  cpu_model(model, sizeof(model));
  printf("# bench_producer: %ld CPUs, %s\n", sysconf(_SC_NPROCESSORS_ONLN),
         model);
  printf("# libkinesis %s, %s build, asserts %s; kinesalite at %s",
         KINESIS_VERSION_STRING,
#ifdef __OPTIMIZE__
         "optimized",
#else
         "unoptimized",
#endif
#ifdef NDEBUG
         "off",
#else
         "on",
#endif
         bench.endpoint);
  if (bench.server_pid != 0)
    printf(" (pid %ld; its CPU counts all its servers, the others idle)\n",
           bench.server_pid);
  else
    printf(" (server process not found: no server CPU)\n");
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
        (unsigned) defaults.buffer_time_ms, (unsigned) defaults.batch_size);
  }
  printf(
      "# target: <= 1 us client CPU per 100-byte record; "
      ">= 300,000 user records/s aggregated\n");

  for (i = 0; i < (int) NCONFIGS; i++) {
    const config_t* cfg = &configs[i];
    if (only != 0 && (uint64_t) cfg->id != only)
      continue;
    if (run_child(cfg, records != 0 ? records : cfg->records) != 0)
      status = 1;
  }
  return status;
}
