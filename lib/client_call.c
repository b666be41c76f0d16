#include "client_internal.h"
#include "internal.h"

#include <string.h>

#include "error.h"
#include "profile.h"
#include "validate.h"

/*
 * The call engine: a kn_call_t gets credentials, is signed, sent, retried
 * after retriable errors with backoff, and finally runs the user's callback
 * exactly once; one call may send a few requests in a row (pages of a
 * listing, a lookup then the change). The pages of a listing are joined
 * here too.
 */

const kn_service_t kn_service_kinesis = {
    "kinesis", "Kinesis_20131202.", "application/x-amz-json-1.1", "kinesis",
    "AWS_ENDPOINT_URL_KINESIS"};
const kn_service_t kn_service_dynamodb = {
    "dynamodb", "DynamoDB_20120810.", "application/x-amz-json-1.0",
    "dynamodb", "AWS_ENDPOINT_URL_DYNAMODB"};
/* A subscription lasts 5 minutes; one that outlives this is cut. */
#define KN_SUBSCRIBE_TIMEOUT_MS (6u * 60 * 1000)


static int64_t client_now_ms(kinesis_client_t* c) {
  return c->clock_ms != NULL ? c->clock_ms(c->clock_arg) : kn_now_ms();
}


/* ---- Calls ---- */

static void on_call_timer_closed(uv_handle_t* h) {
  kn_call_t* call = h->data;
  kinesis_client_t* c = call->client;
  kn_free(call);
  c->ncalls--;
  kn_client_maybe_finish_close(c);
}


