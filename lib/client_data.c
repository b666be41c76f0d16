#include "client_internal.h"
#include "internal.h"

#include <string.h>

#include "validate.h"

/*
 * The calls producers and consumers make, each also in the public API:
 * ListShards (every page, restarted after an expired NextToken),
 * GetShardIterator, GetRecords and PutRecords.
 */

/* Pages of one listing at most: 10,000 pages of ListShards hold far more
 * shards than any stream has had. */
#define KN_LIST_PAGES_MAX 10000


/* ListShards: follow NextToken pages; restart after an expired token. */
int kn_client_list_shards_send_next(kn_call_t* call, const char* token) {
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
  kn_client_call_attempt(call);
  return 1;
}


static size_t page_shards(const kn_parsed_t* page, const void** items) {
  *items = page->shards;
  return page->nshards;
}


static int list_shards_collect(kn_call_t* call) {
  void* all;
  int r = kn_client_join_pages(call, page_shards, sizeof(kinesis_shard_t), &all,
                               &call->result.nshards);
  call->result.shards = all;
  return r;
}


int kn_client_on_list_shards(kn_call_t* call, const kn_http_response_t* res) {
  kn_parsed_t* page;
  int r = kn_client_add_page(call, &page);

  if (r != 0)
    return r;
  r = kn_codec_parse_list_shards(res->body, res->body_len, page);
  if (r != 0)
    return r;
  if (page->next_token != NULL) {
    /* A server that hands back the token it was given, or pages without
     * end, would be listed forever, the pages growing in memory. */
    if (call->npages > 1 &&
        kn_client_page_repeats(page->next_token,
                               call->pages[call->npages - 2].next_token))
      return kn_codec_refuse(page, "ListShards NextToken repeats");
    if (call->npages >= KN_LIST_PAGES_MAX)
      return kn_codec_refuse(page, "ListShards has too many pages");
    return kn_client_list_shards_send_next(call, page->next_token);
  }
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

  r = kn_client_simple_stream_call(c, "ListShards", stream, 0, 0,
                                   kn_client_on_list_shards, cb, arg, &call);
  if (r != 0)
    return r;
  if (at_timestamp > 0) {
    /* The first page carries the filter; later pages carry it in their
     * NextToken. */
    call->shard_filter_at = at_timestamp;
    kn_buf_reset(&call->body);
    r = kn_codec_list_shards(&call->body, stream, NULL, NULL, at_timestamp);
    if (r != 0)
      return kn_client_call_finish_start(call, r, out);
  }
  call->stream = kn_strdup(stream);
  return kn_client_call_finish_start(
      call, call->stream != NULL ? 0 : KINESIS_ENOMEM, out);
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
  r = kn_client_call_start(c, "GetShardIterator", req->stream,
                           on_shard_iterator, cb, arg, &call);
  if (r != 0)
    return r;
  return kn_client_call_finish_start(
      call, kn_codec_get_shard_iterator(&call->body, req), out);
}


/* The stream ended as the service ends one: the events went to on_data. */
static int on_subscription_ended(kn_call_t* call,
                                 const kn_http_response_t* res) {
  (void) call;
  (void) res;
  return 0;
}


int kn_client_subscribe_to_shard(kinesis_client_t* c, const char* consumer_arn,
                                 const kinesis_iterator_request_t* start,
                                 kn_http_data_cb on_data, void* data_arg,
                                 kinesis_client_cb cb, void* arg,
                                 kn_call_t** out) {
  kn_call_t* call;
  int r;

  if (c == NULL || start == NULL || on_data == NULL || cb == NULL ||
      !kn_valid_consumer_arn(consumer_arn) ||
      !kn_valid_shard_id(start->shard_id) ||
      start->type > KINESIS_ITERATOR_AT_TIMESTAMP)
    return KINESIS_EINVAL;
  if ((start->type == KINESIS_ITERATOR_AT_SEQUENCE_NUMBER ||
       start->type == KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER) &&
      !kn_valid_sequence_number(start->sequence_number))
    return KINESIS_EINVAL;
  if (start->type == KINESIS_ITERATOR_AT_TIMESTAMP && !(start->timestamp >= 0))
    return KINESIS_EINVAL;
  r = kn_client_call_start(c, "SubscribeToShard", consumer_arn,
                           on_subscription_ended, cb, arg, &call);
  if (r != 0)
    return r;
  call->on_data = on_data;
  call->data_arg = data_arg;
  return kn_client_call_finish_start(
      call, kn_codec_subscribe_to_shard(&call->body, consumer_arn, start),
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
  r = kn_client_call_start(c, "GetRecords", NULL, on_get_records, cb, arg,
                           &call);
  if (r != 0)
    return r;
  return kn_client_call_finish_start(
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
  r = kn_client_call_start(c, "PutRecords", stream, on_put_records, cb, arg,
                           &call);
  if (r != 0)
    return r;
  call->nentries = n;
  return kn_client_call_finish_start(
      call, kn_codec_put_records(&call->body, stream, entries, n), out);
}
