#include "client_util.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "efo.h"
#include "service.h"

/* Enhanced fan-out subscriptions (lib/efo.h, issue 19) against three
 * services: the library's fake service in this process (h2c), kinesis-mock
 * over h2c (its plain port) and kinesis-mock over TLS with ALPN h2, where
 * subscriptions share a connection. What the two services do differently
 * (mocks.md): the fake sends an initial-response, an event as soon as there
 * are records (polled every 100 ms) and a heartbeat each second, and
 * refuses a subscription with an HTTP 400; kinesis-mock sends one event a
 * second from a second after the start, no initial-response, and refuses
 * with an exception message inside a 200 stream. */

static uv_loop_t loop;

typedef enum { SVC_FAKE, SVC_MOCK, SVC_MOCK_TLS } svc_t;

static const char* const svc_names[] = {"fake", "mock h2c", "mock tls"};

/* The cases run on each service: a round trip over two shards (and the
 * connections it takes), a resubscription after the last continuation, a
 * pause and resume, and the refusals (ResourceInUseException,
 * ResourceNotFoundException); on the fake service only, a client closed
 * with a paused subscription and a cancel among events held back by a
 * pause; on kinesis-mock over TLS, subscriptions from a client whose calls
 * left an HTTP/1.1 connection. Each case has its own loop, streams and
 * consumer. */


/* ---- Services and clients ---- */

static const char* svc_endpoint(svc_t svc) {
  const char* mode;
  switch (svc) {
    case SVC_FAKE:
      /* kinesalite, test_endpoint()'s other answer, has no consumers. */
      mode = getenv("KINESIS_TEST_SERVICE");
      if (mode == NULL || strcmp(mode, "in-process") != 0) {
        fprintf(stderr, "the fake service's cases need "
                        "KINESIS_TEST_SERVICE=in-process (test/meson.build "
                        "sets it)\n");
        abort();
      }
      return test_endpoint();
    case SVC_MOCK:
      return kn_test_require_env("KINESIS_TEST_MOCK_ENDPOINT");
    default:
      return kn_test_require_env("KINESIS_TEST_MOCK_TLS_ENDPOINT");
  }
}


static kinesis_client_t* new_client(svc_t svc) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, svc_endpoint(svc));
  /* kinesis-mock's certificate is self-signed, for the name "Unknown":
   * nothing can verify it (test/servers.js). */
  o.insecure = svc == SVC_MOCK_TLS;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


static int endpoint_port(const char* url) {
  const char* colon = strrchr(url, ':');
  ASSERT_NOT_NULL(colon);
  return atoi(colon + 1);
}


/* ---- The records a case put, and what it expects of each ---- */

typedef struct {
  uint8_t data[32];
  size_t len;
  char shard_id[64];
  char seq[140];
  int seen;
} expect_t;

#define MAX_RECORDS 200

static expect_t recs[MAX_RECORDS];
static size_t nrecs;

/* Started by the event that pauses (pause_at_records): it runs on the loop
 * turn after the one that handed that event on, so the events handed on
 * before it came from the same bytes (pause_resume()). */
static uv_timer_t chunk_timer;


static void case_begin(void) {
  memset(recs, 0, sizeof(recs));
  nrecs = 0;
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(uv_timer_init(&loop, &chunk_timer));
}


static void case_end(void) {
  uv_close((uv_handle_t*) &chunk_timer, NULL);
  kn_test_loop_close(&loop);
}


typedef struct {
  int done;
  int status;
  size_t first;
  size_t n;
  uint32_t failed;
} put_cap_t;


static void put_cb(kinesis_client_t* c, int status, const kinesis_result_t* r,
                   void* arg) {
  put_cap_t* p = arg;
  size_t i;
  (void) c;
  p->done = 1;
  p->status = status;
  p->failed = r->failed_record_count;
  if (status != 0)
    return;
  ASSERT_EQ(p->n, r->nput_entries);
  for (i = 0; i < r->nput_entries; i++) {
    expect_t* e = &recs[p->first + i];
    ASSERT_NOT_NULL(r->put_entries[i].shard_id);
    ASSERT_NOT_NULL(r->put_entries[i].sequence_number);
    snprintf(e->shard_id, sizeof(e->shard_id), "%s",
             r->put_entries[i].shard_id);
    snprintf(e->seq, sizeof(e->seq), "%s", r->put_entries[i].sequence_number);
  }
  uv_stop(&loop);
}


/* Puts `n` more records, each with its own data: "efo-NNNN." (NNNN its
 * number in the case) and a few bytes of binary, NUL included. With two
 * shards, records alternate between the lowest and highest hash key, so
 * each shard gets half whatever the shards' ranges are exactly
 * (kinesis-mock's are off by one). */
