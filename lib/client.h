#ifndef KN_CLIENT_H
#define KN_CLIENT_H

#include <uv.h>

#include "kinesis/client.h"
#include "http.h"
#include "sigv4.h"

/* What the producer and consumer need of the client beyond its public API:
 * its loop, cancelable calls, and a count of children that keeps it from
 * closing under them. */

typedef struct kn_call_s kn_call_t;

uv_loop_t* kn_client_loop(const kinesis_client_t* client);
/* The most connections the client opens (max_connections, or its
 * default): more calls than that in flight only wait inside libcurl. */
uint32_t kn_client_max_connections(const kinesis_client_t* client);

/* Pins the clock the client signs with: `clock_ms(arg)` gives epoch
 * milliseconds in place of the wall clock (NULL: the wall clock again). A
 * hook for tests, reached through the internal library; call it before the
 * first request. */
void kn_client_set_clock(kinesis_client_t* client,
                         int64_t (*clock_ms)(void* arg), void* arg);

/* A child (producer, consumer) was created from `client`, or closed. While
 * children remain, kinesis_client_close() returns KINESIS_EBUSY. */
void kn_client_child_add(kinesis_client_t* client);
void kn_client_child_remove(kinesis_client_t* client);

/* Whether the client is closing: children must not start calls then. */
int kn_client_closing(const kinesis_client_t* client);

/* Whether a producer or consumer of `stream` may be made from `client`
 * now: 0, KINESIS_ECLOSING, KINESIS_ENOREGION (it could never make a
 * call), or KINESIS_EINVAL (a stream ARN of another region than the
 * client's). A stream ARN gives a client without a region its region. */
int kn_client_child_check(kinesis_client_t* client, const char* stream);

/* kinesis_client_put_records() and kinesis_client_list_shards(), returning
 * the call so that it can be canceled. With `validated`, the caller vouches
 * that every entry passed the checks kinesis_client_put_records() makes
 * (the producer checks each record at put), and they are not made again. */
int kn_client_put_records(kinesis_client_t* client, const char* stream,
                          const kinesis_record_t* entries, size_t n,
                          int validated, kinesis_client_cb cb, void* arg,
                          kn_call_t** out);
int kn_client_list_shards(kinesis_client_t* client, const char* stream,
                          kinesis_client_cb cb, void* arg, kn_call_t** out);
/* The same with a ShardFilter of type AT_TIMESTAMP when `at_timestamp` > 0
 * (epoch seconds): the shards open at that time. Servers that ignore the
 * filter (kinesalite) answer with every shard. */
int kn_client_list_shards_at(kinesis_client_t* client, const char* stream,
                             double at_timestamp, kinesis_client_cb cb,
                             void* arg, kn_call_t** out);

/* Sends a message to the application's log callback, if it takes `level`. */
void kn_client_log(const kinesis_client_t* client, kinesis_log_level_t level,
                   const char* fmt, ...) __attribute__((format(printf, 3, 4)));

/* kinesis_client_get_records() and kinesis_client_get_shard_iterator(),
 * returning the call. */
int kn_client_get_records(kinesis_client_t* client, const char* iterator,
                          uint32_t limit, kinesis_client_cb cb, void* arg,
                          kn_call_t** out);
int kn_client_get_shard_iterator(kinesis_client_t* client,
                                 const kinesis_iterator_request_t* req,
                                 kinesis_client_cb cb, void* arg,
                                 kn_call_t** out);

/* SubscribeToShard (issue 19), over HTTP/2: `start` names the shard and
 * the position (its `stream` is not used). The answer's event stream goes
 * to `on_data` as it arrives (http.h says what it may return); `cb` runs
 * once when the stream ends (status 0), fails, or is canceled. A call whose
 * stream has begun is never retried: the caller subscribes again from
 * what it has read. Over http (h2c) each subscription has a connection of
 * its own; over https they share connections. */
int kn_client_subscribe_to_shard(kinesis_client_t* client,
                                 const char* consumer_arn,
                                 const kinesis_iterator_request_t* start,
                                 kn_http_data_cb on_data, void* data_arg,
                                 kinesis_client_cb cb, void* arg,
                                 kn_call_t** out);

/* ---- Other services (DynamoDB) ---- */

typedef struct kn_service_s kn_service_t;
extern const kn_service_t kn_service_dynamodb;

/* Where a service's calls go, and the signing key they share: owned by the
 * caller, and kept until its last call has answered. */
typedef struct kn_service_target_s {
  const kn_service_t* service;
  char* endpoint;  /* scheme://host[:port]/ */
  char* host;      /* host[:port], as sent in Host */
  kn_sigv4_key_cache_t key_cache;
} kn_service_target_t;

/* Sets `t` up for `service`: `endpoint_url` when not NULL, else the
 * service's AWS_ENDPOINT_URL_... variable, else AWS_ENDPOINT_URL, as the
 * SDKs take them, else the service's endpoint in the client's region.
 * Returns 0, KINESIS_EINVAL (a URL that is not http(s)://host[:port][/]),
 * KINESIS_ENOREGION or KINESIS_ENOMEM. */
int kn_client_target_init(kinesis_client_t* client,
                          const kn_service_t* service,
                          const char* endpoint_url, kn_service_target_t* t);
void kn_client_target_free(kn_service_target_t* t);

/* Calls `action` of `t`'s service with the JSON `body` (copied), signed,
 * retried and answered like any call of the client's; `action` must be one
 * the client counts (op_names in client.c). In `cb`, on success,
 * kn_client_result_body() gives the answer; on failure the result's
 * error_code is the service's (ConditionalCheckFailedException, say). */
int kn_client_service_call(kinesis_client_t* client, kn_service_target_t* t,
                           const char* action, const char* body, size_t len,
                           kinesis_client_cb cb, void* arg, kn_call_t** out);

/* Inside the callback of a kn_client_service_call(): the answer's body,
 * NUL-terminated, and its length. */
const char* kn_client_result_body(const kinesis_result_t* result,
                                  size_t* len);

/* Lets a call whose on_data paused it go on (kn_http_resume()). */
void kn_client_call_resume(kn_call_t* call);

/* Inside a callback: takes over the parsed answer that `result` points
 * into, so its records outlive the callback without a copy. `out` must be
 * kn_parsed_free()d. */
struct kn_parsed_s;
void kn_client_steal_parsed(const kinesis_result_t* result,
                            struct kn_parsed_s* out);

/* Cancels a call whose callback has not run yet: the callback runs once,
 * on a later tick, with KINESIS_ECANCELED. */
void kn_client_call_cancel(kn_call_t* call);

#endif /* KN_CLIENT_H */
