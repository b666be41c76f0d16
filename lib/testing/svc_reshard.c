/*
 * Scheduled reshards (svc.h): the schedules the service keeps, applied by
 * kn_svc_handle() before each request, by its clock, through the same
 * rules and the same code as UpdateShardCount (kn_svc_scale_check(),
 * kn_svc_scale()).
 */
#include "svc_internal.h"
#include "internal.h"

#include <string.h>

#include "validate.h"


int kn_svc_scale_check(size_t open, uint64_t target) {
  /* AWS's rules for one call: at most double, at least half. */
  if (target > 2 * (uint64_t) open || 2 * target < (uint64_t) open)
    return KN_SVC_SCALE_RANGE;
  if (target > KN_SVC_MAX_OPEN_SHARDS)
    return KN_SVC_SCALE_LIMIT;
  return 0;
}


int kn_svc_scale(kn_svc_t* svc, kn_svc_stream_t* s, uint32_t target,
                 int64_t now) {
  if (kn_svc_update_count(&svc->store, s, target, now) != 0)
    return KINESIS_ENOMEM;
  kn_svc_stream_updated(&svc->store, s, now);
  return 0;
}


int kn_svc_schedule_reshard(kn_svc_t* svc, const char* stream, int64_t at_ms,
                            uint32_t target, uint64_t every_ms) {
  kn_svc_sched_t* r;

  if (svc == NULL || stream == NULL || !kn_valid_shard_id(stream) ||
      at_ms < 0 || target == 0 || target > KN_SVC_MAX_OPEN_SHARDS ||
      every_ms > (uint64_t) INT64_MAX)
    return KINESIS_EINVAL;
  if (svc->nscheds == svc->scheds_cap) {
    size_t cap = svc->scheds_cap == 0 ? 4 : 2 * svc->scheds_cap;
    kn_svc_sched_t* v = kn_realloc(svc->scheds, cap * sizeof(*v));
    if (v == NULL)
      return KINESIS_ENOMEM;
    svc->scheds = v;
    svc->scheds_cap = cap;
  }
  r = &svc->scheds[svc->nscheds++];
  memset(r, 0, sizeof(*r));
  /* kn_valid_shard_id() held it to KN_SVC_NAME_MAX. */
  memcpy(r->stream, stream, strlen(stream) + 1);
  r->at_ms = at_ms;
  r->every_ms = every_ms;
  r->target = target;
  r->to_target = 1;
  return 0;
}


static void sched_remove(kn_svc_t* svc, size_t i) {
  /* In order: two schedules due at once apply as they were made. */
  memmove(&svc->scheds[i], &svc->scheds[i + 1],
          (svc->nscheds - i - 1) * sizeof(*svc->scheds));
  svc->nscheds--;
}


size_t kn_svc_cancel_reshards(kn_svc_t* svc, const char* stream) {
  size_t i = 0;
  size_t n = 0;

  if (svc == NULL)
    return 0;
  while (i < svc->nscheds) {
    if (stream == NULL || strcmp(svc->scheds[i].stream, stream) == 0) {
      sched_remove(svc, i);
      n++;
    } else {
      i++;
    }
  }
  return n;
}


void kn_svc_reshard_stats(const kn_svc_t* svc, kn_svc_reshard_stats_t* out) {
  memset(out, 0, sizeof(*out));
  if (svc == NULL)
    return;
  out->applied = svc->reshards_applied;
  out->skipped = svc->reshards_skipped;
  out->pending = svc->nscheds;
}


/* One schedule whose time has come: 1 when it is done with for now
 * (applied or skipped), 0 when it waits for its stream to be ACTIVE. */
static int sched_fire(kn_svc_t* svc, kn_svc_sched_t* r, int64_t now) {
  kn_svc_stream_t* s = kn_svc_stream_find(&svc->store, r->stream);
  uint32_t want;
  size_t open;

  if (s != NULL &&
      (s->status == KN_SVC_CREATING || s->status == KN_SVC_UPDATING))
    return 0;
  if (s == NULL || s->status != KN_SVC_ACTIVE) {
    svc->reshards_skipped++; /* gone, or DELETING */
    return 1;
  }
  open = kn_svc_stream_open_shards(s);
  want = r->to_target ? r->target : r->from;
  if (kn_svc_scale_check(open, want) != 0 ||
      kn_svc_scale(svc, s, want, now) != 0) {
    /* Out of UpdateShardCount's rules (or, rarely, out of memory, which
     * leaves the stream consistent): this time is skipped, and a
     * repeating schedule tries the same count next time. */
    svc->reshards_skipped++;
    return 1;
  }
  svc->reshards_applied++;
  if (r->from == 0)
    r->from = (uint32_t) open;
  r->to_target = !r->to_target;
  return 1;
}


void kn_svc_reshards_tick(kn_svc_t* svc, int64_t now) {
  size_t i = 0;

  while (i < svc->nscheds) {
    kn_svc_sched_t* r = &svc->scheds[i];
    uint64_t k;
    if (now < r->at_ms || !sched_fire(svc, r, now)) {
      i++;
      continue;
    }
    if (r->every_ms == 0) {
      sched_remove(svc, i);
      continue;
    }
    /* The next time after now: the times missed meanwhile (the clock
     * moved on by more than a period) make no reshard of their own. */
    k = (uint64_t) (now - r->at_ms) / r->every_ms + 1;
    if (r->every_ms > (uint64_t) (INT64_MAX - r->at_ms) / k) {
      sched_remove(svc, i); /* past the end of time */
      continue;
    }
    r->at_ms += (int64_t) (k * r->every_ms);
    i++;
  }
}