static void call_free(kn_call_t* call) {
  kinesis_client_t* c = call->client;
  size_t i;

  kn_queue_remove(&call->node);
  kn_buf_free(&call->body);
  /* ListStreamConsumers joins its pages; the others point into parsed. */
  if (call->result.consumers != call->parsed.consumers)
    kn_free((void*) call->result.consumers);
  kn_parsed_free(&call->parsed);
  for (i = 0; i < call->npages; i++)
    kn_parsed_free(&call->pages[i]);
  kn_free(call->pages);
  kn_free((void*) call->result.shards);
  kn_free((void*) call->result.stream_names);
  kn_free((void*) call->result.tags);
  kn_free(call->stream);
  kn_free(call->split_shard);
  kn_free(call->consumer_name);
  kn_buf_free(&call->answer);
  if (call->timer_inited) {
    uv_close((uv_handle_t*) &call->timer, on_call_timer_closed);
    return;
  }
  kn_free(call);
  c->ncalls--;
  kn_client_maybe_finish_close(c);
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


void kn_client_set_message(kn_call_t* call, const char* msg) {
  snprintf(call->error_message, sizeof(call->error_message), "%s",
           msg != NULL ? msg : "");
}


static void on_call_timer(uv_timer_t* t) {
  kn_call_t* call = t->data;
  if (kn_life_closing(&call->client->life) || call->canceled) {
    kn_client_set_message(call, call->canceled ? "canceled" : "client closed");
    call_finish(call, KINESIS_ECANCELED);
    return;
  }
  kn_client_call_attempt(call);
}


int kn_client_call_schedule(kn_call_t* call, uint64_t delay_ms) {
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
  if (!kn_life_closing(&c->life) && !call->canceled && !call->streamed &&
      kinesis_err_is_retriable(err) && call->attempts < c->retry.max_attempts) {
    uint64_t wait = kn_retry_backoff_ms(&c->retry, call->attempts, &c->rng);
    call->op->pub.retries++;
    call->unsure_retries += call->last_unsure != 0;
    kn_client_log(c, KINESIS_LOG_INFO,
                  "%s attempt %u failed (%s%s%s), retrying in %llu ms",
                  call->op->pub.operation, (unsigned) call->attempts,
                  kinesis_err_name(err), call->error_message[0] ? ": " : "",
                  call->error_message, (unsigned long long) wait);
    kn_client_call_schedule(call, wait);
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
    kn_client_set_message(call, res->transport_error);
    call_fail(call, kn_life_closing(&c->life) || call->canceled
                        ? KINESIS_ECANCELED
                        : status);
    return;
  }
  if (res->status >= 200 && res->status < 300) {
    r = call->on_success(call, res);
    if (r == 1)
      return;
    /* A handler may have said why already. */
    if (r != 0 && call->error_message[0] == '\0')
      kn_client_set_message(call, unusable_answer(call, r));
    call_finish(call, r);
    return;
  }

  kn_codec_parse_error(res->body, res->body_len, res->error_type, &err);
  if (err.has_code)
    snprintf(call->error_code, sizeof(call->error_code), "%s", err.code);
  if (err.has_message)
    kn_client_set_message(call, err.message);
  else
    snprintf(call->error_message, sizeof(call->error_message), "HTTP %ld",
             res->status);
  r = kn_error_from_service(err.has_code ? err.code : NULL, res->status);
  if (r == KINESIS_ETHROUGHPUT || r == KINESIS_ELIMIT)
    call->op->pub.throttled++;
  /* While waiting for ACTIVE, a stream just created may not be listed yet. */
  if (r == KINESIS_ENOTFOUND && call->deadline != 0 &&
      !kn_life_closing(&c->life) && kn_client_wait_poll_again(call))
    return;
  /* ListShards: a NextToken lives 300 s; list again after the last shard. */
  if (r == KINESIS_EEXPIREDTOKEN && call->stream != NULL &&
      !kn_life_closing(&c->life) &&
      (call->on_success == kn_client_on_list_shards ||
       call->on_success == kn_client_on_split_shards_listed) &&
      call->list_restarts++ < 3) {
    r = kn_client_list_shards_send_next(call, NULL);
    if (r == 1)
      return;
  }
  if (r == KINESIS_ECREDEXPIRED && !call->refreshed_creds) {
    /* Temporary credentials expired: fetch fresh ones and sign again. */
    call->refreshed_creds = 1;
    call->op->pub.retries++;
    kn_cred_provider_invalidate(c->creds);
    kn_client_call_schedule(call, 0);
    return;
  }
  call_fail(call, r);
}


static int call_on_data(void* arg, long status, const uint8_t* data,
                        size_t len) {
  kn_call_t* call = arg;
  call->streamed = 1;
  return call->on_data(call->data_arg, status, data, len);
}


static int call_send(kn_call_t* call, const kn_credentials_t* creds) {
  kinesis_client_t* c = call->client;
  const kn_service_t* svc =
      call->target != NULL ? call->target->service : &kn_service_kinesis;
  const char* endpoint =
      call->target != NULL ? call->target->endpoint : c->endpoint;
  const char* host = call->target != NULL ? call->target->host : c->host;
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
  snprintf(target, sizeof(target), "%s%s", svc->target_prefix,
           call->op->pub.operation);
  sh[nsh].name = kn_cursor_from_str("content-type");
  sh[nsh++].value = kn_cursor_from_str(svc->content_type);
  sh[nsh].name = kn_cursor_from_str("host");
  sh[nsh++].value = kn_cursor_from_str(host);
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
  r = kn_sigv4_sign(&sreq, &screds, amz_date, c->region, svc->name,
                    call->target != NULL ? &call->target->key_cache
                                         : &c->key_cache,
                    &authz);

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
  hreq.url = endpoint;
  hreq.headers = headers;
  hreq.body = call->body.data;
  hreq.body_len = call->body.len;
  if (call->on_data != NULL && c->streams_open == 0) {
    kn_http_start(c->streams);
    c->streams_open = 1;
  }
  if (call->on_data != NULL) {
    hreq.http2 = 1;
    hreq.own_connection = strncmp(endpoint, "http:", 5) == 0;
    hreq.on_data = call_on_data;
    hreq.timeout_ms = KN_SUBSCRIBE_TIMEOUT_MS;
  }
  call->sent_ns = uv_hrtime();
  r = kn_http_send(call->on_data != NULL ? c->streams : c->http, &hreq,
                   on_http_done, call, &call->http_req);
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
    kn_client_set_message(call, "canceled");
    call_finish(call, KINESIS_ECANCELED);
    return;
  }
  if (status == KINESIS_ECANCELED && !kn_life_closing(&call->client->life)) {
    /* kinesis_client_set_credentials() replaced the provider: ask again. */
    call->attempts--;
    call->total_attempts--;
    kn_client_call_attempt(call);
    return;
  }
  if (kn_life_closing(&call->client->life)) {
    kn_client_set_message(call, "client closed");
    call_finish(call, KINESIS_ECANCELED);
    return;
  }
  if (status != 0) {
    kn_client_set_message(call, message);
    call_finish(call, status);
    return;
  }
  r = call_send(call, creds);
  if (r != 0) {
    kn_client_set_message(call, kinesis_strerror(r));
    call_finish(call, r);
  }
}


void kn_client_call_attempt(kn_call_t* call) {
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
    kn_client_set_message(call, kinesis_strerror(r));
    call_finish(call, r);
  }
}


/* Creates a call with its body already encoded and starts it on a later
 * tick, so the user's callback can never run inside the API function.
 * `stream` (NULL for calls without one) may give the client its region. */
int kn_client_call_start(kinesis_client_t* c, const char* action,
                         const char* stream, kn_call_success_fn on_success,
                         kinesis_client_cb cb, void* arg, kn_call_t** out) {
  kn_call_t* call;
  int r = kn_client_child_check(c, stream);
  if (r != 0)
    return r;
  if (c->endpoint == NULL)
    return KINESIS_ENOREGION;
  call = kn_calloc(1, sizeof(*call));
  if (call == NULL)
    return KINESIS_ENOMEM;
  call->client = c;
  call->op = kn_client_find_op(c, action);
  KN_ASSERT(call->op != NULL);
  call->on_success = on_success;
  call->cb = cb;
  call->arg = arg;
  call->result.millis_behind_latest = -1;
  kn_queue_init(&call->node);
  *out = call;
  return 0;
}


