#include "harness.h"
#include "internal.h"
#include "stats.h"

#include <string.h>

/* The latency histogram, the recent window, and the Prometheus text. */


static void assert_near(double want, double got, double tolerance) {
  double diff = got > want ? got - want : want - got;
  if (diff > want * tolerance) {
    fprintf(stderr, "want %.1f within %.0f%%, got %.1f\n", want,
            tolerance * 100, got);
    ASSERT(diff <= want * tolerance);
  }
}


static void test_histogram_quantiles(void) {
  kn_hist_t h;
  kn_hist_t none;
  uint64_t v;

  memset(&h, 0, sizeof(h));
  memset(&none, 0, sizeof(none));
  ASSERT(kn_hist_quantile(&h, &none, 0.5) == 0);
  for (v = 1; v <= 100000; v++)
    kn_hist_add(&h, v);
  ASSERT_EQ(100000, h.count);
  /* Eight buckets per power of two: within half a bucket, 6.25%. */
  assert_near(50000, kn_hist_quantile(&h, &none, 0.5), 0.0625);
  assert_near(90000, kn_hist_quantile(&h, &none, 0.9), 0.0625);
  assert_near(99000, kn_hist_quantile(&h, &none, 0.99), 0.0625);
  ASSERT(kn_hist_quantile(&h, &none, 1) == 100000);
  /* The other histogram counts as much: the median of both together. */
  ASSERT(kn_hist_quantile(&none, &h, 0.5) == kn_hist_quantile(&h, &none, 0.5));

  /* Small values are exact, and no quantile is above the largest value. */
  memset(&h, 0, sizeof(h));
  kn_hist_add(&h, 3);
  kn_hist_add(&h, 5);
  kn_hist_add(&h, 7);
  ASSERT(kn_hist_quantile(&h, &none, 0.5) == 5);
  ASSERT(kn_hist_quantile(&h, &none, 0.01) == 3);
  ASSERT(kn_hist_quantile(&h, &none, 0.99) == 7);

  /* A value past the last bucket is counted there; max keeps it. */
  memset(&h, 0, sizeof(h));
  kn_hist_add(&h, (uint64_t) 1 << 40);
  ASSERT_EQ(1, h.n[KN_HIST_BUCKETS - 1]);
  ASSERT(kn_hist_quantile(&h, &none, 1) == (double) ((uint64_t) 1 << 40));
  ASSERT(kn_hist_quantile(&h, &none, 0.5) <= (double) ((uint64_t) 1 << 40));
}


static void test_bucket_bounds(void) {
  kn_op_stats_t s;
  kinesis_operation_stats_t out;

  ASSERT(kinesis_latency_bucket_ms(0) == 1);
  ASSERT(kinesis_latency_bucket_ms(6) == 100);
  ASSERT(kinesis_latency_bucket_ms(KINESIS_LATENCY_BUCKETS - 1) == 30000);
  ASSERT(kinesis_latency_bucket_ms(KINESIS_LATENCY_BUCKETS) == 0);

  memset(&s, 0, sizeof(s));
  kn_op_stats_latency(&s, 1000, 1000);      /* 1 ms: in "le 1" */
  kn_op_stats_latency(&s, 1000, 1001);      /* just over */
  kn_op_stats_latency(&s, 1000, 120000);    /* 120 ms: "le 250" */
  kn_op_stats_latency(&s, 1000, 60000000);  /* a minute: only +Inf */
  kn_op_stats_snapshot(&s, 1000, &out);
  ASSERT_EQ(4, out.latency_count);
  ASSERT_EQ(1, out.latency_buckets[0]);
  ASSERT_EQ(2, out.latency_buckets[1]);
  ASSERT_EQ(2, out.latency_buckets[6]);
  ASSERT_EQ(3, out.latency_buckets[7]);
  ASSERT_EQ(3, out.latency_buckets[KINESIS_LATENCY_BUCKETS - 1]);
  assert_near(1 + 1.001 + 120 + 60000, out.latency_sum_ms, 1e-9);
  ASSERT(out.latency_max_ms == 60000);
}


/* Percentiles cover the last 30 to 60 seconds; the histogram and its
 * count cover everything. */
static void test_recent_window(void) {
  kn_op_stats_t s;
  kinesis_operation_stats_t out;
  const uint64_t t0 = 5000000;

  memset(&s, 0, sizeof(s));
  kn_op_stats_latency(&s, t0, 10000);
  kn_op_stats_snapshot(&s, t0 + 10000, &out);
  ASSERT_EQ(1, out.recent_requests);
  assert_near(10, out.latency_p50_ms, 0.0625);

  kn_op_stats_latency(&s, t0 + 40000, 20000);
  kn_op_stats_snapshot(&s, t0 + 40000, &out);
  ASSERT_EQ(2, out.recent_requests);
  ASSERT(out.latency_max_ms == 20);

  /* 40 s after the second, the first (older than 60 s) is gone. */
  kn_op_stats_snapshot(&s, t0 + 80000, &out);
  ASSERT_EQ(1, out.recent_requests);
  ASSERT(out.latency_max_ms == 20);

  kn_op_stats_snapshot(&s, t0 + 200000, &out);
  ASSERT_EQ(0, out.recent_requests);
  ASSERT(out.latency_p50_ms == 0);
  ASSERT(out.latency_max_ms == 0);
  ASSERT_EQ(2, out.latency_count);
}


