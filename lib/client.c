#include "client.h"

#include "internal.h"

#include <stdarg.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "credentials.h"
#include "error.h"
#include "http.h"
#include "retry.h"
#include "shardmap.h"
#include "sigv4.h"
#include "stats.h"
#include "url.h"
#include "validate.h"

/*
 * kinesis_client_t: one region, one endpoint, one credential chain and one
 * HTTP engine on the application's loop. Every API call is a kn_call_t that
 * gets credentials, signs, sends, retries retriable errors with backoff and
 * finally runs the user's callback exactly once.
 */

#define KN_TARGET_PREFIX "Kinesis_20131202."
#define KN_CONTENT_TYPE "application/x-amz-json-1.1"

/* The operations the client calls, in the order kinesis_client_stats()
 * lists them. */
static const char* const op_names[] = {
    "PutRecords", "GetRecords", "GetShardIterator", "ListShards",
    "DescribeStreamSummary", "CreateStream", "DeleteStream",
    "ListStreams", "UpdateShardCount", "SplitShard", "MergeShards",
    "UpdateStreamMode", "IncreaseStreamRetentionPeriod",
    "DecreaseStreamRetentionPeriod", "StartStreamEncryption",
    "StopStreamEncryption", "AddTagsToStream", "RemoveTagsFromStream",
    "ListTagsForStream", "UpdateMaxRecordSize"};
#define KN_NOPS KN_ARRAY_SIZE(op_names)

struct kinesis_client_s {
  uint32_t max_connections;  /* as configured, or the default */
  uv_loop_t* loop;
  kn_http_t* http;
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
  int closing;
  int children;      /* producers, consumers and checkpointers still open */
  int creds_open;
  int http_open;
  kinesis_close_cb close_cb;
  void* close_arg;
  void* data;
};

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
  /* kinesis_client_wait_for_active */
  uint64_t deadline;
  uint32_t poll_ms;
  long http_status;
  char request_id[256];
  char error_code[128];
  char error_message[512];
};


static void client_maybe_finish_close(kinesis_client_t* c);
static void call_attempt(kn_call_t* call);
static int wait_poll_again(kn_call_t* call);
static int list_shards_send_next(kn_call_t* call, const char* token);
static int on_list_shards(kn_call_t* call, const kn_http_response_t* res);
static int on_split_shards_listed(kn_call_t* call,
                                  const kn_http_response_t* res);


static int64_t client_now_ms(kinesis_client_t* c) {
  return c->clock_ms != NULL ? c->clock_ms(c->clock_arg) : kn_now_ms();
}


static void client_defaults(kinesis_client_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
  o->connect_timeout_ms = 10000;
  o->request_timeout_ms = 30000;
  o->max_connections = 64;
  o->max_attempts = 5;
  o->retry_base_ms = 100;
  o->retry_cap_ms = 5000;
  o->log_level = KINESIS_LOG_WARN;
}


void kinesis_client_options_init_sized(kinesis_client_options_t* o,
                                       size_t size) {
  kinesis_client_options_t defaults;
  client_defaults(&defaults);
  kn_options_init(o, size, &defaults, sizeof(defaults));
}


/* 0 is no value for any of the numbers: each field's comment says so. */
static int options_valid(const kinesis_client_options_t* o) {
  return o->connect_timeout_ms >= 1 && o->request_timeout_ms >= 1 &&
         o->max_connections >= 1 && o->max_attempts >= 1 &&
         o->retry_base_ms >= 1 && o->retry_cap_ms >= 1 &&
         (unsigned) o->log_level <= (unsigned) KINESIS_LOG_DEBUG;
}


/* Splits an endpoint URL into the URL we send to and the Host header. Only
 * http and https with an empty or "/" path are accepted: no user
 * information, query or fragment. */
static int parse_endpoint(const char* url, char** endpoint, char** host) {
  kn_url_t u;
  size_t hp_end;

  if (kn_url_parse(url, strlen(url), &u) != 0 ||
      !(kn_url_scheme_is(url, &u, "https") ||
        kn_url_scheme_is(url, &u, "http")) ||
      u.user.set || (u.path.set && u.path.len != 1) || u.query.set ||
      u.fragment.set)
    return KINESIS_EINVAL;
  hp_end = u.hostport.off + u.hostport.len;
  *host = kn_strndup(url + u.hostport.off, u.hostport.len);
  *endpoint = kn_malloc(hp_end + 2);
  if (*host == NULL || *endpoint == NULL) {
    /* The caller frees what it holds on failure too: leave nothing behind. */
    kn_free(*host);
    kn_free(*endpoint);
    *host = NULL;
    *endpoint = NULL;
    return KINESIS_ENOMEM;
  }
  memcpy(*endpoint, url, hp_end);
  strcpy(*endpoint + hp_end, "/");
  return 0;
}


static int resolve_region_endpoint(kinesis_client_t* c,
                                   const kinesis_client_options_t* o) {
  const char* region = o->region;
  const char* url = o->endpoint_url;
  char* profile_region = NULL;
  char buf[256];
  int r = 0;

  if (region == NULL || region[0] == '\0')
    region = kn_profile_env("AWS_REGION");
  if (region == NULL)
    region = kn_profile_env("AWS_DEFAULT_REGION");
  if (region == NULL) {
    kn_profile_t prof;
    char* cred_path = kn_profile_credentials_path();
    char* conf_path = kn_profile_config_path();
    memset(&prof, 0, sizeof(prof));
    kn_profile_load(cred_path, conf_path, kn_profile_name(o->profile), &prof);
    profile_region = prof.region;
    prof.region = NULL;
    kn_profile_clear(&prof);
    kn_free(cred_path);
    kn_free(conf_path);
    region = profile_region;
  }
  if (region != NULL && (c->region = kn_strdup(region)) == NULL)
    r = KINESIS_ENOMEM;
  kn_free(profile_region);
  if (r != 0)
    return r;

  if (url == NULL || url[0] == '\0')
    url = kn_profile_env("AWS_ENDPOINT_URL_KINESIS");
  if (url == NULL)
    url = kn_profile_env("AWS_ENDPOINT_URL");
  if (url == NULL) {
    if (c->region == NULL)
      return 0;  /* API calls will say KINESIS_ENOREGION. */
    snprintf(buf, sizeof(buf), "https://kinesis.%s.amazonaws.com%s/",
             c->region, strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "");
    url = buf;
  }
  return parse_endpoint(url, &c->endpoint, &c->host);
}


static void client_free(kinesis_client_t* c) {
  kn_free(c->region);
  kn_free(c->endpoint);
  kn_free(c->host);
  kn_free(c);
}


static void on_cred_warning(const char* message, void* arg) {
  kn_client_log(arg, KINESIS_LOG_WARN, "%s", message);
}


int kinesis_client_new(uv_loop_t* loop, const kinesis_client_options_t* options,
                       kinesis_client_t** out) {
  kinesis_client_options_t copy;
  const kinesis_client_options_t* opts = &copy;
  kinesis_client_t* c;
  kn_http_options_t hopts;
  kn_cred_options_t copts;
  size_t i;
  int r;

  if (loop == NULL || out == NULL)
    return KINESIS_EINVAL;
  client_defaults(&copy);
  if (options != NULL &&
      (r = kn_options_copy(&copy, sizeof(copy), options)) != 0)
    return r;
  if (!options_valid(opts))
    return KINESIS_EINVAL;
  c = kn_calloc(1, sizeof(*c));
  if (c == NULL)
    return KINESIS_ENOMEM;
  c->loop = loop;
  kn_queue_init(&c->calls);
  for (i = 0; i < KN_NOPS; i++)
    c->ops[i].pub.operation = op_names[i];
  c->retry.max_attempts = opts->max_attempts;
  c->retry.base_ms = opts->retry_base_ms;
  c->retry.cap_ms = opts->retry_cap_ms;
  c->rng = uv_hrtime() | 1;
  c->max_connections = opts->max_connections;
  c->log = opts->log;
  c->log_data = opts->log_data;
  c->log_level = opts->log_level;
  r = resolve_region_endpoint(c, opts);
  if (r != 0) {
    client_free(c);
    return r;
  }

  memset(&hopts, 0, sizeof(hopts));
  hopts.ca_file = opts->ca_file;
  hopts.insecure = opts->insecure;
  hopts.max_connections = opts->max_connections;
  hopts.connect_timeout_ms = opts->connect_timeout_ms;
  hopts.timeout_ms = opts->request_timeout_ms;
  /* Everything that can fail comes before the first handle is put on the
   * loop: a failed call leaves the application's loop as it found it, so
   * uv_loop_close() succeeds without running it (issue 17). The credential
   * provider makes its handles after its last allocation. */
  r = kn_http_alloc(loop, &hopts, &c->http);
  if (r != 0) {
    client_free(c);
    return r;
  }
  memset(&copts, 0, sizeof(copts));
  copts.access_key_id = opts->access_key_id;
  copts.secret_access_key = opts->secret_access_key;
  copts.session_token = opts->session_token;
  copts.profile = opts->profile;
  copts.region = c->region;
  copts.warn = on_cred_warning;
  copts.warn_arg = c;
  r = kn_cred_provider_new(loop, c->http, &copts, &c->creds);
  if (r != 0) {
    kn_http_free_unstarted(c->http);
    client_free(c);
    return r;
  }
  kn_http_start(c->http);
  c->http_open = 1;
  c->creds_open = 1;
  *out = c;
  return 0;
}


