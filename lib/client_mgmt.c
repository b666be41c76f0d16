#include "client_internal.h"
#include "internal.h"

#include <string.h>

#include "shardmap.h"
#include "validate.h"

/*
 * The stream management calls: create, delete, describe and wait for
 * ACTIVE; list streams; shard count, split and merge; stream mode and
 * largest record, given the ARN or looked up first; retention; encryption;
 * tags.
 */


/* ---- Actions ---- */

static int on_empty_success(kn_call_t* call, const kn_http_response_t* res) {
  (void) call;
  (void) res;
  return 0;
}


int kinesis_client_create_stream(kinesis_client_t* c, const char* stream,
                                 uint32_t shard_count, kinesis_client_cb cb,
                                 void* arg) {
  return kn_client_simple_stream_call(c, "CreateStream", stream, shard_count, 1,
                                      on_empty_success, cb, arg, NULL);
}


int kinesis_client_delete_stream(kinesis_client_t* c, const char* stream,
                                 kinesis_client_cb cb, void* arg) {
  return kn_client_simple_stream_call(c, "DeleteStream", stream, 0, 0,
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
  return kn_client_simple_stream_call(c, "DescribeStreamSummary", stream, 0, 0,
                                      on_summary, cb, arg, NULL);
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
    kn_client_set_message(call, "the stream is being deleted");
    return KINESIS_EINUSE;
  }
  if (kn_client_wait_poll_again(call))
    return 1;
  kn_client_set_message(call,
                        "timed out waiting for the stream to become ACTIVE");
  return KINESIS_ETIMEDOUT;
}


int kinesis_client_wait_for_active(kinesis_client_t* c, const char* stream,
                                   uint32_t poll_ms, uint32_t timeout_ms,
                                   kinesis_client_cb cb, void* arg) {
  kn_call_t* call;
  int r = kn_client_simple_stream_call(c, "DescribeStreamSummary", stream, 0, 0,
                                       on_wait_summary, cb, arg, &call);
  if (r != 0)
    return r;
  call->poll_ms = poll_ms > 0 ? poll_ms : 250;
  call->deadline = uv_now(c->loop) + (timeout_ms > 0 ? timeout_ms : 120000);
  return kn_client_call_launch(call);
}


/* ---- Stream management ---- */

/* Sends the call's next request, whose body is already encoded, as
 * `action`: one call may make a few requests in a row (a lookup, then the
 * change). Returns 1, for a success handler. */
static int call_continue(kn_call_t* call, const char* action,
                         kn_call_success_fn on_success) {
  call->op = kn_client_find_op(call->client, action);
  KN_ASSERT(call->op != NULL);
  call->on_success = on_success;
  call->attempts = 0;
  kn_client_call_attempt(call);
  return 1;
}


/* Checks the arguments every stream call has and creates the call; the
 * caller encodes its body and launches it with kn_client_call_finish_start().
 */
static int stream_call(kinesis_client_t* c, const char* action,
                       const char* stream, kn_call_success_fn fn,
                       kinesis_client_cb cb, void* arg, kn_call_t** out) {
  if (c == NULL || cb == NULL || !kn_valid_stream(stream))
    return KINESIS_EINVAL;
  return kn_client_call_start(c, action, stream, fn, cb, arg, out);
}


static size_t page_stream_names(const kn_parsed_t* page, const void** items) {
  *items = page->stream_names;
  return page->nstream_names;
}


static int list_streams_collect(kn_call_t* call) {
  void* all;
  int r = kn_client_join_pages(call, page_stream_names, sizeof(const char*),
                               &all, &call->result.nstream_names);
  call->result.stream_names = all;
  return r;
}


