#ifndef KN_FAILURE_H
#define KN_FAILURE_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/client.h"

/*
 * The failure reporter: one per piece of work that is retried until it
 * succeeds (a shard's fetches, a shard listing), so that a failure that
 * keeps coming back is not silent. The first failure with a new reason
 * (another status or another service error code) is worth a WARN; the same
 * reason again only after 10 s, 30 s and 60 s, then every 5 minutes, each
 * time with how often it came since it started; the first success after
 * failures is worth one INFO. Throttling (KINESIS_ETHROUGHPUT,
 * KINESIS_ELIMIT) is not a failure here: it has its own counters.
 */
typedef struct kn_failure_s {
  int status;        /* the last failure's status; 0: none since success */
  char code[64];     /* its service error code; "" when it had none */
  char reason[256];  /* its reason, as logged */
  uint64_t failures; /* failures since the last success */
  uint64_t same;     /* of those, with this reason, in a row */
  uint64_t since;    /* loop time of the first of them */
  uint64_t next_at;  /* loop time from which a repeat is logged again */
  unsigned step;     /* repeats logged so far */
} kn_failure_t;

/* 1 when `status` is throttling, which the reporter does not count. */
int kn_failure_is_throttling(int status);

/* Notes a failure at loop time `now` (ms). `code` and `message` are the
 * service's, or NULL. Returns -1 when nothing is to be logged (throttling,
 * or a repeat before its time); else the level, with the line, which
 * begins with `subject`, written to `line` (at most `size` bytes). */
int kn_failure_fail(kn_failure_t* f, uint64_t now, const char* subject,
                    int status, const char* code, const char* message,
                    char* line, size_t size);

/* Notes a success. Returns -1 when there were no failures before it;
 * else KINESIS_LOG_INFO, with "<subject>: recovered after N failures"
 * written to `line`, and the reporter is as new. */
int kn_failure_ok(kn_failure_t* f, uint64_t now, const char* subject,
                  char* line, size_t size);

/* kn_failure_fail() and kn_failure_ok() with the line sent to the
 * client's log. kn_failure_report() returns 1 when the failure counts (not
 * throttling), else 0. */
int kn_failure_report(kn_failure_t* f, const kinesis_client_t* client,
                      uint64_t now, const char* subject, int status,
                      const char* code, const char* message);
void kn_failure_recovered(kn_failure_t* f, const kinesis_client_t* client,
                          uint64_t now, const char* subject);

#endif /* KN_FAILURE_H */
