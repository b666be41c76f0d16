/*
 * The fake service's consumers of enhanced fan-out (issue 19):
 * RegisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers and
 * DeregisterStreamConsumer, on the streams of the model. A consumer is
 * CREATING, then ACTIVE, and DELETING, then gone, each for the service's
 * transition_ms (at once when it is 0); it goes with its stream. Its ARN is
 * the stream's, "/consumer/NAME:" and its creation in seconds, as on AWS.
 * And their subscriptions (SubscribeToShard, svc.h): the events, as
 * event-stream messages, that the front streams.
 */
#include "svc_ops.h"
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "eventstream.h"

/* Consumers a stream may have (the service's quota). */
#define MAX_CONSUMERS 20


/* Ends the CREATING and DELETING states whose time has come. */
static void consumers_tick(kn_svc_stream_t* s, int64_t now) {
  size_t i = 0;
  while (i < s->nconsumers) {
    kn_svc_consumer_t* c = &s->consumers[i];
    if (c->status == KN_SVC_DELETING && now >= c->status_until_ms) {
      memmove(c, c + 1, (s->nconsumers - i - 1) * sizeof(*c));
      s->nconsumers--;
      continue;
    }
    if (c->status == KN_SVC_CREATING && now >= c->status_until_ms)
      c->status = KN_SVC_ACTIVE;
    i++;
  }
}


static kn_svc_consumer_t* consumer_find(kn_svc_stream_t* s,
                                        const char* name) {
  size_t i;
  for (i = 0; i < s->nconsumers; i++)
    if (strcmp(s->consumers[i].name, name) == 0)
      return &s->consumers[i];
  return NULL;
}


static void consumer_arn(const req_t* q, const kn_svc_stream_t* s,
                         const kn_svc_consumer_t* c, char* out, size_t size) {
  char stream[256];
  kn_svc_stream_arn(q, s, stream, sizeof(stream));
  snprintf(out, size, "%s/consumer/%s:%" PRId64, stream, c->name,
           c->created_ms / 1000);
}


static void out_consumer(const req_t* q, kn_svc_out_t* o, const char* key,
                         const kn_svc_stream_t* s, const kn_svc_consumer_t* c,
                         int with_stream) {
  char arn[512];
  consumer_arn(q, s, c, arn, sizeof(arn));
  kn_svc_out_begin(o, key);
  kn_svc_out_str(o, "ConsumerName", c->name);
  kn_svc_out_str(o, "ConsumerARN", arn);
  kn_svc_out_str(o, "ConsumerStatus", kn_svc_status_name(c->status));
  kn_svc_out_time(o, "ConsumerCreationTimestamp", c->created_ms);
  if (with_stream) {
    kn_svc_stream_arn(q, s, arn, sizeof(arn));
    kn_svc_out_str(o, "StreamARN", arn);
  }
  kn_svc_out_end(o);
}


/* The stream a consumer call names by StreamARN, which it requires. */
static int find_stream(req_t* q, kn_svc_stream_t** out) {
  int r;
  if (kn_svc_member(q->root, "StreamARN") == NULL)
    return kn_svc_missing(q, "StreamARN");
  r = kn_svc_find_stream(q, NEED_ANY, out);
  if (r == 0)
    consumers_tick(*out, q->now);
  return r;
}


static int consumer_not_found(req_t* q, const char* what) {
  return kn_svc_error(q->reply, "ResourceNotFoundException",
                      "Consumer %s not found.", what);
}


/* The consumer a call names by ConsumerARN, or by StreamARN and
 * ConsumerName. */
