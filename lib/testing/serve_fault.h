#ifndef KN_SERVE_FAULT_H
#define KN_SERVE_FAULT_H

#include <stdint.h>

#include "kinesis/testing.h"

/*
 * The fake service's faults (kinesis_serve_faults_t): what they are, and
 * the decisions they lead to, drawn from a small generator seeded by the
 * faults' seed so that a run can be repeated. No I/O: serve.c asks, the
 * model (for PutRecords entries) and the front (drops, latency) act.
 */

typedef struct kn_serve_fault_s {
  kinesis_serve_faults_t f;
  uint64_t rng;
} kn_serve_fault_t;

/* What becomes of one request, before the operation runs. */
typedef enum {
  KN_FAULT_NONE = 0,
  KN_FAULT_DROP,     /* drop_before: closed unanswered, unapplied */
  KN_FAULT_THROTTLE, /* 400 ProvisionedThroughputExceededException */
  KN_FAULT_500,      /* 500 InternalFailure */
  KN_FAULT_503       /* 503 ServiceUnavailable */
} kn_serve_fault_kind_t;

/* 0, or KINESIS_EINVAL when a fraction is outside [0, 1] or NaN. */
int kn_serve_fault_check(const kinesis_serve_faults_t* f);

/* Sets the faults (`f` checked already; NULL: none) and seeds the
 * generator again. */
void kn_serve_fault_set(kn_serve_fault_t* s, const kinesis_serve_faults_t* f);

/* 1 when `op` (the operation's name: "PutRecords") is of the data plane,
 * the one that throttles. */
int kn_serve_fault_data_plane(const char* op);

/* The fault for a request to `op`, before it runs. */
kn_serve_fault_kind_t kn_serve_fault_before(kn_serve_fault_t* s,
                                            const char* op);

/* 1 when the request, once applied, is to be dropped unanswered. */
int kn_serve_fault_drop_after(kn_serve_fault_t* s);

/* For one PutRecords entry: NULL (store it), or the ErrorCode it fails
 * with. Fits kn_svc_entry_fault_cb with `arg` the kn_serve_fault_t. */
const char* kn_serve_fault_entry(void* arg);

#endif /* KN_SERVE_FAULT_H */