static int on_list_streams(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* page;
  const char* last = NULL;
  const char* before = NULL;
  int r = kn_client_add_page(call, &page);

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
    if (page->next_token == NULL && kn_client_page_repeats(last, before)) {
      kn_client_set_message(call, "ListStreams returned the same page again");
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
  r = kn_client_call_start(c, "ListStreams", NULL, on_list_streams, cb, arg,
                           &call);
  if (r != 0)
    return r;
  return kn_client_call_finish_start(
      call, kn_codec_list_streams(&call->body, NULL, NULL), NULL);
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
  return kn_client_call_finish_start(
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
int kn_client_on_split_shards_listed(kn_call_t* call,
                                     const kn_http_response_t* res) {
  const kinesis_shard_t* shard = NULL;
  kn_hash_key_t start;
  kn_hash_key_t end;
  kn_hash_key_t mid;
  char key[KN_HASH_KEY_DECIMAL_MAX];
  size_t i;
  int r = kn_client_on_list_shards(call, res);

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
    return kn_client_call_finish_start(
        call, kn_codec_split_shard(&call->body, stream, shard_id, hash_key),
        NULL);
  }
  r = stream_call(c, "ListShards", stream, kn_client_on_split_shards_listed, cb,
                  arg, &call);
  if (r != 0)
    return r;
  call->stream = kn_strdup(stream);
  call->split_shard = kn_strdup(shard_id);
  if (call->stream == NULL || call->split_shard == NULL)
    r = KINESIS_ENOMEM;
  else
    r = kn_codec_list_shards(&call->body, stream, NULL, NULL, 0);
  return kn_client_call_finish_start(call, r, NULL);
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
  return kn_client_call_finish_start(
      call, kn_codec_merge_shards(&call->body, stream, shard_id, adjacent),
      NULL);
}


/* The body of an ARN-only call (UpdateStreamMode, UpdateMaxRecordSize, and
 * the consumer calls given a stream). */
static int encode_arn_call(kn_call_t* call, const char* arn) {
  const char* action = call->arn_action;
  if (strcmp(action, "UpdateStreamMode") == 0)
    return kn_codec_update_stream_mode(
        &call->body, arn,
        call->arn_param == KINESIS_STREAM_MODE_ON_DEMAND ? "ON_DEMAND"
                                                         : "PROVISIONED");
  if (strcmp(action, "UpdateMaxRecordSize") == 0)
    return kn_codec_update_max_record_size(&call->body, arn, call->arn_param);
  if (strcmp(action, "ListStreamConsumers") == 0)
    return kn_codec_list_consumers(&call->body, arn, NULL);
  return kn_codec_consumer_request(&call->body, arn, call->consumer_name, NULL);
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
    kn_client_set_message(
        call, "DescribeStreamSummary did not give the stream's ARN");
    return KINESIS_EPROTO;
  }
  kn_buf_reset(&call->body);
  r = encode_arn_call(call, arn);
  /* Later pages of ListStreamConsumers name the ARN again. */
  kn_free(call->stream);
  call->stream = r == 0 ? kn_strdup(arn) : NULL;
  if (r == 0 && call->stream == NULL)
    r = KINESIS_ENOMEM;
  kn_parsed_free(&call->parsed);
  return r != 0 ? r
                : call_continue(call, call->arn_action, call->arn_on_success);
}


/* `action` needs the StreamARN: given a name, look it up first. Its answer
 * goes to `on_success`; `consumer_name` (copied, may be NULL) is for the
 * consumer calls. */
static int arn_call(kinesis_client_t* c, const char* action,
                    const char* stream, uint32_t param,
                    const char* consumer_name, kn_call_success_fn on_success,
                    kinesis_client_cb cb, void* arg) {
  int is_arn = stream != NULL && strncmp(stream, "arn:", 4) == 0;
  kn_call_t* call;
  int r;

  r = stream_call(c, is_arn ? action : "DescribeStreamSummary", stream,
                  is_arn ? on_success : on_arn_summary, cb, arg, &call);
  if (r != 0)
    return r;
  call->arn_action = action;
  call->arn_param = param;
  call->arn_on_success = on_success;
  if (consumer_name != NULL &&
      (call->consumer_name = kn_strdup(consumer_name)) == NULL)
    return kn_client_call_finish_start(call, KINESIS_ENOMEM, NULL);
  if (is_arn && (call->stream = kn_strdup(stream)) == NULL)
    return kn_client_call_finish_start(call, KINESIS_ENOMEM, NULL);
  r = is_arn ? encode_arn_call(call, stream)
             : kn_codec_stream_request(&call->body, stream);
  return kn_client_call_finish_start(call, r, NULL);
}


int kinesis_client_update_stream_mode(kinesis_client_t* c, const char* stream,
                                      kinesis_stream_mode_t mode,
                                      kinesis_client_cb cb, void* arg) {
  if (mode != KINESIS_STREAM_MODE_PROVISIONED &&
      mode != KINESIS_STREAM_MODE_ON_DEMAND)
    return KINESIS_EINVAL;
  return arn_call(c, "UpdateStreamMode", stream, (uint32_t) mode, NULL,
                  on_empty_success, cb, arg);
}


int kinesis_client_update_max_record_size(kinesis_client_t* c,
                                          const char* stream, uint32_t kib,
                                          kinesis_client_cb cb, void* arg) {
  if (kib < KINESIS_MIN_MAX_RECORD_SIZE_KIB ||
      kib > KINESIS_MAX_MAX_RECORD_SIZE_KIB)
    return KINESIS_EINVAL;
  return arn_call(c, "UpdateMaxRecordSize", stream, kib, NULL,
                  on_empty_success, cb, arg);
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
  return kn_client_call_finish_start(
      call, kn_codec_retention(&call->body, stream, hours), NULL);
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
  return kn_client_call_finish_start(
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
  return kn_client_call_finish_start(
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
  return kn_client_call_finish_start(
      call, kn_codec_remove_tags(&call->body, stream, keys, n), NULL);
}


static size_t page_tags(const kn_parsed_t* page, const void** items) {
  *items = page->tags;
  return page->ntags;
}


static int list_tags_collect(kn_call_t* call) {
  void* all;
  int r = kn_client_join_pages(call, page_tags, sizeof(kinesis_tag_t), &all,
                               &call->result.ntags);
  call->result.tags = all;
  return r;
}


static int on_list_tags(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* page;
  const char* last = NULL;
  const char* before = NULL;
  int r = kn_client_add_page(call, &page);

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
  if (kn_client_page_repeats(last, before)) {
    kn_client_set_message(call,
                          "ListTagsForStream returned the same page again");
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
  return kn_client_call_finish_start(call, r, NULL);
}


/* ---- Enhanced fan-out consumers ---- */

/* The one consumer of an answer, under `member`, into the result. */
static int take_consumer(kn_call_t* call, const kn_http_response_t* res,
                         const char* member) {
  int r;
  kn_parsed_free(&call->parsed);
  r = kn_codec_parse_consumer(res->body, res->body_len, member, &call->parsed);
  if (r == 0) {
    call->result.consumers = call->parsed.consumers;
    call->result.nconsumers = call->parsed.nconsumers;
  }
  return r;
}


static int on_register_consumer(kn_call_t* call,
                                const kn_http_response_t* res) {
  return take_consumer(call, res, "Consumer");
}


static int on_describe_consumer(kn_call_t* call,
                                const kn_http_response_t* res) {
  return take_consumer(call, res, "ConsumerDescription");
}


static size_t page_consumers(const kn_parsed_t* page, const void** items) {
  *items = page->consumers;
  return page->nconsumers;
}


static int on_list_consumers(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* page;
  const char* before = NULL;
  void* all;
  int r = kn_client_add_page(call, &page);

  if (r != 0)
    return r;
  r = kn_codec_parse_list_consumers(res->body, res->body_len, page);
  if (r != 0)
    return r;
  if (call->npages > 1)
    before = call->pages[call->npages - 2].next_token;
  if (page->next_token != NULL) {
    if (kn_client_page_repeats(page->next_token, before)) {
      kn_client_set_message(call,
                            "ListStreamConsumers returned the same page again");
      return KINESIS_EPROTO;
    }
    kn_buf_reset(&call->body);
    r = kn_codec_list_consumers(&call->body, call->stream, page->next_token);
    return r != 0 ? r
                  : call_continue(call, "ListStreamConsumers",
                                  on_list_consumers);
  }
  r = kn_client_join_pages(call, page_consumers,
                           sizeof(kinesis_stream_consumer_t), &all,
                           &call->result.nconsumers);
  call->result.consumers = all;
  return r;
}


/* DescribeStreamConsumer or DeregisterStreamConsumer: by the consumer's
 * ARN, or by its name on a stream. */
static int consumer_call(kinesis_client_t* c, const char* action,
                         const char* stream, const char* consumer_name,
                         const char* consumer_arn,
                         kn_call_success_fn on_success, kinesis_client_cb cb,
                         void* arg) {
  kn_call_t* call;
  int r;

  if (consumer_arn == NULL) {
    if (!kn_valid_shard_id(consumer_name))
      return KINESIS_EINVAL;
    return arn_call(c, action, stream, 0, consumer_name, on_success, cb, arg);
  }
  if (c == NULL || cb == NULL || !kn_valid_consumer_arn(consumer_arn))
    return KINESIS_EINVAL;
  r = kn_client_call_start(c, action, consumer_arn, on_success, cb, arg,
                           &call);
  if (r != 0)
    return r;
  return kn_client_call_finish_start(
      call, kn_codec_consumer_request(&call->body, NULL, NULL, consumer_arn),
      NULL);
}


int kinesis_client_register_stream_consumer(kinesis_client_t* c,
                                            const char* stream,
                                            const char* consumer_name,
                                            kinesis_client_cb cb, void* arg) {
  /* Consumer names take the characters of shard ids, 1 to 128. */
  if (!kn_valid_shard_id(consumer_name))
    return KINESIS_EINVAL;
  return arn_call(c, "RegisterStreamConsumer", stream, 0, consumer_name,
                  on_register_consumer, cb, arg);
}


int kinesis_client_describe_stream_consumer(kinesis_client_t* c,
                                            const char* stream,
                                            const char* consumer_name,
                                            const char* consumer_arn,
                                            kinesis_client_cb cb, void* arg) {
  return consumer_call(c, "DescribeStreamConsumer", stream, consumer_name,
                       consumer_arn, on_describe_consumer, cb, arg);
}


int kinesis_client_list_stream_consumers(kinesis_client_t* c,
                                         const char* stream,
                                         kinesis_client_cb cb, void* arg) {
  return arn_call(c, "ListStreamConsumers", stream, 0, NULL, on_list_consumers,
                  cb, arg);
}


int kinesis_client_deregister_stream_consumer(kinesis_client_t* c,
                                              const char* stream,
                                              const char* consumer_name,
                                              const char* consumer_arn,
                                              kinesis_client_cb cb,
                                              void* arg) {
  return consumer_call(c, "DeregisterStreamConsumer", stream, consumer_name,
                       consumer_arn, on_empty_success, cb, arg);
}
