#include "svc_util.h"

#include "internal.h"

/* The fake service's reshards (SplitShard, MergeShards, UpdateShardCount)
 * and ListShards: lineage, hash key coverage, ChildShards at the end of a
 * parent, pagination and every ShardFilter type. */

static void test_split(void) {
  json_t* shards;
  json_t* parent;
  json_t* child;
  json_t* kids;
  size_t i;
  start(0);
  create("s", 1);
  for (i = 0; i < 5; i++)
    put("s", "k", "AA==", NULL, NULL);
  now += 10;
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000000", "NewStartingHashKey", HALF_KEY));
  ok();
  ASSERT_NULL(rep);
  ASSERT_EQ(2, check_coverage("s"));
  shards = list_shards("s", NULL);
  ASSERT_EQ(3, json_array_size(shards));
  parent = find_shard(shards, "shardId-000000000000");
  ASSERT(!is_open(parent));
  child = find_shard(shards, "shardId-000000000001");
  ASSERT_STR_EQ("shardId-000000000000", str(child, "ParentShardId"));
  ASSERT_NULL(json_object_get(child, "AdjacentParentShardId"));
  ASSERT_STR_EQ(HALF_KEY_M1, str(json_object_get(child, "HashKeyRange"),
                                 "EndingHashKey"));
  child = find_shard(shards, "shardId-000000000002");
  ASSERT_STR_EQ("shardId-000000000000", str(child, "ParentShardId"));
  ASSERT_STR_EQ(HALF_KEY, str(json_object_get(child, "HashKeyRange"),
                              "StartingHashKey"));
  /* The children's numbers start at or after the parent's end. */
  ASSERT_LE(strcmp(str(json_object_get(parent, "SequenceNumberRange"),
                       "EndingSequenceNumber"),
                   str(json_object_get(child, "SequenceNumberRange"),
                       "StartingSequenceNumber")),
            0);
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s"));
  ASSERT_EQ(2, json_integer_value(json_object_get(
                   json_object_get(rep, "StreamDescriptionSummary"),
                   "OpenShardCount")));

  /* New records go to the children; the closed parent is still read to
   * its end, where its children are named instead of a next iterator. */
  put("s", "k", "AA==", NULL, NULL);
  ASSERT(strcmp(str(rep, "ShardId"), "shardId-000000000000") != 0);
  ASSERT_EQ(5, read_to_end("s", "shardId-000000000000"));
  kids = json_object_get(rep, "ChildShards");
  ASSERT_EQ(2, json_array_size(kids));
  for (i = 0; i < 2; i++) {
    json_t* k = json_array_get(kids, i);
    json_t* ps = json_object_get(k, "ParentShards");
    ASSERT_EQ(1, json_array_size(ps));
    ASSERT_STR_EQ("shardId-000000000000",
                  json_string_value(json_array_get(ps, 0)));
    ASSERT(json_is_object(json_object_get(k, "HashKeyRange")));
  }
  ASSERT_STR_EQ("shardId-000000000001",
                str(json_array_get(kids, 0), "ShardId"));
  /* LATEST on the closed parent: at its end at once. */
  get_records(iterator("s", "shardId-000000000000", "LATEST"), 0);
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "Records")));
  ASSERT_NULL(json_object_get(rep, "NextShardIterator"));
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "ChildShards")));

  /* Errors. */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000000", "NewStartingHashKey", "5"));
  err("InvalidArgumentException"); /* closed */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000001", "NewStartingHashKey", "1"));
  err("InvalidArgumentException"); /* not above start + 1 */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000001", "NewStartingHashKey", HALF_KEY_M1));
  err("InvalidArgumentException"); /* not below the end */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000001", "NewStartingHashKey", HALF_KEY));
  err("InvalidArgumentException"); /* outside the shard */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000042", "NewStartingHashKey", "100"));
  err("ResourceNotFoundException");
  call("SplitShard",
       json_pack("{s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000001"));
  err("ValidationException");
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000001", "NewStartingHashKey", "1"
                 "00000000000000000000000000000000000000000"));
  err("ValidationException");
  /* The smallest split allowed: start + 2. */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000001", "NewStartingHashKey", "2"));
  ok();
  ASSERT_EQ(3, check_coverage("s"));
  json_decref(shards);
  stop();
}


