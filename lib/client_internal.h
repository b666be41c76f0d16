#ifndef KN_CLIENT_INTERNAL_H
#define KN_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "client.h"
#include "internal.h"
#include "buf.h"
#include "codec.h"
#include "credentials.h"
#include "http.h"
#include "retry.h"
#include "sigv4.h"
#include "stats.h"

/*
 * The client is four files, which share this header and no more:
 * client.c (the object: options, region and endpoint, credentials, the user
 * slot, what its children ask of it, stats, close), client_call.c (the call
 * engine: building, signing, sending, retrying and answering one call, and
 * joining the pages of a listing), client_data.c (the calls producers and
 * consumers make: ListShards, GetShardIterator, GetRecords, PutRecords) and
 * client_mgmt.c (the stream management calls). What one of them lends the
 * others keeps the name it had as a static function, with kn_client_ in
 * front.
 */

/* The operations the client calls: op_names in client.c. */
#define KN_NOPS 33

struct kinesis_client_s {
  uint32_t max_connections;  /* as configured, or the default */
  uv_loop_t* loop;
  kn_http_t* http;
  /* SubscribeToShard's HTTP/2 streams, on connections of their own: on one
   * pool with the other calls, curl 7.88 would send a subscription over an
   * idle HTTP/1.1 connection of theirs. Allocated with `http`, put on the
   * loop at the first subscription (streams_open 1), closed with it. */
  kn_http_t* streams;
  int streams_open;
  kn_cred_provider_t* creds;
  char* region;
  char* endpoint;    /* scheme://host[:port]/ */
  char* host;        /* host[:port], as sent in Host */
  kn_retry_policy_t retry;
  uint64_t rng;
  kn_sigv4_key_cache_t key_cache;
  int64_t (*clock_ms)(void* arg);
  void* clock_arg;
  kinesis_log_cb log;
  void* log_data;
  kinesis_log_level_t log_level;
  kn_queue_t calls;
  size_t ncalls;     /* calls not yet freed */
  size_t calls_open; /* calls whose callback has not run */
  uint64_t in_flight;
  kn_op_stats_t ops[KN_NOPS];
  kinesis_operation_stats_t ops_out[KN_NOPS];
  /* KN_LIFE_CLOSING: kinesis_client_close() was called. The teardown's
   * steps are creds_open and http_open; calls count themselves (ncalls). */
  kn_life_t life;
  int children;      /* producers, consumers and checkpointers still open */
  int creds_open;
  int http_open;
  kinesis_close_cb close_cb;
  void* close_arg;
  void* data;
};


/* An AWS service the client calls with the JSON protocol: Kinesis, or
 * DynamoDB, whose tables the DynamoDB checkpointer keeps its leases in. */
struct kn_service_s {
  const char* name;           /* SigV4's service name */
  const char* target_prefix;  /* X-Amz-Target before the action */
  const char* content_type;
  const char* host_prefix;    /* of the default endpoint: "kinesis" */
  const char* env_var;        /* the service's AWS_ENDPOINT_URL_... */
};
extern const kn_service_t kn_service_kinesis;

/* Handles a 2xx answer: parses it into the call, and returns 0 when the
 * call is complete, 1 when it sent a follow-up request, or an error. */
typedef int (*kn_call_success_fn)(kn_call_t* call, const kn_http_response_t* res);

