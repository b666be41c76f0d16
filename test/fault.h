#ifndef KN_TEST_FAULT_H
#define KN_TEST_FAULT_H

#include <jansson.h>

/* Blocking HTTP helpers for the integration tests (libcurl easy API), and
 * the client side of the fault server started by test/with-servers.sh.
 *
 * The fault server (KINESIS_TEST_FAULT_ENDPOINT) proxies Kinesis requests to
 * kinesalite unless a scripted action matches. An action is a JSON object,
 * queued with kn_fault_script(); the first queued action whose "target" is
 * absent or equals the request's action (X-Amz-Target Kinesis_20131202.X)
 * is used, "times" times (default 1), then removed:
 *
 *   {"status": 500, "body": "...", "headers": {...}}  answer this (body may
 *       be a JSON object; Content-Type defaults to application/x-amz-json-1.1
 *       and x-amzn-RequestId to "fault-<n>")
 *   {"drop": true}               read the request, close without answering
 *   {"drop_mid_response": true}  200 + Content-Length 1000, 10 bytes, close
 *   {"drop_after_write": true}   proxy (kinesalite stores the records), send
 *       the status, the headers and half of kinesalite's body, then close:
 *       a client that retries writes the records twice
 *   {"delay_ms": N, "proxy": true}  stall N ms, then proxy
 *   {"put_records_fail": [0, 2], "error_code": "...", "error_message": "..."}
 *       PutRecords only (implies "target": "PutRecords"): entries 0 and 2
 *       are not forwarded and come back failed, the rest are really written;
 *       "all" fails every entry. Defaults: ProvisionedThroughputExceeded-
 *       Exception, "Rate exceeded for shard".
 *   Any action: "target": "GetRecords", "times": N, "delay_ms": N, and
 *       "close_after_ms": N, which closes the connection N ms after the
 *       answer is sent, as a server does to a keep-alive connection idle
 *       too long.
 *
 * kn_fault_log() returns a JSON array, one object per Kinesis request:
 * {"target", "action" (proxy|status|drop|drop_mid_response|drop_after_write|
 *  put_records_fail), "status" (0 when nothing was sent), "headers"
 *  (lowercased), "body", "n", "received_ms", "delay_ms", and "chaos" (the
 *  chaos outcome, when chaos chose the action)}.
 *
 * Chaos (kn_fault_chaos(); POST /__control/chaos): seeded random faults on
 * every request of one action that no scripted action claimed. The config
 * is a JSON object of probabilities in [0, 1] summing to at most 1, each
 * request drawing one outcome (the rest are proxied untouched):
 *
 *   {"seed": 42,                  Default 1. Same seed, same faults.
 *    "target": "PutRecords",      Default PutRecords.
 *    "throttle": 0.3,             400 ProvisionedThroughputExceededException
 *    "error_5xx": 0.1,            500 InternalFailure or 503
 *                                 ServiceUnavailable, half each
 *    "partial": 0.1,              200 with some entries failed (each with
 *                                 "partial_record_rate", default 0.3, at
 *                                 least one), the rest really written, as
 *                                 put_records_fail; the error code is
 *                                 ProvisionedThroughputExceededException or
 *                                 InternalFailure, half each
 *    "drop_after_write": 0.05,    as the drop_after_write action
 *    "stall": 0.05, "stall_ms": 2000}   wait stall_ms, then proxy
 *
 * Throttling and 5xx answers are sent without forwarding anything. Enabling
 * chaos again restarts its generator and its counters; {"off": true} (and
 * kn_fault_reset()) turns it off. kn_fault_chaos_stats() returns
 * {"config", "counts": {"requests", "proxy", "throttle", "error_5xx",
 * "partial", "partial_records_failed", "drop_after_write",
 * "drop_records_stored", "stall"}, "dropped_data": [the data, as UTF-8
 * text, of every record stored by a drop_after_write PutRecords]}, or
 * {"off": true}.
 *
 * Outage (kn_fault_kinesalite_down(); POST /__control/kinesalite
 * {"down_ms": N}): the plain HTTP kinesalite (KINESIS_TEST_ENDPOINT, and
 * the fault server's upstream) stops listening and every open connection
 * to it is destroyed, at once; N ms later it listens again on the same
 * port with its in-memory data intact: an outage of the service, whose
 * data survives. Meanwhile its clients get connection refused, and the
 * fault server answers 502 FaultServerProxyError. {"up": true} ends an
 * outage early; GET returns {"up", "port", "outages"}. The TLS kinesalite
 * is not affected. */

/* Appends actions (a JSON array, or one object) to the queue. 0 or -1. */
int kn_fault_script(const char* fault_endpoint, const char* json_actions);

/* Clears the queue and the log. 0 or -1. */
int kn_fault_reset(const char* fault_endpoint);

/* The log as a malloc'd string (caller frees), NULL on failure. */
char* kn_fault_log(const char* fault_endpoint);

/* The log parsed: a JSON array the caller json_decref()s, or NULL (with
 * the reason on stderr) when it cannot be fetched or is not an array. */
json_t* kn_fault_log_json(const char* fault_endpoint);

/* Turns chaos on with `json_config` (see above), replacing any chaos on.
 * 0 or -1. */
int kn_fault_chaos(const char* fault_endpoint, const char* json_config);

/* Turns chaos off. 0 or -1. */
int kn_fault_chaos_off(const char* fault_endpoint);

/* The chaos counters as a malloc'd JSON string (caller frees), NULL on
 * failure. */
char* kn_fault_chaos_stats(const char* fault_endpoint);

/* Takes the plain HTTP kinesalite down for `down_ms` milliseconds (1 to
 * 600000); returns once it refuses connections. 0 or -1 (also when it is
 * already down). */
int kn_fault_kinesalite_down(const char* fault_endpoint, unsigned down_ms);

/* Brings it back now (a no-op when it is up); returns once it listens. 0 or
 * -1. */
int kn_fault_kinesalite_up(const char* fault_endpoint);

/* Generic request. `body` may be NULL (sent as a JSON body when given).
 * `response_out` (malloc'd, caller frees) and `status_out` may be NULL.
 * Returns 0 when an HTTP response arrived, whatever its status; -1 on any
 * transport failure. */
int kn_test_http(const char* method, const char* url, const char* body,
                 char** response_out, long* status_out);

/* The same with every knob. */
typedef struct kn_test_http_req_s {
  const char* method;          /* Required. */
  const char* url;             /* Required. */
  const char* body;            /* Optional. */
  const char* const* headers;  /* Optional, NULL-terminated "Name: value". */
  const char* ca_file;         /* Optional: verify TLS with this CA file. */
  long timeout_ms;             /* Default (0) 10000. */
} kn_test_http_req_t;

/* Returns 0 when an HTTP response arrived, otherwise the (positive) CURLcode
 * of the failure, e.g. 60 (CURLE_PEER_FAILED_VERIFICATION), 52
 * (CURLE_GOT_NOTHING), 18 (CURLE_PARTIAL_FILE); -1 if curl cannot start. */
int kn_test_http_request(const kn_test_http_req_t* req, char** response_out,
                         long* status_out);

/* A Kinesis JSON call with the headers kinesalite insists on (a dummy
 * Authorization and X-Amz-Date; it checks presence only): POST `endpoint`/
 * with X-Amz-Target Kinesis_20131202.`action`. For test setup without the
 * library. Returns like kn_test_http(). */
int kn_test_kinesis_call(const char* endpoint, const char* action,
                         const char* json_body, char** response_out,
                         long* status_out);

#endif /* KN_TEST_FAULT_H */