static void test_merge(void) {
  json_t* shards;
  json_t* child;
  json_t* kids;
  json_t* ps;
  start(0);
  create("s", 3);
  put("s", "k", "AA==", NULL, NULL);
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000000", "AdjacentShardToMerge",
                 "shardId-000000000002"));
  err("InvalidArgumentException");
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000001", "AdjacentShardToMerge",
                 "shardId-000000000001"));
  err("InvalidArgumentException");
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000001", "AdjacentShardToMerge",
                 "shardId-000000000007"));
  err("ResourceNotFoundException");
  call("MergeShards",
       json_pack("{s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000001"));
  err("ValidationException");
  /* In either order: 2 then 1. */
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000002", "AdjacentShardToMerge",
                 "shardId-000000000001"));
  ok();
  ASSERT_EQ(2, check_coverage("s"));
  shards = list_shards("s", NULL);
  ASSERT_EQ(4, json_array_size(shards));
  child = find_shard(shards, "shardId-000000000003");
  ASSERT_STR_EQ("shardId-000000000002", str(child, "ParentShardId"));
  ASSERT_STR_EQ("shardId-000000000001", str(child, "AdjacentParentShardId"));
  ASSERT_STR_EQ("113427455640312821154458202477256070485",
                str(json_object_get(child, "HashKeyRange"),
                    "StartingHashKey"));
  ASSERT_STR_EQ(MAX_KEY, str(json_object_get(child, "HashKeyRange"),
                             "EndingHashKey"));
  ASSERT(!is_open(find_shard(shards, "shardId-000000000001")));
  ASSERT(!is_open(find_shard(shards, "shardId-000000000002")));
  ASSERT(is_open(find_shard(shards, "shardId-000000000000")));
  /* Either parent's end names the child, with both parents. */
  read_to_end("s", "shardId-000000000001");
  kids = json_object_get(rep, "ChildShards");
  ASSERT_EQ(1, json_array_size(kids));
  ASSERT_STR_EQ("shardId-000000000003",
                str(json_array_get(kids, 0), "ShardId"));
  ps = json_object_get(json_array_get(kids, 0), "ParentShards");
  ASSERT_EQ(2, json_array_size(ps));
  ASSERT_STR_EQ("shardId-000000000002",
                json_string_value(json_array_get(ps, 0)));
  ASSERT_STR_EQ("shardId-000000000001",
                json_string_value(json_array_get(ps, 1)));
  /* A closed shard cannot be merged again. */
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000000", "AdjacentShardToMerge",
                 "shardId-000000000001"));
  err("InvalidArgumentException");
  /* The merged child merges with its neighbour. */
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000000", "AdjacentShardToMerge",
                 "shardId-000000000003"));
  ok();
  ASSERT_EQ(1, check_coverage("s"));
  json_decref(shards);
  stop();
}


static int cmp_key(const void* a, const void* b) {
  return kn_hash_key_cmp(a, b);
}


/* The open shards are an even split into n. */
static void check_even(const char* stream, uint32_t n) {
  json_t* shards = list_shards(stream, json_pack("{s:s}", "Type",
                                                 "AT_LATEST"));
  json_t* sh;
  size_t i;
  kn_hash_key_t* starts = calloc(n, sizeof(*starts));
  ASSERT_NOT_NULL(starts);
  ASSERT_EQ(n, json_array_size(shards));
  json_array_foreach(shards, i, sh) {
    kn_hash_key_t s, e;
    range_of(sh, &s, &e);
    starts[i] = s;
  }
  qsort(starts, n, sizeof(*starts), cmp_key);
  /* Start i is floor(i * 2^128 / n): compare with a fresh stream's. */
  {
    static int made;
    char name[32];
    json_t* fresh;
    snprintf(name, sizeof(name), "even-%d", made++);
    create(name, (int) n);
    fresh = list_shards(name, NULL);
    json_array_foreach(fresh, i, sh) {
      kn_hash_key_t s, e;
      range_of(sh, &s, &e);
      ASSERT_EQ(0, kn_hash_key_cmp(&s, &starts[i]));
    }
    json_decref(fresh);
  }
  free(starts);
  json_decref(shards);
}


