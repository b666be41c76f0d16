#include "harness.h"

#include "failure.h"
#include "internal.h"

#include <string.h>


#define SUBJECT "consumer: GetRecords on shardId-000000000000"


/* Fails `f` at `now` with EPROTO and no service words; returns the level. */
static int fail_proto(kn_failure_t* f, uint64_t now, char* line, size_t n) {
  line[0] = 0;
  return kn_failure_fail(f, now, SUBJECT, KINESIS_EPROTO, NULL, NULL, line, n);
}


/* The first failure is a WARN with the reason; the same reason again is
 * quiet until 10 s, 30 s and 60 s after it began, then every 5 minutes,
 * each time with the count. */
static void test_intervals(void) {
  kn_failure_t f;
  char line[512];
  uint64_t t;
  int logged = 0;

  memset(&f, 0, sizeof(f));
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 1000, line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT " failed: malformed service response; retrying", line);
  /* Every 500 ms up to 10.5 s after the first: one line, at 11 s. */
  for (t = 1500; t <= 11000; t += 500) {
    int level = fail_proto(&f, t, line, sizeof(line));
    if (t < 11000) {
      ASSERT_EQ(-1, level);
    } else {
      ASSERT_EQ(KINESIS_LOG_WARN, level);
      ASSERT_STR_EQ(SUBJECT
                    " still failing: malformed service response "
                    "(21 times in 10 s)",
                    line);
    }
  }
  /* Then at 30 s, 60 s, 360 s and 660 s: four lines in 11 minutes of a
   * failure a second. */
  for (t = 12000; t <= 661000; t += 1000) {
    int level = fail_proto(&f, t, line, sizeof(line));
    if (level < 0)
      continue;
    ASSERT_EQ(KINESIS_LOG_WARN, level);
    logged++;
    if (logged == 1) {
      ASSERT_EQ(31000, t);
    } else if (logged == 2) {
      ASSERT_EQ(61000, t);
    } else if (logged == 3) {
      ASSERT_EQ(361000, t);
      ASSERT_STR_EQ(SUBJECT
                    " still failing: malformed service response "
                    "(371 times in 360 s)",
                    line);
    } else {
      ASSERT_EQ(661000, t);
    }
  }
  ASSERT_EQ(4, logged);
  ASSERT_EQ(671, f.failures);
  /* Success after failures: one INFO, and the reporter is as new. */
  ASSERT_EQ(KINESIS_LOG_INFO,
            kn_failure_ok(&f, 662000, SUBJECT, line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT ": recovered after 671 failures", line);
  ASSERT_EQ(0, f.failures);
  ASSERT_EQ(0, f.status);
  ASSERT_EQ(-1, kn_failure_ok(&f, 663000, SUBJECT, line, sizeof(line)));
  /* A failure after the recovery is new again. */
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 664000, line, sizeof(line)));
}


/* Sparse failures: a repeat logged late moves on to the next time still
 * ahead, not to each one it missed. */
static void test_sparse(void) {
  kn_failure_t f;
  char line[512];

  memset(&f, 0, sizeof(f));
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 0, line, sizeof(line)));
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 40000, line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT
                " still failing: malformed service response "
                "(2 times in 40 s)",
                line);
  ASSERT_EQ(-1, fail_proto(&f, 59999, line, sizeof(line)));
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 60000, line, sizeof(line)));
  ASSERT_EQ(-1, fail_proto(&f, 359999, line, sizeof(line)));
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 360000, line, sizeof(line)));
}


/* Another status, or another service error code, is a new reason: logged
 * at once, with the service's code and message. The message alone (a
 * request id in it, say) is not a new reason. */
