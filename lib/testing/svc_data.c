/*
 * The fake service's data operations: GetShardIterator, GetRecords,
 * PutRecord and PutRecords (svc_ops.h; the other operations and the
 * dispatch are svc_ops.c's).
 */
#include "svc_ops.h"
#include "internal.h"

#include <inttypes.h>
#include <string.h>

#include "validate.h"

/* GetRecords answers at most 10 MiB (protocol.md section 4). */
#define GET_RECORDS_MAX_BYTES (10 * 1024 * 1024)


/* ---- reading ---- */


int kn_svc_shard_not_found(req_t* q, const kn_svc_stream_t* s, const char* id) {
  return kn_svc_error(q->reply, "ResourceNotFoundException",
                      "Shard %s in stream %s under account %s does not "
                      "exist.",
                      id, s->name, q->svc->account_id);
}


int kn_svc_check_position(req_t* q, int type, const char* seq_member,
                          const char* seq, int has_ts, int64_t ts) {
  if ((type <= KN_SVC_AFTER_SEQUENCE_NUMBER) != (seq != NULL))
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "%s is required with AT_SEQUENCE_NUMBER and "
                        "AFTER_SEQUENCE_NUMBER, and only with them.",
                        seq_member);
  if ((type == KN_SVC_AT_TIMESTAMP) != has_ts)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Timestamp is required with AT_TIMESTAMP, and only "
                        "with it.");
  if (has_ts && ts > q->now)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "The Timestamp cannot be later than the current "
                        "time.");
  return 0;
}


int kn_svc_position(req_t* q, const char* op, const char* seq_member,
                    const kn_svc_stream_t* s, const kn_svc_shard_t* sh,
                    int type, const char* seq, int64_t ts, uint64_t* pos) {
  uint64_t counter;
  uint32_t index;
  uint64_t top;

  switch (type) {
    case KN_SVC_TRIM_HORIZON:
      *pos = 0;
      return 0;
    case KN_SVC_LATEST:
      *pos = q->st->counter + 1;
      return 0;
    case KN_SVC_AT_TIMESTAMP:
      *pos = kn_svc_shard_seek_time(q->st, sh, ts);
      return 0;
    default:
      break;
  }
  /* A sequence number of this shard lies between its opening and now (or
   * its closing); anything else came from elsewhere. */
  top = sh->closed ? sh->end_counter : q->st->counter;
  if (kn_svc_seq_parse(seq, &counter, &index) != 0 || index != sh->index ||
      counter < sh->start_counter || counter > top)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "%s %s used in %s on shard %s in stream %s under "
                        "account %s is invalid because it did not come from "
                        "this shard.",
                        seq_member, seq, op, sh->id, s->name,
                        q->svc->account_id);
  *pos = type == KN_SVC_AT_SEQUENCE_NUMBER ? counter : counter + 1;
  return 0;
}