static void producer_sample(kinesis_producer_stats_t* p) {
  memset(p, 0, sizeof(*p));
  p->records_put = 1000;
  p->bytes_put = 104000;
  p->records_failed = 2;
  p->records_retried = 30;
  p->records_throttled = 29;
  p->requests = 4;
  p->request_failures = 1;
  p->entries_sent = 1030;
  p->user_records_sent = 1030;
  p->queue_depth = 7;
  p->queue_bytes = 728;
  p->in_flight = 1;
  p->shards = 2;
  p->batch_fill = 0.5;
  p->recent_records = 900;
  p->latency_p50_ms = 12.5;
  p->latency_p99_ms = 250;
  p->latency_max_ms = 1000;
  p->records_maybe_duplicated = 6;
  p->records_rerouted = 5;
  p->list_failures = 3;
}


static void test_prometheus_producer(void) {
  kinesis_producer_stats_t p;
  kinesis_stats_t st;
  char buf[4096];
  const char* want =
      "kinesis_producer_records_put_total{stream=\"orders\"} 1000\n"
      "kinesis_producer_bytes_put_total{stream=\"orders\"} 104000\n"
      "kinesis_producer_records_failed_total{stream=\"orders\"} 2\n"
      "kinesis_producer_records_retried_total{stream=\"orders\"} 30\n"
      "kinesis_producer_records_throttled_total{stream=\"orders\"} 29\n"
      "kinesis_producer_requests_total{stream=\"orders\"} 4\n"
      "kinesis_producer_request_failures_total{stream=\"orders\"} 1\n"
      "kinesis_producer_entries_sent_total{stream=\"orders\"} 1030\n"
      "kinesis_producer_user_records_sent_total{stream=\"orders\"} 1030\n"
      "kinesis_producer_records_maybe_duplicated_total{stream=\"orders\"} 6\n"
      "kinesis_producer_records_rerouted_total{stream=\"orders\"} 5\n"
      "kinesis_producer_list_failures_total{stream=\"orders\"} 3\n"
      "kinesis_producer_queue_records{stream=\"orders\"} 7\n"
      "kinesis_producer_queue_bytes{stream=\"orders\"} 728\n"
      "kinesis_producer_requests_in_flight{stream=\"orders\"} 1\n"
      "kinesis_producer_shards{stream=\"orders\"} 2\n"
      "kinesis_producer_batch_fill{stream=\"orders\"} 0.5\n"
      "kinesis_producer_record_latency_recent_seconds{stream=\"orders\","
      "quantile=\"0.5\"} 0.0125\n"
      "kinesis_producer_record_latency_recent_seconds{stream=\"orders\","
      "quantile=\"0.99\"} 0.25\n"
      "kinesis_producer_record_latency_recent_seconds{stream=\"orders\","
      "quantile=\"1\"} 1\n";
  int n;

  producer_sample(&p);
  memset(&st, 0, sizeof(st));
  st.producer = &p;
  st.labels = "stream=\"orders\"";
  st.omit_metadata = 1;
  n = kinesis_stats_format_prometheus(&st, buf, sizeof(buf));
  ASSERT_STR_EQ(want, buf);
  ASSERT_EQ((int) strlen(want), n);

  /* With metadata, each family starts with HELP and TYPE; without labels
   * there are no braces. */
  st.omit_metadata = 0;
  st.labels = NULL;
  n = kinesis_stats_format_prometheus(&st, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  ASSERT_NOT_NULL(strstr(buf,
                         "# HELP kinesis_producer_records_put_total User "
                         "records that landed.\n"
                         "# TYPE kinesis_producer_records_put_total counter\n"
                         "kinesis_producer_records_put_total 1000\n"));
  ASSERT_NOT_NULL(strstr(buf, "# TYPE kinesis_producer_queue_records gauge\n"
                              "kinesis_producer_queue_records 7\n"));
}


/* Like snprintf: the whole length always, as much as fits, and a NUL. */
static void test_prometheus_truncation(void) {
  kinesis_producer_stats_t p;
  kinesis_stats_t st;
  char full[4096];
  char part[100];
  int n;

  producer_sample(&p);
  memset(&st, 0, sizeof(st));
  st.producer = &p;
  n = kinesis_stats_format_prometheus(&st, NULL, 0);
  ASSERT_GT(n, 200);
  ASSERT_EQ(n, kinesis_stats_format_prometheus(&st, full, sizeof(full)));
  ASSERT_EQ(n, (int) strlen(full));
  memset(part, 'x', sizeof(part));
  ASSERT_EQ(n, kinesis_stats_format_prometheus(&st, part, sizeof(part)));
  ASSERT_EQ(sizeof(part) - 1, strlen(part));
  ASSERT_MEM_EQ(full, part, sizeof(part) - 1);
  /* Exactly the length: one byte short of room for the NUL. */
  ASSERT_EQ(n, kinesis_stats_format_prometheus(&st, full, (size_t) n));
  ASSERT_EQ(n - 1, (int) strlen(full));
}


static void test_prometheus_invalid(void) {
  static const char* const bad[] = {
      "a", "a=b", "a=\"b\",", "1a=\"b\"", "a=\"b\"x", "a=\"b", "a=\"\\x\"",
      "a=\"b\nc\"", ",a=\"b\"", "a-b=\"c\"", "a=\"b\",,c=\"d\""};
  static const char* const good[] = {
      "", "a=\"b\"", "_x9=\"\"", "a=\"b\",c_d=\"e\\\"f\\\\g\\nh\""};
  kinesis_producer_stats_t p;
  kinesis_stats_t st;
  char buf[64];
  size_t i;

  producer_sample(&p);
  memset(&st, 0, sizeof(st));
  st.producer = &p;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_stats_format_prometheus(NULL, buf, 64));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_stats_format_prometheus(&st, NULL, 64));
  for (i = 0; i < KN_ARRAY_SIZE(bad); i++) {
    st.labels = bad[i];
    ASSERT_EQ(KINESIS_EINVAL,
              kinesis_stats_format_prometheus(&st, buf, sizeof(buf)));
  }
  for (i = 0; i < KN_ARRAY_SIZE(good); i++) {
    st.labels = good[i];
    ASSERT_GT(kinesis_stats_format_prometheus(&st, buf, sizeof(buf)), 0);
  }
  /* Nothing to render: an empty text. */
  memset(&st, 0, sizeof(st));
  ASSERT_EQ(0, kinesis_stats_format_prometheus(&st, buf, sizeof(buf)));
  ASSERT_STR_EQ("", buf);
}