static void test_update_shard_count(void) {
  static const uint32_t steps[] = {3, 6, 5, 3, 2, 4, 7, 4};
  size_t i;
  start(0);
  create("s", 2);
  put("s", "a", "AA==", NULL, NULL);
  put("s", "b", "AA==", NULL, NULL);
  for (i = 0; i < KN_ARRAY_SIZE(steps); i++) {
    uint32_t before = (uint32_t) check_coverage("s");
    now += 1000;
    call("UpdateShardCount",
         json_pack("{s:s, s:i, s:s}", "StreamName", "s", "TargetShardCount",
                   (int) steps[i], "ScalingType", "UNIFORM_SCALING"));
    ok();
    ASSERT_STR_EQ("s", str(rep, "StreamName"));
    ASSERT_EQ(before, json_integer_value(json_object_get(rep,
                                                         "CurrentShardCount")));
    ASSERT_EQ(steps[i], json_integer_value(json_object_get(
                            rep, "TargetShardCount")));
    ASSERT_EQ(steps[i], check_coverage("s"));
    check_lineage("s");
    check_even("s", steps[i]);
    put("s", "a", "AA==", NULL, NULL);
  }
  /* The first shards, read to their ends, name children. */
  read_to_end("s", "shardId-000000000000");
  ASSERT_GT(json_array_size(json_object_get(rep, "ChildShards")), 0);
  /* Beyond double or below half in one call. */
  call("UpdateShardCount",
       json_pack("{s:s, s:i, s:s}", "StreamName", "s", "TargetShardCount", 9,
                 "ScalingType", "UNIFORM_SCALING"));
  err("LimitExceededException");
  call("UpdateShardCount",
       json_pack("{s:s, s:i, s:s}", "StreamName", "s", "TargetShardCount", 1,
                 "ScalingType", "UNIFORM_SCALING"));
  err("LimitExceededException");
  call("UpdateShardCount",
       json_pack("{s:s, s:i, s:s}", "StreamName", "s", "TargetShardCount", 4,
                 "ScalingType", "LOPSIDED"));
  err("ValidationException");
  call("UpdateShardCount",
       json_pack("{s:s, s:i, s:s}", "StreamName", "s", "TargetShardCount", 0,
                 "ScalingType", "UNIFORM_SCALING"));
  err("ValidationException");
  call("UpdateShardCount",
       json_pack("{s:s, s:s}", "StreamName", "s", "ScalingType",
                 "UNIFORM_SCALING"));
  err("ValidationException");
  stop();
}


