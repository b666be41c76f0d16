#include "client_util.h"
#include "service.h"

#include <string.h>

/* The client's API calls against a real kinesalite. */

static uv_loop_t loop;


static kinesis_client_t* new_client(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, test_endpoint());
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


static void create_active(kinesis_client_t* c, const char* stream,
                          uint32_t shards) {
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_create_stream(c, stream, shards, capture_cb, &cap));
  ASSERT_EQ(0, cap.done); /* never synchronous */
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(200, cap.http_status);
  ASSERT_EQ(1, cap.attempts);
  ASSERT(cap.request_id[0] != '\0');

  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, stream, 50, 10000, capture_cb,
                                           &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_STR_EQ("ACTIVE", cap.stream_status);
  ASSERT_EQ(shards, cap.open_shards);
  ASSERT_EQ(1, cap.calls);
}


static void delete_stream(kinesis_client_t* c, const char* stream) {
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_delete_stream(c, stream, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
}


static void test_stream_lifecycle(void) {
  kinesis_client_t* c;
  capture_t cap;
  char stream[128];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("lifecycle"));
  create_active(c, stream, 3);

  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(c, stream, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(3, cap.nshards);
  ASSERT_STR_EQ("shardId-000000000000", cap.shard_ids[0]);
  ASSERT_STR_EQ("shardId-000000000002", cap.shard_ids[2]);

  /* Creating it again is a service error, mapped and not retried. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_create_stream(c, stream, 1, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_EQ(KINESIS_EINUSE, cap.status);
  ASSERT_STR_EQ("ResourceInUseException", cap.error_code);
  ASSERT(strstr(cap.error_message, stream) != NULL);
  ASSERT_EQ(1, cap.attempts);
  ASSERT_EQ(400, cap.http_status);

  delete_stream(c, stream);
  /* Deleting takes a moment in kinesalite; then the stream is gone. */
  for (;;) {
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_describe_stream_summary(c, stream, capture_cb,
                                                     &cap));
    capture_wait(&loop, &cap);
    if (cap.status == KINESIS_ENOTFOUND)
      break;
    ASSERT_OK(cap.status);
    ASSERT_STR_EQ("DELETING", cap.stream_status);
    uv_sleep(20);
  }
  ASSERT_STR_EQ("ResourceNotFoundException", cap.error_code);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_put_and_get(void) {
  kinesis_client_t* c;
  capture_t cap;
  kinesis_record_t e[3];
  kinesis_iterator_request_t it;
  char stream[128];
  char first_seq[140];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("putget"));
  create_active(c, stream, 1);

  memset(e, 0, sizeof(e));
  e[0].data = "one";
  e[0].len = 3;
  e[0].partition_key = "a";
  e[1].data = "two";
  e[1].len = 3;
  e[1].partition_key = "\xe6\x97\xa5\xe6\x9c\xac";
  e[1].explicit_hash_key = "340282366920938463463374607431768211455";
  e[2].data = NULL;
  e[2].len = 0;
  e[2].partition_key = "c";
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(c, stream, e, 3, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(3, cap.nput);
  ASSERT_EQ(0, cap.failed);

  memset(&it, 0, sizeof(it));
  it.stream = stream;
  it.shard_id = "shardId-000000000000";
  it.type = KINESIS_ITERATOR_TRIM_HORIZON;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_get_shard_iterator(c, &it, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT(cap.iterator[0] != '\0');

  {
    char iterator[600];
    snprintf(iterator, sizeof(iterator), "%s", cap.iterator);
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_records(c, iterator, 0, capture_cb, &cap));
  }
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(3, cap.nrecords);
  ASSERT_STR_EQ("one", cap.records[0]);
  ASSERT_STR_EQ("two", cap.records[1]);
  ASSERT_STR_EQ("", cap.records[2]);
  ASSERT(cap.next_iterator[0] != '\0');
  snprintf(first_seq, sizeof(first_seq), "%s", cap.sequence_numbers[0]);

  /* AFTER_SEQUENCE_NUMBER of the first record starts at the second. */
  it.type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  it.sequence_number = first_seq;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_get_shard_iterator(c, &it, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  {
    char iterator[600];
    snprintf(iterator, sizeof(iterator), "%s", cap.iterator);
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_records(c, iterator, 1, capture_cb, &cap));
  }
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(1, cap.nrecords);
  ASSERT_STR_EQ("two", cap.records[0]);

  delete_stream(c, stream);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_invalid_arguments(void) {
  kinesis_client_t* c;
  kinesis_record_t e;
  kinesis_iterator_request_t it;
  capture_t cap;
  char key[300];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  memset(&cap, 0, sizeof(cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_create_stream(c, "bad name", 1,
                                                         capture_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_create_stream(c, "s", 1, NULL, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_delete_stream(c, "", capture_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_get_records(c, "", 0, capture_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_get_records(c, "it", 10001, capture_cb, &cap));

  memset(&e, 0, sizeof(e));
  e.data = "x";
  e.len = 1;
  e.partition_key = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_put_records(c, "s", &e, 1, capture_cb, &cap));
  memset(key, 'k', 257);
  key[257] = '\0';
  e.partition_key = key;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_put_records(c, "s", &e, 1, capture_cb, &cap));
  e.partition_key = "k";
  e.explicit_hash_key = "340282366920938463463374607431768211456";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_put_records(c, "s", &e, 1, capture_cb, &cap));
  e.explicit_hash_key = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_put_records(c, "s", &e, 0, capture_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_put_records(c, "s", &e, 501, capture_cb, &cap));

  memset(&it, 0, sizeof(it));
  it.stream = "s";
  it.shard_id = "shardId-0";
  it.type = KINESIS_ITERATOR_AT_SEQUENCE_NUMBER;
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_get_shard_iterator(c, &it, capture_cb, &cap));
  it.sequence_number = "12x";
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_get_shard_iterator(c, &it, capture_cb, &cap));
  ASSERT_EQ(0, cap.calls);
  close_client(&loop, c);
  ASSERT_EQ(0, cap.calls);
  kn_test_loop_close(&loop);
}


static void test_close_cancels_in_flight(void) {
  kinesis_client_t* c;
  capture_t caps[4];
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  memset(caps, 0, sizeof(caps));
  for (i = 0; i < 4; i++)
    ASSERT_OK(kinesis_client_describe_stream_summary(c, "nope", capture_cb,
                                                     &caps[i]));
  /* Let some of them reach the wire before closing. */
  uv_run(&loop, UV_RUN_NOWAIT);
  close_client(&loop, c);
  for (i = 0; i < 4; i++) {
    ASSERT_EQ(1, caps[i].calls);
    ASSERT(caps[i].status == KINESIS_ECANCELED ||
           caps[i].status == KINESIS_ENOTFOUND);
  }
  ASSERT_EQ(KINESIS_ECANCELED, caps[3].status);
  kn_test_loop_close(&loop);
}


static int closed_from_cb;


static void on_close_from_cb(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (void) arg;
  closed_from_cb++;
}


static void close_inside_cb(kinesis_client_t* c, int status,
                            const kinesis_result_t* r, void* arg) {
  capture_cb(c, status, r, arg);
  ASSERT_OK(kinesis_client_close(c, on_close_from_cb, NULL));
  ASSERT_EQ(KINESIS_ECLOSING,
            kinesis_client_describe_stream_summary(c, "x", capture_cb, arg));
}


static void test_close_from_callback(void) {
  kinesis_client_t* c;
  capture_t a;
  capture_t b;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  ASSERT_OK(kinesis_client_describe_stream_summary(c, "missing-a",
                                                   close_inside_cb, &a));
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, a.calls);
  ASSERT_EQ(KINESIS_ENOTFOUND, a.status);
  ASSERT_EQ(1, closed_from_cb);
  (void) b;
  kn_test_loop_close(&loop);
}


static void test_no_region(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  capture_t cap;

  ASSERT_OK(uv_loop_init(&loop));
  unsetenv("AWS_REGION");
  unsetenv("AWS_DEFAULT_REGION");
  setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
  test_client_options(&o, NULL);
  o.region = NULL;
  o.endpoint_url = NULL;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  ASSERT_NULL(kinesis_client_region(c));
  memset(&cap, 0, sizeof(cap));
  ASSERT_EQ(KINESIS_ENOREGION,
            kinesis_client_describe_stream_summary(c, "s", capture_cb, &cap));
  ASSERT_STR_EQ("no AWS region configured", kinesis_strerror(KINESIS_ENOREGION));
  close_client(&loop, c);

  /* The regional endpoint is derived from the region. */
  o.region = "eu-west-1";
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  ASSERT_STR_EQ("https://kinesis.eu-west-1.amazonaws.com/",
                kinesis_client_endpoint(c));
  close_client(&loop, c);
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  ASSERT_STR_EQ("http://127.0.0.1:1/", kinesis_client_endpoint(c));
  close_client(&loop, c);
  setenv("AWS_ENDPOINT_URL_KINESIS", "http://localhost:2", 1);
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  ASSERT_STR_EQ("http://localhost:2/", kinesis_client_endpoint(c));
  close_client(&loop, c);
  unsetenv("AWS_ENDPOINT_URL");
  unsetenv("AWS_ENDPOINT_URL_KINESIS");
  /* A stream ARN gives a client with neither its region and endpoint; the
   * call is canceled by the close before anything is sent. */
  o.region = NULL;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_describe_stream_summary(
      c, "arn:aws:kinesis:eu-central-1:123456789012:stream/s", capture_cb,
      &cap));
  ASSERT_STR_EQ("eu-central-1", kinesis_client_region(c));
  ASSERT_STR_EQ("https://kinesis.eu-central-1.amazonaws.com/",
                kinesis_client_endpoint(c));
  close_client(&loop, c);
  ASSERT_EQ(1, cap.calls);
  ASSERT_EQ(KINESIS_ECANCELED, cap.status);
  o.region = "eu-west-1";
  o.endpoint_url = "ftp://example.com";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_new(&loop, &o, &c));
  o.endpoint_url = "http://example.com/some/path";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_new(&loop, &o, &c));
  unsetenv("AWS_CONFIG_FILE");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  kn_test_loop_close(&loop);
}


