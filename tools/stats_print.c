/*
 * The kinesis command's statistics (--stats, --stats-every and
 * --stats-format of put and tail), printed on stderr.
 */

#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- Statistics (--stats) ---- */

static void stats_print_prometheus(const kinesis_stats_t* st) {
  char stack[16384];
  char* buf = stack;
  int n;

  n = kinesis_stats_format_prometheus(st, buf, sizeof(stack));
  if (n >= (int) sizeof(stack)) {
    buf = malloc((size_t) n + 1);
    n = buf != NULL ? kinesis_stats_format_prometheus(st, buf, (size_t) n + 1)
                    : KINESIS_ENOMEM;
  }
  if (n < 0) {
    err_line("stats: %s", kinesis_strerror(n));
  } else {
    progress_clear();
    fputs(buf, stderr);
  }
  if (buf != stack)
    free(buf);
}


static void stats_print_client(const kinesis_client_stats_t* cs) {
  size_t i;

  err_line("stats: client: %" PRIu64 " calls open, %" PRIu64
           " requests in flight", cs->calls_open, cs->in_flight);
  for (i = 0; i < cs->noperations; i++) {
    const kinesis_operation_stats_t* op = &cs->operations[i];
    err_line("stats: %s: %" PRIu64 " calls (%" PRIu64 " failed), %" PRIu64
             " requests, %" PRIu64 " retries, %" PRIu64 " throttled, %" PRIu64
             " 5xx, %" PRIu64 " without answer; last minute: %" PRIu64
             " requests, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
             op->operation, op->calls, op->call_failures, op->requests,
             op->retries, op->throttled, op->server_errors,
             op->transport_errors, op->recent_requests, op->latency_p50_ms,
             op->latency_p90_ms, op->latency_p99_ms, op->latency_max_ms);
  }
}


static void stats_print_producer(const kinesis_producer_stats_t* ps) {
  err_line("stats: producer: %" PRIu64 " records put (%" PRIu64
           " bytes), %" PRIu64 " failed, %" PRIu64 " retried, %" PRIu64
           " throttled, %" PRIu64 " possible duplicates, %" PRIu64
           " rerouted; %" PRIu64 " requests (%" PRIu64 " failed), %" PRIu64
           " in flight; %" PRIu64 " records (%" PRIu64
           " bytes) queued; %" PRIu64 " shards (%" PRIu64
           " failed listings); batches %.0f%% full; last "
           "minute: %" PRIu64 " landed, put to callback p50 %.0f ms, p99 "
           "%.0f ms, max %.0f ms",
           ps->records_put, ps->bytes_put, ps->records_failed,
           ps->records_retried, ps->records_throttled,
           ps->records_maybe_duplicated, ps->records_rerouted, ps->requests,
           ps->request_failures, ps->in_flight, ps->queue_depth,
           ps->queue_bytes, ps->shards, ps->list_failures,
           ps->batch_fill * 100,
           ps->recent_records, ps->latency_p50_ms, ps->latency_p99_ms,
           ps->latency_max_ms);
}


static void stats_print_consumer(const kinesis_consumer_stats_t* ks) {
  size_t i;

  err_line("stats: consumer: %s; %u shards leased; %" PRIu64
           " delivered, %" PRIu64 " acked, %" PRIu64 " dropped, %" PRIu64
           " queued, %" PRIu64 " unacked; %" PRIu64 " GetRecords, %" PRIu64
           " throttled, %" PRIu64 " expired iterators, %" PRIu64
           " failed calls, %" PRIu64 " failed listings; %" PRIu64
           " checkpoints; %" PRIu64 " leases lost, %" PRIu64 " handed over",
           ks->ready ? "ready" : "not ready", (unsigned) ks->leases_held,
           ks->records_delivered, ks->records_acked, ks->records_dropped,
           ks->queue_depth, ks->unacked, ks->get_records_calls, ks->throttled,
           ks->expired_iterators, ks->fetch_failures, ks->list_failures,
           ks->checkpoints, ks->leases_lost, ks->handovers);
  if (ks->subscriptions > 0)
    err_line("stats: consumer: enhanced fan-out: %" PRIu64
             " subscriptions, %" PRIu64 " events",
             ks->subscriptions, ks->subscription_events);
  if (ks->last_error != 0)
    err_line("stats: consumer: last failure: %s",
             ks->last_error_message != NULL
                 ? ks->last_error_message
                 : kinesis_strerror(ks->last_error));
  for (i = 0; i < ks->nshards; i++) {
    const kinesis_consumer_shard_stats_t* sh = &ks->shards[i];
    char behind[48] = "lag unknown";
    if (sh->millis_behind_latest >= 0)
      snprintf(behind, sizeof(behind), "%" PRId64 " ms behind",
               sh->millis_behind_latest);
    err_line("stats: shard %s: %s, %" PRIu64 " records, %s, checkpoint %s%s%s",
             sh->shard_id, sh->state, sh->records, behind,
             sh->checkpoint != NULL ? sh->checkpoint : "none",
             sh->last_error != 0 ? ", failing: " : "",
             sh->last_error != 0 ? kinesis_strerror(sh->last_error) : "");
  }
}


/* Prints the client's statistics, and the producer's or the consumer's
 * while there is one. */
void stats_print(cli_t* cli) {
  kinesis_client_stats_t cs;
  kinesis_producer_stats_t ps;
  kinesis_consumer_stats_t ks;
  kinesis_stats_t st;

  memset(&st, 0, sizeof(st));
  if (cli->client != NULL && kinesis_client_stats(cli->client, &cs) == 0)
    st.client = &cs;
  if (cli->put.producer != NULL &&
      kinesis_producer_stats(cli->put.producer, &ps) == 0)
    st.producer = &ps;
  if (cli->tail.consumer != NULL &&
      kinesis_consumer_stats(cli->tail.consumer, &ks) == 0)
    st.consumer = &ks;
  if (cli->stats_prometheus) {
    stats_print_prometheus(&st);
    return;
  }
  if (st.client != NULL)
    stats_print_client(st.client);
  if (st.producer != NULL)
    stats_print_producer(st.producer);
  if (st.consumer != NULL)
    stats_print_consumer(st.consumer);
}


static void on_stats_timer(uv_timer_t* t) {
  stats_print(t->data);
}


/* --stats-every: prints the statistics every so often until the end. */
void stats_start(cli_t* cli) {
  uint64_t ms = (uint64_t) cli->stats_every_s * 1000;
  if (ms == 0 || cli->stats_timer_open)
    return;
  uv_timer_init(&cli->loop, &cli->stats_timer);
  cli->stats_timer.data = cli;
  cli->stats_timer_open = 1;
  uv_timer_start(&cli->stats_timer, on_stats_timer, ms, ms);
}
