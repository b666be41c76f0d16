#include "svc_util.h"

#include "internal.h"

/* What test_svc.c, test_svc_shards.c, test_svc_limits.c and
 * test_svc_reshard.c share: requests to a fake service through
 * kn_svc_handle(), their replies parsed, and checks of shards. */

kn_svc_t* svc;
int64_t now;
int status;
const char* etype;
json_t* rep;


void start_with(uint32_t transition_ms, unsigned limits_off) {
  kn_svc_options_t o;
  memset(&o, 0, sizeof(o));
  o.transition_ms = transition_ms;
  o.limits_off = limits_off;
  ASSERT_OK(kn_svc_new(&o, &svc));
  now = T0;
}


void start(uint32_t transition_ms) {
  start_with(transition_ms, KN_SVC_LIMITS_ALL);
}


void stop(void) {
  json_decref(rep);
  rep = NULL;
  kn_svc_free(svc);
  svc = NULL;
}


/* Sends `body` (raw bytes) to operation `op`; the reply lands in the
 * globals. */
json_t* raw(const char* target, const char* body, size_t len) {
  kn_svc_reply_t reply;
  kn_buf_init(&reply.body);
  ASSERT_OK(kn_svc_handle(svc, now, target, (const uint8_t*) body, len,
                          &reply));
  json_decref(rep);
  rep = NULL;
  status = reply.status;
  etype = reply.error_type;
  if (reply.body.len > 0) {
    json_error_t e;
    rep = json_loadb((const char*) reply.body.data, reply.body.len, 0, &e);
    if (rep == NULL)
      fprintf(stderr, "bad reply: %s (%s)\n", kn_buf_str(&reply.body), e.text);
    ASSERT_NOT_NULL(rep);
  }
  if (etype != NULL) {
    ASSERT_EQ(400, status);
    ASSERT_NOT_NULL(rep);
    ASSERT_STR_EQ(etype, json_string_value(json_object_get(rep, "__type")));
    ASSERT(json_is_string(json_object_get(rep, "message")));
  } else {
    ASSERT_EQ(200, status);
  }
  kn_buf_free(&reply.body);
  return rep;
}


/* Calls `op` with `body` (stolen). */
json_t* call(const char* op, json_t* body) {
  char target[128];
  char* text;
  ASSERT_NOT_NULL(body);
  text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  ASSERT_NOT_NULL(text);
  snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
  raw(target, text, strlen(text));
  free(text);
  return rep;
}


void ok(void) {
  if (etype != NULL)
    fprintf(stderr, "unexpected error %s: %s\n", etype,
            json_string_value(json_object_get(rep, "message")));
  ASSERT_NULL(etype);
  ASSERT_EQ(200, status);
}


void err(const char* type) {
  ASSERT_EQ(400, status);
  ASSERT_STR_EQ(type, etype);
}


const char* str(json_t* obj, const char* key) {
  json_t* v = json_object_get(obj, key);
  ASSERT(json_is_string(v));
  return json_string_value(v);
}


void create(const char* name, int shards) {
  call("CreateStream", json_pack("{s:s, s:i}", "StreamName", name,
                                 "ShardCount", shards));
  ok();
  ASSERT_NULL(rep); /* No output. */
}


/* Every shard ListShards gives (all pages), as a new array. */
json_t* list_shards(const char* stream, json_t* filter) {
  json_t* all = json_array();
  json_t* body = json_pack("{s:s, s:i}", "StreamName", stream, "MaxResults",
                           3);
  if (filter != NULL)
    json_object_set_new(body, "ShardFilter", filter);
  for (;;) {
    json_t* token;
    call("ListShards", body);
    ok();
    json_array_extend(all, json_object_get(rep, "Shards"));
    token = json_object_get(rep, "NextToken");
    if (token == NULL)
      break;
    body = json_pack("{s:O, s:i}", "NextToken", token, "MaxResults", 3);
  }
  return all;
}


json_t* find_shard(json_t* shards, const char* id) {
  size_t i;
  json_t* sh;
  json_array_foreach(shards, i, sh) {
    if (strcmp(str(sh, "ShardId"), id) == 0)
      return sh;
  }
  return NULL;
}


int is_open(json_t* sh) {
  return json_object_get(json_object_get(sh, "SequenceNumberRange"),
                         "EndingSequenceNumber") == NULL;
}


void range_of(json_t* sh, kn_hash_key_t* start, kn_hash_key_t* end) {
  json_t* r = json_object_get(sh, "HashKeyRange");
  ASSERT_OK(kn_hash_key_parse(str(r, "StartingHashKey"), start));
  ASSERT_OK(kn_hash_key_parse(str(r, "EndingHashKey"), end));
}


int cmp_start(const void* a, const void* b) {
  kn_hash_key_t sa, ea, sb, eb;
  range_of(*(json_t* const*) a, &sa, &ea);
  range_of(*(json_t* const*) b, &sb, &eb);
  return kn_hash_key_cmp(&sa, &sb);
}