static void put_batch(kinesis_client_t* c, const char* stream, size_t n,
                      uint32_t shards) {
  kinesis_record_t r[100];
  char keys[100][16];
  put_cap_t p;
  size_t i;
  size_t k;

  ASSERT_LE(n, 100);
  ASSERT_LE(nrecs + n, MAX_RECORDS);
  for (i = 0; i < n; i++) {
    size_t idx = nrecs + i;
    expect_t* e = &recs[idx];
    snprintf((char*) e->data, sizeof(e->data), "efo-%04zu.", idx);
    e->len = 9;
    for (k = 0; k < idx % 13; k++)
      e->data[e->len++] = (uint8_t) (idx * 31 + k * 7);
    snprintf(keys[i], sizeof(keys[i]), "pk-%zu", idx);
    r[i].data = e->data;
    r[i].len = e->len;
    r[i].partition_key = keys[i];
    r[i].explicit_hash_key =
        shards < 2 ? NULL
                   : idx % 2 == 0 ? "0"
                                  : "340282366920938463463374607431768211455";
  }
  memset(&p, 0, sizeof(p));
  p.first = nrecs;
  p.n = n;
  ASSERT_OK(kinesis_client_put_records(c, stream, r, n, put_cb, &p));
  TEST_WAIT_UNTIL(&loop, p.done, 20000, (void) 0);
  ASSERT_OK(p.status);
  ASSERT_EQ(0, p.failed);
  nrecs += n;
}


static int all_seen(size_t from, size_t to) {
  size_t i;
  for (i = from; i < to; i++)
    if (!recs[i].seen)
      return 0;
  return 1;
}


static size_t count_on_shard(const char* shard, size_t from, size_t to) {
  size_t i;
  size_t n = 0;
  for (i = from; i < to; i++)
    n += strcmp(recs[i].shard_id, shard) == 0;
  return n;
}


static void dump_unseen(void) {
  size_t i;
  for (i = 0; i < nrecs; i++)
    if (!recs[i].seen)
      fprintf(stderr, "  record %zu (%s, %s) not seen\n", i, recs[i].shard_id,
              recs[i].seq);
}


/* ---- A stream, its shards and a consumer ---- */

typedef struct {
  char stream[128];
  char stream_arn[256];
  uint32_t nshards;
  char shards[2][64];
  char consumer_arn[512];
} setup_t;

typedef struct {
  int done;
  int status;
  char arn[512];
  char status_name[16];
  char stream_arn[256];
} consumer_cap_t;


static void consumer_cb(kinesis_client_t* c, int status,
                        const kinesis_result_t* r, void* arg) {
  consumer_cap_t* k = arg;
  (void) c;
  k->done = 1;
  k->status = status;
  if (status == 0) {
    ASSERT_EQ(1, r->nconsumers);
    snprintf(k->arn, sizeof(k->arn), "%s", r->consumers[0].consumer_arn);
    snprintf(k->status_name, sizeof(k->status_name), "%s",
             r->consumers[0].consumer_status);
    snprintf(k->stream_arn, sizeof(k->stream_arn), "%s",
             r->consumers[0].stream_arn != NULL ? r->consumers[0].stream_arn
                                                : "");
  }
  uv_stop(&loop);
}


/* Creates a stream of `shards` shards, puts `n` records in it, and
 * registers a consumer, returning once it is ACTIVE (kinesis-mock's is
 * CREATING for 500 ms first). */
