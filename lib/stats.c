#include "stats.h"

#include "internal.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

/* ---- Histograms ---- */

static const double bucket_ms[KINESIS_LATENCY_BUCKETS] = {
    1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};


double kinesis_latency_bucket_ms(size_t i) {
  return i < KINESIS_LATENCY_BUCKETS ? bucket_ms[i] : 0;
}


/* The middle of bucket `i`. */
static double hist_value(size_t i) {
  const size_t sub = (size_t) 1 << KN_HIST_SUB_BITS;
  unsigned shift;
  if (i < sub)
    return (double) i;
  shift = (unsigned) ((i - sub) / sub);
  return (double) ((sub + (i - sub) % sub) << shift) +
         (double) (((uint64_t) 1 << shift) - 1) / 2.0;
}


double kn_hist_quantile(const kn_hist_t* a, const kn_hist_t* b, double q) {
  uint64_t total = a->count + b->count;
  uint64_t max = a->max_us > b->max_us ? a->max_us : b->max_us;
  uint64_t rank;
  uint64_t seen = 0;
  size_t i;

  if (total == 0)
    return 0;
  if (q >= 1)
    return (double) max;
  /* The smallest value with at least q of all at or below it. */
  rank = (uint64_t) (q * (double) total);
  if ((double) rank < q * (double) total || rank == 0)
    rank++;
  for (i = 0; i < KN_HIST_BUCKETS; i++) {
    seen += (uint64_t) a->n[i] + b->n[i];
    if (seen >= rank) {
      double v = hist_value(i);
      return v < (double) max ? v : (double) max;
    }
  }
  return (double) max;
}


/* After one half, the current histogram becomes the previous; after two,
 * both are stale. */
void kn_window_rotate(kn_window_t* w, uint64_t now_ms) {
  if (now_ms - w->rotated_at >= 2 * KN_STATS_HALF_MS)
    memset(&w->h[w->cur ^ 1], 0, sizeof(w->h[0]));
  w->cur ^= 1;
  memset(&w->h[w->cur], 0, sizeof(w->h[0]));
  w->rotated_at = now_ms;
}


/* As kn_window_add() would see it at `now_ms`: the previous half is gone
 * once the current one is over, and both after two halves. */
void kn_window_read(const kn_window_t* w, uint64_t now_ms, kn_recent_t* out) {
  static const kn_hist_t none;
  uint64_t age = now_ms - w->rotated_at;
  const kn_hist_t* a = age < 2 * KN_STATS_HALF_MS ? &w->h[w->cur] : &none;
  const kn_hist_t* b = age < KN_STATS_HALF_MS ? &w->h[w->cur ^ 1] : &none;

  out->count = a->count + b->count;
  out->p50_ms = kn_hist_quantile(a, b, 0.5) / 1000.0;
  out->p90_ms = kn_hist_quantile(a, b, 0.9) / 1000.0;
  out->p99_ms = kn_hist_quantile(a, b, 0.99) / 1000.0;
  out->max_ms = kn_hist_quantile(a, b, 1) / 1000.0;
}


void kn_op_stats_latency(kn_op_stats_t* s, uint64_t now_ms, uint64_t us) {
  double ms = (double) us / 1000.0;
  size_t i;

  kn_window_add(&s->recent, now_ms, us);
  s->pub.latency_count++;
  s->pub.latency_sum_ms += ms;
  for (i = 0; i < KINESIS_LATENCY_BUCKETS && ms > bucket_ms[i]; i++)
    ;
  s->buckets[i]++;
}


void kn_op_stats_snapshot(const kn_op_stats_t* s, uint64_t now_ms,
                          kinesis_operation_stats_t* out) {
  kn_recent_t recent;
  uint64_t sum = 0;
  size_t i;

  kn_window_read(&s->recent, now_ms, &recent);
  *out = s->pub;
  out->recent_requests = recent.count;
  out->latency_p50_ms = recent.p50_ms;
  out->latency_p90_ms = recent.p90_ms;
  out->latency_p99_ms = recent.p99_ms;
  out->latency_max_ms = recent.max_ms;
  for (i = 0; i < KINESIS_LATENCY_BUCKETS; i++) {
    sum += s->buckets[i];
    out->latency_buckets[i] = sum;
  }
}


