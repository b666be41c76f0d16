/* The generic checkpointer functions: those that work for every
 * checkpointer through its ops table, the application's own included. */

#include "checkpoint.h"
#include "internal.h"


static kn_ckpt_base_t* base_of(const kinesis_checkpointer_t* cp) {
  kn_ckpt_base_t* base = kn_checkpointer_memory_base(cp);
  return base != NULL ? base : kn_checkpointer_redis_base(cp);
}


kinesis_client_t* kn_checkpointer_client(const kinesis_checkpointer_t* cp) {
  kn_ckpt_base_t* base = base_of(cp);
  return base != NULL ? base->client : NULL;
}


/* The ops table's close answers with one `arg`: the base, which carries the
 * checkpointer and the user's callback. */
static void on_closed(int status, void* arg) {
  kn_ckpt_base_t* base = arg;
  kinesis_close_cb cb = base->cb;
  void* user_data = base->user_data;
  /* The checkpointer is still there while its close op answers (a built-in
   * one is freed after this returns; the application keeps its own alive
   * until then), so its user slot is read now. */
  void* data = base->cp->data;

  if (base->allocated)
    kn_free(base);
  if (cb != NULL)
    cb(data, status, user_data);
}


int kinesis_checkpointer_close(kinesis_checkpointer_t* cp, kinesis_close_cb cb,
                               void* user_data) {
  kn_ckpt_base_t* base;
  kn_ckpt_base_t* slot;
  int r;

  if (cp == NULL || cp->ops == NULL || cp->ops->close == NULL)
    return KINESIS_EINVAL;
  base = base_of(cp);
  if (base != NULL) {
    slot = base;
  } else {
    slot = kn_calloc(1, sizeof(*slot));
    if (slot == NULL)
      return KINESIS_ENOMEM;
    slot->allocated = 1;
  }
  /* A built-in checkpointer's slot is written only once its op accepted the
   * close: a second close (KINESIS_EALREADY) must not replace the first's
   * callback. */
  r = cp->ops->close(cp->self, on_closed, slot);
  if (r != 0) {
    if (slot->allocated)
      kn_free(slot);
    return r;
  }
  slot->cp = cp;
  slot->cb = cb;
  slot->user_data = user_data;
  return 0;
}