static void setup(kinesis_client_t* c, setup_t* s, uint32_t shards,
                  size_t n) {
  capture_t cap;
  consumer_cap_t k;
  uint32_t i;
  int tries;

  memset(s, 0, sizeof(*s));
  snprintf(s->stream, sizeof(s->stream), "%s", test_stream_name("efo"));
  create_active_stream(&loop, c, s->stream, shards);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(c, s->stream, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(shards, cap.nshards);
  s->nshards = shards;
  for (i = 0; i < shards; i++)
    snprintf(s->shards[i], sizeof(s->shards[i]), "%s", cap.shard_ids[i]);
  if (n > 0)
    put_batch(c, s->stream, n, shards);

  memset(&k, 0, sizeof(k));
  ASSERT_OK(kinesis_client_register_stream_consumer(c, s->stream, "efo-app",
                                                    consumer_cb, &k));
  TEST_WAIT_UNTIL(&loop, k.done, 20000, (void) 0);
  ASSERT_OK(k.status);
  ASSERT(strstr(k.arn, "/consumer/efo-app:") != NULL);
  snprintf(s->consumer_arn, sizeof(s->consumer_arn), "%s", k.arn);
  for (tries = 0; strcmp(k.status_name, "ACTIVE") != 0; tries++) {
    ASSERT_LT(tries, 100);
    if (tries > 0)
      run_loop_for(&loop, 100);
    memset(&k, 0, sizeof(k));
    ASSERT_OK(kinesis_client_describe_stream_consumer(
        c, NULL, NULL, s->consumer_arn, consumer_cb, &k));
    TEST_WAIT_UNTIL(&loop, k.done, 20000, (void) 0);
    ASSERT_OK(k.status);
    ASSERT_STR_EQ(s->consumer_arn, k.arn);
    snprintf(s->stream_arn, sizeof(s->stream_arn), "%s", k.stream_arn);
  }
  if (s->stream_arn[0] == '\0') {
    /* ACTIVE at once (the fake service's transition_ms is 0): the ARN is
     * the stream's, then "/consumer/". */
    const char* mark = strstr(s->consumer_arn, "/consumer/");
    snprintf(s->stream_arn, sizeof(s->stream_arn), "%.*s",
             (int) (mark - s->consumer_arn), s->consumer_arn);
  }
}


/* ---- Subscriptions ---- */

typedef struct {
  kn_efo_sub_t* sub;          /* NULL once on_end ran (it frees itself) */
  char shard_id[64];
  int events;
  int record_events;          /* events with records */
  size_t nrecords;
  long last_index;            /* of the last record handed on */
  char continuation[140];
  int ends;
  int end_status;
  char end_message[512];
  int canceled;               /* kn_efo_sub_cancel() was called */
  uint64_t canceled_at;       /* uv_hrtime() then */
  uint64_t ended_at;          /* and at on_end */
  int events_after_cancel;
  int cancel_in_event;        /* cancel from inside the next event */
  int cancel_in_end;          /* call kn_efo_sub_cancel() inside on_end */
  int pause_at_records;       /* pause inside the first event with records */
  int paused;
  int resumed;
  size_t records_at_pause;    /* nrecords when it paused */
  int chunk_done;             /* chunk_timer ran since the pause */
  int same_chunk_events;      /* handed on after the pause, before that */
  size_t same_chunk_records;
  int later_events;           /* handed on while paused, after that */
  size_t later_records;
  int* end_order;             /* set to ++*end_order at the end */
  int my_end_order;
} sub_t;


static void on_chunk_timer(uv_timer_t* t) {
  sub_t* s = t->data;
  s->chunk_done = 1;
}


static void take_record(sub_t* s, const kinesis_fetched_record_t* r) {
  char head[9];
  long idx;
  expect_t* e;

  ASSERT_GE(r->len, 9);
  memcpy(head, r->data, 8);
  head[8] = '\0';
  ASSERT(strncmp(head, "efo-", 4) == 0);
  idx = strtol(head + 4, NULL, 10);
  ASSERT_GE(idx, 0);
  ASSERT_LT(idx, (long) nrecs);
  e = &recs[idx];
  ASSERT_EQ(e->len, r->len);
  ASSERT_MEM_EQ(e->data, r->data, r->len);
  ASSERT_STR_EQ(e->seq, r->sequence_number);
  ASSERT_STR_EQ(e->shard_id, s->shard_id);
  if (e->seen) {
    fprintf(stderr, "record %ld (%s) handed on twice\n", idx, e->seq);
    abort();
  }
  /* Put one after the other, so in this order in their shard. */
  ASSERT_GT(idx, s->last_index);
  e->seen = 1;
  s->last_index = idx;
  s->nrecords++;
}


static int on_event(void* arg, kn_parsed_t* ev) {
  sub_t* s = arg;
  size_t i;

  ASSERT_NOT_NULL(s->sub);
  ASSERT_EQ(0, s->ends);
  s->events++;
  if (s->canceled)
    s->events_after_cancel++;
  if (s->paused && !s->resumed) {
    if (s->chunk_done) {
      s->later_events++;
      s->later_records += ev->nrecords;
    } else {
      s->same_chunk_events++;
      s->same_chunk_records += ev->nrecords;
    }
  }
  /* An open shard: every event says where to subscribe again from. */
  ASSERT_NOT_NULL(ev->continuation_sequence_number);
  ASSERT(ev->continuation_sequence_number[0] != '\0');
  ASSERT_EQ(0, ev->nchild_shards);
  ASSERT_GE(ev->millis_behind_latest, 0);
  for (i = 0; i < ev->nrecords; i++)
    take_record(s, &ev->records[i]);
  if (ev->nrecords > 0) {
    s->record_events++;
    /* Both services continue after the last record sent. */
    ASSERT_STR_EQ(ev->records[ev->nrecords - 1].sequence_number,
                  ev->continuation_sequence_number);
  }
  snprintf(s->continuation, sizeof(s->continuation), "%s",
           ev->continuation_sequence_number);
  if (s->pause_at_records && ev->nrecords > 0 && !s->paused) {
    kn_efo_sub_pause(s->sub);
    s->paused = 1;
    s->records_at_pause = s->nrecords;
    chunk_timer.data = s;
    ASSERT_OK(uv_timer_start(&chunk_timer, on_chunk_timer, 0, 0));
  }
  if (s->cancel_in_event) {
    s->cancel_in_event = 0;
    s->canceled = 1;
    s->canceled_at = uv_hrtime();
    kn_efo_sub_cancel(s->sub);
    ASSERT_EQ(0, s->ends);
  }
  uv_stop(&loop);
  return 0;
}


static void on_end(void* arg, int status, const char* message) {
  sub_t* s = arg;
  ASSERT_NOT_NULL(s->sub);
  ASSERT_NOT_NULL(message);
  s->ends++;
  s->ended_at = uv_hrtime();
  s->end_status = status;
  snprintf(s->end_message, sizeof(s->end_message), "%s", message);
  if (s->end_order != NULL)
    s->my_end_order = ++*s->end_order;
  if (s->cancel_in_end)
    kn_efo_sub_cancel(s->sub);  /* too late: nothing more happens */
  s->sub = NULL;
  uv_stop(&loop);
}


static void sub_start(kinesis_client_t* c, sub_t* s, const char* arn,
                      const char* shard, kinesis_iterator_type_t type,
                      const char* seq) {
  kinesis_iterator_request_t start;
  kn_efo_handlers_t h;

  memset(&start, 0, sizeof(start));
  start.shard_id = shard;
  start.type = type;
  start.sequence_number = seq;
  h.on_event = on_event;
  h.on_end = on_end;
  h.arg = s;
  snprintf(s->shard_id, sizeof(s->shard_id), "%s", shard);
  s->last_index = -1;
  ASSERT_OK(kn_efo_subscribe(c, arn, &start, &h, &s->sub));
  ASSERT_NOT_NULL(s->sub);
  /* Never synchronous. */
  ASSERT_EQ(0, s->events);
  ASSERT_EQ(0, s->ends);
}


static void sub_dump(const sub_t* s) {
  fprintf(stderr,
          "  sub %s: %d events (%d with records), %zu records, last %ld, "
          "%d ends (%s: %s), paused %d resumed %d\n",
          s->shard_id, s->events, s->record_events, s->nrecords,
          s->last_index, s->ends, kinesis_err_name(s->end_status),
          s->end_message, s->paused, s->resumed);
}


#define WAIT_SEEN(from, to, subs, nsubs)                                      \
  do {                                                                        \
    int ws_i_;                                                                \
    TEST_WAIT_UNTIL(&loop, all_seen((from), (to)), 20000, {                   \
      dump_unseen();                                                          \
      for (ws_i_ = 0; ws_i_ < (nsubs); ws_i_++)                               \
        sub_dump(&(subs)[ws_i_]);                                             \
    });                                                                       \
  } while (0)


/* Cancels from outside any callback; on_end follows on a later tick. */
static void sub_cancel(sub_t* s) {
  ASSERT_NOT_NULL(s->sub);
  ASSERT_EQ(0, s->ends);
  s->canceled = 1;
  s->canceled_at = uv_hrtime();
  kn_efo_sub_cancel(s->sub);
  ASSERT_EQ(0, s->ends);
}


static void sub_wait_end(sub_t* s) {
  TEST_WAIT_UNTIL(&loop, s->ends > 0, 20000, sub_dump(s));
  ASSERT_EQ(1, s->ends);
  ASSERT_NULL(s->sub);
}


/* Subscribes as sub_start() does and waits for the first event. A
 * subscription of the same consumer and shard that ended a moment ago may
 * still hold the service's lease (AWS refuses a second subscription within
 * 5 s; kinesis-mock holds it until it notices the client went), so a
 * refusal with KINESIS_EINUSE before any event is tried again, 1.5 s
 * later, up to 10 times. Returns how many were refused. */
static int sub_start_again(kinesis_client_t* c, sub_t* s, const char* arn,
                           const char* shard, kinesis_iterator_type_t type,
                           const char* seq) {
  int refused = 0;
  for (;;) {
    memset(s, 0, sizeof(*s));
    sub_start(c, s, arn, shard, type, seq);
    TEST_WAIT_UNTIL(&loop, s->events > 0 || s->ends > 0, 20000, sub_dump(s));
    if (s->events > 0)
      return refused;
    ASSERT_EQ(KINESIS_EINUSE, s->end_status);
    ASSERT_LT(++refused, 10);
    run_loop_for(&loop, 1500);
  }
}


/* ---- Connections (Linux): this process's TCP connections to a port ---- */

#ifdef __linux__
static int is_our_socket(const unsigned long* inodes, size_t n,
                         unsigned long inode) {
  size_t i;
  for (i = 0; i < n; i++)
    if (inodes[i] == inode)
      return 1;
  return 0;
}


/* ESTABLISHED TCP connections this process has to `port` on any address
 * (what curl's socket callbacks and client stats do not show): sockets of
 * /proc/self/fd matched with /proc/self/net/tcp and tcp6. */
static int count_connections(int port) {
  static const char* const tables[] = {"/proc/self/net/tcp",
                                       "/proc/self/net/tcp6"};
  unsigned long inodes[256];
  size_t ninodes = 0;
  DIR* d = opendir("/proc/self/fd");
  struct dirent* de;
  int count = 0;
  size_t t;

  ASSERT_NOT_NULL(d);
  while ((de = readdir(d)) != NULL && ninodes < 256) {
    char path[300];
    char link[64];
    ssize_t len;
    unsigned long inode;
    snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
    len = readlink(path, link, sizeof(link) - 1);
    if (len <= 0)
      continue;
    link[len] = '\0';
    if (sscanf(link, "socket:[%lu]", &inode) == 1)
      inodes[ninodes++] = inode;
  }
  closedir(d);
  for (t = 0; t < 2; t++) {
    FILE* f = fopen(tables[t], "r");
    char line[512];
    if (f == NULL)
      continue;
    while (fgets(line, sizeof(line), f) != NULL) {
      unsigned remote_port;
      unsigned state;
      unsigned long inode;
      /* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode" */
      if (sscanf(line,
                 " %*s %*[0-9A-Fa-f]:%*x %*[0-9A-Fa-f]:%x %x %*s %*s %*s "
                 "%*s %*s %lu",
                 &remote_port, &state, &inode) != 3)
        continue;
      if ((int) remote_port == port && state == 1 /* ESTABLISHED */ &&
          is_our_socket(inodes, ninodes, inode))
        count++;
    }
    fclose(f);
  }
  return count;
}
#else
static int count_connections(int port) {
  (void) port;
  return -1;
}
#endif


/* ---- Cases ---- */

/* The cases subscribe through a client of their own (`sc`) and make their
 * other calls through another (`c`): over TLS, libcurl 7.88 would put a
 * subscription on an idle HTTP/1.1 connection of the other calls, which
 * test_tls_after_calls() is about. */

/* Every shard of a 2-shard stream from TRIM_HORIZON, both at once: each
 * record exactly as put, on its shard, in order, once; every event with a
 * continuation. The subscriptions' client makes no other call, and the
 * other client is closed first: the connections to the service are theirs,
 * one for both over TLS (ALPN h2), one each over h2c (libcurl 7.88 opens no
 * second stream on an h2c connection). One subscription is canceled from
 * outside, the other from inside its event; each ends once with
 * KINESIS_ECANCELED and hands nothing on after the cancel. */
static void round_trip(svc_t svc, int want_connections) {
  kinesis_client_t* c;
  kinesis_client_t* sc;
  setup_t st;
  sub_t subs[2];
  uint32_t i;
  int conns;

  case_begin();
  c = new_client(svc);
  sc = new_client(svc);
  setup(c, &st, 2, 50);
  /* Its connections go with it. */
  close_client(&loop, c);
  memset(subs, 0, sizeof(subs));
  for (i = 0; i < 2; i++)
    sub_start(sc, &subs[i], st.consumer_arn, st.shards[i],
              KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  WAIT_SEEN(0, nrecs, subs, 2);
  for (i = 0; i < 2; i++) {
    ASSERT_EQ(count_on_shard(st.shards[i], 0, nrecs), subs[i].nrecords);
    ASSERT_EQ(25, subs[i].nrecords);
    ASSERT_GE(subs[i].record_events, 1);
    ASSERT_EQ(0, subs[i].ends);
  }
  conns = count_connections(endpoint_port(svc_endpoint(svc)));
  printf("# %s: 50 records in %d + %d events, over %d connection(s)\n",
         svc_names[svc], subs[0].events, subs[1].events, conns);
  if (conns >= 0)
    ASSERT_EQ(want_connections, conns);

  sub_cancel(&subs[0]);
  subs[1].cancel_in_event = 1;
  for (i = 0; i < 2; i++) {
    sub_wait_end(&subs[i]);
    ASSERT_EQ(KINESIS_ECANCELED, subs[i].end_status);
    ASSERT_EQ(1, subs[i].canceled);
    /* The event that canceled is not counted as after the cancel. */
    ASSERT_EQ(0, subs[i].events_after_cancel);
    ASSERT_LT(subs[i].ended_at - subs[i].canceled_at, 1000 * 1000000ull);
  }
  /* Nothing after the end (the subs are freed: ASan would see a use). */
  run_loop_for(&loop, 300);
  ASSERT_EQ(1, subs[0].ends);
  ASSERT_EQ(1, subs[1].ends);
  close_client(&loop, sc);
  case_end();
}


/* Read a shard, cancel, subscribe again AFTER_SEQUENCE_NUMBER the last
 * continuation: nothing read comes again, and records put then arrive. */
static void resubscribe(svc_t svc) {
  kinesis_client_t* c;
  kinesis_client_t* sc;
  setup_t st;
  sub_t s;
  char continuation[140];
  int refused;

  case_begin();
  c = new_client(svc);
  sc = new_client(svc);
  setup(c, &st, 1, 30);
  memset(&s, 0, sizeof(s));
  sub_start(sc, &s, st.consumer_arn, st.shards[0],
            KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  WAIT_SEEN(0, 30, &s, 1);
  ASSERT_EQ(30, s.nrecords);
  sub_cancel(&s);
  sub_wait_end(&s);
  ASSERT_EQ(KINESIS_ECANCELED, s.end_status);
  snprintf(continuation, sizeof(continuation), "%s", s.continuation);
  ASSERT_STR_EQ(recs[29].seq, continuation);

  refused = sub_start_again(sc, &s, st.consumer_arn, st.shards[0],
                            KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER,
                            continuation);
  printf("# %s: subscribing again was refused %d times (lease held)\n",
         svc_names[svc], refused);
  put_batch(c, st.stream, 20, 1);
  WAIT_SEEN(30, 50, &s, 1);
  /* take_record() aborts on a record seen before, and on one out of its
   * shard's order: no old record came first, and none can come later. */
  ASSERT_EQ(20, s.nrecords);
  ASSERT_EQ(0, s.ends);
  sub_cancel(&s);
  sub_wait_end(&s);
  ASSERT_EQ(KINESIS_ECANCELED, s.end_status);
  close_client(&loop, sc);
  close_client(&loop, c);
  case_end();
}


/* Pause inside the first event with records, put more records, and wait
 * 2.5 s: only events decoded from the bytes that held the pausing event
 * (the same loop turn) may still be handed on, and none of the new
 * records is. After the resume every record arrives, in order, once. */
static void pause_resume(svc_t svc) {
  kinesis_client_t* c;
  kinesis_client_t* sc;
  setup_t st;
  sub_t s;
  int events;

  case_begin();
  c = new_client(svc);
  sc = new_client(svc);
  setup(c, &st, 1, 20);
  memset(&s, 0, sizeof(s));
  s.pause_at_records = 1;
  sub_start(sc, &s, st.consumer_arn, st.shards[0],
            KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  TEST_WAIT_UNTIL(&loop, s.paused && s.chunk_done, 20000, sub_dump(&s));
  put_batch(c, st.stream, 30, 1);
  run_loop_for(&loop, 2500);
  printf("# %s: paused after %zu records; from the same bytes %d more "
         "events (%zu records); later %d events (%zu records)\n",
         svc_names[svc], s.records_at_pause, s.same_chunk_events,
         s.same_chunk_records, s.later_events, s.later_records);
  ASSERT_EQ(0, s.later_events);
  ASSERT_EQ(0, s.later_records);
  ASSERT_EQ(s.records_at_pause + s.same_chunk_records, s.nrecords);
  /* Both services send every record there is in one event: the 20 put
   * before the subscription are the pausing event's. */
  ASSERT_EQ(20, s.nrecords);
  ASSERT(all_seen(0, 20));
  ASSERT_EQ(0, s.ends);

  s.resumed = 1;
  events = s.events;
  kn_efo_sub_resume(s.sub);
  ASSERT_EQ(events, s.events);  /* from a later tick */
  WAIT_SEEN(20, 50, &s, 1);
  ASSERT_EQ(50, s.nrecords);
  ASSERT_EQ(0, s.ends);
  sub_cancel(&s);
  sub_wait_end(&s);
  ASSERT_EQ(KINESIS_ECANCELED, s.end_status);
  close_client(&loop, sc);
  close_client(&loop, c);
  case_end();
}


static void summary_cb(kinesis_client_t* c, int status,
                       const kinesis_result_t* r, void* arg) {
  (void) c;
  (void) r;
  *(int*) arg = status == 0 ? 1 : status;
  uv_stop(&loop);
}


/* One client for everything, over TLS, as an application (or the
 * consumer's enhanced fan-out) has: its calls went over HTTP/1.1, and a
 * connection of theirs is idle when the subscriptions start. The two
 * subscriptions must still share one HTTP/2 connection: after a call made
 * while they stream, the client holds 2 connections (the calls' HTTP/1.1
 * one and the subscriptions'), or 1 if the calls ride HTTP/2 as well. A
 * subscription put on the idle HTTP/1.1 connection makes it 3: one for
 * each subscription (the first over HTTP/1.1, which AWS refuses for
 * SubscribeToShard), and one more for the call. */
static void test_tls_after_calls(void) {
  kinesis_client_t* c;
  setup_t st;
  sub_t subs[2];
  uint32_t i;
  int done = 0;
  int conns;

  case_begin();
  c = new_client(SVC_MOCK_TLS);
  setup(c, &st, 2, 20);
  memset(subs, 0, sizeof(subs));
  for (i = 0; i < 2; i++)
    sub_start(c, &subs[i], st.consumer_arn, st.shards[i],
              KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  WAIT_SEEN(0, nrecs, subs, 2);
  ASSERT_OK(kinesis_client_describe_stream_summary(c, st.stream, summary_cb,
                                                   &done));
  TEST_WAIT_UNTIL(&loop, done != 0, 20000, (void) 0);
  ASSERT_EQ(1, done);
  conns = count_connections(endpoint_port(svc_endpoint(SVC_MOCK_TLS)));
  printf("# mock tls: calls and two subscriptions over %d connection(s)\n",
         conns);
  for (i = 0; i < 2; i++)
    sub_cancel(&subs[i]);
  for (i = 0; i < 2; i++) {
    sub_wait_end(&subs[i]);
    ASSERT_EQ(KINESIS_ECANCELED, subs[i].end_status);
  }
  close_client(&loop, c);
  case_end();
  if (conns >= 0)
    ASSERT_LE(conns, 2);
}


/* The service's refusals. A second subscription of the same consumer and
 * shard while the first is open: KINESIS_EINUSE (the fake answers 400;
 * kinesis-mock sends an exception message in a 200 stream), and the first
 * goes on. A consumer ARN the service does not know, on a stream it has
 * and on one it has not: KINESIS_ENOTFOUND, no event (the same two ways).
 * Their on_end also calls kn_efo_sub_cancel(), which must do nothing then. */
static void errors(svc_t svc) {
  kinesis_client_t* c;
  kinesis_client_t* sc;
  setup_t st;
  sub_t a;
  sub_t b;
  sub_t nf[2];
  char arns[2][600];
  const char* mark;
  int i;

  case_begin();
  c = new_client(svc);
  sc = new_client(svc);
  setup(c, &st, 1, 10);
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  sub_start(sc, &a, st.consumer_arn, st.shards[0],
            KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  WAIT_SEEN(0, 10, &a, 1);
  b.cancel_in_end = 1;
  sub_start(sc, &b, st.consumer_arn, st.shards[0],
            KINESIS_ITERATOR_TRIM_HORIZON, NULL);

  snprintf(arns[0], sizeof(arns[0]), "%s/consumer/nobody:1700000000",
           st.stream_arn);
  mark = strstr(st.stream_arn, ":stream/");
  ASSERT_NOT_NULL(mark);
  snprintf(arns[1], sizeof(arns[1]),
           "%.*s:stream/efo-no-such-stream/consumer/efo-app:1700000000",
           (int) (mark - st.stream_arn), st.stream_arn);
  memset(nf, 0, sizeof(nf));
  for (i = 0; i < 2; i++) {
    nf[i].cancel_in_end = 1;
    sub_start(sc, &nf[i], arns[i], st.shards[0],
              KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  }

  sub_wait_end(&b);
  printf("# %s: second subscription -> %s: %s\n", svc_names[svc],
         kinesis_err_name(b.end_status), b.end_message);
  ASSERT_EQ(KINESIS_EINUSE, b.end_status);
  ASSERT_EQ(0, b.events);
  ASSERT(strstr(b.end_message, "ctive subscription") != NULL);
  for (i = 0; i < 2; i++) {
    sub_wait_end(&nf[i]);
    printf("# %s: %s -> %s: %s\n", svc_names[svc], arns[i],
           kinesis_err_name(nf[i].end_status), nf[i].end_message);
    ASSERT_EQ(KINESIS_ENOTFOUND, nf[i].end_status);
    ASSERT_EQ(0, nf[i].events);
    ASSERT(strstr(nf[i].end_message, "not found") != NULL);
  }

  put_batch(c, st.stream, 10, 1);
  WAIT_SEEN(10, 20, &a, 1);
  ASSERT_EQ(20, a.nrecords);
  ASSERT_EQ(0, a.ends);
  sub_cancel(&a);
  sub_wait_end(&a);
  ASSERT_EQ(KINESIS_ECANCELED, a.end_status);
  /* Each ended once, and nothing ran after. */
  run_loop_for(&loop, 200);
  ASSERT_EQ(1, b.ends);
  ASSERT_EQ(1, nf[0].ends);
  ASSERT_EQ(1, nf[1].ends);
  close_client(&loop, sc);
  close_client(&loop, c);
  case_end();
}


static void on_client_closed(void* data, int status, void* arg) {
  int* order = arg;
  (void) data;
  ASSERT_OK(status);
  order[1] = ++order[0];
}


/* Closing the client with a paused subscription open: on_end runs with
 * KINESIS_ECANCELED, before the close callback. */
static void close_paused(svc_t svc) {
  kinesis_client_t* c;
  kinesis_client_t* sc;
  setup_t st;
  sub_t s;
  int order[2] = {0, 0};

  case_begin();
  c = new_client(svc);
  sc = new_client(svc);
  setup(c, &st, 1, 5);
  memset(&s, 0, sizeof(s));
  s.pause_at_records = 1;
  s.end_order = &order[0];
  sub_start(sc, &s, st.consumer_arn, st.shards[0],
            KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  TEST_WAIT_UNTIL(&loop, s.paused && s.chunk_done, 20000, sub_dump(&s));
  put_batch(c, st.stream, 5, 1);
  run_loop_for(&loop, 300);
  close_client(&loop, c);
  ASSERT_OK(kinesis_client_close(sc, on_client_closed, order));
  ASSERT_EQ(0, s.ends);
  TEST_WAIT_UNTIL(&loop, order[1] != 0, 20000, sub_dump(&s));
  ASSERT_EQ(1, s.ends);
  ASSERT_EQ(KINESIS_ECANCELED, s.end_status);
  ASSERT_EQ(1, s.my_end_order);
  ASSERT_EQ(2, order[1]);
  ASSERT_EQ(5, s.nrecords);
  case_end();
}


/* The bytes held back by a pause come again on the resume (http.c hands
 * them on from inside curl_easy_pause()). A cancel from inside the first
 * event they hold ends the subscription at once: on_end follows within a
 * second, and no event is handed on after the cancel. */
static void cancel_in_backlog(svc_t svc) {
  kinesis_client_t* c;
  kinesis_client_t* sc;
  setup_t st;
  sub_t s;

  case_begin();
  c = new_client(svc);
  sc = new_client(svc);
  setup(c, &st, 1, 5);
  memset(&s, 0, sizeof(s));
  sub_start(sc, &s, st.consumer_arn, st.shards[0],
            KINESIS_ITERATOR_TRIM_HORIZON, NULL);
  WAIT_SEEN(0, 5, &s, 1);
  kn_efo_sub_pause(s.sub);
  /* A heartbeat or record event a second, and one for each put. */
  put_batch(c, st.stream, 1, 1);
  run_loop_for(&loop, 300);
  put_batch(c, st.stream, 1, 1);
  run_loop_for(&loop, 2500);
  s.cancel_in_event = 1;
  kn_efo_sub_resume(s.sub);
  sub_wait_end(&s);
  ASSERT_EQ(1, s.canceled);
  printf("# %s: after a cancel from inside an event, %d more event(s) and "
         "on_end %llu ms later\n",
         svc_names[svc], s.events_after_cancel,
         (unsigned long long) ((s.ended_at - s.canceled_at) / 1000000));
  ASSERT_EQ(KINESIS_ECANCELED, s.end_status);
  ASSERT_LT(s.ended_at - s.canceled_at, 1000 * 1000000ull);
  ASSERT_EQ(0, s.events_after_cancel);
  close_client(&loop, sc);
  close_client(&loop, c);
  case_end();
}


static void on_never_event_end(void* arg, int status, const char* message) {
  (void) arg;
  (void) status;
  (void) message;
  abort();
}


static int on_never_event(void* arg, kn_parsed_t* ev) {
  (void) arg;
  (void) ev;
  abort();
  return 0;
}


static void on_closed_count(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (*(int*) arg)++;
}


/* Refused at once with KINESIS_EINVAL (or KINESIS_ECLOSING on a closing
 * client); `*out` untouched and no handler ever runs. */
static void test_invalid_arguments(void) {
  static const char* const bad_arns[] = {
      "", "not-an-arn", "arn:aws:kinesis:us-east-1:000000000000:stream/s",
      "arn:aws:sqs:us-east-1:000000000000:stream/s/consumer/c:1",
      "consumer/c:1"};
  const char* arn =
      "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1";
  kinesis_client_options_t o;
  kinesis_client_t* c;
  kinesis_iterator_request_t start;
  kn_efo_handlers_t h;
  kn_efo_handlers_t no_event;
  kn_efo_handlers_t no_end;
  kn_efo_sub_t* sentinel = (kn_efo_sub_t*) &start;
  kn_efo_sub_t* sub = sentinel;
  char long_arn[2100];
  char long_shard[130];
  size_t i;
  int closed = 0;

  ASSERT_OK(uv_loop_init(&loop));
  /* Nothing is sent: no server is needed. */
  test_client_options(&o, "http://127.0.0.1:9");
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  memset(&start, 0, sizeof(start));
  start.shard_id = "shardId-000000000000";
  start.type = KINESIS_ITERATOR_TRIM_HORIZON;
  h.on_event = on_never_event;
  h.on_end = on_never_event_end;
  h.arg = NULL;
  no_event = h;
  no_event.on_event = NULL;
  no_end = h;
  no_end.on_end = NULL;
  snprintf(long_arn, sizeof(long_arn), "%s", arn);
  memset(long_arn + strlen(arn), 'x', 2049 - strlen(arn));
  long_arn[2049] = '\0';
  memset(long_shard, 's', 129);
  long_shard[129] = '\0';

  /* The handlers, the out-parameter, the client. */
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, NULL, &sub));
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &no_event, &sub));
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &no_end, &sub));
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(NULL, arn, &start, &h, &sub));
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, NULL, &h, &sub));
  /* The consumer ARN. */
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, NULL, &start, &h, &sub));
  for (i = 0; i < sizeof(bad_arns) / sizeof(bad_arns[0]); i++)
    ASSERT_EQ(KINESIS_EINVAL,
              kn_efo_subscribe(c, bad_arns[i], &start, &h, &sub));
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, long_arn, &start, &h, &sub));
  /* The shard. */
  start.shard_id = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.shard_id = "";
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.shard_id = "shard 0";
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.shard_id = "shardId/0";
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.shard_id = long_shard;
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.shard_id = "shardId-000000000000";
  /* The position. */
  start.type = (kinesis_iterator_type_t) 99;
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.sequence_number = "12ab";
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.type = KINESIS_ITERATOR_AT_SEQUENCE_NUMBER;
  start.sequence_number = "";
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.type = KINESIS_ITERATOR_AT_TIMESTAMP;
  start.timestamp = -1;
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.timestamp = NAN;
  ASSERT_EQ(KINESIS_EINVAL, kn_efo_subscribe(c, arn, &start, &h, &sub));
  start.type = KINESIS_ITERATOR_TRIM_HORIZON;
  start.sequence_number = NULL;
  ASSERT(sub == sentinel);

  /* A closing client. */
  ASSERT_OK(kinesis_client_close(c, on_closed_count, &closed));
  ASSERT_EQ(KINESIS_ECLOSING, kn_efo_subscribe(c, arn, &start, &h, &sub));
  ASSERT(sub == sentinel);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(1, closed);
  kn_test_loop_close(&loop);
}