static void test_list_shards_paging(void) {
  json_t* page1;
  char token[1024];
  json_t* all;
  size_t i;
  json_t* sh;
  start(0);
  create("s", 5);
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000002", "NewStartingHashKey", HALF_KEY));
  ok();
  /* Seven shards, in id order, over pages of 3. */
  all = list_shards("s", NULL);
  ASSERT_EQ(7, json_array_size(all));
  json_array_foreach(all, i, sh) {
    char id[32];
    snprintf(id, sizeof(id), "shardId-%012zu", i);
    ASSERT_STR_EQ(id, str(sh, "ShardId"));
  }
  json_decref(all);

  call("ListShards", json_pack("{s:s, s:i}", "StreamName", "s", "MaxResults",
                               2));
  ok();
  page1 = json_object_get(rep, "Shards");
  ASSERT_EQ(2, json_array_size(page1));
  strcpy(token, str(rep, "NextToken"));
  call("ListShards", json_pack("{s:s, s:i}", "NextToken", token, "MaxResults",
                               4));
  ok();
  ASSERT_EQ(4, json_array_size(json_object_get(rep, "Shards")));
  ASSERT_STR_EQ("shardId-000000000002",
                str(json_array_get(json_object_get(rep, "Shards"), 0),
                    "ShardId"));
  ASSERT(json_is_string(json_object_get(rep, "NextToken")));
  /* Without MaxResults the token's page takes the rest. */
  call("ListShards", json_pack("{s:s}", "NextToken", token));
  ok();
  ASSERT_EQ(5, json_array_size(json_object_get(rep, "Shards")));
  ASSERT_NULL(json_object_get(rep, "NextToken"));

  /* ExclusiveStartShardId. */
  call("ListShards", json_pack("{s:s, s:s}", "StreamName", "s",
                               "ExclusiveStartShardId",
                               "shardId-000000000004"));
  ok();
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "Shards")));
  ASSERT_STR_EQ("shardId-000000000005",
                str(json_array_get(json_object_get(rep, "Shards"), 0),
                    "ShardId"));

  /* A token goes alone. */
  call("ListShards", json_pack("{s:s, s:s}", "NextToken", token, "StreamName",
                               "s"));
  err("InvalidArgumentException");
  call("ListShards",
       json_pack("{s:s, s:s}", "NextToken", token, "StreamARN",
                 "arn:aws:kinesis:us-east-1:000000000000:stream/s"));
  err("InvalidArgumentException");
  call("ListShards", json_pack("{s:s, s:s}", "NextToken", token,
                               "ExclusiveStartShardId",
                               "shardId-000000000001"));
  err("InvalidArgumentException");
  call("ListShards", json_pack("{s:s, s:{s:s}}", "NextToken", token,
                               "ShardFilter", "Type", "AT_LATEST"));
  err("InvalidArgumentException");
  call("ListShards", json_pack("{s:s}", "NextToken", "bm9wZQ=="));
  err("InvalidArgumentException");
  call("ListShards",
       json_pack("{s:s, s:i}", "StreamName", "s", "MaxResults", 0));
  err("ValidationException");
  call("ListShards", json_pack("{s:s}", "StreamName", "nope"));
  err("ResourceNotFoundException");
  /* An iterator is not a token. */
  {
    char it[600];
    strcpy(it, iterator("s", "shardId-000000000000", "LATEST"));
    call("ListShards", json_pack("{s:s}", "NextToken", it));
    err("InvalidArgumentException");
  }
  /* Tokens live 300 s. */
  now += 300 * 1000;
  call("ListShards", json_pack("{s:s}", "NextToken", token));
  ok();
  now += 1;
  call("ListShards", json_pack("{s:s}", "NextToken", token));
  err("ExpiredNextTokenException");
  stop();
}


/* The ids ListShards gives with `filter`, as "0,1,2". */
static void filtered(json_t* filter, char* out, size_t size) {
  json_t* shards = list_shards("s", filter);
  json_t* sh;
  size_t i;
  out[0] = '\0';
  json_array_foreach(shards, i, sh) {
    const char* id = str(sh, "ShardId");
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s", i > 0 ? "," : "",
             id + strlen("shardId-00000000000"));
  }
  json_decref(shards);
}


