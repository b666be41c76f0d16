/*
 * SubscribeToShard served by the fake service (kinesis/testing.h) over
 * HTTP: the library's client on the test's loop makes the stream, its
 * consumer and its records; libcurl, in a thread of its own, subscribes
 * over cleartext HTTP/2 (prior knowledge, as an SDK does to an http://
 * endpoint) and over HTTP/1.1 (chunked), and reads the event stream with
 * the library's decoder (eventstream.h). Checked: the initial response,
 * the records, a client that goes away freeing its subscription (the next
 * one is not ResourceInUseException), the end of a closed shard ending
 * the stream, a refusal answered as a plain 400, and the service closing
 * under an open subscription.
 */

#include "client_util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "eventstream.h"
#include "kinesis/testing.h"

static uv_loop_t loop;
static kinesis_serve_t* serve;
static kinesis_client_t* client;
static uv_async_t wake;


/* One subscription, run by curl in a thread. */
typedef struct {
  char url[128];
  char body[1024];
  long http_version;
  size_t stop_after_records; /* abort once this many came; 0: read to end */
  /* What it saw. */
  CURLcode result;
  long status;
  kn_es_decoder_t decoder;
  int decode_error;
  size_t events;
  size_t exceptions;
  size_t initial;
  size_t records;
  int saw_end;          /* an event without ContinuationSequenceNumber */
  size_t children;      /* its ChildShards */
  char exception[64];
  char plain[512];      /* a body that is not an event stream */
  size_t plain_len;
  int event_stream;     /* the Content-Type said so */
  uv_thread_t thread;
  volatile int finished;
} sub_run_t;


static int on_message(void* arg, const kn_es_message_t* m) {
  sub_run_t* run = arg;
  json_t* p = json_loadb((const char*) m->payload.ptr, m->payload.len, 0,
                         NULL);
  ASSERT_NOT_NULL(p);
  if (kn_es_header_is(m, ":message-type", "exception")) {
    const kn_es_header_t* t = kn_es_header(m, ":exception-type");
    run->exceptions++;
    if (t != NULL)
      snprintf(run->exception, sizeof(run->exception), "%.*s",
               (int) t->bytes.len, (const char*) t->bytes.ptr);
  } else if (kn_es_header_is(m, ":event-type", "initial-response")) {
    run->initial++;
  } else {
    ASSERT(kn_es_header_is(m, ":event-type", "SubscribeToShardEvent"));
    run->events++;
    run->records += json_array_size(json_object_get(p, "Records"));
    if (json_object_get(p, "ContinuationSequenceNumber") == NULL) {
      run->saw_end = 1;
      run->children = json_array_size(json_object_get(p, "ChildShards"));
    }
  }
  json_decref(p);
  return 0;
}


static size_t on_header(char* data, size_t size, size_t n, void* arg) {
  sub_run_t* run = arg;
  static const char want[] = "content-type: application/vnd.amazon.eventstream";
  size_t len = size * n;
  if (len >= sizeof(want) - 1 &&
      strncasecmp(data, want, sizeof(want) - 1) == 0)
    run->event_stream = 1;
  return len;
}


static size_t on_body(char* data, size_t size, size_t n, void* arg) {
  sub_run_t* run = arg;
  size_t len = size * n;
  if (!run->event_stream) {
    size_t room = sizeof(run->plain) - 1 - run->plain_len;
    size_t k = len < room ? len : room;
    memcpy(run->plain + run->plain_len, data, k);
    run->plain_len += k;
    run->plain[run->plain_len] = '\0';
    return len;
  }
  if (kn_es_decoder_feed(&run->decoder, (const uint8_t*) data, len,
                         on_message, run) != 0) {
    run->decode_error = 1;
    return 0;
  }
  if (run->stop_after_records > 0 && run->records >= run->stop_after_records)
    return 0; /* goes away: curl resets the stream */
  return len;
}


static void run_curl(void* arg) {
  sub_run_t* run = arg;
  CURL* e = curl_easy_init();
  struct curl_slist* headers = NULL;

  ASSERT_NOT_NULL(e);
  headers = curl_slist_append(headers,
                              "Content-Type: application/x-amz-json-1.1");
  headers = curl_slist_append(headers,
                              "X-Amz-Target: Kinesis_20131202.SubscribeToShard");
  curl_easy_setopt(e, CURLOPT_URL, run->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, run->body);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, run->http_version);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, run);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, run);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  run->result = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &run->status);
  curl_easy_cleanup(e);
  curl_slist_free_all(headers);
  run->finished = 1;
  ASSERT_OK(uv_async_send(&wake));
}


static void on_wake(uv_async_t* a) {
  (void) a;
  uv_stop(&loop);
}


static void start_run(sub_run_t* run, const char* consumer_arn,
                      const char* shard, const char* position,
                      long http_version, size_t stop_after) {
  memset(run, 0, sizeof(*run));
  snprintf(run->url, sizeof(run->url), "%s/", kinesis_serve_url(serve));
  snprintf(run->body, sizeof(run->body),
           "{\"ConsumerARN\":\"%s\",\"ShardId\":\"%s\","
           "\"StartingPosition\":{\"Type\":\"%s\"}}",
           consumer_arn, shard, position);
  run->http_version = http_version;
  run->stop_after_records = stop_after;
  kn_es_decoder_init(&run->decoder);
  ASSERT_OK(uv_thread_create(&run->thread, run_curl, run));
}