/* ---- Prometheus text format ---- */

/* Writes like snprintf into a fixed buffer, counting what did not fit. */
typedef struct {
  char* buf;
  size_t size;
  size_t len;
  const char* labels;   /* the caller's, checked */
  int metadata;
} kn_prom_t;


static void prom_printf(kn_prom_t* w, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void prom_printf(kn_prom_t* w, const char* fmt, ...) {
  va_list ap;
  int n;
  char* at = w->len < w->size ? w->buf + w->len : NULL;
  size_t room = w->len < w->size ? w->size - w->len : 0;

  va_start(ap, fmt);
  n = vsnprintf(at, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    w->len += (size_t) n;
}


/* A label value with \, " and newline escaped. */
static void prom_escaped(kn_prom_t* w, const char* v) {
  for (; *v != '\0'; v++) {
    if (*v == '\\')
      prom_printf(w, "\\\\");
    else if (*v == '"')
      prom_printf(w, "\\\"");
    else if (*v == '\n')
      prom_printf(w, "\\n");
    else
      prom_printf(w, "%c", *v);
  }
}


static void prom_family(kn_prom_t* w, const char* name, const char* type,
                        const char* help) {
  if (w->metadata)
    prom_printf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}


/* `name{caller's labels,key="value",key2="value2"}`: each pair of `kv`
 * (NULL-ended) is a label; values are escaped. */
static void prom_name(kn_prom_t* w, const char* name, const char* const* kv) {
  int first = 1;
  prom_printf(w, "%s", name);
  if (w->labels[0] == '\0' && (kv == NULL || kv[0] == NULL))
    return;
  prom_printf(w, "{%s", w->labels);
  first = w->labels[0] == '\0';
  for (; kv != NULL && kv[0] != NULL; kv += 2) {
    prom_printf(w, "%s%s=\"", first ? "" : ",", kv[0]);
    prom_escaped(w, kv[1]);
    prom_printf(w, "\"");
    first = 0;
  }
  prom_printf(w, "}");
}


static void prom_u64(kn_prom_t* w, const char* name, const char* const* kv,
                     uint64_t v) {
  prom_name(w, name, kv);
  prom_printf(w, " %llu\n", (unsigned long long) v);
}


static void prom_double(kn_prom_t* w, const char* name, const char* const* kv,
                        double v) {
  prom_name(w, name, kv);
  prom_printf(w, " %.9g\n", v);
}


/* A label name, then `="` ... `"`: the grammar of Prometheus's text
 * format, so that what the caller adds cannot break the exposition. */
static int labels_valid(const char* s) {
  while (*s != '\0') {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
      return 0;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
           (*s >= '0' && *s <= '9') || *s == '_')
      s++;
    if (s[0] != '=' || s[1] != '"')
      return 0;
    for (s += 2; *s != '"'; s++) {
      if (*s == '\0' || *s == '\n')
        return 0;
      if (*s == '\\') {
        s++;
        if (*s != '\\' && *s != '"' && *s != 'n')
          return 0;
      }
    }
    s++;
    if (*s == ',' && s[1] != '\0')
      s++;
    else if (*s != '\0')
      return 0;
  }
  return 1;
}


/* A metric read from a field of a stats struct: its name, type, help, and
 * where the field is and what type it has. The tables below list the
 * metrics in the order they are written. */
typedef enum { KN_U64, KN_U32, KN_INT, KN_DOUBLE } kn_field_type_t;

typedef struct {
  const char* name;
  const char* type;
  const char* help;
  size_t offset;
  kn_field_type_t field;
} kn_metric_t;

#define OP(f) offsetof(kinesis_operation_stats_t, f), KN_U64
#define PROD(f) offsetof(kinesis_producer_stats_t, f), KN_U64
#define CONS(f) offsetof(kinesis_consumer_stats_t, f), KN_U64
#define CONS32(f) offsetof(kinesis_consumer_stats_t, f), KN_U32

static const kn_metric_t op_metrics[] = {
    {"kinesis_client_calls_total", "counter",
     "API calls finished, by operation.", OP(calls)},
    {"kinesis_client_call_failures_total", "counter",
     "API calls finished with an error.", OP(call_failures)},
    {"kinesis_client_requests_total", "counter",
     "HTTP requests that ended, retries included.", OP(requests)},
    {"kinesis_client_retries_total", "counter",
     "HTTP requests sent again after a failure.", OP(retries)},
    {"kinesis_client_throttled_total", "counter",
     "HTTP requests answered with throttling.", OP(throttled)},
    {"kinesis_client_server_errors_total", "counter",
     "HTTP requests answered with a 5xx status.", OP(server_errors)},
    {"kinesis_client_transport_errors_total", "counter",
     "HTTP requests that got no answer.", OP(transport_errors)},
    {"kinesis_client_requests_in_flight", "gauge",
     "HTTP requests sent and not yet ended.", OP(in_flight)},
};

static const kn_metric_t producer_metrics[] = {
    {"kinesis_producer_records_put_total", "counter",
     "User records that landed.", PROD(records_put)},
    {"kinesis_producer_bytes_put_total", "counter",
     "Data and partition key bytes of the records that landed.",
     PROD(bytes_put)},
    {"kinesis_producer_records_failed_total", "counter",
     "User records whose callback got an error.", PROD(records_failed)},
    {"kinesis_producer_records_retried_total", "counter",
     "Times a user record was queued again.", PROD(records_retried)},
    {"kinesis_producer_records_throttled_total", "counter",
     "User records throttled inside PutRecords answers.",
     PROD(records_throttled)},
    {"kinesis_producer_requests_total", "counter",
     "PutRecords requests answered or failed.", PROD(requests)},
    {"kinesis_producer_request_failures_total", "counter",
     "PutRecords requests that failed whole.", PROD(request_failures)},
    {"kinesis_producer_entries_sent_total", "counter",
     "Kinesis records sent; an aggregate counts once.", PROD(entries_sent)},
    {"kinesis_producer_user_records_sent_total", "counter",
     "User records sent, retries included.", PROD(user_records_sent)},
    {"kinesis_producer_records_maybe_duplicated_total", "counter",
     "Sends of user records that may have put a second copy in the "
     "stream: sent again after a request got no usable answer.",
     PROD(records_maybe_duplicated)},
    {"kinesis_producer_records_rerouted_total", "counter",
     "User records put again because their aggregate landed on a shard "
     "whose hash key range does not hold all of them.",
     PROD(records_rerouted)},
    {"kinesis_producer_list_failures_total", "counter",
     "ListShards calls that failed, throttling aside.", PROD(list_failures)},
    {"kinesis_producer_queue_records", "gauge", "User records buffered now.",
     PROD(queue_depth)},
    {"kinesis_producer_queue_bytes", "gauge",
     "Bytes of the user records buffered now.", PROD(queue_bytes)},
    {"kinesis_producer_requests_in_flight", "gauge",
     "PutRecords requests in flight now.", PROD(in_flight)},
    {"kinesis_producer_shards", "gauge",
     "Open shards in the producer's shard map.", PROD(shards)},
    {"kinesis_producer_batch_fill", "gauge",
     "Average user records per request over batch_size.",
     offsetof(kinesis_producer_stats_t, batch_fill), KN_DOUBLE},
};

static const kn_metric_t consumer_metrics[] = {
    {"kinesis_consumer_ready", "gauge",
     "1 when the consumer is ready: every shard it leases is being read.",
     offsetof(kinesis_consumer_stats_t, ready), KN_INT},
    {"kinesis_consumer_records_delivered_total", "counter",
     "Records handed to on_record.", CONS(records_delivered)},
    {"kinesis_consumer_records_acked_total", "counter",
     "Records acknowledged.", CONS(records_acked)},
    {"kinesis_consumer_records_dropped_total", "counter",
     "Records fetched, then dropped at a stop or close.",
     CONS(records_dropped)},
    {"kinesis_consumer_get_records_total", "counter",
     "GetRecords calls answered or failed.", CONS(get_records_calls)},
    {"kinesis_consumer_throttled_total", "counter",
     "GetRecords and GetShardIterator calls throttled.", CONS(throttled)},
    {"kinesis_consumer_expired_iterators_total", "counter",
     "Shard iterators that expired.", CONS(expired_iterators)},
    {"kinesis_consumer_checkpoints_total", "counter", "Checkpoints written.",
     CONS(checkpoints)},
    {"kinesis_consumer_handovers_total", "counter",
     "Leases given up to rebalance.", CONS(handovers)},
    {"kinesis_consumer_leases_lost_total", "counter",
     "Leases taken away or not confirmed in time.", CONS(leases_lost)},
    {"kinesis_consumer_invalid_checkpoints_total", "counter",
     "Checkpoints the service refused to start a shard from.",
     CONS(invalid_checkpoints)},
    {"kinesis_consumer_aggregates_dropped_total", "counter",
     "KPL aggregates dropped whole: a user record's hash key was outside "
     "the shard's range.",
     CONS(aggregates_dropped)},
    {"kinesis_consumer_fetch_failures_total", "counter",
     "GetShardIterator and GetRecords calls that failed, throttling and "
     "expired iterators aside.",
     CONS(fetch_failures)},
    {"kinesis_consumer_list_failures_total", "counter",
     "ListShards calls that failed, throttling aside.", CONS(list_failures)},
    {"kinesis_consumer_get_records_ok_total", "counter",
     "GetRecords calls that succeeded, with records or without.",
     CONS(get_records_ok)},
    {"kinesis_consumer_subscriptions_total", "counter",
     "SubscribeToShard subscriptions started (enhanced fan-out).",
     CONS(subscriptions)},
    {"kinesis_consumer_subscription_events_total", "counter",
     "SubscribeToShard events received, with records or without.",
     CONS(subscription_events)},
    {"kinesis_consumer_queue_records", "gauge",
     "Records fetched and not yet delivered.", CONS(queue_depth)},
    {"kinesis_consumer_unacked_records", "gauge",
     "Records delivered and not yet acknowledged.", CONS(unacked)},
    {"kinesis_consumer_live_members", "gauge",
     "Live consumers of the application; 0 when unknown.",
     CONS32(live_members)},
    {"kinesis_consumer_shard_target", "gauge",
     "The most shards this consumer aims to hold; 0: no limit.",
     CONS32(shard_target)},
    {"kinesis_consumer_leases_held", "gauge", "Shards leased now.",
     CONS32(leases_held)},
};


/* One sample of metric `m`, read from the struct at `base`. */
static void prom_sample(kn_prom_t* w, const kn_metric_t* m, const void* base,
                        const char* const* kv) {
  const char* field = (const char*) base + m->offset;
  switch (m->field) {
    case KN_U64: prom_u64(w, m->name, kv, *(const uint64_t*) field); break;
    case KN_U32: prom_u64(w, m->name, kv, *(const uint32_t*) field); break;
    case KN_INT:
      prom_u64(w, m->name, kv, (uint64_t) *(const int*) field);
      break;
    case KN_DOUBLE: prom_double(w, m->name, kv, *(const double*) field); break;
  }
}


/* Metrics with one sample each and no labels of their own. */
static void prom_table(kn_prom_t* w, const kn_metric_t* table, size_t n,
                       const void* base) {
  size_t i;
  for (i = 0; i < n; i++) {
    prom_family(w, table[i].name, table[i].type, table[i].help);
    prom_sample(w, &table[i], base, NULL);
  }
}


static void prom_client(kn_prom_t* w, const kinesis_client_stats_t* st) {
  static const double quantiles[] = {0.5, 0.9, 0.99, 1};
  static const char* const qnames[] = {"0.5", "0.9", "0.99", "1"};
  size_t m, i, j;

  prom_family(w, "kinesis_client_calls_open", "gauge",
              "API calls started and not finished.");
  prom_u64(w, "kinesis_client_calls_open", NULL, st->calls_open);
  for (m = 0; m < KN_ARRAY_SIZE(op_metrics); m++) {
    prom_family(w, op_metrics[m].name, op_metrics[m].type, op_metrics[m].help);
    for (i = 0; i < st->noperations; i++) {
      const char* kv[] = {"operation", st->operations[i].operation, NULL};
      prom_sample(w, &op_metrics[m], &st->operations[i], kv);
    }
  }

  prom_family(w, "kinesis_client_request_duration_seconds", "histogram",
              "HTTP request time, send to end, since the client started.");
  for (i = 0; i < st->noperations; i++) {
    const kinesis_operation_stats_t* op = &st->operations[i];
    const char* kv[] = {"operation", op->operation, NULL};
    for (j = 0; j <= KINESIS_LATENCY_BUCKETS; j++) {
      char le[32];
      const char* bkv[] = {"operation", op->operation, "le", le, NULL};
      if (j < KINESIS_LATENCY_BUCKETS)
        snprintf(le, sizeof(le), "%g", bucket_ms[j] / 1000.0);
      else
        snprintf(le, sizeof(le), "+Inf");
      prom_u64(w, "kinesis_client_request_duration_seconds_bucket", bkv,
               j < KINESIS_LATENCY_BUCKETS ? op->latency_buckets[j]
                                           : op->latency_count);
    }
    prom_double(w, "kinesis_client_request_duration_seconds_sum", kv,
                op->latency_sum_ms / 1000.0);
    prom_u64(w, "kinesis_client_request_duration_seconds_count", kv,
             op->latency_count);
  }

  prom_family(w, "kinesis_client_request_duration_recent_seconds", "gauge",
              "HTTP request time over the last 30 to 60 seconds, by "
              "quantile (1 is the longest).");
  for (i = 0; i < st->noperations; i++) {
    const kinesis_operation_stats_t* op = &st->operations[i];
    const double v[] = {op->latency_p50_ms, op->latency_p90_ms,
                        op->latency_p99_ms, op->latency_max_ms};
    for (j = 0; j < KN_ARRAY_SIZE(quantiles); j++) {
      const char* kv[] = {"operation", op->operation, "quantile", qnames[j],
                          NULL};
      prom_double(w, "kinesis_client_request_duration_recent_seconds", kv,
                  v[j] / 1000.0);
    }
  }
}


static void prom_producer(kn_prom_t* w, const kinesis_producer_stats_t* st) {
  static const char* const qnames[] = {"0.5", "0.99", "1"};
  const double v[] = {st->latency_p50_ms, st->latency_p99_ms,
                      st->latency_max_ms};
  size_t j;

  prom_table(w, producer_metrics, KN_ARRAY_SIZE(producer_metrics), st);
  prom_family(w, "kinesis_producer_record_latency_recent_seconds", "gauge",
              "Put to callback of the user records that landed in the last "
              "30 to 60 seconds, by quantile (1 is the longest).");
  for (j = 0; j < KN_ARRAY_SIZE(qnames); j++) {
    const char* kv[] = {"quantile", qnames[j], NULL};
    prom_double(w, "kinesis_producer_record_latency_recent_seconds", kv,
                v[j] / 1000.0);
  }
}


/* Whether the consumer holds the shard's lease in this state. */
static int state_leased(const char* state) {
  return strcmp(state, "fetching") == 0 || strcmp(state, "ending") == 0 ||
         strcmp(state, "handing-over") == 0 || strcmp(state, "failed") == 0;
}


static void prom_consumer(kn_prom_t* w, const kinesis_consumer_stats_t* st) {
  static const char* const turn_le[KINESIS_LOOP_TURN_BUCKETS] = {
      "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "+Inf"};
  uint64_t turns = 0;
  size_t i;

  prom_table(w, consumer_metrics, KN_ARRAY_SIZE(consumer_metrics), st);

  prom_family(w, "kinesis_consumer_loop_turn_seconds", "histogram",
              "Turns of the loop while the consumer ran, less the kernel's "
              "wait: the work of every callback on the loop.");
  for (i = 0; i < KINESIS_LOOP_TURN_BUCKETS; i++) {
    const char* kv[] = {"le", turn_le[i], NULL};
    turns += st->loop_turns[i];
    prom_u64(w, "kinesis_consumer_loop_turn_seconds_bucket", kv, turns);
  }
  prom_double(w, "kinesis_consumer_loop_turn_seconds_sum", NULL,
              (double) st->loop_turn_total_us / 1e6);
  prom_u64(w, "kinesis_consumer_loop_turn_seconds_count", NULL, turns);
  prom_family(w, "kinesis_consumer_loop_turn_max_seconds", "gauge",
              "The longest turn of the loop while the consumer ran.");
  prom_double(w, "kinesis_consumer_loop_turn_max_seconds", NULL,
              (double) st->loop_turn_max_us / 1e6);
  prom_family(w, "kinesis_consumer_loop_turn_max_cpu_seconds", "gauge",
              "The most CPU time of the loop's thread in one turn.");
  prom_double(w, "kinesis_consumer_loop_turn_max_cpu_seconds", NULL,
              (double) st->loop_turn_max_cpu_us / 1e6);

  prom_family(w, "kinesis_consumer_shard_behind_latest_seconds", "gauge",
              "How far the last answer was behind the tip of the shard, for "
              "shards leased now.");
  for (i = 0; i < st->nshards; i++) {
    const kinesis_consumer_shard_stats_t* s = &st->shards[i];
    const char* kv[] = {"shard_id", s->shard_id, NULL};
    if (state_leased(s->state) && s->millis_behind_latest >= 0)
      prom_double(w, "kinesis_consumer_shard_behind_latest_seconds", kv,
                  (double) s->millis_behind_latest / 1000.0);
  }
  prom_family(w, "kinesis_consumer_shard_records_total", "counter",
              "Records delivered, by shard.");
  for (i = 0; i < st->nshards; i++) {
    const char* kv[] = {"shard_id", st->shards[i].shard_id, NULL};
    prom_u64(w, "kinesis_consumer_shard_records_total", kv,
             st->shards[i].records);
  }
  prom_family(w, "kinesis_consumer_shard_state", "gauge",
              "1 for each shard's state as this consumer sees it.");
  for (i = 0; i < st->nshards; i++) {
    const char* kv[] = {"shard_id", st->shards[i].shard_id, "state",
                        st->shards[i].state, NULL};
    prom_u64(w, "kinesis_consumer_shard_state", kv, 1);
  }
  prom_family(w, "kinesis_consumer_shard_failing", "gauge",
              "1 for each shard whose last call failed (throttling aside), "
              "with the error's name; none once a GetRecords succeeds.");
  for (i = 0; i < st->nshards; i++) {
    const char* kv[] = {"shard_id", st->shards[i].shard_id, "error",
                        kinesis_err_name(st->shards[i].last_error), NULL};
    if (st->shards[i].last_error != 0)
      prom_u64(w, "kinesis_consumer_shard_failing", kv, 1);
  }
}


int kinesis_stats_format_prometheus(const kinesis_stats_t* stats, char* buf,
                                    size_t size) {
  kn_prom_t w;

  if (stats == NULL || (buf == NULL && size > 0))
    return KINESIS_EINVAL;
  w.buf = buf;
  w.size = size;
  w.len = 0;
  w.labels = stats->labels != NULL ? stats->labels : "";
  w.metadata = !stats->omit_metadata;
  if (!labels_valid(w.labels))
    return KINESIS_EINVAL;
  if (size > 0)
    buf[0] = '\0';
  if (stats->client != NULL)
    prom_client(&w, stats->client);
  if (stats->producer != NULL)
    prom_producer(&w, stats->producer);
  if (stats->consumer != NULL)
    prom_consumer(&w, stats->consumer);
  if (w.len > INT_MAX)
    return KINESIS_ENOMEM;
  return (int) w.len;
}