static int find_consumer(req_t* q, kn_svc_stream_t** stream,
                         kn_svc_consumer_t** out) {
  const char* arn;
  const char* name;
  size_t len;
  int r;

  if ((r = kn_svc_get_str(q, q->root, "ConsumerARN", &arn, &len)) != 0 ||
      (r = kn_svc_get_name(q, q->root, "ConsumerName", 0, &name)) != 0)
    return r;
  if (arn != NULL) {
    /* STREAM_ARN/consumer/NAME:SECONDS, of a stream and consumer here. */
    const char* mark = strstr(arn, "/consumer/");
    char stream_name[KN_SVC_NAME_MAX + 1];
    char consumer[KN_SVC_NAME_MAX + 1];
    const char* head;
    const char* colon;
    size_t i;
    kn_svc_stream_t* s;
    char want[512];

    if (len != strlen(arn) || len > 2048 || mark == NULL ||
        (head = strstr(arn, ":stream/")) == NULL || head > mark ||
        (size_t) (mark - head - 8) > KN_SVC_NAME_MAX ||
        (colon = strrchr(mark, ':')) == NULL ||
        (size_t) (colon - mark - 10) > KN_SVC_NAME_MAX)
      return kn_svc_validation(q, arn, "consumerARN",
                               "Member must satisfy regular expression "
                               "pattern: ^(arn):aws.*:kinesis:.*:\\d{12}:.*"
                               "stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
                               "[a-zA-Z0-9_.-]+:[0-9]+");
    memcpy(stream_name, head + 8, (size_t) (mark - head - 8));
    stream_name[mark - head - 8] = '\0';
    memcpy(consumer, mark + 10, (size_t) (colon - mark - 10));
    consumer[colon - mark - 10] = '\0';
    s = kn_svc_stream_find(q->st, stream_name);
    if (s == NULL)
      return consumer_not_found(q, arn);
    consumers_tick(s, q->now);
    for (i = 0; i < s->nconsumers; i++) {
      consumer_arn(q, s, &s->consumers[i], want, sizeof(want));
      if (strcmp(want, arn) == 0) {
        *stream = s;
        *out = &s->consumers[i];
        return 0;
      }
    }
    return consumer_not_found(q, arn);
  }
  if (name == NULL)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Either ConsumerARN, or StreamARN and ConsumerName, "
                        "must be given.");
  if ((r = find_stream(q, stream)) != 0)
    return r;
  *out = consumer_find(*stream, name);
  return *out != NULL ? 0 : consumer_not_found(q, name);
}


int kn_svc_op_register_consumer(req_t* q) {
  kn_svc_stream_t* s;
  kn_svc_consumer_t* c;
  const char* name;
  kn_svc_out_t o;
  int r;

  if ((r = kn_svc_get_name(q, q->root, "ConsumerName", 1, &name)) != 0 ||
      (r = find_stream(q, &s)) != 0)
    return r;
  if (s->status != KN_SVC_ACTIVE && s->status != KN_SVC_UPDATING)
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Stream %s is %s, not ACTIVE.", s->name,
                        kn_svc_status_name(s->status));
  if (consumer_find(s, name) != NULL)
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Consumer %s already exists on stream %s.", name,
                        s->name);
  if (s->nconsumers >= MAX_CONSUMERS)
    return kn_svc_error(q->reply, "LimitExceededException",
                        "Stream %s has %d consumers, the most it may have.",
                        s->name, MAX_CONSUMERS);
  if (s->nconsumers == s->consumers_cap) {
    size_t cap = s->consumers_cap == 0 ? 4 : s->consumers_cap * 2;
    kn_svc_consumer_t* v = kn_realloc(s->consumers, cap * sizeof(*v));
    if (v == NULL)
      return KINESIS_ENOMEM;
    s->consumers = v;
    s->consumers_cap = cap;
  }
  c = &s->consumers[s->nconsumers];
  memset(c, 0, sizeof(*c));
  strcpy(c->name, name);
  c->created_ms = q->now;
  c->status = q->st->transition_ms > 0 ? KN_SVC_CREATING : KN_SVC_ACTIVE;
  c->status_until_ms = q->now + q->st->transition_ms;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  out_consumer(q, &o, "Consumer", s, c, 0);
  kn_svc_out_end(&o);
  r = kn_svc_finish(&o);
  /* Kept only once the answer could be written: a failure changes
   * nothing. */
  if (r == 0)
    s->nconsumers++;
  return r;
}


