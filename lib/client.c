#include "client.h"

#include "internal.h"

#include <stdarg.h>
#include <string.h>

#include "client_internal.h"
#include "credentials.h"
#include "http.h"
#include "stats.h"
#include "url.h"

/*
 * kinesis_client_t: one region, one endpoint, one credential chain and one
 * HTTP engine on the application's loop. Every API call is a kn_call_t that
 * gets credentials, signs, sends, retries retriable errors with backoff and
 * finally runs the user's callback exactly once.
 *
 * This file holds the object: its options, its region and endpoint (a
 * stream ARN may give them), credentials, the user slot, what producers and
 * consumers ask of it, stats and close. The calls are in client_call.c (the
 * engine), client_data.c and client_mgmt.c (client_internal.h).
 */

/* The operations the client calls, in the order kinesis_client_stats()
 * lists them. */
static const char* const op_names[] = {
    "PutRecords", "GetRecords", "GetShardIterator", "ListShards",
    "DescribeStreamSummary", "CreateStream", "DeleteStream",
    "ListStreams", "UpdateShardCount", "SplitShard", "MergeShards",
    "UpdateStreamMode", "IncreaseStreamRetentionPeriod",
    "DecreaseStreamRetentionPeriod", "StartStreamEncryption",
    "StopStreamEncryption", "AddTagsToStream", "RemoveTagsFromStream",
    "ListTagsForStream", "UpdateMaxRecordSize", "RegisterStreamConsumer",
    "DescribeStreamConsumer", "ListStreamConsumers",
    "DeregisterStreamConsumer", "SubscribeToShard",
    /* DynamoDB's, for its checkpointer. */
    "CreateTable", "DescribeTable", "GetItem", "PutItem", "UpdateItem",
    "DeleteItem", "Scan", "Query"};
_Static_assert(KN_ARRAY_SIZE(op_names) == KN_NOPS,
               "KN_NOPS in client_internal.h counts op_names");


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
int kn_client_parse_endpoint(const char* url, char** endpoint, char** host) {
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
  return kn_client_parse_endpoint(url, &c->endpoint, &c->host);
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
  r = kn_http_alloc(loop, &hopts, &c->streams);
  if (r != 0) {
    kn_http_free_unstarted(c->http);
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
    kn_http_free_unstarted(c->streams);
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
  if (kn_life_closing(&c->life))
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
  if (kn_life_closing(&c->life))
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


/* The counters of `action`, one of op_names; NULL for no such action. */
kn_op_stats_t* kn_client_find_op(kinesis_client_t* c, const char* action) {
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
int kn_client_region_of(kinesis_client_t* c, const char* stream) {
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
    r = kn_client_parse_endpoint(url, &endpoint, &host);
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
  return kn_life_closing(&c->life);
}


int kn_client_child_check(kinesis_client_t* c, const char* stream) {
  int r;
  if (kn_life_closing(&c->life))
    return KINESIS_ECLOSING;
  r = kn_client_region_of(c, stream);
  if (r != 0)
    return r;
  return c->region == NULL ? KINESIS_ENOREGION : 0;
}


/* ---- Closing ---- */

static void on_http_closed(void* arg) {
  kinesis_client_t* c = arg;
  c->http_open = 0;
  kn_client_maybe_finish_close(c);
}


static void on_streams_closed(void* arg) {
  kinesis_client_t* c = arg;
  c->streams = NULL;
  c->streams_open = 0;
  kn_client_maybe_finish_close(c);
}


static void on_creds_closed(void* arg) {
  kinesis_client_t* c = arg;
  c->creds_open = 0;
  kn_client_maybe_finish_close(c);
}


void kn_client_maybe_finish_close(kinesis_client_t* c) {
  kinesis_close_cb cb;
  void* arg;
  void* data;

  if (!kn_life_closing(&c->life))
    return;
  /* The HTTP engines close last: calls and the credential provider use
   * them until they are done. */
  if (c->ncalls == 0 && !c->creds_open) {
    if (c->streams != NULL && c->streams_open == 0) {
      /* Never put on the loop. */
      kn_http_free_unstarted(c->streams);
      c->streams = NULL;
    } else if (c->streams_open == 1) {
      c->streams_open = 2;
      kn_http_close(c->streams, on_streams_closed, c);
    }
    if (c->http_open == 1) {
      c->http_open = 2;
      kn_http_close(c->http, on_http_closed, c);
      return;
    }
  }
  if (c->ncalls > 0 || c->creds_open || c->http_open || c->streams_open)
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
  if (kn_life_closing(&c->life))
    return KINESIS_EALREADY;
  if (c->children > 0)
    return KINESIS_EBUSY;
  (void) kn_life_begin_close(&c->life);
  c->close_cb = cb;
  c->close_arg = arg;
  for (q = c->calls.next; q != &c->calls; q = q->next) {
    kn_call_t* call = kn_queue_data(q, kn_call_t, node);
    if (call->http_req != NULL)
      kn_http_cancel(call->http_req);
    else if (!call->waiting_creds)
      kn_client_call_schedule(call, 0);  /* its timer callback sees closing */
  }
  /* Waiting credential requests end with KINESIS_ECANCELED. */
  kn_cred_provider_close(c->creds, on_creds_closed, c);
  return 0;
}