int kn_client_call_launch(kn_call_t* call) {
  kinesis_client_t* c = call->client;
  int r;
  kn_queue_insert_tail(&c->calls, &call->node);
  c->ncalls++;
  r = kn_client_call_schedule(call, 0);
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
  kn_free(call->consumer_name);
  kn_free(call);
}


/* Launches a call whose body was just encoded with result `encoded`, and
 * hands it to `out` (which may be NULL) when it started. */
int kn_client_call_finish_start(kn_call_t* call, int encoded, kn_call_t** out) {
  int r = encoded;
  if (r != 0) {
    call_discard(call);
    return r;
  }
  r = kn_client_call_launch(call);
  if (r == 0 && out != NULL)
    *out = call;
  return r;
}


int kn_client_simple_stream_call(kinesis_client_t* c, const char* action,
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
  r = kn_client_call_start(c, action, stream, fn, cb, arg, &call);
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
  return kn_client_call_launch(call);
}


int kn_client_wait_poll_again(kn_call_t* call) {
  if (uv_now(call->client->loop) + call->poll_ms > call->deadline)
    return 0;
  call->attempts = 0;
  kn_client_call_schedule(call, call->poll_ms);
  return 1;
}


/* What a page of a listing holds: its items and how many. */
typedef size_t (*kn_page_items_fn)(const kn_parsed_t* page,
                                   const void** items);


/* Joins the items of every page of a listing (ListShards, ListStreams,
 * ListTagsForStream), `size` bytes each, into one kn_calloc'd array and
 * its count; NULL and 0 when there are none or on KINESIS_ENOMEM. Returns 0
 * or KINESIS_ENOMEM. */
int kn_client_join_pages(const kn_call_t* call, kn_page_items_fn items_of,
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


/* Adds a page to the call's pages; `*page` is the new one, zeroed. */
int kn_client_add_page(kn_call_t* call, kn_parsed_t** page) {
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
int kn_client_page_repeats(const char* last, const char* before) {
  return last != NULL && before != NULL && strcmp(last, before) == 0;
}


void kn_client_call_resume(kn_call_t* call) {
  if (call->http_req != NULL)
    kn_http_resume(call->http_req);
}


void kn_client_call_cancel(kn_call_t* call) {
  if (call->finished || call->canceled)
    return;
  call->canceled = 1;
  if (call->http_req != NULL)
    kn_http_cancel(call->http_req);
  else if (!call->waiting_creds)
    kn_client_call_schedule(call, 0);
  /* A call waiting for credentials ends when they arrive (on_creds). */
}


/* ---- Other services ---- */

int kn_client_target_init(kinesis_client_t* c, const kn_service_t* service,
                          const char* endpoint_url, kn_service_target_t* t) {
  char buf[256];
  const char* url = endpoint_url;

  memset(t, 0, sizeof(*t));
  t->service = service;
  if (url == NULL || url[0] == '\0')
    url = kn_profile_env(service->env_var);
  if (url == NULL)
    url = kn_profile_env("AWS_ENDPOINT_URL");
  if (url == NULL) {
    if (c->region == NULL)
      return KINESIS_ENOREGION;
    snprintf(buf, sizeof(buf), "https://%s.%s.amazonaws.com%s/",
             service->host_prefix, c->region,
             strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "");
    url = buf;
  }
  return kn_client_parse_endpoint(url, &t->endpoint, &t->host);
}


void kn_client_target_free(kn_service_target_t* t) {
  kn_free(t->endpoint);
  kn_free(t->host);
  t->endpoint = NULL;
  t->host = NULL;
}


/* The answer's body, moved into the call for kn_client_result_body(). */
static int on_service_answer(kn_call_t* call, const kn_http_response_t* res) {
  kn_buf_free(&call->answer);
  call->answer = *res->body_buf;
  kn_buf_init(res->body_buf);
  return 0;
}


int kn_client_service_call(kinesis_client_t* c, kn_service_target_t* t,
                           const char* action, const char* body, size_t len,
                           kinesis_client_cb cb, void* arg, kn_call_t** out) {
  kn_call_t* call;
  int r;

  if (c == NULL || t == NULL || t->endpoint == NULL || action == NULL ||
      (body == NULL && len > 0) || cb == NULL ||
      kn_client_find_op(c, action) == NULL)
    return KINESIS_EINVAL;
  r = kn_client_call_start(c, action, NULL, on_service_answer, cb, arg, &call);
  if (r != 0)
    return r;
  call->target = t;
  return kn_client_call_finish_start(call, kn_buf_append(&call->body, body, len),
                                     out);
}


const char* kn_client_result_body(const kinesis_result_t* result,
                                  size_t* len) {
  const kn_call_t* call = container_of(result, kn_call_t, result);
  if (len != NULL)
    *len = call->answer.len;
  return call->answer.data != NULL ? (const char*) call->answer.data : "";
}
