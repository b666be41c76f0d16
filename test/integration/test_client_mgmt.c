#include "client_util.h"

#include <stdlib.h>
#include <string.h>

/* The stream management calls (kinesis_client_list_streams() and the
 * others "Since 0.9"): their argument checks, and their effect on
 * kinesalite and, for the calls kinesalite lacks, on kinesis-mock. */

static uv_loop_t loop;

/* What a management call's callback saw. */
typedef struct {
  int calls;
  int status;
  char error_message[512];
  size_t nnames;
  char names[32][64];
  size_t ntags;
  char keys[64][32];
  char values[64][32];
  uint32_t current_shard_count;
  uint32_t target_shard_count;
  char error_code[64];
  size_t nconsumers;
  char consumer_names[8][64];
  char consumer_arns[8][256];
  char consumer_statuses[8][16];
  char consumer_stream_arn[256];
  double consumer_created;
} mgmt_cap_t;


static void mgmt_cb(kinesis_client_t* c, int status, const kinesis_result_t* r,
                    void* arg) {
  mgmt_cap_t* cap = arg;
  size_t i;

  (void) c;
  cap->calls++;
  cap->status = status;
  snprintf(cap->error_message, sizeof(cap->error_message), "%s",
           r->error_message != NULL ? r->error_message : "");
  cap->nnames = r->nstream_names;
  for (i = 0; i < r->nstream_names && i < 32; i++)
    snprintf(cap->names[i], sizeof(cap->names[i]), "%s", r->stream_names[i]);
  cap->ntags = r->ntags;
  for (i = 0; i < r->ntags && i < 64; i++) {
    snprintf(cap->keys[i], sizeof(cap->keys[i]), "%s", r->tags[i].key);
    snprintf(cap->values[i], sizeof(cap->values[i]), "%s",
             r->tags[i].value != NULL ? r->tags[i].value : "");
  }
  cap->current_shard_count = r->current_shard_count;
  cap->target_shard_count = r->target_shard_count;
  snprintf(cap->error_code, sizeof(cap->error_code), "%s",
           r->error_code != NULL ? r->error_code : "");
  cap->nconsumers = r->nconsumers;
  for (i = 0; i < r->nconsumers && i < 8; i++) {
    const kinesis_stream_consumer_t* k = &r->consumers[i];
    snprintf(cap->consumer_names[i], sizeof(cap->consumer_names[i]), "%s",
             k->consumer_name);
    snprintf(cap->consumer_arns[i], sizeof(cap->consumer_arns[i]), "%s",
             k->consumer_arn);
    snprintf(cap->consumer_statuses[i], sizeof(cap->consumer_statuses[i]),
             "%s", k->consumer_status);
    if (i == 0) {
      snprintf(cap->consumer_stream_arn, sizeof(cap->consumer_stream_arn),
               "%s", k->stream_arn != NULL ? k->stream_arn : "");
      cap->consumer_created = k->creation_timestamp;
    }
  }
  uv_stop(&loop);
}


static void mgmt_wait(mgmt_cap_t* cap) {
  TEST_WAIT_UNTIL(&loop, cap->calls > 0, 30000, (void) 0);
  ASSERT_EQ(1, cap->calls);
}


static kinesis_client_t* new_client(const char* env) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, kn_test_require_env(env));
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


/* The stream's summary, once it is ACTIVE again. */
static void wait_active(kinesis_client_t* c, const char* stream,
                        capture_t* cap) {
  memset(cap, 0, sizeof(*cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, stream, 50, 20000, capture_cb,
                                           cap));
  capture_wait(&loop, cap);
  ASSERT_OK(cap->status);
}


/* A summary field capture_t does not keep. */
typedef struct {
  int done;
  int status;
  char mode[32];
  char encryption[16];
  char key_id[64];
  char arn[256];
  uint32_t retention;
  uint32_t max_record_kib;
} summary_cap_t;