/* The open shards cover [0, 2^128-1] with no gap and no overlap. Returns
 * how many are open. */
size_t check_coverage(const char* stream) {
  json_t* shards = list_shards(stream, NULL);
  json_t* open[64];
  size_t n = 0;
  size_t i;
  json_t* sh;
  kn_hash_key_t expect;
  kn_hash_key_t max;

  memset(expect.b, 0, sizeof(expect.b));
  memset(max.b, 0xFF, sizeof(max.b));
  json_array_foreach(shards, i, sh) {
    if (is_open(sh)) {
      ASSERT_LT(n, KN_ARRAY_SIZE(open));
      open[n++] = sh;
    }
  }
  ASSERT_GT(n, 0);
  qsort(open, n, sizeof(open[0]), cmp_start);
  for (i = 0; i < n; i++) {
    kn_hash_key_t s, e;
    range_of(open[i], &s, &e);
    ASSERT_EQ(0, kn_hash_key_cmp(&s, &expect));
    ASSERT_LE(kn_hash_key_cmp(&s, &e), 0);
    if (i + 1 == n) {
      ASSERT_EQ(0, kn_hash_key_cmp(&e, &max));
    } else {
      expect = e;
      kn_svc_key_inc(&expect);
    }
  }
  json_decref(shards);
  return n;
}


const char* iterator(const char* stream, const char* shard,
                            const char* type) {
  call("GetShardIterator",
       json_pack("{s:s, s:s, s:s}", "StreamName", stream, "ShardId", shard,
                 "ShardIteratorType", type));
  ok();
  return str(rep, "ShardIterator");
}


/* GetRecords; the iterator is copied first since `rep` is replaced. */
json_t* get_records(const char* it, int limit) {
  char copy[600];
  ASSERT_LT(strlen(it), sizeof(copy));
  strcpy(copy, it);
  if (limit > 0)
    call("GetRecords",
         json_pack("{s:s, s:i}", "ShardIterator", copy, "Limit", limit));
  else
    call("GetRecords", json_pack("{s:s}", "ShardIterator", copy));
  return rep;
}


/* Puts one record; its sequence number and shard id go to seq and shard. */
void put(const char* stream, const char* key, const char* data_b64,
                char* seq, char* shard) {
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", stream,
                              "PartitionKey", key, "Data", data_b64));
  ok();
  if (seq != NULL)
    strcpy(seq, str(rep, "SequenceNumber"));
  if (shard != NULL)
    strcpy(shard, str(rep, "ShardId"));
}


/* Reads a shard from TRIM_HORIZON to its end; returns the records seen
 * and leaves the last reply (with ChildShards) in `rep`. */
size_t read_to_end(const char* stream, const char* shard) {
  char it[600];
  size_t n = 0;
  int rounds = 0;
  strcpy(it, iterator(stream, shard, "TRIM_HORIZON"));
  for (;;) {
    json_t* next;
    get_records(it, 2);
    ok();
    n += json_array_size(json_object_get(rep, "Records"));
    next = json_object_get(rep, "NextShardIterator");
    if (next == NULL)
      return n;
    ASSERT_NULL(json_object_get(rep, "ChildShards"));
    strcpy(it, json_string_value(next));
    ASSERT_LT(++rounds, 100);
  }
}


/* Every shard with parents: the parents exist, are closed, are at most
 * two, and together cover the child's range. */
void check_lineage(const char* stream) {
  json_t* shards = list_shards(stream, NULL);
  json_t* sh;
  size_t i;
  json_array_foreach(shards, i, sh) {
    json_t* p = json_object_get(sh, "ParentShardId");
    json_t* a = json_object_get(sh, "AdjacentParentShardId");
    kn_hash_key_t cs, ce, ps, pe, as, ae;
    if (p == NULL) {
      ASSERT_NULL(a);
      continue;
    }
    range_of(sh, &cs, &ce);
    p = find_shard(shards, json_string_value(p));
    ASSERT_NOT_NULL(p);
    ASSERT(!is_open(p));
    range_of(p, &ps, &pe);
    if (a == NULL) {
      /* A split child lies inside its parent. */
      ASSERT_LE(kn_hash_key_cmp(&ps, &cs), 0);
      ASSERT_LE(kn_hash_key_cmp(&ce, &pe), 0);
    } else {
      /* A merge child is exactly its two parents, which are adjacent. */
      a = find_shard(shards, json_string_value(a));
      ASSERT_NOT_NULL(a);
      ASSERT(!is_open(a));
      range_of(a, &as, &ae);
      if (kn_hash_key_cmp(&ps, &as) > 0) {
        kn_hash_key_t t = ps;
        ps = as;
        as = t;
        t = pe;
        pe = ae;
        ae = t;
      }
      ASSERT_EQ(0, kn_hash_key_cmp(&cs, &ps));
      ASSERT_EQ(0, kn_hash_key_cmp(&ce, &ae));
      kn_svc_key_inc(&pe);
      ASSERT_EQ(0, kn_hash_key_cmp(&pe, &as));
    }
  }
  json_decref(shards);
}