typedef struct {
  int calls;
  int status;
  int closed_before;  /* the client's close callback had run */
  kinesis_identity_t id;
  char source[32];
  char message[512];
} identity_cap_t;


static int identity_client_closed;


static void on_identity_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (void) arg;
  identity_client_closed++;
}


static void identity_cb(kinesis_client_t* c, int status,
                        const kinesis_identity_t* id, const char* message,
                        void* arg) {
  identity_cap_t* cap = arg;
  (void) c;
  cap->calls++;
  cap->status = status;
  cap->closed_before = identity_client_closed;
  if (status == 0) {
    ASSERT_NOT_NULL(id);
    ASSERT_NULL(message);
    cap->id = *id;
    snprintf(cap->source, sizeof(cap->source), "%s", id->source);
    cap->id.source = NULL;
  } else {
    ASSERT_NULL(id);
    ASSERT_NOT_NULL(message);
    snprintf(cap->message, sizeof(cap->message), "%s", message);
  }
}


/* kinesis_client_identity(): where the credentials came from, never
 * inside the call, exactly once, and canceled by the client's close before
 * its close callback runs. */
static void test_identity(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  identity_cap_t cap;

  ASSERT_OK(uv_loop_init(&loop));
  test_client_options(&o, test_endpoint());
  o.access_key_id = "AKIDOPTIONSABCD";
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_identity(NULL, identity_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_identity(c, NULL, &cap));
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_identity(c, identity_cb, &cap));
  ASSERT_EQ(0, cap.calls);
  while (cap.calls == 0)
    ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || cap.calls > 0);
  ASSERT_EQ(1, cap.calls);
  ASSERT_OK(cap.status);
  ASSERT_STR_EQ("options", cap.source);
  ASSERT_STR_EQ("ABCD", cap.id.access_key_id_last4);
  ASSERT_NULL(cap.id.profile);
  ASSERT_NULL(cap.id.role_arn);
  ASSERT_EQ(0, cap.id.expiration_ms);

  /* Asked, then closed at once: canceled, before the close callback. */
  memset(&cap, 0, sizeof(cap));
  identity_client_closed = 0;
  ASSERT_OK(kinesis_client_identity(c, identity_cb, &cap));
  ASSERT_OK(kinesis_client_close(c, on_identity_closed, NULL));
  ASSERT_EQ(KINESIS_ECLOSING, kinesis_client_identity(c, identity_cb, &cap));
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, identity_client_closed);
  ASSERT_EQ(1, cap.calls);
  ASSERT_EQ(KINESIS_ECANCELED, cap.status);
  ASSERT_EQ(0, cap.closed_before);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_stream_lifecycle), KN_TEST(test_put_and_get),
             KN_TEST(test_invalid_arguments),
             KN_TEST(test_close_cancels_in_flight),
             KN_TEST(test_close_from_callback), KN_TEST(test_no_region),
             KN_TEST(test_identity))