static void summary_cb(kinesis_client_t* c, int status,
                       const kinesis_result_t* r, void* arg) {
  summary_cap_t* s = arg;
  (void) c;
  s->done = 1;
  s->status = status;
  if (status != 0 || r->summary == NULL)
    return;
  snprintf(s->mode, sizeof(s->mode), "%s",
           r->summary->stream_mode ? r->summary->stream_mode : "");
  snprintf(s->encryption, sizeof(s->encryption), "%s",
           r->summary->encryption_type ? r->summary->encryption_type : "");
  snprintf(s->key_id, sizeof(s->key_id), "%s",
           r->summary->key_id ? r->summary->key_id : "");
  snprintf(s->arn, sizeof(s->arn), "%s",
           r->summary->stream_arn ? r->summary->stream_arn : "");
  s->retention = r->summary->retention_period_hours;
  s->max_record_kib = r->summary->max_record_size_kib;
}


static void summary(kinesis_client_t* c, const char* stream,
                    summary_cap_t* s) {
  capture_t cap;
  wait_active(c, stream, &cap);
  memset(s, 0, sizeof(*s));
  ASSERT_OK(kinesis_client_describe_stream_summary(c, stream, summary_cb, s));
  TEST_WAIT_UNTIL(&loop, s->done, 30000, (void) 0);
  ASSERT_OK(s->status);
}