static void test_prometheus_client(void) {
  kn_op_stats_t op;
  kinesis_operation_stats_t out;
  kinesis_client_stats_t cs;
  kinesis_stats_t st;
  char buf[16384];

  memset(&op, 0, sizeof(op));
  op.pub.operation = "PutRecords";
  op.pub.calls = 3;
  op.pub.requests = 4;
  op.pub.retries = 1;
  op.pub.throttled = 1;
  kn_op_stats_latency(&op, 1000, 800);
  kn_op_stats_latency(&op, 1000, 4000);
  kn_op_stats_latency(&op, 1000, 4000);
  kn_op_stats_latency(&op, 1000, 40000000);
  kn_op_stats_snapshot(&op, 1000, &out);
  memset(&cs, 0, sizeof(cs));
  cs.calls_open = 2;
  cs.noperations = 1;
  cs.operations = &out;
  memset(&st, 0, sizeof(st));
  st.client = &cs;
  st.labels = "app=\"a\"";
  ASSERT_GT(kinesis_stats_format_prometheus(&st, buf, sizeof(buf)), 0);
  ASSERT_NOT_NULL(strstr(buf, "kinesis_client_calls_open{app=\"a\"} 2\n"));
  ASSERT_NOT_NULL(strstr(
      buf, "kinesis_client_requests_total{app=\"a\",operation=\"PutRecords\"} "
           "4\n"));
  ASSERT_NOT_NULL(strstr(
      buf, "kinesis_client_retries_total{app=\"a\",operation=\"PutRecords\"} "
           "1\n"));
  ASSERT_NOT_NULL(strstr(buf, "# TYPE kinesis_client_request_duration_seconds "
                              "histogram\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_seconds_bucket{app="
                         "\"a\",operation=\"PutRecords\",le=\"0.001\"} 1\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_seconds_bucket{app="
                         "\"a\",operation=\"PutRecords\",le=\"0.005\"} 3\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_seconds_bucket{app="
                         "\"a\",operation=\"PutRecords\",le=\"30\"} 3\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_seconds_bucket{app="
                         "\"a\",operation=\"PutRecords\",le=\"+Inf\"} 4\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_seconds_count{app="
                         "\"a\",operation=\"PutRecords\"} 4\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_seconds_sum{app="
                         "\"a\",operation=\"PutRecords\"} 40.0088\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_client_request_duration_recent_seconds{app="
                         "\"a\",operation=\"PutRecords\",quantile=\"1\"} "
                         "40\n"));
}