void kn_client_set_clock(kinesis_client_t* c, int64_t (*clock_ms)(void* arg),
                         void* arg) {
  c->clock_ms = clock_ms;
  c->clock_arg = arg;
}


void kinesis_client_set_data(kinesis_client_t* c, void* data) {
  c->data = data;
}


void* kinesis_client_get_data(const kinesis_client_t* c) {
  return c->data;
}


const char* kinesis_client_region(const kinesis_client_t* c) {
  return c->region;
}


const char* kinesis_client_endpoint(const kinesis_client_t* c) {
  return c->endpoint;
}


int kinesis_client_set_credentials(kinesis_client_t* c, const char* akid,
                                   const char* secret, const char* token) {
  kn_cred_options_t copts;
  kn_cred_provider_t* p;
  int r;

  if (c == NULL || akid == NULL || secret == NULL || akid[0] == '\0' ||
      secret[0] == '\0')
    return KINESIS_EINVAL;
  if (c->closing)
    return KINESIS_ECLOSING;
  memset(&copts, 0, sizeof(copts));
  copts.access_key_id = akid;
  copts.secret_access_key = secret;
  copts.session_token = token;
  r = kn_cred_provider_new(c->loop, c->http, &copts, &p);
  if (r != 0)
    return r;
  /* The old provider finishes its waiting calls with KINESIS_ECANCELED;
   * calls retry credential errors, so they pick up the new provider. */
  kn_cred_provider_close(c->creds, NULL, NULL);
  c->creds = p;
  return 0;
}


typedef struct {
  kinesis_client_t* client;
  kinesis_identity_cb cb;
  void* arg;
} kn_identity_req_t;


static void on_identity_creds(int status, const kn_credentials_t* creds,
                              const char* message, void* arg) {
  kn_identity_req_t* q = arg;
  kinesis_identity_t id;
  size_t n;

  if (status != 0 || creds == NULL || creds->access_key_id == NULL) {
    q->cb(q->client, status != 0 ? status : KINESIS_ENOCREDS, NULL,
          message != NULL ? message : kinesis_strerror(status), q->arg);
    kn_free(q);
    return;
  }
  memset(&id, 0, sizeof(id));
  id.source = creds->source;
  id.profile = creds->profile;
  id.role_arn = creds->role_arn;
  id.expiration_ms = creds->expiration_ms;
  n = strlen(creds->access_key_id);
  memcpy(id.access_key_id_last4, creds->access_key_id + (n > 4 ? n - 4 : 0),
         n > 4 ? 4 : n);
  q->cb(q->client, 0, &id, NULL, q->arg);
  kn_free(q);
}