static void test_new_reason(void) {
  kn_failure_t f;
  char line[512];

  memset(&f, 0, sizeof(f));
  ASSERT_EQ(
      KINESIS_LOG_WARN,
      kn_failure_fail(&f, 0, SUBJECT, KINESIS_EACCESS, "AccessDeniedException",
                      "not allowed", line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT
                " failed: access denied or bad credentials "
                "(AccessDeniedException: not allowed); retrying",
                line);
  ASSERT_EQ(-1, kn_failure_fail(&f, 100, SUBJECT, KINESIS_EACCESS,
                                "AccessDeniedException", "other words", line,
                                sizeof(line)));
  ASSERT_EQ(KINESIS_LOG_WARN, kn_failure_fail(&f, 200, SUBJECT, KINESIS_EACCESS,
                                              "UnrecognizedClientException",
                                              NULL, line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT
                " failed: access denied or bad credentials "
                "(UnrecognizedClientException); retrying",
                line);
  ASSERT_EQ(
      KINESIS_LOG_WARN,
      kn_failure_fail(&f, 300, SUBJECT, KINESIS_ESERVICE, NULL,
                      "We encountered an internal error", line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT
                " failed: service-side failure (5xx) (We "
                "encountered an internal error); retrying",
                line);
  /* A code longer than the reporter keeps is still the same code. */
  {
    char code[100];
    memset(code, 'X', sizeof(code) - 1);
    code[sizeof(code) - 1] = 0;
    ASSERT_EQ(KINESIS_LOG_WARN,
              kn_failure_fail(&f, 310, SUBJECT, KINESIS_ESVCOTHER, code, NULL,
                              line, sizeof(line)));
    ASSERT_EQ(-1, kn_failure_fail(&f, 320, SUBJECT, KINESIS_ESVCOTHER, code,
                                  NULL, line, sizeof(line)));
  }
  /* Back to the first reason: new again, since it is not the last. */
  ASSERT_EQ(KINESIS_LOG_WARN,
            kn_failure_fail(&f, 400, SUBJECT, KINESIS_EACCESS,
                            "AccessDeniedException", NULL, line, sizeof(line)));
  ASSERT_EQ(7, f.failures);
  ASSERT_EQ(KINESIS_LOG_INFO,
            kn_failure_ok(&f, 500, SUBJECT, line, sizeof(line)));
  ASSERT_STR_EQ(SUBJECT ": recovered after 7 failures", line);
}


/* A signature mismatch is answered with the canonical request, whose
 * headers may hold the session token: only the first line of a message
 * goes to the log, and nothing from the canonical request on. */
static void test_no_secrets(void) {
  kn_failure_t f;
  char line[512];
  const char* token = "FwoGZXIvYXdzEJr//////////wEaDSECRETTOKEN";
  char msg[512];

  memset(&f, 0, sizeof(f));
  snprintf(msg, sizeof(msg),
           "The request signature we calculated does not match the "
           "signature you provided.\n\nThe Canonical String for this "
           "request should have been\n'POST\n/\n\nhost:kinesis\n"
           "x-amz-security-token:%s\n'",
           token);
  ASSERT_EQ(KINESIS_LOG_WARN, kn_failure_fail(&f, 0, SUBJECT, KINESIS_EACCESS,
                                              "InvalidSignatureException", msg,
                                              line, sizeof(line)));
  ASSERT_NULL(strstr(line, "SECRETTOKEN"));
  ASSERT_NULL(strstr(f.reason, "SECRETTOKEN"));
  ASSERT_STR_EQ(SUBJECT
                " failed: access denied or bad credentials "
                "(InvalidSignatureException: The request signature we "
                "calculated does not match the signature you provided); "
                "retrying",
                line);
  /* On one line too. */
  snprintf(msg, sizeof(msg),
           "Signature mismatch; Canonical String "
           "was 'x-amz-security-token:%s'",
           token);
  ASSERT_EQ(KINESIS_LOG_WARN, kn_failure_fail(&f, 0, SUBJECT, KINESIS_EACCESS,
                                              "IncompleteSignatureException",
                                              msg, line, sizeof(line)));
  ASSERT_NULL(strstr(line, "SECRETTOKEN"));
  ASSERT_NOT_NULL(strstr(line,
                         "(IncompleteSignatureException: Signature "
                         "mismatch); retrying"));
}


/* Throttling is not a failure here: nothing logged, nothing counted, and
 * the reason in progress stays. */
static void test_throttling(void) {
  kn_failure_t f;
  char line[512];

  memset(&f, 0, sizeof(f));
  ASSERT(kn_failure_is_throttling(KINESIS_ETHROUGHPUT));
  ASSERT(kn_failure_is_throttling(KINESIS_ELIMIT));
  ASSERT(!kn_failure_is_throttling(KINESIS_EPROTO));
  ASSERT_EQ(-1, kn_failure_fail(&f, 0, SUBJECT, KINESIS_ETHROUGHPUT,
                                "ProvisionedThroughputExceededException",
                                "Rate exceeded", line, sizeof(line)));
  ASSERT_EQ(-1, kn_failure_fail(&f, 0, SUBJECT, KINESIS_ELIMIT, NULL, NULL,
                                line, sizeof(line)));
  ASSERT_EQ(0, f.failures);
  ASSERT_EQ(-1, kn_failure_ok(&f, 10, SUBJECT, line, sizeof(line)));
  ASSERT_EQ(KINESIS_LOG_WARN, fail_proto(&f, 20, line, sizeof(line)));
  ASSERT_EQ(-1, kn_failure_fail(&f, 30, SUBJECT, KINESIS_ETHROUGHPUT, NULL,
                                NULL, line, sizeof(line)));
  ASSERT_EQ(-1, fail_proto(&f, 40, line, sizeof(line)));
  ASSERT_EQ(2, f.failures);
  ASSERT_EQ(2, f.same);
  /* kn_failure_report() says whether a status counts. */
  ASSERT_EQ(
      0, kn_failure_report(&f, NULL, 50, SUBJECT, KINESIS_ELIMIT, NULL, NULL));
  ASSERT_EQ(0, kn_failure_report(&f, NULL, 50, SUBJECT, 0, NULL, NULL));
}


KN_TEST_MAIN(KN_TEST(test_intervals), KN_TEST(test_sparse),
             KN_TEST(test_new_reason), KN_TEST(test_no_secrets),
             KN_TEST(test_throttling))
