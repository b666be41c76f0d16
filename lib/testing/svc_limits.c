/*
 * The fake service's throughput limits (svc.h): a token bucket per shard
 * and limit, by the clock the model is given. No JSON: svc_ops.c asks
 * here whether a record or a call may go on, and answers the refusal.
 */
#include "svc_internal.h"
#include "internal.h"

#include <stdio.h>


int kn_svc_bucket_fits(kn_svc_bucket_t* b, int64_t rate, int64_t cost,
                       int64_t now) {
  if (now > b->at_ms) {
    int64_t dt = now - b->at_ms;
    /* Compared before multiplying: a bucket untouched for years (at_ms
     * is 0 when new) must not overflow. */
    if (dt > b->spent / rate)
      b->spent = 0;
    else
      b->spent -= dt * rate;
    b->at_ms = now;
  }
  return b->spent == 0 || b->spent + cost * 1000 <= rate * 1000;
}


void kn_svc_bucket_take(kn_svc_bucket_t* b, int64_t cost) {
  b->spent += cost * 1000;
}


static int limited(const kn_svc_t* svc, unsigned bit) {
  return (svc->limits_off & bit) == 0;
}


int kn_svc_admit_write(kn_svc_t* svc, kn_svc_shard_t* sh, size_t bytes,
                       int64_t now) {
  if (!limited(svc, KN_SVC_LIMIT_WRITES))
    return 1;
  /* Both refilled before either is looked at, so that neither is taken
   * from when the other refuses. */
  if (!kn_svc_bucket_fits(&sh->put_records, KN_SVC_WRITE_RECORDS_PER_S, 1,
                          now) ||
      !kn_svc_bucket_fits(&sh->put_bytes, KN_SVC_WRITE_BYTES_PER_S,
                          (int64_t) bytes, now))
    return 0;
  kn_svc_bucket_take(&sh->put_records, 1);
  kn_svc_bucket_take(&sh->put_bytes, (int64_t) bytes);
  return 1;
}


int kn_svc_admit_read(kn_svc_t* svc, kn_svc_shard_t* sh, int64_t now) {
  if (!limited(svc, KN_SVC_LIMIT_READS))
    return 1;
  /* A byte left is enough to be let in: the answer's size is not known
   * yet, and may take the shard into debt. */
  if (!kn_svc_bucket_fits(&sh->get_calls, KN_SVC_READ_CALLS_PER_S, 1, now) ||
      !kn_svc_bucket_fits(&sh->get_bytes, KN_SVC_READ_BYTES_PER_S, 1, now))
    return 0;
  kn_svc_bucket_take(&sh->get_calls, 1);
  return 1;
}


void kn_svc_read_bytes(kn_svc_t* svc, kn_svc_shard_t* sh, size_t bytes) {
  const int64_t second = (int64_t) KN_SVC_READ_BYTES_PER_S * 1000;
  kn_svc_bucket_t* b = &sh->get_bytes;

  if (!limited(svc, KN_SVC_LIMIT_READS))
    return;
  /* An answer within what the shard has left is taken from it. One past
   * it is owed whole, from where the budget ends: the shard's calls are
   * throttled for bytes / 2 MiB seconds, 1 s after 2 MiB and 5 s after
   * 10 MiB, the two figures AWS gives. */
  if (b->spent + (int64_t) bytes * 1000 <= second)
    kn_svc_bucket_take(b, (int64_t) bytes);
  else
    b->spent = second + (int64_t) bytes * 1000;
}


int kn_svc_admit_iterator(kn_svc_t* svc, kn_svc_shard_t* sh, int64_t now) {
  if (!limited(svc, KN_SVC_LIMIT_ITERATORS))
    return 1;
  if (!kn_svc_bucket_fits(&sh->iterator_calls, KN_SVC_ITERATOR_CALLS_PER_S, 1,
                          now))
    return 0;
  kn_svc_bucket_take(&sh->iterator_calls, 1);
  return 1;
}


void kn_svc_rate_message(const kn_svc_t* svc, const kn_svc_stream_t* s,
                         const kn_svc_shard_t* sh, char* buf, size_t size) {
  snprintf(buf, size,
           "Rate exceeded for shard %s in stream %s under account %s.",
           sh->id, s->name, svc->account_id);
}


int kn_svc_throttled(const kn_svc_t* svc, kn_svc_reply_t* reply,
                     const kn_svc_stream_t* s, const kn_svc_shard_t* sh) {
  char msg[KN_SVC_RATE_MESSAGE_MAX];
  kn_svc_rate_message(svc, s, sh, msg, sizeof(msg));
  return kn_svc_error(reply, "ProvisionedThroughputExceededException", "%s",
                      msg);
}