static void test_invalid_arguments(void) {
  kinesis_client_t* c;
  mgmt_cap_t cap;
  kinesis_tag_t tags[KINESIS_MAX_TAGS_PER_CALL + 1];
  const char* keys[KINESIS_MAX_TAGS_PER_CALL + 1];
  char names[KINESIS_MAX_TAGS_PER_CALL + 1][8];
  char long_key[130];
  char long_value[258];
  char long_kms[2050];
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client("KINESIS_TEST_ENDPOINT");
  memset(&cap, 0, sizeof(cap));
  for (i = 0; i <= KINESIS_MAX_TAGS_PER_CALL; i++) {
    snprintf(names[i], sizeof(names[i]), "k%zu", i);
    tags[i].key = names[i];
    tags[i].value = "v";
    keys[i] = names[i];
  }
  memset(long_key, 'k', 129);
  long_key[129] = '\0';
  memset(long_value, 'v', 257);
  long_value[257] = '\0';
  memset(long_kms, 'a', 2049);
  long_kms[2049] = '\0';

  /* Every call: no client, no callback, a bad stream. */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_list_streams(NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_list_streams(c, NULL, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_update_shard_count(c, "bad name", 2, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_update_shard_count(c, "s", 2, NULL, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_list_tags(c, "", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_list_tags(NULL, "s", mgmt_cb, &cap));

  /* Counts. */
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_update_shard_count(c, "s", 0, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_update_shard_count(
                c, "s", KINESIS_MAX_TARGET_SHARD_COUNT + 1, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_increase_stream_retention(
                                c, "s", 23, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_increase_stream_retention(
                                c, "s", 8761, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_decrease_stream_retention(
                                c, "s", 0, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_update_max_record_size(
                                c, "s", 1023, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_update_max_record_size(
                                c, "s", 10241, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_update_max_record_size(
                                c, "", 2048, mgmt_cb, &cap));

  /* Shards and hash keys. */
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_split_shard(c, "s", NULL, NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_split_shard(
                                c, "s", "shard 0", NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_split_shard(c, "s", "shardId-0",
                                       "340282366920938463463374607431768211456",
                                       mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_split_shard(
                                c, "s", "shardId-0", "012", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_split_shard(
                                c, "s", "shardId-0", "", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_merge_shards(
                                c, "s", "shardId-0", NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_merge_shards(
                                c, "s", "shardId-0", "shardId-0", mgmt_cb,
                                &cap));

  /* Modes and keys. */
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_update_stream_mode(
                c, "s", (kinesis_stream_mode_t) 2, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_update_stream_mode(
                c, "bad/name", KINESIS_STREAM_MODE_ON_DEMAND, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_start_stream_encryption(
                                c, "s", "", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_start_stream_encryption(
                                c, "s", long_kms, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_stop_stream_encryption(
                                c, "s", "", mgmt_cb, &cap));

  /* Tags: none, too many, empty, too long, twice. */
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags, 0, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", NULL, 1, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags,
                                    KINESIS_MAX_TAGS_PER_CALL + 1, mgmt_cb,
                                    &cap));
  tags[1].key = "";
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags, 2, mgmt_cb, &cap));
  tags[1].key = long_key;
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags, 2, mgmt_cb, &cap));
  tags[1].key = names[0];
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags, 2, mgmt_cb, &cap));
  tags[1].key = names[1];
  tags[1].value = long_value;
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags, 2, mgmt_cb, &cap));
  tags[1].value = "\xff";
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_add_tags(c, "s", tags, 2, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_remove_tags(c, "s", keys, 0, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_remove_tags(c, "s", NULL, 1, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_remove_tags(c, "s", keys,
                                       KINESIS_MAX_TAGS_PER_CALL + 1, mgmt_cb,
                                       &cap));
  keys[0] = "";
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_remove_tags(c, "s", keys, 1, mgmt_cb, &cap));
  /* kinesis_strerror explains it. */
  ASSERT_STR_EQ("invalid argument", kinesis_strerror(KINESIS_EINVAL));

  run_loop_for(&loop, 20);
  ASSERT_EQ(0, cap.calls);
  close_client(&loop, c);
  ASSERT_EQ(0, cap.calls);
  kn_test_loop_close(&loop);
}


static int has_name(const mgmt_cap_t* cap, const char* name) {
  size_t i;
  for (i = 0; i < cap->nnames && i < 32; i++)
    if (strcmp(cap->names[i], name) == 0)
      return 1;
  return 0;
}


/* kinesalite lists ten streams a page: twelve take two pages. */
static void test_list_streams(void) {
  kinesis_client_t* c;
  capture_t created[12];
  char names[12][64];
  mgmt_cap_t cap;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client("KINESIS_TEST_ENDPOINT");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_streams(c, mgmt_cb, &cap));
  ASSERT_EQ(0, cap.calls); /* never synchronous */
  mgmt_wait(&cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(0, cap.nnames);

  memset(created, 0, sizeof(created));
  for (i = 0; i < 12; i++) {
    snprintf(names[i], sizeof(names[i]), "%s", test_stream_name("ls"));
    ASSERT_OK(kinesis_client_create_stream(c, names[i], 1, capture_cb,
                                           &created[i]));
  }
  for (i = 0; i < 12; i++) {
    capture_wait(&loop, &created[i]);
    ASSERT_OK(created[i].status);
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_streams(c, mgmt_cb, &cap));
  mgmt_wait(&cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(12, cap.nnames);
  for (i = 0; i < 12; i++)
    ASSERT(has_name(&cap, names[i]));
  /* In order, and each once. */
  for (i = 1; i < cap.nnames; i++)
    ASSERT(strcmp(cap.names[i - 1], cap.names[i]) < 0);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void call_ok(int r, mgmt_cap_t* cap) {
  ASSERT_OK(r);
  mgmt_wait(cap);
  if (cap->status != 0)
    fprintf(stderr, "failed: %s: %s\n", kinesis_err_name(cap->status),
            cap->error_message);
  ASSERT_OK(cap->status);
}


/* Tags, twelve of them, so that ListTagsForStream takes two pages (ten a
 * page in kinesalite); retention; split in the middle and merge back. */
static void test_kinesalite(void) {
  kinesis_client_t* c;
  kinesis_tag_t tags[12];
  char keys[12][8];
  const char* remove[11];
  mgmt_cap_t cap;
  capture_t lc;
  summary_cap_t sum;
  char stream[128];
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client("KINESIS_TEST_ENDPOINT");
  snprintf(stream, sizeof(stream), "%s", test_stream_name("mgmt"));
  create_active_stream(&loop, c, stream, 1);

  for (i = 0; i < 12; i++) {
    snprintf(keys[i], sizeof(keys[i]), "key%02zu", i);
    tags[i].key = keys[i];
    tags[i].value = i == 3 ? NULL : keys[i] + 3;
  }
  /* kinesalite takes ten tags a call (the API took ten before it took
   * fifty): two calls. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_add_tags(c, stream, tags, 10, mgmt_cb, &cap), &cap);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_add_tags(c, stream, tags + 10, 2, mgmt_cb, &cap),
          &cap);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_list_tags(c, stream, mgmt_cb, &cap), &cap);
  ASSERT_EQ(12, cap.ntags);
  for (i = 0; i < 12; i++) {
    ASSERT_STR_EQ(keys[i], cap.keys[i]);
    ASSERT_STR_EQ(i == 3 ? "" : keys[i] + 3, cap.values[i]);
  }
  for (i = 0; i < 11; i++)
    remove[i] = keys[i + 1];
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_remove_tags(c, stream, remove, 10, mgmt_cb, &cap),
          &cap);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_remove_tags(c, stream, remove + 10, 1, mgmt_cb,
                                     &cap), &cap);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_list_tags(c, stream, mgmt_cb, &cap), &cap);
  ASSERT_EQ(1, cap.ntags);
  ASSERT_STR_EQ("key00", cap.keys[0]);

  /* Retention: up, seen, down, seen. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_increase_stream_retention(c, stream, 72, mgmt_cb,
                                                   &cap), &cap);
  summary(c, stream, &sum);
  ASSERT_EQ(72, sum.retention);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_decrease_stream_retention(c, stream, 24, mgmt_cb,
                                                   &cap), &cap);
  summary(c, stream, &sum);
  ASSERT_EQ(24, sum.retention);
  /* Decreasing to more than now is the service's refusal. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_decrease_stream_retention(c, stream, 48, mgmt_cb,
                                                     &cap));
  mgmt_wait(&cap);
  ASSERT_EQ(KINESIS_EINVALIDARG, cap.status);

  /* Split in the middle (test_cli_mgmt.sh checks the children's keys). */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_split_shard(c, stream, "shardId-000000000000", NULL,
                                     mgmt_cb, &cap), &cap);
  wait_active(c, stream, &lc);
  ASSERT_EQ(2, lc.open_shards);
  memset(&lc, 0, sizeof(lc));
  ASSERT_OK(kinesis_client_list_shards(c, stream, capture_cb, &lc));
  capture_wait(&loop, &lc);
  ASSERT_OK(lc.status);
  ASSERT_EQ(3, lc.nshards);
  ASSERT_STR_EQ("shardId-000000000001", lc.shard_ids[1]);
  ASSERT_STR_EQ("shardId-000000000002", lc.shard_ids[2]);
  /* A shard that is closed now cannot be split; one not there is named. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_split_shard(c, stream, "shardId-000000000009",
                                       NULL, mgmt_cb, &cap));
  mgmt_wait(&cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  ASSERT_STR_EQ("the stream has no shard shardId-000000000009",
                cap.error_message);

  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_merge_shards(c, stream, "shardId-000000000001",
                                      "shardId-000000000002", mgmt_cb, &cap),
          &cap);
  wait_active(c, stream, &lc);
  ASSERT_EQ(1, lc.open_shards);

  /* A stream that is not there. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_tags(c, "no-such-stream", mgmt_cb, &cap));
  mgmt_wait(&cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* The calls kinesalite does not have, on kinesis-mock. */
static void test_mock(void) {
  kinesis_client_t* c;
  mgmt_cap_t cap;
  capture_t lc;
  summary_cap_t sum;
  char stream[128];
  char arn[256];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client("KINESIS_TEST_MOCK_ENDPOINT");
  snprintf(stream, sizeof(stream), "%s", test_stream_name("mock"));
  create_active_stream(&loop, c, stream, 2);

  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_update_shard_count(c, stream, 4, mgmt_cb, &cap),
          &cap);
  ASSERT_EQ(2, cap.current_shard_count);
  ASSERT_EQ(4, cap.target_shard_count);
  wait_active(c, stream, &lc);
  ASSERT_EQ(4, lc.open_shards);

  /* By name: the ARN is looked up first. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_update_stream_mode(
              c, stream, KINESIS_STREAM_MODE_ON_DEMAND, mgmt_cb, &cap),
          &cap);
  summary(c, stream, &sum);
  ASSERT_STR_EQ("ON_DEMAND", sum.mode);
  snprintf(arn, sizeof(arn), "%s", sum.arn);
  ASSERT(strncmp(arn, "arn:", 4) == 0);
  /* By ARN: sent as is. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_update_stream_mode(
              c, arn, KINESIS_STREAM_MODE_PROVISIONED, mgmt_cb, &cap),
          &cap);
  summary(c, stream, &sum);
  ASSERT_STR_EQ("PROVISIONED", sum.mode);

  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_start_stream_encryption(c, arn, NULL, mgmt_cb, &cap),
          &cap);
  summary(c, stream, &sum);
  ASSERT_STR_EQ("KMS", sum.encryption);
  ASSERT_STR_EQ(KINESIS_DEFAULT_KMS_KEY, sum.key_id);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_stop_stream_encryption(c, stream, NULL, mgmt_cb,
                                                &cap), &cap);
  summary(c, stream, &sum);
  ASSERT_STR_EQ("NONE", sum.encryption);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_start_stream_encryption(c, stream, "alias/mine",
                                                 mgmt_cb, &cap), &cap);
  summary(c, stream, &sum);
  ASSERT_STR_EQ("alias/mine", sum.key_id);

  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_update_max_record_size(c, stream, 4096, mgmt_cb,
                                                &cap), &cap);
  summary(c, stream, &sum);
  ASSERT_EQ(4096, sum.max_record_kib);

  /* In the middle, by ARN: ListShards takes the ARN too. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_split_shard(c, arn, "shardId-000000000002", NULL,
                                     mgmt_cb, &cap), &cap);
  wait_active(c, stream, &lc);
  ASSERT_EQ(5, lc.open_shards);

  /* A name the mock does not know: the lookup fails, nothing else is
   * sent. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_update_max_record_size(c, "no-such-stream", 2048,
                                                  mgmt_cb, &cap));
  mgmt_wait(&cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  *(int*) arg = 1;
}


/* A stream ARN names its region: a client with none takes it (and its
 * endpoint's region for signing), a client of another region refuses the
 * ARN before sending anything, and an ARN without a region is refused. */
static void test_region_from_arn(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  kinesis_client_t* bare;
  kinesis_client_t* other;
  kinesis_producer_options_t po;
  kinesis_producer_t* p;
  mgmt_cap_t cap;
  summary_cap_t sum;
  char stream[128];
  char arn[256];
  char other_arn[300];
  const char* region_end;
  int closed = 0;

  ASSERT_OK(uv_loop_init(&loop));
  /* Nothing else may give the region-less clients a region. */
  ASSERT_OK(unsetenv("AWS_REGION"));
  ASSERT_OK(unsetenv("AWS_DEFAULT_REGION"));
  ASSERT_OK(setenv("AWS_CONFIG_FILE", "/nonexistent/kinesis-test-config", 1));
  ASSERT_OK(setenv("AWS_SHARED_CREDENTIALS_FILE",
                   "/nonexistent/kinesis-test-credentials", 1));
  c = new_client("KINESIS_TEST_MOCK_ENDPOINT");
  snprintf(stream, sizeof(stream), "%s", test_stream_name("arnreg"));
  create_active_stream(&loop, c, stream, 1);
  summary(c, stream, &sum);
  snprintf(arn, sizeof(arn), "%s", sum.arn);
  ASSERT(strncmp(arn, "arn:aws:kinesis:us-east-1:", 26) == 0);

  test_client_options(&o, kn_test_require_env("KINESIS_TEST_MOCK_ENDPOINT"));
  o.region = NULL;
  ASSERT_OK(kinesis_client_new(&loop, &o, &bare));
  ASSERT_NULL(kinesis_client_region(bare));
  memset(&cap, 0, sizeof(cap));
  ASSERT_EQ(KINESIS_ENOREGION, kinesis_client_describe_stream_summary(
                                   bare, stream, mgmt_cb, &cap));
  /* An ARN with no region, or not a stream's, gives none. */
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_describe_stream_summary(
                bare, "arn:aws:kinesis::000000000000:stream/x", mgmt_cb,
                &cap));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_client_describe_stream_summary(
                bare, "arn:aws:sqs:us-east-1:000000000000:queue", mgmt_cb,
                &cap));
  ASSERT_NULL(kinesis_client_region(bare));
  /* A producer of the ARN's stream gives it the region too. */
  kinesis_producer_options_init(&po);
  po.stream = arn;
  ASSERT_OK(kinesis_producer_new(bare, &po, &p));
  ASSERT_STR_EQ("us-east-1", kinesis_client_region(bare));
  ASSERT_OK(kinesis_producer_close(p, on_producer_closed, &closed));
  TEST_WAIT_UNTIL(&loop, closed == 1, 10000, (void) 0);
  /* And the call, signed for that region, is answered. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_describe_stream_summary(bare, arn, mgmt_cb, &cap),
          &cap);

  /* The same stream's ARN in another region than the client's. */
  region_end = strchr(arn + 16, ':');
  ASSERT_NOT_NULL(region_end);
  snprintf(other_arn, sizeof(other_arn), "arn:aws:kinesis:eu-west-1%s",
           region_end);
  memset(&cap, 0, sizeof(cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_describe_stream_summary(
                                bare, other_arn, mgmt_cb, &cap));
  test_client_options(&o, kn_test_require_env("KINESIS_TEST_MOCK_ENDPOINT"));
  o.region = "eu-west-1";
  ASSERT_OK(kinesis_client_new(&loop, &o, &other));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_describe_stream_summary(
                                other, arn, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(other, &po, &p));
  ASSERT_STR_EQ("eu-west-1", kinesis_client_region(other));
  ASSERT_EQ(0, cap.calls);

  close_client(&loop, other);
  close_client(&loop, bare);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_OK(unsetenv("AWS_CONFIG_FILE"));
  ASSERT_OK(unsetenv("AWS_SHARED_CREDENTIALS_FILE"));
}


/* The consumer calls' argument checks: refused at once, no callback. */
static void test_consumer_arguments(void) {
  kinesis_client_t* c;
  mgmt_cap_t cap;
  char long_name[130];
  const char* arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
  const char* carn =
      "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1";

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client("KINESIS_TEST_ENDPOINT");
  memset(&cap, 0, sizeof(cap));
  memset(long_name, 'n', 129);
  long_name[129] = '\0';
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_register_stream_consumer(
                                c, "s", NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_register_stream_consumer(
                                c, "s", "a b", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_register_stream_consumer(
                                c, "s", long_name, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_register_stream_consumer(
                                c, "bad name", "c", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_register_stream_consumer(
                                c, arn, "c", NULL, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_register_stream_consumer(
                                NULL, arn, "c", mgmt_cb, &cap));
  /* Describe and deregister: a consumer ARN, or a stream and a name. */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_describe_stream_consumer(
                                c, NULL, NULL, NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_describe_stream_consumer(
                                c, NULL, "c", NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_describe_stream_consumer(
                                c, NULL, NULL, arn, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_describe_stream_consumer(
                                c, NULL, NULL, "consumer/c", mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_deregister_stream_consumer(
                                c, "s", "a/b", NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_deregister_stream_consumer(
                                c, NULL, NULL, carn, NULL, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_list_stream_consumers(
                                c, NULL, mgmt_cb, &cap));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_list_stream_consumers(
                                c, "s", NULL, &cap));
  ASSERT_EQ(0, cap.calls);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* Describes `name` on `stream` until it is ACTIVE (20 s). */
static void consumer_active(kinesis_client_t* c, const char* stream,
                            const char* name, mgmt_cap_t* cap) {
  int i;
  for (i = 0; i < 200; i++) {
    memset(cap, 0, sizeof(*cap));
    call_ok(kinesis_client_describe_stream_consumer(c, stream, name, NULL,
                                                    mgmt_cb, cap),
            cap);
    ASSERT_EQ(1, cap->nconsumers);
    if (strcmp(cap->consumer_statuses[0], "ACTIVE") == 0)
      return;
    run_loop_for(&loop, 100);
  }
  fprintf(stderr, "consumer %s still %s\n", name, cap->consumer_statuses[0]);
  abort();
}


/* Register, describe, list and deregister on kinesis-mock (kinesalite has
 * no consumers), by stream name and by ARN. */
static void test_mock_consumers(void) {
  kinesis_client_t* c;
  mgmt_cap_t cap;
  summary_cap_t sum;
  char stream[128];
  char arn[256];
  char c1_arn[256];
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client("KINESIS_TEST_MOCK_ENDPOINT");
  snprintf(stream, sizeof(stream), "%s", test_stream_name("efo"));
  create_active_stream(&loop, c, stream, 1);
  summary(c, stream, &sum);
  snprintf(arn, sizeof(arn), "%s", sum.arn);

  /* By name (the ARN looked up first), then by ARN. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_register_stream_consumer(c, stream, "c1", mgmt_cb,
                                                  &cap),
          &cap);
  ASSERT_EQ(1, cap.nconsumers);
  ASSERT_STR_EQ("c1", cap.consumer_names[0]);
  ASSERT(strstr(cap.consumer_arns[0], "/consumer/c1:") != NULL);
  ASSERT(strncmp(cap.consumer_arns[0], arn, strlen(arn)) == 0);
  ASSERT(strcmp(cap.consumer_statuses[0], "CREATING") == 0 ||
         strcmp(cap.consumer_statuses[0], "ACTIVE") == 0);
  ASSERT(cap.consumer_created > 1.6e9);
  snprintf(c1_arn, sizeof(c1_arn), "%s", cap.consumer_arns[0]);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_register_stream_consumer(c, arn, "c2", mgmt_cb, &cap),
          &cap);
  ASSERT_STR_EQ("c2", cap.consumer_names[0]);
  /* A name the stream has already. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_register_stream_consumer(c, stream, "c1", mgmt_cb,
                                                    &cap));
  mgmt_wait(&cap);
  ASSERT_EQ(KINESIS_EINUSE, cap.status);
  ASSERT_STR_EQ("ResourceInUseException", cap.error_code);

  consumer_active(c, stream, "c1", &cap);
  ASSERT_STR_EQ(c1_arn, cap.consumer_arns[0]);
  ASSERT_STR_EQ(arn, cap.consumer_stream_arn);
  /* By the consumer's ARN alone. */
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_describe_stream_consumer(c, NULL, NULL, c1_arn,
                                                  mgmt_cb, &cap),
          &cap);
  ASSERT_STR_EQ("c1", cap.consumer_names[0]);
  ASSERT_STR_EQ(arn, cap.consumer_stream_arn);

  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_list_stream_consumers(c, stream, mgmt_cb, &cap),
          &cap);
  ASSERT_EQ(2, cap.nconsumers);
  ASSERT(strcmp(cap.consumer_names[0], "c1") == 0 ||
         strcmp(cap.consumer_names[1], "c1") == 0);
  ASSERT(strcmp(cap.consumer_names[0], "c2") == 0 ||
         strcmp(cap.consumer_names[1], "c2") == 0);
  ASSERT_STR_EQ("", cap.consumer_stream_arn);

  /* Deregister by ARN and by name; the list ends empty. */
  consumer_active(c, stream, "c2", &cap);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_deregister_stream_consumer(c, NULL, NULL, c1_arn,
                                                    mgmt_cb, &cap),
          &cap);
  memset(&cap, 0, sizeof(cap));
  call_ok(kinesis_client_deregister_stream_consumer(c, arn, "c2", NULL,
                                                    mgmt_cb, &cap),
          &cap);
  for (i = 0; i < 200; i++) {
    memset(&cap, 0, sizeof(cap));
    call_ok(kinesis_client_list_stream_consumers(c, arn, mgmt_cb, &cap),
            &cap);
    if (cap.nconsumers == 0)
      break;
    run_loop_for(&loop, 100);
  }
  ASSERT_EQ(0, cap.nconsumers);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_describe_stream_consumer(c, NULL, NULL, c1_arn,
                                                    mgmt_cb, &cap));
  mgmt_wait(&cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_invalid_arguments), KN_TEST(test_list_streams),
             KN_TEST(test_kinesalite), KN_TEST(test_mock),
             KN_TEST(test_consumer_arguments), KN_TEST(test_mock_consumers),
             KN_TEST(test_region_from_arn))
