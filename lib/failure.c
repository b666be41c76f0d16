#include "failure.h"

#include "internal.h"
#include "client.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

/* A repeat of the same reason is logged this long after its first failure:
 * 10 s, 30 s and 60 s, then every KN_FAILURE_EVERY_MS. */
static const uint64_t kn_failure_after_ms[] = {10000, 30000, 60000};
#define KN_FAILURE_STEPS \
  (sizeof(kn_failure_after_ms) / sizeof(kn_failure_after_ms[0]))
#define KN_FAILURE_EVERY_MS 300000


int kn_failure_is_throttling(int status) {
  return status == KINESIS_ETHROUGHPUT || status == KINESIS_ELIMIT;
}


/* When repeat number `step` (from 0) is due, counted from `since`. */
static uint64_t repeat_at(uint64_t since, unsigned step) {
  if (step < KN_FAILURE_STEPS)
    return since + kn_failure_after_ms[step];
  return since + kn_failure_after_ms[KN_FAILURE_STEPS - 1] +
         (uint64_t) (step - KN_FAILURE_STEPS + 1) * KN_FAILURE_EVERY_MS;
}


int kn_failure_fail(kn_failure_t* f, uint64_t now, const char* subject,
                    int status, const char* code, const char* message,
                    char* line, size_t size) {
  const char* c = code != NULL ? code : "";
  int mlen = message != NULL ? (int) kn_error_message_len(message, 1) : 0;
  int level;

  if (status == 0 || kn_failure_is_throttling(status))
    return -1;
  f->failures++;
  /* f->code keeps the first 63 bytes of a code: so are codes compared. */
  if (f->same > 0 && status == f->status &&
      strncmp(c, f->code, sizeof(f->code) - 1) == 0) {
    f->same++;
    if (now < f->next_at)
      return -1;
    while (f->next_at <= now)
      f->next_at = repeat_at(f->since, ++f->step);
    snprintf(line, size, "%s still failing: %s (%llu times in %llu s)", subject,
             f->reason, (unsigned long long) f->same,
             (unsigned long long) ((now - f->since) / 1000));
    return KINESIS_LOG_WARN;
  }
  /* A new reason: the first failure, or another than the last. */
  f->status = status;
  snprintf(f->code, sizeof(f->code), "%s", c);
  /* The service's words, when it said any: the code is what a program
   * matches, the message what a person reads. */
  if (mlen > 200)
    mlen = 200;
  snprintf(f->reason, sizeof(f->reason), "%s%s%s%s%.*s%s",
           kinesis_strerror(status), *c != 0 || mlen > 0 ? " (" : "", c,
           *c != 0 && mlen > 0 ? ": " : "", mlen,
           message != NULL ? message : "", *c != 0 || mlen > 0 ? ")" : "");
  f->same = 1;
  f->since = now;
  f->step = 0;
  f->next_at = repeat_at(now, 0);
  level = KINESIS_LOG_WARN;
  snprintf(line, size, "%s failed: %s; retrying", subject, f->reason);
  return level;
}


int kn_failure_ok(kn_failure_t* f, uint64_t now, const char* subject,
                  char* line, size_t size) {
  uint64_t n = f->failures;
  (void) now;
  if (n == 0)
    return -1;
  memset(f, 0, sizeof(*f));
  snprintf(line, size, "%s: recovered after %llu failure%s", subject,
           (unsigned long long) n, n == 1 ? "" : "s");
  return KINESIS_LOG_INFO;
}


int kn_failure_report(kn_failure_t* f, const kinesis_client_t* client,
                      uint64_t now, const char* subject, int status,
                      const char* code, const char* message) {
  char line[512];
  int level;
  if (status == 0 || kn_failure_is_throttling(status))
    return 0;
  level = kn_failure_fail(f, now, subject, status, code, message, line,
                          sizeof(line));
  if (level >= 0)
    kn_client_log(client, (kinesis_log_level_t) level, "%s", line);
  return 1;
}


void kn_failure_recovered(kn_failure_t* f, const kinesis_client_t* client,
                          uint64_t now, const char* subject) {
  char line[512];
  int level = kn_failure_ok(f, now, subject, line, sizeof(line));
  if (level >= 0)
    kn_client_log(client, (kinesis_log_level_t) level, "%s", line);
}