struct kn_call_s {
  kn_queue_t node;
  kinesis_client_t* client;
  kn_op_stats_t* op;         /* its operation: the action and its counters */
  uint64_t sent_ns;          /* when the request in flight was sent */
  kn_buf_t body;
  uint32_t attempts;         /* for this request; reset between pages */
  uint32_t total_attempts;
  /* The last attempt got no usable answer (a transport error, a timeout, a
   * 5xx): the service may have carried it out. */
  int last_unsure;
  uint32_t unsure_retries;   /* attempts sent again after such an attempt */
  int refreshed_creds;       /* one re-sign after ExpiredTokenException */
  int list_restarts;         /* ListShards restarts after ExpiredNextToken */
  double shard_filter_at;    /* ListShards: AT_TIMESTAMP filter, or 0 */
  kn_http_req_t* http_req;
  int waiting_creds;
  uv_timer_t timer;          /* retry backoff and polling */
  int timer_inited;
  int finished;
  int canceled;              /* kn_client_call_cancel() */
  kn_call_success_fn on_success;
  kinesis_client_cb cb;
  void* arg;
  kinesis_result_t result;
  kn_parsed_t parsed;
  /* ListShards: every page, kept until the callback returns. */
  kn_parsed_t* pages;
  size_t npages;
  char* stream;
  size_t nentries;           /* PutRecords */
  /* SplitShard without a hash key: the shard, split once ListShards told
   * its range. */
  char* split_shard;
  /* UpdateStreamMode and UpdateMaxRecordSize given a name: the action sent
   * once DescribeStreamSummary told the ARN, and its argument. */
  const char* arn_action;
  uint32_t arn_param;
  kn_call_success_fn arn_on_success; /* the action's answer, once sent */
  char* consumer_name;       /* the consumer calls given a name */
  /* Another service's call (kn_client_service_call()): where it goes, and
   * its answer's body, which kn_client_result_body() gives. NULL: Kinesis. */
  kn_service_target_t* target;
  kn_buf_t answer;
  /* SubscribeToShard: where the answer's bytes go, and whether some went
   * (the call is not retried then). */
  kn_http_data_cb on_data;
  void* data_arg;
  int streamed;
  /* kinesis_client_wait_for_active */
  uint64_t deadline;
  uint32_t poll_ms;
  long http_status;
  char request_id[256];
  char error_code[128];
  char error_message[512];
};


/* What a page of a listing holds: its items and how many. */
typedef size_t (*kn_page_items_fn)(const kn_parsed_t* page,
                                   const void** items);


/* client.c */
void kn_client_maybe_finish_close(kinesis_client_t* c);
int kn_client_parse_endpoint(const char* url, char** endpoint, char** host);
kn_op_stats_t* kn_client_find_op(kinesis_client_t* c, const char* action);
int kn_client_region_of(kinesis_client_t* c, const char* stream);

/* client_call.c */
void kn_client_set_message(kn_call_t* call, const char* msg);
int kn_client_call_schedule(kn_call_t* call, uint64_t delay_ms);
void kn_client_call_attempt(kn_call_t* call);
int kn_client_call_start(kinesis_client_t* c, const char* action,
                         const char* stream, kn_call_success_fn on_success,
                         kinesis_client_cb cb, void* arg, kn_call_t** out);
int kn_client_call_launch(kn_call_t* call);
int kn_client_call_finish_start(kn_call_t* call, int encoded,
                                kn_call_t** out);
int kn_client_simple_stream_call(kinesis_client_t* c, const char* action,
                                 const char* stream, uint32_t shard_count,
                                 int create, kn_call_success_fn fn,
                                 kinesis_client_cb cb, void* arg,
                                 kn_call_t** out);
int kn_client_wait_poll_again(kn_call_t* call);
int kn_client_join_pages(const kn_call_t* call, kn_page_items_fn items_of,
                         size_t size, void** out, size_t* nout);
int kn_client_add_page(kn_call_t* call, kn_parsed_t** page);
int kn_client_page_repeats(const char* last, const char* before);

/* client_data.c */
int kn_client_list_shards_send_next(kn_call_t* call, const char* token);
int kn_client_on_list_shards(kn_call_t* call, const kn_http_response_t* res);

/* client_mgmt.c */
int kn_client_on_split_shards_listed(kn_call_t* call,
                                     const kn_http_response_t* res);

#endif /* KN_CLIENT_INTERNAL_H */