int kn_svc_op_get_shard_iterator(req_t* q) {
  static const char* const types[] = {
      "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER",
      "TRIM_HORIZON",       "LATEST",
      "AT_TIMESTAMP",       NULL};
  const char* shard_id;
  const char* seq;
  int type;
  int64_t ts = 0;
  int has_ts;
  kn_svc_stream_t* s;
  kn_svc_shard_t* sh;
  kn_svc_token_t t;
  kn_svc_out_t o;
  int r;

  if ((r = kn_svc_get_name(q, q->root, "ShardId", 1, &shard_id)) != 0 ||
      (r = kn_svc_get_enum(q, q->root, "ShardIteratorType", types,
                           "Member must satisfy enum value set: "
                           "[AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, "
                           "TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                           1, &type)) != 0 ||
      (r = kn_svc_get_seq(q, q->root, "StartingSequenceNumber", &seq)) != 0 ||
      (r = kn_svc_get_time(q, q->root, "Timestamp", &ts, &has_ts)) != 0 ||
      (r = kn_svc_find_stream(q, NEED_DATA, &s)) != 0)
    return r;
  if ((r = kn_svc_check_position(q, type, "StartingSequenceNumber", seq,
                                 has_ts, ts)) != 0)
    return r;
  sh = kn_svc_shard_find(s, shard_id, q->now);
  if (sh == NULL)
    return kn_svc_shard_not_found(q, s, shard_id);
  if (!kn_svc_admit_iterator(q->svc, sh, q->now))
    return kn_svc_throttled(q->svc, q->reply, s, sh);
  kn_svc_shard_trim(s, sh, q->now);

  memset(&t, 0, sizeof(t));
  t.kind = KN_SVC_TOKEN_ITERATOR;
  t.incarnation = s->incarnation;
  t.shard = sh->index;
  t.issued_ms = q->now;
  strcpy(t.name, s->name);
  if ((r = kn_svc_position(q, "GetShardIterator", "StartingSequenceNumber", s,
                           sh, type, seq, ts, &t.pos)) != 0)
    return r;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_token(&o, "ShardIterator", &t);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


int kn_svc_op_get_records(req_t* q) {
  const char* text;
  size_t text_len;
  const char* arn;
  size_t arn_len;
  int64_t limit = 10000;
  int has_limit;
  kn_svc_token_t t;
  kn_svc_stream_t* s;
  kn_svc_shard_t* sh;
  size_t i;
  size_t end;
  size_t bytes = 0;
  int at_end;
  kn_svc_out_t o;
  int r;

  if ((r = kn_svc_get_str(q, q->root, "ShardIterator", &text, &text_len)) !=
          0 ||
      (r = kn_svc_get_int(q, q->root, "Limit", 1, 10000, &limit, &has_limit)) !=
          0 ||
      (r = kn_svc_get_str(q, q->root, "StreamARN", &arn, &arn_len)) != 0)
    return r;
  if (text == NULL)
    return kn_svc_missing(q, "shardIterator");
  if (text_len < 1 || text_len > 512)
    return kn_svc_validation(q, NULL, "shardIterator",
                             "Member must have length between 1 and 512");
  if (kn_svc_token_decode(text, text_len, KN_SVC_TOKEN_ITERATOR, &t) != 0)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Invalid ShardIterator.");
  if (q->now - t.issued_ms > KN_SVC_TOKEN_TTL_MS)
    return kn_svc_error(q->reply, "ExpiredIteratorException",
                        "Iterator expired. The iterator was created at time "
                        "%" PRId64 " while right now it is %" PRId64
                        " which is further in the future than the tolerated "
                        "delay of %d milliseconds.",
                        t.issued_ms, q->now, KN_SVC_TOKEN_TTL_MS);
  if (arn != NULL) {
    const char* arn_name;
    if ((r = kn_svc_read_arn(q, arn, arn_len, &arn_name)) != 0)
      return r;
    if (arn_name == NULL || strcmp(arn_name, t.name) != 0)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "StreamARN %s is not the stream of the "
                          "ShardIterator.",
                          arn);
  }
  s = kn_svc_stream_find(q->st, t.name);
  /* An iterator of a stream deleted since, even if one of the same name
   * was made again, names a stream that is gone. */
  if (s == NULL || s->incarnation != t.incarnation)
    return kn_svc_not_found(q, t.name);
  if (s->status != KN_SVC_ACTIVE && s->status != KN_SVC_UPDATING)
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Stream %s under account %s is %s, not ACTIVE.",
                        s->name, q->svc->account_id,
                        kn_svc_status_name(s->status));
  if (t.shard >= s->nshards)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Invalid ShardIterator.");
  sh = &s->shards[t.shard];
  if (kn_svc_shard_aged_out(s, sh, q->now))
    return kn_svc_shard_not_found(q, s, sh->id);
  /* The bytes are taken once known, below. */
  if (!kn_svc_admit_read(q->svc, sh, q->now))
    return kn_svc_throttled(q->svc, q->reply, s, sh);
  kn_svc_shard_trim(s, sh, q->now);

  i = kn_svc_shard_seek(sh, t.pos);
  end = i;
  /* At least one record, then up to the Limit and 10 MiB. */
  while (end < sh->len && (int64_t) (end - i) < limit) {
    const kn_svc_record_t* rec = sh->recs[end];
    size_t sz = rec->data_len + rec->key_len;
    if (end > i && bytes + sz > GET_RECORDS_MAX_BYTES)
      break;
    bytes += sz;
    end++;
  }
  kn_svc_read_bytes(q->svc, sh, bytes);
  /* A closed shard read to its end has no next iterator: its children
   * come instead. */
  at_end = sh->closed && end == sh->len;

  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_array(&o, "Records");
  for (; i < end; i++) {
    kn_svc_out_record(&o, sh, sh->recs[i]);
    t.pos = sh->recs[i]->counter + 1;
  }
  kn_svc_out_array_end(&o);
  if (!at_end) {
    t.issued_ms = q->now;
    kn_svc_out_token(&o, "NextShardIterator", &t);
  }
  {
    int64_t behind = 0;
    if (end < sh->len) {
      behind = q->now - sh->recs[end]->arrival_ms;
      if (behind < 0)
        behind = 0;
    }
    kn_svc_out_int(&o, "MillisBehindLatest", behind);
  }
  if (at_end)
    kn_svc_out_children(&o, s, sh);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


void kn_svc_out_record(kn_svc_out_t* o, const kn_svc_shard_t* sh,
                       const kn_svc_record_t* rec) {
  char seq[KN_SVC_SEQ_LEN + 1];
  kn_svc_seq_format(rec->counter, sh->index, seq);
  kn_svc_out_begin(o, NULL);
  kn_svc_out_str(o, "SequenceNumber", seq);
  kn_svc_out_time(o, "ApproximateArrivalTimestamp", rec->arrival_ms);
  kn_svc_out_base64(o, "Data", rec->data, rec->data_len);
  kn_svc_out_strn(o, "PartitionKey", rec->key, rec->key_len);
  kn_svc_out_end(o);
}


void kn_svc_out_children(kn_svc_out_t* o, const kn_svc_stream_t* s,
                         const kn_svc_shard_t* sh) {
  size_t i;
  kn_svc_out_array(o, "ChildShards");
  for (i = 0; i < s->nshards; i++) {
    const kn_svc_shard_t* c = &s->shards[i];
    if (c->parent != (int64_t) sh->index &&
        c->adjacent_parent != (int64_t) sh->index)
      continue;
    kn_svc_out_begin(o, NULL);
    kn_svc_out_str(o, "ShardId", c->id);
    kn_svc_out_array(o, "ParentShards");
    kn_svc_out_str(o, NULL, s->shards[c->parent].id);
    if (c->adjacent_parent >= 0)
      kn_svc_out_str(o, NULL, s->shards[c->adjacent_parent].id);
    kn_svc_out_array_end(o);
    kn_svc_out_range(o, c);
    kn_svc_out_end(o);
  }
  kn_svc_out_array_end(o);
}


/* ---- writing ---- */


/* One record to put, read and checked; `data` is decoded into the
 * caller's scratch buffer. */
typedef struct put_entry_s {
  const char* key;
  size_t key_len;
  const char* data_text;
  size_t data_text_len;
  size_t data_len;
  kn_hash_key_t hash;
  const char* fault; /* PutRecords: the ErrorCode it fails with, or NULL */
} put_entry_t;


/* Decodes a Data member into `scratch` (grown as needed). */
static int decode_data(req_t* q, const char* text, size_t len,
                       kn_buf_t* scratch, size_t* out_len) {
  size_t max = kn_base64_decoded_max(len);
  size_t n = max;
  kn_buf_reset(scratch);
  if (kn_buf_reserve(scratch, max) != 0)
    return KINESIS_ENOMEM;
  if (kn_base64_decode(text, len, scratch->data, &n) != 0)
    return kn_svc_error(q->reply, "SerializationException",
                        "Data is not valid base64.");
  *out_len = n;
  return 0;
}


/* Reads and checks one record (PutRecord's body, or an entry of
 * PutRecords), its Data decoded once to know its size. */
static int read_entry(req_t* q, json_t* obj, const kn_svc_stream_t* s,
                      kn_buf_t* scratch, put_entry_t* e) {
  int has_ehk;
  int r;
  if ((r = kn_svc_get_str(q, obj, "PartitionKey", &e->key, &e->key_len)) != 0 ||
      (r = kn_svc_get_str(q, obj, "Data", &e->data_text, &e->data_text_len)) !=
          0 ||
      (r = kn_svc_get_hash_key(q, obj, "ExplicitHashKey", 0, &e->hash,
                               &has_ehk)) != 0)
    return r;
  if (e->key == NULL)
    return kn_svc_missing(q, "partitionKey");
  if (e->data_text == NULL)
    return kn_svc_missing(q, "data");
  if (!kn_valid_partition_key(e->key, e->key_len))
    return kn_svc_validation(q, NULL, "partitionKey",
                             "Member must have length between 1 and 256");
  if ((r = decode_data(q, e->data_text, e->data_text_len, scratch,
                       &e->data_len)) != 0)
    return r;
  if (e->data_len + e->key_len > (size_t) s->max_record_kib * 1024)
    return kn_svc_validation(
        q, NULL, "data",
        "Member must have a length, with its partition key, "
        "of at most the stream's maximum record size");
  if (!has_ehk)
    kn_hash_key_from_partition_key(e->key, e->key_len, &e->hash);
  return 0;
}


/* Stores a checked entry; its Data is decoded again into `scratch`. */
static int store_entry(req_t* q, kn_svc_stream_t* s, const put_entry_t* e,
                       kn_buf_t* scratch, const kn_svc_shard_t** shard,
                       const kn_svc_record_t** rec) {
  kn_svc_shard_t* sh = kn_svc_route(s, &e->hash);
  size_t n;
  int r;
  KN_ASSERT(sh != NULL);
  if ((r = decode_data(q, e->data_text, e->data_text_len, scratch, &n)) != 0)
    return r;
  *shard = sh;
  return kn_svc_shard_put(q->st, s, sh, e->key, e->key_len, scratch->data, n,
                          q->now, rec);
}


int kn_svc_op_put_record(req_t* q) {
  kn_svc_stream_t* s;
  const char* order;
  put_entry_t e;
  kn_buf_t scratch;
  const kn_svc_shard_t* sh;
  const kn_svc_record_t* rec;
  char seq[KN_SVC_SEQ_LEN + 1];
  kn_svc_out_t o;
  int r;

  /* SequenceNumberForOrdering is checked and needs nothing more: records
   * of a shard already take increasing numbers in arrival order. */
  if ((r = kn_svc_get_seq(q, q->root, "SequenceNumberForOrdering", &order)) !=
          0 ||
      (r = kn_svc_find_stream(q, NEED_DATA, &s)) != 0)
    return r;
  kn_buf_init(&scratch);
  r = read_entry(q, q->root, s, &scratch, &e);
  if (r == 0) {
    kn_svc_shard_t* to = kn_svc_route(s, &e.hash);
    KN_ASSERT(to != NULL);
    if (!kn_svc_admit_write(q->svc, to, e.data_len + e.key_len, q->now))
      r = kn_svc_throttled(q->svc, q->reply, s, to);
  }
  if (r == 0)
    r = store_entry(q, s, &e, &scratch, &sh, &rec);
  kn_buf_free(&scratch);
  if (r != 0)
    return r;
  kn_svc_seq_format(rec->counter, sh->index, seq);
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_str(&o, "ShardId", sh->id);
  kn_svc_out_str(&o, "SequenceNumber", seq);
  kn_svc_out_str(&o, "EncryptionType", "NONE");
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


int kn_svc_op_put_records(req_t* q) {
  json_t* records = kn_svc_member(q->root, "Records");
  kn_svc_stream_t* s;
  put_entry_t* entries;
  kn_buf_t scratch;
  size_t n;
  size_t i;
  size_t total = 0;
  size_t failed = 0;
  kn_svc_out_t o;
  int r;

  if (records == NULL)
    return kn_svc_missing(q, "records");
  if (!json_is_array(records))
    return kn_svc_serialization(q, "Records");
  n = json_array_size(records);
  if (n < 1 || n > 500)
    return kn_svc_validation(q, NULL, "records",
                             "Member must have length between 1 and 500");
  if ((r = kn_svc_find_stream(q, NEED_DATA, &s)) != 0)
    return r;
  entries = kn_malloc(n * sizeof(*entries));
  if (entries == NULL)
    return KINESIS_ENOMEM;
  kn_buf_init(&scratch);
  /* Every entry is checked before any is stored: a bad one fails the whole
   * request, as on AWS. */
  for (i = 0; i < n && r == 0; i++) {
    json_t* e = json_array_get(records, i);
    if (!json_is_object(e))
      r = kn_svc_serialization(q, "Records");
    else if ((r = read_entry(q, e, s, &scratch, &entries[i])) == 0)
      total += entries[i].data_len + entries[i].key_len;
  }
  /* The whole request: 5 MiB, or 10 MiB for a stream of larger records
   * (protocol.md section 4). */
  if (r == 0 &&
      total > (s->max_record_kib > 1024 ? 10u : 5u) * 1024 * 1024)
    r = kn_svc_error(q->reply, "InvalidArgumentException",
                     "Records size exceeds %u MB limit",
                     s->max_record_kib > 1024 ? 10u : 5u);
  if (r != 0) {
    kn_buf_free(&scratch);
    kn_free(entries);
    return r;
  }
  /* Each entry's fate before any is stored, so that the answer can start
   * with how many failed: the partial-failure fault (svc.h) first, then its
   * shard's write limits. An entry that does not fit fails alone; a later,
   * smaller one may still fit. */
  for (i = 0; i < n; i++) {
    entries[i].fault = q->svc->entry_fault != NULL
                           ? q->svc->entry_fault(q->svc->entry_fault_arg)
                           : NULL;
    if (entries[i].fault == NULL) {
      kn_svc_shard_t* to = kn_svc_route(s, &entries[i].hash);
      KN_ASSERT(to != NULL);
      if (!kn_svc_admit_write(q->svc, to,
                              entries[i].data_len + entries[i].key_len,
                              q->now))
        entries[i].fault = "ProvisionedThroughputExceededException";
    }
    failed += entries[i].fault != NULL;
  }
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_int(&o, "FailedRecordCount", (int64_t) failed);
  kn_svc_out_array(&o, "Records");
  for (i = 0; i < n; i++) {
    const kn_svc_shard_t* sh;
    const kn_svc_record_t* rec;
    char seq[KN_SVC_SEQ_LEN + 1];
    if (entries[i].fault != NULL) {
      char msg[KN_SVC_RATE_MESSAGE_MAX];
      if (strcmp(entries[i].fault, "InternalFailure") == 0)
        snprintf(msg, sizeof(msg), "Internal service failure.");
      else
        kn_svc_rate_message(q->svc, s, kn_svc_route(s, &entries[i].hash),
                            msg, sizeof(msg));
      kn_svc_out_begin(&o, NULL);
      kn_svc_out_str(&o, "ErrorCode", entries[i].fault);
      kn_svc_out_str(&o, "ErrorMessage", msg);
      kn_svc_out_end(&o);
      continue;
    }
    /* Out of memory halfway leaves the first records stored: the front
     * answers 500 and the client sends again, as after a lost reply. */
    if ((r = store_entry(q, s, &entries[i], &scratch, &sh, &rec)) != 0)
      break;
    kn_svc_seq_format(rec->counter, sh->index, seq);
    kn_svc_out_begin(&o, NULL);
    kn_svc_out_str(&o, "SequenceNumber", seq);
    kn_svc_out_str(&o, "ShardId", sh->id);
    kn_svc_out_end(&o);
  }
  kn_svc_out_array_end(&o);
  kn_svc_out_str(&o, "EncryptionType", "NONE");
  kn_svc_out_end(&o);
  kn_buf_free(&scratch);
  kn_free(entries);
  if (r != 0)
    return r;
  return kn_svc_finish(&o);
}