static void test_prometheus_consumer(void) {
  kinesis_consumer_shard_stats_t shards[3];
  kinesis_consumer_stats_t cs;
  kinesis_stats_t st;
  char buf[8192];

  memset(shards, 0, sizeof(shards));
  shards[0].shard_id = "shardId-000000000000";
  shards[0].state = "fetching";
  shards[0].millis_behind_latest = 1500;
  shards[0].records = 10;
  shards[1].shard_id = "odd\"id\\";
  shards[1].state = "leased-elsewhere";
  shards[1].millis_behind_latest = 99;
  shards[2].shard_id = "shardId-000000000002";
  shards[2].state = "fetching";
  shards[2].millis_behind_latest = -1;
  shards[2].last_error = KINESIS_EPROTO;
  memset(&cs, 0, sizeof(cs));
  cs.fetch_failures = 4;
  cs.list_failures = 2;
  cs.get_records_ok = 9;
  cs.ready = 1;
  cs.leases_held = 2;
  cs.invalid_checkpoints = 1;
  cs.aggregates_dropped = 7;
  cs.loop_turns[0] = 5;
  cs.loop_turns[3] = 2;
  cs.loop_turns[7] = 1;
  cs.loop_turn_total_us = 250000;
  cs.loop_turn_max_us = 150000;
  cs.loop_turn_max_cpu_us = 4000;
  cs.nshards = 3;
  cs.shards = shards;
  memset(&st, 0, sizeof(st));
  st.consumer = &cs;
  st.omit_metadata = 1;
  ASSERT_GT(kinesis_stats_format_prometheus(&st, buf, sizeof(buf)), 0);
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_ready 1\n"));
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_leases_held 2\n"));
  ASSERT_NOT_NULL(
      strstr(buf, "kinesis_consumer_invalid_checkpoints_total 1\n"));
  ASSERT_NOT_NULL(
      strstr(buf, "kinesis_consumer_aggregates_dropped_total 7\n"));
  /* The loop-turn histogram, cumulative as Prometheus has it. */
  ASSERT_NOT_NULL(strstr(
      buf, "kinesis_consumer_loop_turn_seconds_bucket{le=\"0.001\"} 5\n"));
  ASSERT_NOT_NULL(strstr(
      buf, "kinesis_consumer_loop_turn_seconds_bucket{le=\"0.005\"} 5\n"));
  ASSERT_NOT_NULL(strstr(
      buf, "kinesis_consumer_loop_turn_seconds_bucket{le=\"0.01\"} 7\n"));
  ASSERT_NOT_NULL(strstr(
      buf, "kinesis_consumer_loop_turn_seconds_bucket{le=\"+Inf\"} 8\n"));
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_loop_turn_seconds_sum 0.25\n"));
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_loop_turn_seconds_count 8\n"));
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_loop_turn_max_seconds 0.15\n"));
  ASSERT_NOT_NULL(
      strstr(buf, "kinesis_consumer_loop_turn_max_cpu_seconds 0.004\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_consumer_shard_behind_latest_seconds{"
                         "shard_id=\"shardId-000000000000\"} 1.5\n"));
  /* Lag only for shards held here, and only once an answer gave it. */
  ASSERT_NULL(strstr(buf, "behind_latest_seconds{shard_id=\"odd"));
  ASSERT_NULL(strstr(buf, "behind_latest_seconds{shard_id=\"shardId-"
                          "000000000002"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_consumer_shard_records_total{shard_id="
                         "\"shardId-000000000000\"} 10\n"));
  /* Label values are escaped. */
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_consumer_shard_state{shard_id=\"odd\\\"id"
                         "\\\\\",state=\"leased-elsewhere\"} 1\n"));
  /* Failures: the counters, and the shards failing now by error. */
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_fetch_failures_total 4\n"));
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_list_failures_total 2\n"));
  ASSERT_NOT_NULL(strstr(buf, "kinesis_consumer_get_records_ok_total 9\n"));
  ASSERT_NOT_NULL(strstr(buf,
                         "kinesis_consumer_shard_failing{shard_id=\"shardId-"
                         "000000000002\",error=\"KINESIS_EPROTO\"} 1\n"));
  ASSERT_NULL(strstr(buf, "kinesis_consumer_shard_failing{shard_id="
                          "\"shardId-000000000000\""));
}


KN_TEST_MAIN(KN_TEST(test_histogram_quantiles), KN_TEST(test_bucket_bounds),
             KN_TEST(test_recent_window), KN_TEST(test_prometheus_producer),
             KN_TEST(test_prometheus_truncation),
             KN_TEST(test_prometheus_invalid), KN_TEST(test_prometheus_client),
             KN_TEST(test_prometheus_consumer))