int kn_svc_op_describe_consumer(req_t* q) {
  kn_svc_stream_t* s;
  kn_svc_consumer_t* c;
  kn_svc_out_t o;
  int r = find_consumer(q, &s, &c);

  if (r != 0)
    return r;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  out_consumer(q, &o, "ConsumerDescription", s, c, 1);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


int kn_svc_op_list_consumers(req_t* q) {
  kn_svc_stream_t* s;
  const char* token_text;
  size_t token_len;
  kn_svc_token_t t;
  int64_t limit = 100;
  int has_limit;
  size_t first = 0;
  size_t end;
  size_t i;
  kn_svc_out_t o;
  int r;

  if ((r = kn_svc_get_int(q, q->root, "MaxResults", 1, 10000, &limit,
                          &has_limit)) != 0 ||
      (r = kn_svc_get_str(q, q->root, "NextToken", &token_text,
                          &token_len)) != 0 ||
      (r = find_stream(q, &s)) != 0)
    return r;
  if (token_text != NULL) {
    if (kn_svc_token_decode(token_text, token_len, KN_SVC_TOKEN_CONSUMERS,
                            &t) != 0 ||
        t.incarnation != s->incarnation)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "Invalid NextToken.");
    if (q->now - t.issued_ms > KN_SVC_TOKEN_TTL_MS)
      return kn_svc_error(q->reply, "ExpiredNextTokenException",
                          "The NextToken has expired.");
    /* Where the last page ended; a consumer deregistered meanwhile may
     * shift the rest by one, as a fake may allow itself. */
    first = (size_t) t.pos;
    if (first > s->nconsumers)
      first = s->nconsumers;
  }
  end = first + (size_t) limit < s->nconsumers ? first + (size_t) limit
                                               : s->nconsumers;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_array(&o, "Consumers");
  for (i = first; i < end; i++)
    out_consumer(q, &o, NULL, s, &s->consumers[i], 0);
  kn_svc_out_array_end(&o);
  if (end < s->nconsumers) {
    memset(&t, 0, sizeof(t));
    t.kind = KN_SVC_TOKEN_CONSUMERS;
    t.incarnation = s->incarnation;
    t.pos = end;
    t.issued_ms = q->now;
    kn_svc_out_token(&o, "NextToken", &t);
  }
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


int kn_svc_op_deregister_consumer(req_t* q) {
  kn_svc_stream_t* s;
  kn_svc_consumer_t* c;
  int r = find_consumer(q, &s, &c);

  if (r != 0)
    return r;
  if ((r = kn_buf_append_str(&q->reply->body, "{}")) != 0)
    return r;
  if (c->status != KN_SVC_DELETING) {
    c->status = KN_SVC_DELETING;
    c->status_until_ms = q->now + q->st->transition_ms;
  }
  consumers_tick(s, q->now);
  return 0;
}


/* ---- SubscribeToShard ---- */

/* An event carries at most this much record data (and 10,000 records). */
#define SUB_EVENT_MAX_BYTES (2 * 1024 * 1024)

struct kn_svc_sub_s {
  kn_svc_sub_t* next; /* the service's open subscriptions */
  kn_svc_sub_t* prev;
  char stream[KN_SVC_NAME_MAX + 1];
  uint64_t incarnation;
  char consumer[KN_SVC_NAME_MAX + 1];
  int64_t consumer_created_ms;
  uint32_t shard;
  uint64_t pos;       /* the counter of the next record to send */
  int64_t started_ms;
  int64_t last_event_ms;
  int sent_initial;
  int over;
};


typedef struct {
  kn_svc_sub_t** out;
} subscribe_t;


static int op_subscribe(req_t* q, void* arg) {
  static const char* const types[] = {
      "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER",
      "TRIM_HORIZON",       "LATEST",
      "AT_TIMESTAMP",       NULL};
  subscribe_t* sa = arg;
  kn_svc_stream_t* s;
  kn_svc_consumer_t* c;
  kn_svc_shard_t* sh;
  kn_svc_sub_t* sub;
  json_t* start;
  const char* shard_id;
  const char* seq;
  int type;
  int64_t ts = 0;
  int has_ts;
  uint64_t pos;
  int r;

  if (kn_svc_member(q->root, "ConsumerARN") == NULL)
    return kn_svc_missing(q, "ConsumerARN");
  if ((r = kn_svc_get_name(q, q->root, "ShardId", 1, &shard_id)) != 0)
    return r;
  start = kn_svc_member(q->root, "StartingPosition");
  if (start == NULL)
    return kn_svc_missing(q, "StartingPosition");
  if (!json_is_object(start))
    return kn_svc_serialization(q, "StartingPosition");
  if ((r = kn_svc_get_enum(q, start, "Type", types,
                           "Member must satisfy enum value set: "
                           "[AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, "
                           "TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                           1, &type)) != 0 ||
      (r = kn_svc_get_seq(q, start, "SequenceNumber", &seq)) != 0 ||
      (r = kn_svc_get_time(q, start, "Timestamp", &ts, &has_ts)) != 0 ||
      (r = kn_svc_check_position(q, type, "SequenceNumber", seq, has_ts,
                                 ts)) != 0 ||
      (r = find_consumer(q, &s, &c)) != 0)
    return r;
  if (c->status != KN_SVC_ACTIVE)
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Consumer %s is %s, not ACTIVE.", c->name,
                        kn_svc_status_name(c->status));
  if (s->status != KN_SVC_ACTIVE && s->status != KN_SVC_UPDATING)
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Stream %s is %s, not ACTIVE.", s->name,
                        kn_svc_status_name(s->status));
  sh = kn_svc_shard_find(s, shard_id, q->now);
  if (sh == NULL)
    return kn_svc_shard_not_found(q, s, shard_id);
  for (sub = q->svc->subs; sub != NULL; sub = sub->next)
    if (sub->incarnation == s->incarnation && sub->shard == sh->index &&
        sub->consumer_created_ms == c->created_ms &&
        strcmp(sub->consumer, c->name) == 0)
      return kn_svc_error(q->reply, "ResourceInUseException",
                          "Another active subscription exists for consumer "
                          "%s on shard %s.",
                          c->name, sh->id);
  if ((r = kn_svc_position(q, "SubscribeToShard", "SequenceNumber", s, sh,
                           type, seq, ts, &pos)) != 0)
    return r;
  sub = kn_calloc(1, sizeof(*sub));
  if (sub == NULL)
    return KINESIS_ENOMEM;
  strcpy(sub->stream, s->name);
  sub->incarnation = s->incarnation;
  strcpy(sub->consumer, c->name);
  sub->consumer_created_ms = c->created_ms;
  sub->shard = sh->index;
  sub->pos = pos;
  sub->started_ms = q->now;
  sub->next = q->svc->subs;
  if (sub->next != NULL)
    sub->next->prev = sub;
  q->svc->subs = sub;
  *sa->out = sub;
  return 0;
}


int kn_svc_subscribe(kn_svc_t* svc, int64_t now_ms, const uint8_t* body,
                     size_t len, kn_svc_reply_t* reply, kn_svc_sub_t** out) {
  subscribe_t sa;
  *out = NULL;
  sa.out = out;
  kn_svc_store_tick(&svc->store, now_ms);
  return kn_svc_with_request(svc, now_ms, body, len, reply, op_subscribe,
                             &sa);
}


void kn_svc_sub_free(kn_svc_t* svc, kn_svc_sub_t* sub) {
  if (sub == NULL)
    return;
  if (sub->prev != NULL)
    sub->prev->next = sub->next;
  else
    svc->subs = sub->next;
  if (sub->next != NULL)
    sub->next->prev = sub->prev;
  kn_free(sub);
}


/* One message: `kind` is "event" (with :event-type `type`) or "exception"
 * (with :exception-type `type`), its payload JSON. */
static int send_message(kn_buf_t* out, const char* kind, const char* type,
                        const kn_buf_t* payload) {
  kn_es_header_t h[3];
  int event = strcmp(kind, "event") == 0;
  memset(h, 0, sizeof(h));
  h[0].name = kn_cursor_from_str(event ? ":event-type" : ":exception-type");
  h[0].type = KN_ES_STRING;
  h[0].bytes = kn_cursor_from_str(type);
  h[1].name = kn_cursor_from_str(":content-type");
  h[1].type = KN_ES_STRING;
  h[1].bytes = kn_cursor_from_str("application/json");
  h[2].name = kn_cursor_from_str(":message-type");
  h[2].type = KN_ES_STRING;
  h[2].bytes = kn_cursor_from_str(kind);
  return kn_es_encode(out, h, 3, payload->data, payload->len);
}


/* The exception that ends a subscription whose stream or consumer went. */
static int send_gone(kn_buf_t* out, const char* what, const char* name,
                     int* done) {
  kn_buf_t p = KN_BUF_INIT;
  kn_svc_out_t o;
  char msg[KN_SVC_NAME_MAX + 64];
  int r;
  snprintf(msg, sizeof(msg), "%s %s not found.", what, name);
  kn_svc_out_init(&o, &p);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_str(&o, "message", msg);
  kn_svc_out_end(&o);
  r = o.err != 0 ? o.err
                 : send_message(out, "exception", "ResourceNotFoundException",
                                &p);
  kn_buf_free(&p);
  if (r == 0)
    *done = 1;
  return r;
}


int kn_svc_sub_next(kn_svc_t* svc, kn_svc_sub_t* sub, int64_t now_ms,
                    kn_buf_t* out, int* done) {
  kn_svc_store_t* st = &svc->store;
  kn_svc_stream_t* s;
  kn_svc_consumer_t* c;
  kn_svc_shard_t* sh;
  kn_buf_t p = KN_BUF_INIT;
  kn_svc_out_t o;
  char seq[KN_SVC_SEQ_LEN + 1];
  size_t i;
  size_t end;
  size_t bytes = 0;
  uint64_t pos;
  int at_end;
  int r;

  *done = sub->over;
  if (sub->over)
    return 0;
  kn_svc_store_tick(st, now_ms);
  if (!sub->sent_initial) {
    kn_buf_t empty = KN_BUF_INIT;
    if ((r = kn_buf_append_str(&empty, "{}")) == 0)
      r = send_message(out, "event", "initial-response", &empty);
    kn_buf_free(&empty);
    if (r != 0)
      return r;
    sub->sent_initial = 1;
  }
  s = kn_svc_stream_find(st, sub->stream);
  if (s == NULL || s->incarnation != sub->incarnation ||
      s->status == KN_SVC_DELETING) {
    r = send_gone(out, "Stream", sub->stream, done);
    sub->over = *done;
    return r;
  }
  consumers_tick(s, now_ms);
  c = consumer_find(s, sub->consumer);
  if (c == NULL || c->created_ms != sub->consumer_created_ms ||
      c->status == KN_SVC_DELETING) {
    r = send_gone(out, "Consumer", sub->consumer, done);
    sub->over = *done;
    return r;
  }
  if (now_ms - sub->started_ms >= KN_SVC_SUB_LIFETIME_MS) {
    sub->over = *done = 1;
    return 0;
  }
  sh = &s->shards[sub->shard];
  kn_svc_shard_trim(s, sh, now_ms);
  i = kn_svc_shard_seek(sh, sub->pos);
  end = i;
  while (end < sh->len && end - i < 10000) {
    size_t sz = sh->recs[end]->data_len + sh->recs[end]->key_len;
    if (end > i && bytes + sz > SUB_EVENT_MAX_BYTES)
      break;
    bytes += sz;
    end++;
  }
  at_end = sh->closed && end == sh->len;
  if (end == i && !at_end &&
      now_ms - sub->last_event_ms < KN_SVC_SUB_HEARTBEAT_MS)
    return 0;

  kn_svc_out_init(&o, &p);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_array(&o, "Records");
  /* Taken only once the event is written: a failure loses no record. */
  pos = sub->pos;
  for (; i < end; i++) {
    kn_svc_out_record(&o, sh, sh->recs[i]);
    pos = sh->recs[i]->counter + 1;
  }
  kn_svc_out_array_end(&o);
  if (!at_end) {
    /* Where to subscribe again from, AFTER_SEQUENCE_NUMBER: the last
     * record sent, or the place just before the next one (the shard's
     * opening, at the least). */
    uint64_t before = pos > sh->start_counter + 1 ? pos - 1
                                                  : sh->start_counter;
    kn_svc_seq_format(before, sh->index, seq);
    kn_svc_out_str(&o, "ContinuationSequenceNumber", seq);
  }
  kn_svc_out_int(&o, "MillisBehindLatest",
                 end < sh->len && now_ms > sh->recs[end]->arrival_ms
                     ? now_ms - sh->recs[end]->arrival_ms
                     : 0);
  if (at_end)
    kn_svc_out_children(&o, s, sh);
  kn_svc_out_end(&o);
  r = o.err != 0 ? o.err
                 : send_message(out, "event", "SubscribeToShardEvent", &p);
  kn_buf_free(&p);
  if (r != 0)
    return r;
  sub->pos = pos;
  sub->last_event_ms = now_ms;
  if (at_end)
    sub->over = *done = 1;
  return 0;
}