int kinesis_client_identity(kinesis_client_t* c, kinesis_identity_cb cb,
                            void* arg) {
  kn_identity_req_t* q;
  int r;

  if (c == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (c->closing)
    return KINESIS_ECLOSING;
  q = kn_calloc(1, sizeof(*q));
  if (q == NULL)
    return KINESIS_ENOMEM;
  q->client = c;
  q->cb = cb;
  q->arg = arg;
  r = kn_cred_provider_get(c->creds, on_identity_creds, q);
  if (r != 0)
    kn_free(q);
  return r;
}


/* ---- Calls ---- */

static void on_call_timer_closed(uv_handle_t* h) {
  kn_call_t* call = h->data;
  kinesis_client_t* c = call->client;
  kn_free(call);
  c->ncalls--;
  client_maybe_finish_close(c);
}


static void call_free(kn_call_t* call) {
  kinesis_client_t* c = call->client;
  size_t i;

  kn_queue_remove(&call->node);
  kn_buf_free(&call->body);
  kn_parsed_free(&call->parsed);
  for (i = 0; i < call->npages; i++)
    kn_parsed_free(&call->pages[i]);
  kn_free(call->pages);
  kn_free((void*) call->result.shards);
  kn_free((void*) call->result.stream_names);
  kn_free((void*) call->result.tags);
  kn_free(call->stream);
  kn_free(call->split_shard);
  if (call->timer_inited) {
    uv_close((uv_handle_t*) &call->timer, on_call_timer_closed);
    return;
  }
  kn_free(call);
  c->ncalls--;
  client_maybe_finish_close(c);
}


/* Runs the user's callback once, then frees the call. */
static void call_finish(kn_call_t* call, int status) {
  kinesis_result_t* res = &call->result;

  KN_ASSERT(!call->finished);
  call->finished = 1;
  if (call->timer_inited)
    uv_timer_stop(&call->timer);
  res->http_status = call->http_status;
  res->attempts = call->total_attempts;
  res->unsure_retries = call->unsure_retries;
  res->request_id = call->request_id[0] != '\0' ? call->request_id : NULL;
  res->error_code = call->error_code[0] != '\0' ? call->error_code : NULL;
  res->error_message =
      call->error_message[0] != '\0' ? call->error_message : NULL;
  if (status != 0 && res->error_message == NULL) {
    snprintf(call->error_message, sizeof(call->error_message), "%s",
             kinesis_strerror(status));
    res->error_message = call->error_message;
  }
  call->op->pub.calls++;
  call->op->pub.call_failures += status != 0;
  call->client->calls_open--;
  call->cb(call->client, status, res, call->arg);
  call_free(call);
}


static void set_message(kn_call_t* call, const char* msg) {
  snprintf(call->error_message, sizeof(call->error_message), "%s",
           msg != NULL ? msg : "");
}


static void on_call_timer(uv_timer_t* t) {
  kn_call_t* call = t->data;
  if (call->client->closing || call->canceled) {
    set_message(call, call->canceled ? "canceled" : "client closed");
    call_finish(call, KINESIS_ECANCELED);
    return;
  }
  call_attempt(call);
}


static int call_schedule(kn_call_t* call, uint64_t delay_ms) {
  if (!call->timer_inited) {
    uv_timer_init(call->client->loop, &call->timer);
    call->timer.data = call;
    call->timer_inited = 1;
  }
  return uv_timer_start(&call->timer, on_call_timer, delay_ms, 0);
}


/* Retries a retriable failure after a backoff, or finishes the call. */
static void call_fail(kn_call_t* call, int err) {
  kinesis_client_t* c = call->client;
  if (!c->closing && !call->canceled && kinesis_err_is_retriable(err) &&
      call->attempts < c->retry.max_attempts) {
    uint64_t wait = kn_retry_backoff_ms(&c->retry, call->attempts, &c->rng);
    call->op->pub.retries++;
    call->unsure_retries += call->last_unsure != 0;
    kn_client_log(c, KINESIS_LOG_INFO,
                  "%s attempt %u failed (%s%s%s), retrying in %llu ms",
                  call->op->pub.operation, (unsigned) call->attempts,
                  kinesis_err_name(err), call->error_message[0] ? ": " : "",
                  call->error_message, (unsigned long long) wait);
    call_schedule(call, wait);
    return;
  }
  call_finish(call, err);
}


/* Why a 2xx answer could not be used: the parser's reason when it gave one
 * (a ListShards page keeps its own). */
static const char* unusable_answer(const kn_call_t* call, int r) {
  if (r != KINESIS_EPROTO)
    return kinesis_strerror(r);
  if (call->parsed.error != NULL)
    return call->parsed.error;
  if (call->npages > 0 && call->pages[call->npages - 1].error != NULL)
    return call->pages[call->npages - 1].error;
  return kinesis_strerror(r);
}


/* Counts a request that ended, and its time unless it was canceled. */
static void request_ended(kn_call_t* call, int status,
                          const kn_http_response_t* res) {
  kinesis_client_t* c = call->client;
  kinesis_operation_stats_t* st = &call->op->pub;

  c->in_flight--;
  st->in_flight--;
  if (status == KINESIS_ECANCELED)
    return;
  st->requests++;
  if (status != 0)
    st->transport_errors++;
  else if (res->status >= 500)
    st->server_errors++;
  kn_op_stats_latency(call->op, uv_now(c->loop),
                      (uv_hrtime() - call->sent_ns) / 1000);
}


static void on_http_done(int status, const kn_http_response_t* res, void* arg) {
  kn_call_t* call = arg;
  kinesis_client_t* c = call->client;
  kn_codec_error_t err;
  int r;

  call->http_req = NULL;
  call->http_status = res->status;
  call->last_unsure = (status != 0 && status != KINESIS_ECANCELED) ||
                      res->status >= 500;
  request_ended(call, status, res);
  snprintf(call->request_id, sizeof(call->request_id), "%s",
           res->request_id != NULL ? res->request_id : "");
  call->error_code[0] = '\0';
  call->error_message[0] = '\0';

  if (status != 0) {
    set_message(call, res->transport_error);
    call_fail(call, c->closing || call->canceled ? KINESIS_ECANCELED : status);
    return;
  }
  if (res->status >= 200 && res->status < 300) {
    r = call->on_success(call, res);
    if (r == 1)
      return;
    /* A handler may have said why already. */
    if (r != 0 && call->error_message[0] == '\0')
      set_message(call, unusable_answer(call, r));
    call_finish(call, r);
    return;
  }

  kn_codec_parse_error(res->body, res->body_len, res->error_type, &err);
  if (err.has_code)
    snprintf(call->error_code, sizeof(call->error_code), "%s", err.code);
  if (err.has_message)
    set_message(call, err.message);
  else
    snprintf(call->error_message, sizeof(call->error_message), "HTTP %ld",
             res->status);
  r = kn_error_from_service(err.has_code ? err.code : NULL, res->status);
  if (r == KINESIS_ETHROUGHPUT || r == KINESIS_ELIMIT)
    call->op->pub.throttled++;
  /* While waiting for ACTIVE, a stream just created may not be listed yet. */
  if (r == KINESIS_ENOTFOUND && call->deadline != 0 && !c->closing &&
      wait_poll_again(call))
    return;
  /* ListShards: a NextToken lives 300 s; list again after the last shard. */
  if (r == KINESIS_EEXPIREDTOKEN && call->stream != NULL && !c->closing &&
      (call->on_success == on_list_shards ||
       call->on_success == on_split_shards_listed) &&
      call->list_restarts++ < 3) {
    r = list_shards_send_next(call, NULL);
    if (r == 1)
      return;
  }
  if (r == KINESIS_ECREDEXPIRED && !call->refreshed_creds) {
    /* Temporary credentials expired: fetch fresh ones and sign again. */
    call->refreshed_creds = 1;
    call->op->pub.retries++;
    kn_cred_provider_invalidate(c->creds);
    call_schedule(call, 0);
    return;
  }
  call_fail(call, r);
}


static int call_send(kn_call_t* call, const kn_credentials_t* creds) {
  kinesis_client_t* c = call->client;
  char amz_date[17];
  char target[64];
  kn_sigv4_header_t sh[5];
  size_t nsh = 0;
  kn_sigv4_request_t sreq;
  kn_sigv4_credentials_t screds;
  kn_buf_t authz = KN_BUF_INIT;
  kn_buf_t lines = KN_BUF_INIT;
  const char* headers[8];
  size_t offsets[7];
  size_t nh = 0;
  size_t i;
  kn_http_request_t hreq;
  int r;

  kn_sigv4_amz_date(client_now_ms(c), amz_date);
  snprintf(target, sizeof(target), KN_TARGET_PREFIX "%s",
           call->op->pub.operation);
  sh[nsh].name = kn_cursor_from_str("content-type");
  sh[nsh++].value = kn_cursor_from_str(KN_CONTENT_TYPE);
  sh[nsh].name = kn_cursor_from_str("host");
  sh[nsh++].value = kn_cursor_from_str(c->host);
  sh[nsh].name = kn_cursor_from_str("x-amz-date");
  sh[nsh++].value = kn_cursor_from_str(amz_date);
  sh[nsh].name = kn_cursor_from_str("x-amz-target");
  sh[nsh++].value = kn_cursor_from_str(target);
  if (creds->session_token != NULL) {
    sh[nsh].name = kn_cursor_from_str("x-amz-security-token");
    sh[nsh++].value = kn_cursor_from_str(creds->session_token);
  }
  memset(&sreq, 0, sizeof(sreq));
  sreq.method = "POST";
  sreq.path = kn_cursor_from_str("/");
  sreq.headers = sh;
  sreq.nheaders = nsh;
  sreq.payload.ptr = call->body.data;
  sreq.payload.len = call->body.len;
  screds.access_key_id = creds->access_key_id;
  screds.secret_access_key = creds->secret_access_key;
  r = kn_sigv4_sign(&sreq, &screds, amz_date, c->region, "kinesis",
                    &c->key_cache, &authz);

  /* "Name: value" lines, NUL-separated in one buffer (appended piece by
   * piece: a printf per line was 6% of an idle GetRecords). */
  for (i = 0; r == 0 && i <= nsh; i++) {
    static const char* const names[] = {"Content-Type: ", "Host: ",
                                        "X-Amz-Date: ", "X-Amz-Target: ",
                                        "X-Amz-Security-Token: "};
    offsets[nh++] = lines.len;
    if (i < nsh) {
      r = kn_buf_append_str(&lines, names[i]);
      if (r == 0)
        r = kn_buf_append(&lines, sh[i].value.ptr, sh[i].value.len);
    } else {
      r = kn_buf_append_str(&lines, "Authorization: ");
      if (r == 0)
        r = kn_buf_append(&lines, authz.data, authz.len);
    }
    if (r == 0)
      r = kn_buf_append_byte(&lines, '\0');
  }
  kn_buf_free(&authz);
  if (r != 0) {
    kn_buf_free(&lines);
    return r;
  }
  for (i = 0; i < nh; i++)
    headers[i] = (const char*) lines.data + offsets[i];
  headers[nh] = NULL;

  memset(&hreq, 0, sizeof(hreq));
  hreq.method = "POST";
  hreq.url = c->endpoint;
  hreq.headers = headers;
  hreq.body = call->body.data;
  hreq.body_len = call->body.len;
  call->sent_ns = uv_hrtime();
  r = kn_http_send(c->http, &hreq, on_http_done, call, &call->http_req);
  if (r == 0) {
    c->in_flight++;
    call->op->pub.in_flight++;
  }
  /* curl copied the header lines. */
  kn_buf_free(&lines);
  return r;
}


static void on_creds(int status, const kn_credentials_t* creds,
                     const char* message, void* arg) {
  kn_call_t* call = arg;
  int r;

  call->waiting_creds = 0;
  if (call->canceled) {
    set_message(call, "canceled");
    call_finish(call, KINESIS_ECANCELED);
    return;
  }
  if (status == KINESIS_ECANCELED && !call->client->closing) {
    /* kinesis_client_set_credentials() replaced the provider: ask again. */
    call->attempts--;
    call->total_attempts--;
    call_attempt(call);
    return;
  }
  if (call->client->closing) {
    set_message(call, "client closed");
    call_finish(call, KINESIS_ECANCELED);
    return;
  }
  if (status != 0) {
    set_message(call, message);
    call_finish(call, status);
    return;
  }
  r = call_send(call, creds);
  if (r != 0) {
    set_message(call, kinesis_strerror(r));
    call_finish(call, r);
  }
}


static void call_attempt(kn_call_t* call) {
  kinesis_client_t* c = call->client;
  const kn_credentials_t* creds = kn_cred_provider_cached(c->creds);
  int r;

  call->attempts++;
  call->total_attempts++;
  if (creds != NULL) {
    r = call_send(call, creds);
  } else {
    r = kn_cred_provider_get(c->creds, on_creds, call);
    call->waiting_creds = r == 0;
  }
  if (r != 0) {
    set_message(call, kinesis_strerror(r));
    call_finish(call, r);
  }
}


/* Creates a call with its body already encoded and starts it on a later
 * tick, so the user's callback can never run inside the API function. */
static kn_op_stats_t* find_op(kinesis_client_t* c, const char* action) {
  size_t i;
  for (i = 0; i < KN_NOPS; i++)
    if (strcmp(op_names[i], action) == 0)
      return &c->ops[i];
  return NULL;
}


/* The region of a stream ARN, arn:PARTITION:kinesis:REGION:ACCOUNT:stream/
 * NAME, into `out`. Returns 0, or KINESIS_EINVAL when `arn` is not one. */
static int arn_region(const char* arn, char* out, size_t size) {
  const char* f[6];
  const char* p = arn;
  size_t n = 0;
  size_t len;
  size_t i;

  /* The first five fields end at colons; the resource is the rest. */
  f[n++] = p;
  while (n < 6 && (p = strchr(p, ':')) != NULL)
    f[n++] = ++p;
  if (n < 6 || strncmp(f[2], "kinesis:", 8) != 0 ||
      strncmp(f[5], "stream/", 7) != 0 || f[5][7] == '\0')
    return KINESIS_EINVAL;
  len = (size_t) (f[4] - f[3]) - 1;
  if (len == 0 || len >= size)
    return KINESIS_EINVAL;
  for (i = 0; i < len; i++) {
    char ch = f[3][i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
      return KINESIS_EINVAL;
  }
  memcpy(out, f[3], len);
  out[len] = '\0';
  return 0;
}


/* A stream given as an ARN names its region. A client with no region of
 * its own takes it, with the endpoint of that region unless one was
 * configured, and keeps it: a client has one region. An ARN of another
 * region than the client's is refused, since the service would refuse it.
 * Returns 0, KINESIS_EINVAL or KINESIS_ENOMEM. */
static int client_region_of(kinesis_client_t* c, const char* stream) {
  char region[64];
  char url[160];
  char* endpoint = NULL;
  char* host = NULL;
  char* copy;
  int r;

  if (stream == NULL || strncmp(stream, "arn:", 4) != 0)
    return 0;
  if (arn_region(stream, region, sizeof(region)) != 0)
    return KINESIS_EINVAL;
  if (c->region != NULL) {
    if (strcmp(c->region, region) == 0)
      return 0;
    kn_client_log(c, KINESIS_LOG_WARN,
                  "the stream ARN %s is in region %s, and this client's "
                  "region is %s",
                  stream, region, c->region);
    return KINESIS_EINVAL;
  }
  if (c->endpoint == NULL) {
    snprintf(url, sizeof(url), "https://kinesis.%s.amazonaws.com%s/", region,
             strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    r = parse_endpoint(url, &endpoint, &host);
    if (r != 0)
      return r;
  }
  copy = kn_strdup(region);
  if (copy == NULL) {
    kn_free(endpoint);
    kn_free(host);
    return KINESIS_ENOMEM;
  }
  c->region = copy;
  if (endpoint != NULL) {
    c->endpoint = endpoint;
    c->host = host;
  }
  kn_client_log(c, KINESIS_LOG_INFO,
                "no region configured: region %s taken from the stream ARN",
                region);
  return 0;
}


/* `stream` (NULL for calls without one) may give the client its region. */
static int call_start(kinesis_client_t* c, const char* action,
                      const char* stream, kn_call_success_fn on_success,
                      kinesis_client_cb cb, void* arg, kn_call_t** out) {
  kn_call_t* call;
  int r;
  if (c->closing)
    return KINESIS_ECLOSING;
  r = client_region_of(c, stream);
  if (r != 0)
    return r;
  if (c->region == NULL || c->endpoint == NULL)
    return KINESIS_ENOREGION;
  call = kn_calloc(1, sizeof(*call));
  if (call == NULL)
    return KINESIS_ENOMEM;
  call->client = c;
  call->op = find_op(c, action);
  KN_ASSERT(call->op != NULL);
  call->on_success = on_success;
  call->cb = cb;
  call->arg = arg;
  call->result.millis_behind_latest = -1;
  kn_queue_init(&call->node);
  *out = call;
  return 0;
}


static int call_launch(kn_call_t* call) {
  kinesis_client_t* c = call->client;
  int r;
  kn_queue_insert_tail(&c->calls, &call->node);
  c->ncalls++;
  r = call_schedule(call, 0);
  if (r != 0) {
    /* Never started: no callback, and the timer closes with the call. */
    call->cb = NULL;
    call_free(call);
    return r;
  }
  c->calls_open++;
  return 0;
}


static void call_discard(kn_call_t* call) {
  kn_buf_free(&call->body);
  kn_free(call->stream);
  kn_free(call->split_shard);
  kn_free(call);
}


/* Launches a call whose body was just encoded with result `encoded`, and
 * hands it to `out` (which may be NULL) when it started. */
static int call_finish_start(kn_call_t* call, int encoded, kn_call_t** out) {
  int r = encoded;
  if (r != 0) {
    call_discard(call);
    return r;
  }
  r = call_launch(call);
  if (r == 0 && out != NULL)
    *out = call;
  return r;
}


/* ---- Actions ---- */

static int on_empty_success(kn_call_t* call, const kn_http_response_t* res) {
  (void) call;
  (void) res;
  return 0;
}


static int simple_stream_call(kinesis_client_t* c, const char* action,
                              const char* stream, uint32_t shard_count,
                              int create, kn_call_success_fn fn,
                              kinesis_client_cb cb, void* arg,
                              kn_call_t** out) {
  kn_call_t* call;
  int r;

  if (c == NULL || cb == NULL || !kn_valid_stream(stream))
    return KINESIS_EINVAL;
  if (create && strncmp(stream, "arn:", 4) == 0)
    return KINESIS_EINVAL;
  r = call_start(c, action, stream, fn, cb, arg, &call);
  if (r != 0)
    return r;
  r = create ? kn_codec_create_stream(&call->body, stream, shard_count)
             : kn_codec_stream_request(&call->body, stream);
  if (r != 0) {
    call_discard(call);
    return r;
  }
  /* With `out`, the caller finishes setting the call up and launches it. */
  if (out != NULL) {
    *out = call;
    return 0;
  }
  return call_launch(call);
}


int kinesis_client_create_stream(kinesis_client_t* c, const char* stream,
                                 uint32_t shard_count, kinesis_client_cb cb,
                                 void* arg) {
  return simple_stream_call(c, "CreateStream", stream, shard_count, 1,
                            on_empty_success, cb, arg, NULL);
}


int kinesis_client_delete_stream(kinesis_client_t* c, const char* stream,
                                 kinesis_client_cb cb, void* arg) {
  return simple_stream_call(c, "DeleteStream", stream, 0, 0,
                            on_empty_success, cb, arg, NULL);
}


static int on_summary(kn_call_t* call, const kn_http_response_t* res) {
  int r;
  kn_parsed_free(&call->parsed);
  r = kn_codec_parse_summary(res->body, res->body_len, &call->parsed);
  if (r == 0)
    call->result.summary = &call->parsed.summary;
  return r;
}


int kinesis_client_describe_stream_summary(kinesis_client_t* c,
                                           const char* stream,
                                           kinesis_client_cb cb, void* arg) {
  return simple_stream_call(c, "DescribeStreamSummary", stream, 0, 0,
                            on_summary, cb, arg, NULL);
}


static int wait_poll_again(kn_call_t* call) {
  if (uv_now(call->client->loop) + call->poll_ms > call->deadline)
    return 0;
  call->attempts = 0;
  call_schedule(call, call->poll_ms);
  return 1;
}


static int on_wait_summary(kn_call_t* call, const kn_http_response_t* res) {
  int r = on_summary(call, res);
  const char* status;
  if (r != 0)
    return r;
  status = call->parsed.summary.stream_status;
  if (strcmp(status, "ACTIVE") == 0)
    return 0;
  if (strcmp(status, "DELETING") == 0) {
    set_message(call, "the stream is being deleted");
    return KINESIS_EINUSE;
  }
  if (wait_poll_again(call))
    return 1;
  set_message(call, "timed out waiting for the stream to become ACTIVE");
  return KINESIS_ETIMEDOUT;
}


int kinesis_client_wait_for_active(kinesis_client_t* c, const char* stream,
                                   uint32_t poll_ms, uint32_t timeout_ms,
                                   kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  int r = simple_stream_call(c, "DescribeStreamSummary", stream, 0, 0,
                             on_wait_summary, cb, arg, &call);
  if (r != 0)
    return r;
  call->poll_ms = poll_ms > 0 ? poll_ms : 250;
  call->deadline = uv_now(c->loop) + (timeout_ms > 0 ? timeout_ms : 120000);
  return call_launch(call);
}


/* ListShards: follow NextToken pages; restart after an expired token. */
static int list_shards_send_next(kn_call_t* call, const char* token) {
  const char* after = NULL;
  size_t i;
  int r;

  if (token == NULL)
    for (i = call->npages; i > 0 && after == NULL; i--)
      if (call->pages[i - 1].nshards > 0)
        after = call->pages[i - 1].shards[call->pages[i - 1].nshards - 1]
                    .shard_id;
  kn_buf_reset(&call->body);
  r = kn_codec_list_shards(&call->body, call->stream, token, after,
                           call->shard_filter_at);
  if (r != 0)
    return r;
  call->attempts = 0;
  call_attempt(call);
  return 1;
}


/* What a page of a listing holds: its items and how many. */
typedef size_t (*kn_page_items_fn)(const kn_parsed_t* page,
                                   const void** items);


/* Joins the items of every page of a listing (ListShards, ListStreams,
 * ListTagsForStream), `size` bytes each, into one kn_calloc'd array and
 * its count; NULL and 0 when there are none or on KINESIS_ENOMEM. Returns 0
 * or KINESIS_ENOMEM. */
static int join_pages(const kn_call_t* call, kn_page_items_fn items_of,
                      size_t size, void** out, size_t* nout) {
  const void* items;
  size_t total = 0;
  size_t i;
  size_t k = 0;
  char* all;

  for (i = 0; i < call->npages; i++)
    total += items_of(&call->pages[i], &items);
  *out = NULL;
  *nout = 0;
  if (total == 0)
    return 0;
  all = kn_calloc(total, size);
  if (all == NULL)
    return KINESIS_ENOMEM;
  for (i = 0; i < call->npages; i++) {
    size_t n = items_of(&call->pages[i], &items);
    if (n > 0)
      memcpy(all + k * size, items, n * size);
    k += n;
  }
  *out = all;
  *nout = total;
  return 0;
}


static size_t page_shards(const kn_parsed_t* page, const void** items) {
  *items = page->shards;
  return page->nshards;
}


static int list_shards_collect(kn_call_t* call) {
  void* all;
  int r = join_pages(call, page_shards, sizeof(kinesis_shard_t), &all,
                     &call->result.nshards);
  call->result.shards = all;
  return r;
}


static int on_list_shards(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* pages;
  kn_parsed_t* page;
  int r;

  pages = kn_realloc(call->pages, (call->npages + 1) * sizeof(*pages));
  if (pages == NULL)
    return KINESIS_ENOMEM;
  call->pages = pages;
  page = &pages[call->npages++];
  r = kn_codec_parse_list_shards(res->body, res->body_len, page);
  if (r != 0)
    return r;
  if (page->next_token != NULL)
    return list_shards_send_next(call, page->next_token);
  return list_shards_collect(call);
}


int kinesis_client_list_shards(kinesis_client_t* c, const char* stream,
                               kinesis_client_cb cb, void* arg) {
  return kn_client_list_shards(c, stream, cb, arg, NULL);
}


int kn_client_list_shards(kinesis_client_t* c, const char* stream,
                          kinesis_client_cb cb, void* arg, kn_call_t** out) {
  return kn_client_list_shards_at(c, stream, 0, cb, arg, out);
}


int kn_client_list_shards_at(kinesis_client_t* c, const char* stream,
                             double at_timestamp, kinesis_client_cb cb,
                             void* arg, kn_call_t** out) {
  kn_call_t* call;
  int r;

  r = simple_stream_call(c, "ListShards", stream, 0, 0, on_list_shards, cb,
                         arg, &call);
  if (r != 0)
    return r;
  if (at_timestamp > 0) {
    /* The first page carries the filter; later pages carry it in their
     * NextToken. */
    call->shard_filter_at = at_timestamp;
    kn_buf_reset(&call->body);
    r = kn_codec_list_shards(&call->body, stream, NULL, NULL, at_timestamp);
    if (r != 0)
      return call_finish_start(call, r, out);
  }
  call->stream = kn_strdup(stream);
  return call_finish_start(call, call->stream != NULL ? 0 : KINESIS_ENOMEM,
                           out);
}


static int on_shard_iterator(kn_call_t* call, const kn_http_response_t* res) {
  int r = kn_codec_parse_shard_iterator(res->body, res->body_len,
                                        &call->parsed);
  if (r == 0)
    call->result.shard_iterator = call->parsed.shard_iterator;
  return r;
}


int kinesis_client_get_shard_iterator(kinesis_client_t* c,
                                      const kinesis_iterator_request_t* req,
                                      kinesis_client_cb cb, void* arg) {
  return kn_client_get_shard_iterator(c, req, cb, arg, NULL);
}


int kn_client_get_shard_iterator(kinesis_client_t* c,
                                 const kinesis_iterator_request_t* req,
                                 kinesis_client_cb cb, void* arg,
                                 kn_call_t** out) {
  kn_call_t* call;
  int seq;
  int r;

  if (c == NULL || req == NULL || cb == NULL || !kn_valid_stream(req->stream) ||
      !kn_valid_shard_id(req->shard_id) ||
      req->type > KINESIS_ITERATOR_AT_TIMESTAMP)
    return KINESIS_EINVAL;
  seq = req->type == KINESIS_ITERATOR_AT_SEQUENCE_NUMBER ||
        req->type == KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  if (seq && !kn_valid_sequence_number(req->sequence_number))
    return KINESIS_EINVAL;
  if (req->type == KINESIS_ITERATOR_AT_TIMESTAMP && !(req->timestamp >= 0))
    return KINESIS_EINVAL;
  r = call_start(c, "GetShardIterator", req->stream, on_shard_iterator, cb,
                 arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(call, kn_codec_get_shard_iterator(&call->body, req),
                           out);
}


static int on_get_records(kn_call_t* call, const kn_http_response_t* res) {
  kinesis_result_t* out = &call->result;
  kn_parsed_t* p = &call->parsed;
  int r = kn_codec_parse_get_records(res->body, res->body_len, res->body_buf,
                                     p);
  if (r != 0)
    return r;
  out->records = p->records;
  out->nrecords = p->nrecords;
  out->next_shard_iterator = p->next_shard_iterator;
  out->millis_behind_latest = p->millis_behind_latest;
  out->child_shards = p->child_shards;
  out->nchild_shards = p->nchild_shards;
  return 0;
}


int kinesis_client_get_records(kinesis_client_t* c, const char* iterator,
                               uint32_t limit, kinesis_client_cb cb,
                               void* arg) {
  return kn_client_get_records(c, iterator, limit, cb, arg, NULL);
}


int kn_client_get_records(kinesis_client_t* c, const char* iterator,
                          uint32_t limit, kinesis_client_cb cb, void* arg,
                          kn_call_t** out) {
  kn_call_t* call;
  size_t len;
  int r;

  if (c == NULL || cb == NULL || iterator == NULL || limit > 10000)
    return KINESIS_EINVAL;
  len = strlen(iterator);
  if (len == 0 || len > 512)
    return KINESIS_EINVAL;
  r = call_start(c, "GetRecords", NULL, on_get_records, cb, arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(
      call, kn_codec_get_records(&call->body, iterator, limit), out);
}


void kn_client_steal_parsed(const kinesis_result_t* result, kn_parsed_t* out) {
  kn_call_t* call = container_of(result, kn_call_t, result);
  *out = call->parsed;
  memset(&call->parsed, 0, sizeof(call->parsed));
}


static int on_put_records(kn_call_t* call, const kn_http_response_t* res) {
  kinesis_result_t* out = &call->result;
  kn_parsed_t* p = &call->parsed;
  int r = kn_codec_parse_put_records(res->body, res->body_len, res->body_buf,
                                     call->nentries, p);
  if (r != 0)
    return r;
  out->put_entries = p->put_entries;
  out->nput_entries = p->nput_entries;
  out->failed_record_count = p->failed_record_count;
  return 0;
}


int kinesis_client_put_records(kinesis_client_t* c, const char* stream,
                               const kinesis_record_t* entries, size_t n,
                               kinesis_client_cb cb, void* arg) {
  return kn_client_put_records(c, stream, entries, n, 0, cb, arg, NULL);
}


int kn_client_put_records(kinesis_client_t* c, const char* stream,
                          const kinesis_record_t* entries, size_t n,
                          int validated, kinesis_client_cb cb, void* arg,
                          kn_call_t** out) {
  kn_call_t* call;
  size_t i;
  int r;

  if (c == NULL || cb == NULL || !kn_valid_stream(stream) || entries == NULL ||
      n == 0 || n > 500)
    return KINESIS_EINVAL;
  for (i = 0; !validated && i < n; i++) {
    const kinesis_record_t* e = &entries[i];
    size_t klen = e->partition_key != NULL ? strlen(e->partition_key) : 0;
    if ((e->data == NULL && e->len > 0) ||
        !kn_valid_partition_key(e->partition_key, klen) ||
        e->len + klen > 10u * 1024 * 1024 ||
        (e->explicit_hash_key != NULL && !kn_valid_hash_key(e->explicit_hash_key)))
      return KINESIS_EINVAL;
  }
  r = call_start(c, "PutRecords", stream, on_put_records, cb, arg, &call);
  if (r != 0)
    return r;
  call->nentries = n;
  return call_finish_start(
      call, kn_codec_put_records(&call->body, stream, entries, n), out);
}


/* ---- Stream management ---- */

/* Sends the call's next request, whose body is already encoded, as
 * `action`: one call may make a few requests in a row (a lookup, then the
 * change). Returns 1, for a success handler. */
static int call_continue(kn_call_t* call, const char* action,
                         kn_call_success_fn on_success) {
  call->op = find_op(call->client, action);
  KN_ASSERT(call->op != NULL);
  call->on_success = on_success;
  call->attempts = 0;
  call_attempt(call);
  return 1;
}


/* Checks the arguments every stream call has and creates the call; the
 * caller encodes its body and launches it with call_finish_start(). */
static int stream_call(kinesis_client_t* c, const char* action,
                       const char* stream, kn_call_success_fn fn,
                       kinesis_client_cb cb, void* arg, kn_call_t** out) {
  if (c == NULL || cb == NULL || !kn_valid_stream(stream))
    return KINESIS_EINVAL;
  return call_start(c, action, stream, fn, cb, arg, out);
}


static size_t page_stream_names(const kn_parsed_t* page, const void** items) {
  *items = page->stream_names;
  return page->nstream_names;
}


static int list_streams_collect(kn_call_t* call) {
  void* all;
  int r = join_pages(call, page_stream_names, sizeof(const char*), &all,
                     &call->result.nstream_names);
  call->result.stream_names = all;
  return r;
}


/* Adds a page to the call's pages; `*page` is the new one. */
static int add_page(kn_call_t* call, kn_parsed_t** page) {
  kn_parsed_t* pages =
      kn_realloc(call->pages, (call->npages + 1) * sizeof(*pages));
  if (pages == NULL)
    return KINESIS_ENOMEM;
  call->pages = pages;
  *page = &pages[call->npages++];
  memset(*page, 0, sizeof(**page));
  return 0;
}


/* The last name or key of the page before the last, or NULL: a server
 * that says there is more but starts the next page where the last one did
 * would be listed forever. */
static int page_repeats(const char* last, const char* before) {
  return last != NULL && before != NULL && strcmp(last, before) == 0;
}


static int on_list_streams(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* page;
  const char* last = NULL;
  const char* before = NULL;
  int r = add_page(call, &page);

  if (r != 0)
    return r;
  r = kn_codec_parse_list_streams(res->body, res->body_len, page);
  if (r != 0)
    return r;
  if (page->nstream_names > 0)
    last = page->stream_names[page->nstream_names - 1];
  if (call->npages > 1 && call->pages[call->npages - 2].nstream_names > 0)
    before = call->pages[call->npages - 2]
                 .stream_names[call->pages[call->npages - 2].nstream_names - 1];
  if (page->next_token != NULL || (page->has_more && last != NULL)) {
    if (page->next_token == NULL && page_repeats(last, before)) {
      set_message(call, "ListStreams returned the same page again");
      return KINESIS_EPROTO;
    }
    kn_buf_reset(&call->body);
    r = kn_codec_list_streams(&call->body, page->next_token,
                              page->next_token == NULL ? last : NULL);
    return r != 0 ? r : call_continue(call, "ListStreams", on_list_streams);
  }
  return list_streams_collect(call);
}


int kinesis_client_list_streams(kinesis_client_t* c, kinesis_client_cb cb,
                                void* arg) {
  kn_call_t* call;
  int r;

  if (c == NULL || cb == NULL)
    return KINESIS_EINVAL;
  r = call_start(c, "ListStreams", NULL, on_list_streams, cb, arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(call, kn_codec_list_streams(&call->body, NULL, NULL),
                           NULL);
}


static int on_update_shard_count(kn_call_t* call,
                                 const kn_http_response_t* res) {
  int r = kn_codec_parse_update_shard_count(res->body, res->body_len,
                                            &call->parsed);
  if (r == 0) {
    call->result.current_shard_count = call->parsed.current_shard_count;
    call->result.target_shard_count = call->parsed.target_shard_count;
  }
  return r;
}


int kinesis_client_update_shard_count(kinesis_client_t* c, const char* stream,
                                      uint32_t target, kinesis_client_cb cb,
                                      void* arg) {
  kn_call_t* call;
  int r;

  if (target == 0 || target > KINESIS_MAX_TARGET_SHARD_COUNT)
    return KINESIS_EINVAL;
  r = stream_call(c, "UpdateShardCount", stream, on_update_shard_count, cb,
                  arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(
      call, kn_codec_update_shard_count(&call->body, stream, target), NULL);
}


/* The middle of [start, end], rounded up, in 128-bit arithmetic on the
 * keys' 16 big-endian bytes: (start + end + 1) / 2. It is above `start`
 * whenever end > start, and never above `end`. */
static void hash_key_middle(const kn_hash_key_t* start,
                            const kn_hash_key_t* end, kn_hash_key_t* out) {
  unsigned carry = 1;
  unsigned high;
  int i;

  for (i = KN_HASH_KEY_LEN - 1; i >= 0; i--) {
    unsigned sum = (unsigned) start->b[i] + end->b[i] + carry;
    out->b[i] = (uint8_t) sum;
    carry = sum >> 8;
  }
  /* Shift the 129-bit sum right by one; its top bit is `carry`. */
  high = carry;
  for (i = 0; i < KN_HASH_KEY_LEN; i++) {
    unsigned low = out->b[i] & 1u;
    out->b[i] = (uint8_t) ((out->b[i] >> 1) | (high << 7));
    high = low;
  }
}


/* SplitShard without a hash key: every page of ListShards came; split the
 * shard in the middle of its range. */
static int on_split_shards_listed(kn_call_t* call,
                                  const kn_http_response_t* res) {
  const kinesis_shard_t* shard = NULL;
  kn_hash_key_t start;
  kn_hash_key_t end;
  kn_hash_key_t mid;
  char key[KN_HASH_KEY_DECIMAL_MAX];
  size_t i;
  int r = on_list_shards(call, res);

  if (r != 0)
    return r;
  for (i = 0; i < call->result.nshards && shard == NULL; i++)
    if (strcmp(call->result.shards[i].shard_id, call->split_shard) == 0)
      shard = &call->result.shards[i];
  if (shard == NULL) {
    snprintf(call->error_message, sizeof(call->error_message),
             "the stream has no shard %s", call->split_shard);
    return KINESIS_ENOTFOUND;
  }
  /* ListShards answers were checked: both keys are valid decimals. */
  if (kn_hash_key_parse(shard->starting_hash_key, &start) != 0 ||
      kn_hash_key_parse(shard->ending_hash_key, &end) != 0)
    return KINESIS_EPROTO;
  if (kn_hash_key_cmp(&start, &end) >= 0) {
    snprintf(call->error_message, sizeof(call->error_message),
             "shard %s holds a single hash key and cannot be split",
             call->split_shard);
    return KINESIS_EINVAL;
  }
  hash_key_middle(&start, &end, &mid);
  kn_hash_key_format(&mid, key);
  kn_buf_reset(&call->body);
  r = kn_codec_split_shard(&call->body, call->stream, call->split_shard, key);
  if (r != 0)
    return r;
  /* The answer to the caller is SplitShard's, without the shards. */
  kn_free((void*) call->result.shards);
  call->result.shards = NULL;
  call->result.nshards = 0;
  kn_free(call->stream);
  call->stream = NULL;  /* no ListShards restart from here on */
  return call_continue(call, "SplitShard", on_empty_success);
}


int kinesis_client_split_shard(kinesis_client_t* c, const char* stream,
                               const char* shard_id, const char* hash_key,
                               kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  int r;

  if (!kn_valid_shard_id(shard_id) ||
      (hash_key != NULL && !kn_valid_hash_key(hash_key)))
    return KINESIS_EINVAL;
  if (hash_key != NULL) {
    r = stream_call(c, "SplitShard", stream, on_empty_success, cb, arg,
                    &call);
    if (r != 0)
      return r;
    return call_finish_start(
        call, kn_codec_split_shard(&call->body, stream, shard_id, hash_key),
        NULL);
  }
  r = stream_call(c, "ListShards", stream, on_split_shards_listed, cb, arg,
                  &call);
  if (r != 0)
    return r;
  call->stream = kn_strdup(stream);
  call->split_shard = kn_strdup(shard_id);
  if (call->stream == NULL || call->split_shard == NULL)
    r = KINESIS_ENOMEM;
  else
    r = kn_codec_list_shards(&call->body, stream, NULL, NULL, 0);
  return call_finish_start(call, r, NULL);
}


int kinesis_client_merge_shards(kinesis_client_t* c, const char* stream,
                                const char* shard_id, const char* adjacent,
                                kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  int r;

  if (!kn_valid_shard_id(shard_id) || !kn_valid_shard_id(adjacent) ||
      strcmp(shard_id, adjacent) == 0)
    return KINESIS_EINVAL;
  r = stream_call(c, "MergeShards", stream, on_empty_success, cb, arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(
      call, kn_codec_merge_shards(&call->body, stream, shard_id, adjacent),
      NULL);
}


/* The body of an ARN-only call (UpdateStreamMode, UpdateMaxRecordSize). */
static int encode_arn_call(kn_call_t* call, const char* arn) {
  if (strcmp(call->arn_action, "UpdateStreamMode") == 0)
    return kn_codec_update_stream_mode(
        &call->body, arn,
        call->arn_param == KINESIS_STREAM_MODE_ON_DEMAND ? "ON_DEMAND"
                                                         : "PROVISIONED");
  return kn_codec_update_max_record_size(&call->body, arn, call->arn_param);
}


/* DescribeStreamSummary told the stream's ARN: send the change. */
static int on_arn_summary(kn_call_t* call, const kn_http_response_t* res) {
  int r = on_summary(call, res);
  const char* arn;

  if (r != 0)
    return r;
  call->result.summary = NULL;
  arn = call->parsed.summary.stream_arn;
  if (arn == NULL || strncmp(arn, "arn:", 4) != 0) {
    set_message(call, "DescribeStreamSummary did not give the stream's ARN");
    return KINESIS_EPROTO;
  }
  kn_buf_reset(&call->body);
  r = encode_arn_call(call, arn);
  kn_parsed_free(&call->parsed);
  return r != 0 ? r : call_continue(call, call->arn_action, on_empty_success);
}


/* `action` needs the StreamARN: given a name, look it up first. */
static int arn_call(kinesis_client_t* c, const char* action,
                    const char* stream, uint32_t param, kinesis_client_cb cb,
                    void* arg) {
  int is_arn = stream != NULL && strncmp(stream, "arn:", 4) == 0;
  kn_call_t* call;
  int r;

  r = stream_call(c, is_arn ? action : "DescribeStreamSummary", stream,
                  is_arn ? on_empty_success : on_arn_summary, cb, arg, &call);
  if (r != 0)
    return r;
  call->arn_action = action;
  call->arn_param = param;
  r = is_arn ? encode_arn_call(call, stream)
             : kn_codec_stream_request(&call->body, stream);
  return call_finish_start(call, r, NULL);
}


int kinesis_client_update_stream_mode(kinesis_client_t* c, const char* stream,
                                      kinesis_stream_mode_t mode,
                                      kinesis_client_cb cb, void* arg) {
  if (mode != KINESIS_STREAM_MODE_PROVISIONED &&
      mode != KINESIS_STREAM_MODE_ON_DEMAND)
    return KINESIS_EINVAL;
  return arn_call(c, "UpdateStreamMode", stream, (uint32_t) mode, cb, arg);
}


int kinesis_client_update_max_record_size(kinesis_client_t* c,
                                          const char* stream, uint32_t kib,
                                          kinesis_client_cb cb, void* arg) {
  if (kib < KINESIS_MIN_MAX_RECORD_SIZE_KIB ||
      kib > KINESIS_MAX_MAX_RECORD_SIZE_KIB)
    return KINESIS_EINVAL;
  return arn_call(c, "UpdateMaxRecordSize", stream, kib, cb, arg);
}


static int retention_call(kinesis_client_t* c, const char* action,
                          const char* stream, uint32_t hours,
                          kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  int r;

  if (hours < KINESIS_MIN_RETENTION_HOURS ||
      hours > KINESIS_MAX_RETENTION_HOURS)
    return KINESIS_EINVAL;
  r = stream_call(c, action, stream, on_empty_success, cb, arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(call, kn_codec_retention(&call->body, stream, hours),
                           NULL);
}


int kinesis_client_increase_stream_retention(kinesis_client_t* c,
                                             const char* stream,
                                             uint32_t hours,
                                             kinesis_client_cb cb, void* arg) {
  return retention_call(c, "IncreaseStreamRetentionPeriod", stream, hours, cb,
                        arg);
}


int kinesis_client_decrease_stream_retention(kinesis_client_t* c,
                                             const char* stream,
                                             uint32_t hours,
                                             kinesis_client_cb cb, void* arg) {
  return retention_call(c, "DecreaseStreamRetentionPeriod", stream, hours, cb,
                        arg);
}


static int encryption_call(kinesis_client_t* c, const char* action,
                           const char* stream, const char* key_id,
                           kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  size_t len;
  int r;

  if (key_id == NULL)
    key_id = KINESIS_DEFAULT_KMS_KEY;
  len = strlen(key_id);
  if (len == 0 || len > 2048)
    return KINESIS_EINVAL;
  r = stream_call(c, action, stream, on_empty_success, cb, arg, &call);
  if (r != 0)
    return r;
  return call_finish_start(
      call, kn_codec_stream_encryption(&call->body, stream, key_id), NULL);
}


int kinesis_client_start_stream_encryption(kinesis_client_t* c,
                                           const char* stream,
                                           const char* key_id,
                                           kinesis_client_cb cb, void* arg) {
  return encryption_call(c, "StartStreamEncryption", stream, key_id, cb, arg);
}


int kinesis_client_stop_stream_encryption(kinesis_client_t* c,
                                          const char* stream,
                                          const char* key_id,
                                          kinesis_client_cb cb, void* arg) {
  return encryption_call(c, "StopStreamEncryption", stream, key_id, cb, arg);
}


int kinesis_client_add_tags(kinesis_client_t* c, const char* stream,
                            const kinesis_tag_t* tags, size_t n,
                            kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  size_t i;
  size_t j;
  int r;

  if (tags == NULL || n == 0 || n > KINESIS_MAX_TAGS_PER_CALL)
    return KINESIS_EINVAL;
  for (i = 0; i < n; i++) {
    if (!kn_valid_tag_key(tags[i].key) ||
        !kn_valid_tag_value(tags[i].value))
      return KINESIS_EINVAL;
    for (j = 0; j < i; j++)
      if (strcmp(tags[i].key, tags[j].key) == 0)
        return KINESIS_EINVAL;
  }
  r = stream_call(c, "AddTagsToStream", stream, on_empty_success, cb, arg,
                  &call);
  if (r != 0)
    return r;
  return call_finish_start(
      call, kn_codec_add_tags(&call->body, stream, tags, n), NULL);
}


int kinesis_client_remove_tags(kinesis_client_t* c, const char* stream,
                               const char* const* keys, size_t n,
                               kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  size_t i;
  int r;

  if (keys == NULL || n == 0 || n > KINESIS_MAX_TAGS_PER_CALL)
    return KINESIS_EINVAL;
  for (i = 0; i < n; i++)
    if (!kn_valid_tag_key(keys[i]))
      return KINESIS_EINVAL;
  r = stream_call(c, "RemoveTagsFromStream", stream, on_empty_success, cb, arg,
                  &call);
  if (r != 0)
    return r;
  return call_finish_start(
      call, kn_codec_remove_tags(&call->body, stream, keys, n), NULL);
}


static size_t page_tags(const kn_parsed_t* page, const void** items) {
  *items = page->tags;
  return page->ntags;
}


static int list_tags_collect(kn_call_t* call) {
  void* all;
  int r = join_pages(call, page_tags, sizeof(kinesis_tag_t), &all,
                     &call->result.ntags);
  call->result.tags = all;
  return r;
}


static int on_list_tags(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* page;
  const char* last = NULL;
  const char* before = NULL;
  int r = add_page(call, &page);

  if (r != 0)
    return r;
  r = kn_codec_parse_list_tags(res->body, res->body_len, page);
  if (r != 0)
    return r;
  if (!page->has_more || page->ntags == 0)
    return list_tags_collect(call);
  last = page->tags[page->ntags - 1].key;
  if (call->npages > 1 && call->pages[call->npages - 2].ntags > 0)
    before = call->pages[call->npages - 2]
                 .tags[call->pages[call->npages - 2].ntags - 1].key;
  if (page_repeats(last, before)) {
    set_message(call, "ListTagsForStream returned the same page again");
    return KINESIS_EPROTO;
  }
  kn_buf_reset(&call->body);
  r = kn_codec_list_tags(&call->body, call->stream, last);
  return r != 0 ? r : call_continue(call, "ListTagsForStream", on_list_tags);
}


int kinesis_client_list_tags(kinesis_client_t* c, const char* stream,
                             kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  int r;

  r = stream_call(c, "ListTagsForStream", stream, on_list_tags, cb, arg,
                  &call);
  if (r != 0)
    return r;
  /* Later pages name the stream again. */
  call->stream = kn_strdup(stream);
  r = call->stream != NULL ? kn_codec_list_tags(&call->body, stream, NULL)
                           : KINESIS_ENOMEM;
  return call_finish_start(call, r, NULL);
}


void kn_client_call_cancel(kn_call_t* call) {
  if (call->finished || call->canceled)
    return;
  call->canceled = 1;
  if (call->http_req != NULL)
    kn_http_cancel(call->http_req);
  else if (!call->waiting_creds)
    call_schedule(call, 0);
  /* A call waiting for credentials ends when they arrive (on_creds). */
}


uv_loop_t* kn_client_loop(const kinesis_client_t* c) {
  return c->loop;
}


uint32_t kn_client_max_connections(const kinesis_client_t* c) {
  return c->max_connections;
}


void kn_client_child_add(kinesis_client_t* c) {
  c->children++;
}


void kn_client_child_remove(kinesis_client_t* c) {
  c->children--;
}


void kn_client_log(const kinesis_client_t* c, kinesis_log_level_t level,
                   const char* fmt, ...) {
  char msg[512];
  va_list ap;
  if (c->log == NULL || level > c->log_level)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  c->log(level, msg, c->log_data);
}


int kn_client_closing(const kinesis_client_t* c) {
  return c->closing;
}


int kn_client_child_check(kinesis_client_t* c, const char* stream) {
  int r;
  if (c->closing)
    return KINESIS_ECLOSING;
  r = client_region_of(c, stream);
  if (r != 0)
    return r;
  return c->region == NULL ? KINESIS_ENOREGION : 0;
}


/* ---- Closing ---- */

static void on_http_closed(void* arg) {
  kinesis_client_t* c = arg;
  c->http_open = 0;
  client_maybe_finish_close(c);
}


static void on_creds_closed(void* arg) {
  kinesis_client_t* c = arg;
  c->creds_open = 0;
  client_maybe_finish_close(c);
}


static void client_maybe_finish_close(kinesis_client_t* c) {
  kinesis_close_cb cb;
  void* arg;
  void* data;

  if (!c->closing)
    return;
  /* The HTTP engine closes last: calls and the credential provider use it
   * until they are done. */
  if (c->ncalls == 0 && !c->creds_open && c->http_open == 1) {
    c->http_open = 2;
    kn_http_close(c->http, on_http_closed, c);
    return;
  }
  if (c->ncalls > 0 || c->creds_open || c->http_open)
    return;
  cb = c->close_cb;
  arg = c->close_arg;
  data = c->data;
  client_free(c);
  if (cb != NULL)
    cb(data, 0, arg);
}


int kinesis_client_stats(const kinesis_client_t* client,
                         kinesis_client_stats_t* st) {
  /* ops_out is a buffer the client keeps for this call, not part of its
   * state: a const client, like every getter. */
  kinesis_client_t* c = (kinesis_client_t*) client;
  uint64_t now;
  size_t i;

  if (c == NULL || st == NULL)
    return KINESIS_EINVAL;
  memset(st, 0, sizeof(*st));
  now = uv_now(c->loop);
  st->calls_open = c->calls_open;
  st->in_flight = c->in_flight;
  for (i = 0; i < KN_NOPS; i++) {
    const kinesis_operation_stats_t* op = &c->ops[i].pub;
    if (op->calls > 0 || op->requests > 0 || op->in_flight > 0)
      kn_op_stats_snapshot(&c->ops[i], now, &c->ops_out[st->noperations++]);
  }
  st->operations = c->ops_out;
  return 0;
}


int kinesis_client_close(kinesis_client_t* c, kinesis_close_cb cb, void* arg) {
  kn_queue_t* q;

  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->closing)
    return KINESIS_EALREADY;
  if (c->children > 0)
    return KINESIS_EBUSY;
  c->closing = 1;
  c->close_cb = cb;
  c->close_arg = arg;
  for (q = c->calls.next; q != &c->calls; q = q->next) {
    kn_call_t* call = kn_queue_data(q, kn_call_t, node);
    if (call->http_req != NULL)
      kn_http_cancel(call->http_req);
    else if (!call->waiting_creds)
      call_schedule(call, 0);  /* its timer callback sees closing */
  }
  /* Waiting credential requests end with KINESIS_ECANCELED. */
  kn_cred_provider_close(c->creds, on_creds_closed, c);
  return 0;
}