static void test_list_shards_filters(void) {
  char ids[128];
  int64_t t1;
  int64_t t2;
  start(0);
  create("s", 2); /* 0, 1 at T0 */
  now += 10000;
  t1 = now;
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit",
                 "shardId-000000000000", "NewStartingHashKey", "1000"));
  ok(); /* 0 closed at t1; 2, 3 open */
  now += 10000;
  t2 = now;
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToMerge",
                 "shardId-000000000003", "AdjacentShardToMerge",
                 "shardId-000000000001"));
  ok(); /* 3, 1 closed at t2; 4 open */
  now += 10000;

  filtered(NULL, ids, sizeof(ids));
  ASSERT_STR_EQ("0,1,2,3,4", ids);
  filtered(json_pack("{s:s}", "Type", "FROM_TRIM_HORIZON"), ids, sizeof(ids));
  ASSERT_STR_EQ("0,1,2,3,4", ids);
  filtered(json_pack("{s:s}", "Type", "AT_LATEST"), ids, sizeof(ids));
  ASSERT_STR_EQ("2,4", ids);
  /* The stream is younger than its retention: its horizon is its birth. */
  filtered(json_pack("{s:s}", "Type", "AT_TRIM_HORIZON"), ids, sizeof(ids));
  ASSERT_STR_EQ("0,1", ids);
  filtered(json_pack("{s:s, s:s}", "Type", "AFTER_SHARD_ID", "ShardId",
                     "shardId-000000000001"),
           ids, sizeof(ids));
  ASSERT_STR_EQ("2,3,4", ids);
  /* Between the split and the merge: 1, 2, 3 were open. */
  filtered(json_pack("{s:s, s:f}", "Type", "AT_TIMESTAMP", "Timestamp",
                     (double) (t1 + 5000) / 1000.0),
           ids, sizeof(ids));
  ASSERT_STR_EQ("1,2,3", ids);
  /* Before the stream began: taken as its beginning. */
  filtered(json_pack("{s:s, s:I}", "Type", "AT_TIMESTAMP", "Timestamp",
                     (json_int_t) 1000),
           ids, sizeof(ids));
  ASSERT_STR_EQ("0,1", ids);
  filtered(json_pack("{s:s, s:f}", "Type", "FROM_TIMESTAMP", "Timestamp",
                     (double) (t1 + 5000) / 1000.0),
           ids, sizeof(ids));
  ASSERT_STR_EQ("1,2,3,4", ids);
  filtered(json_pack("{s:s, s:f}", "Type", "FROM_TIMESTAMP", "Timestamp",
                     (double) (t2 + 1) / 1000.0),
           ids, sizeof(ids));
  ASSERT_STR_EQ("2,4", ids);
  /* Paging keeps the filter: pages of one. */
  call("ListShards", json_pack("{s:s, s:i, s:{s:s}}", "StreamName", "s",
                               "MaxResults", 1, "ShardFilter", "Type",
                               "AT_LATEST"));
  ok();
  ASSERT_STR_EQ("shardId-000000000002",
                str(json_array_get(json_object_get(rep, "Shards"), 0),
                    "ShardId"));
  call("ListShards", json_pack("{s:s, s:i}", "NextToken",
                               str(rep, "NextToken"), "MaxResults", 1));
  ok();
  ASSERT_STR_EQ("shardId-000000000004",
                str(json_array_get(json_object_get(rep, "Shards"), 0),
                    "ShardId"));
  ASSERT_NULL(json_object_get(rep, "NextToken"));

  /* Errors. */
  call("ListShards", json_pack("{s:s, s:{s:s}}", "StreamName", "s",
                               "ShardFilter", "Type", "AFTER_SHARD_ID"));
  err("InvalidArgumentException");
  call("ListShards", json_pack("{s:s, s:{s:s}}", "StreamName", "s",
                               "ShardFilter", "Type", "AT_TIMESTAMP"));
  err("InvalidArgumentException");
  call("ListShards", json_pack("{s:s, s:{s:s, s:s}}", "StreamName", "s",
                               "ShardFilter", "Type", "AT_LATEST", "ShardId",
                               "shardId-000000000001"));
  err("InvalidArgumentException");
  call("ListShards", json_pack("{s:s, s:{s:s}}", "StreamName", "s",
                               "ShardFilter", "Type", "SOMEWHERE"));
  err("ValidationException");
  call("ListShards", json_pack("{s:s, s:{}}", "StreamName", "s",
                               "ShardFilter"));
  err("ValidationException");

  /* 24 h after the merge, the closed shards have aged out. */
  now = t2 + 24 * HOUR_MS + 1;
  filtered(NULL, ids, sizeof(ids));
  ASSERT_STR_EQ("2,4", ids);
  filtered(json_pack("{s:s}", "Type", "AT_TRIM_HORIZON"), ids, sizeof(ids));
  ASSERT_STR_EQ("2,4", ids);
  call("GetShardIterator",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardId",
                 "shardId-000000000000", "ShardIteratorType", "TRIM_HORIZON"));
  err("ResourceNotFoundException");
  stop();
}


KN_TEST_MAIN(KN_TEST(test_split),
             KN_TEST(test_merge),
             KN_TEST(test_update_shard_count),
             KN_TEST(test_list_shards_paging),
             KN_TEST(test_list_shards_filters))