static void wait_run(sub_run_t* run) {
  TEST_WAIT_UNTIL(&loop, run->finished, 30000, (void) 0);
  ASSERT_OK(uv_thread_join(&run->thread));
  kn_es_decoder_free(&run->decoder);
}


/* What a client call's callback saw of a consumer. */
typedef struct {
  int done;
  int status;
  char arn[256];
} reg_t;


static void on_registered(kinesis_client_t* c, int status,
                          const kinesis_result_t* r, void* arg) {
  reg_t* reg = arg;
  (void) c;
  reg->done = 1;
  reg->status = status;
  if (status == 0 && r->nconsumers == 1)
    snprintf(reg->arn, sizeof(reg->arn), "%s", r->consumers[0].consumer_arn);
}


static void put_records(const char* stream, int n) {
  kinesis_record_t recs[8];
  char data[8][8];
  capture_t cap;
  int i;
  memset(recs, 0, sizeof(recs));
  for (i = 0; i < n; i++) {
    snprintf(data[i], sizeof(data[i]), "r%d", i);
    recs[i].data = data[i];
    recs[i].len = strlen(data[i]);
    recs[i].partition_key = "k";
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(client, stream, recs, (size_t) n,
                                       capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(0, cap.failed);
}


static void on_serve_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  *(int*) arg = 1;
}


static void test_subscribe_over_http(void) {
  kinesis_serve_options_t so;
  kinesis_client_options_t o;
  sub_run_t run;
  reg_t reg;
  capture_t cap;
  int closed = 0;
  int tries;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(uv_async_init(&loop, &wake, on_wake));
  kinesis_serve_options_init(&so);
  so.limits_off = KINESIS_SERVE_LIMITS_ALL;
  ASSERT_OK(kinesis_serve_new(&loop, &so, &serve));
  test_client_options(&o, kinesis_serve_url(serve));
  ASSERT_OK(kinesis_client_new(&loop, &o, &client));
  create_active_stream(&loop, client, "efo", 1);
  memset(&reg, 0, sizeof(reg));
  ASSERT_OK(kinesis_client_register_stream_consumer(client, "efo", "app",
                                                    on_registered, &reg));
  TEST_WAIT_UNTIL(&loop, reg.done, 10000, (void) 0);
  ASSERT_OK(reg.status);
  put_records("efo", 3);

  /* HTTP/2: the three records, then the client goes away. */
  start_run(&run, reg.arn, "shardId-000000000000", "TRIM_HORIZON",
            CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 3);
  wait_run(&run);
  ASSERT_EQ(CURLE_WRITE_ERROR, run.result);
  ASSERT_EQ(200, run.status);
  ASSERT(run.event_stream);
  ASSERT_EQ(0, run.decode_error);
  ASSERT_EQ(1, run.initial);
  ASSERT_EQ(3, run.records);
  ASSERT_EQ(0, run.exceptions);

  /* Its subscription was freed: the next one is let in, here over
   * HTTP/1.1, and a record put meanwhile arrives too. */
  put_records("efo", 2);
  start_run(&run, reg.arn, "shardId-000000000000", "TRIM_HORIZON",
            CURL_HTTP_VERSION_1_1, 5);
  wait_run(&run);
  ASSERT_EQ(200, run.status);
  ASSERT_EQ(5, run.records);

  /* A refusal is a plain 400 with the service's error. */
  start_run(&run, reg.arn, "shardId-000000000009", "LATEST",
            CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 0);
  wait_run(&run);
  ASSERT_EQ(CURLE_OK, run.result);
  ASSERT_EQ(400, run.status);
  ASSERT(!run.event_stream);
  ASSERT(strstr(run.plain, "ResourceNotFoundException") != NULL);

  /* A closed shard: the stream ends with the shard, after its children. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_split_shard(client, "efo", "shardId-000000000000",
                                       NULL, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  /* The HTTP/1.1 client above went away: the service finds it at its next
   * write (a heartbeat, within a second), and till then the consumer's
   * subscription is still there (ResourceInUseException, which AWS also
   * gives for a few seconds). A real client waits and tries again. */
  for (tries = 0; tries < 20; tries++) {
    start_run(&run, reg.arn, "shardId-000000000000", "TRIM_HORIZON",
              CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 0);
    wait_run(&run);
    if (run.status != 400 ||
        strstr(run.plain, "ResourceInUseException") == NULL)
      break;
    run_loop_for(&loop, 250);
  }
  ASSERT_EQ(CURLE_OK, run.result);
  ASSERT_EQ(200, run.status);
  ASSERT_EQ(5, run.records);
  ASSERT(run.saw_end);
  ASSERT_EQ(2, run.children);

  /* The service closing under an open subscription ends its stream. */
  start_run(&run, reg.arn, "shardId-000000000001", "LATEST",
            CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, 0);
  TEST_WAIT_UNTIL(&loop, run.initial > 0 || run.finished, 10000, (void) 0);
  close_client(&loop, client);
  ASSERT_OK(kinesis_serve_close(serve, on_serve_closed, &closed));
  wait_run(&run);
  ASSERT_EQ(1, run.initial);
  ASSERT_EQ(0, run.decode_error);
  TEST_WAIT_UNTIL(&loop, closed, 10000, (void) 0);
  uv_close((uv_handle_t*) &wake, NULL);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_subscribe_over_http))