static void test_round_trip_fake(void) { round_trip(SVC_FAKE, 2); }
static void test_round_trip_mock(void) { round_trip(SVC_MOCK, 2); }
static void test_round_trip_mock_tls(void) { round_trip(SVC_MOCK_TLS, 1); }
static void test_resubscribe_fake(void) { resubscribe(SVC_FAKE); }
static void test_resubscribe_mock(void) { resubscribe(SVC_MOCK); }
static void test_resubscribe_mock_tls(void) { resubscribe(SVC_MOCK_TLS); }
static void test_pause_resume_fake(void) { pause_resume(SVC_FAKE); }
static void test_pause_resume_mock(void) { pause_resume(SVC_MOCK); }
static void test_pause_resume_mock_tls(void) { pause_resume(SVC_MOCK_TLS); }
static void test_errors_fake(void) { errors(SVC_FAKE); }
static void test_errors_mock(void) { errors(SVC_MOCK); }
static void test_errors_mock_tls(void) { errors(SVC_MOCK_TLS); }
static void test_close_paused_fake(void) { close_paused(SVC_FAKE); }
static void test_cancel_in_backlog_fake(void) { cancel_in_backlog(SVC_FAKE); }


KN_TEST_MAIN(KN_TEST(test_invalid_arguments),
             KN_TEST(test_round_trip_fake), KN_TEST(test_round_trip_mock),
             KN_TEST(test_round_trip_mock_tls),
             KN_TEST(test_resubscribe_fake), KN_TEST(test_resubscribe_mock),
             KN_TEST(test_resubscribe_mock_tls),
             KN_TEST(test_pause_resume_fake), KN_TEST(test_pause_resume_mock),
             KN_TEST(test_pause_resume_mock_tls),
             KN_TEST(test_errors_fake), KN_TEST(test_errors_mock),
             KN_TEST(test_errors_mock_tls), KN_TEST(test_close_paused_fake),
             KN_TEST(test_cancel_in_backlog_fake),
             KN_TEST(test_tls_after_calls))
