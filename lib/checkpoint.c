/* The generic checkpointer functions: those that work for every
 * checkpointer through its ops table, the application's own included. */

#include "checkpoint.h"
#include "internal.h"

#include <string.h>


static kn_ckpt_base_t* base_of(const kinesis_checkpointer_t* cp) {
  kn_ckpt_base_t* base = kn_checkpointer_memory_base(cp);
  if (base == NULL)
    base = kn_checkpointer_redis_base(cp);
  return base != NULL ? base : kn_checkpointer_dynamodb_base(cp);
}


kinesis_client_t* kn_checkpointer_client(const kinesis_checkpointer_t* cp) {
  kn_ckpt_base_t* base = base_of(cp);
  return base != NULL ? base->client : NULL;
}


int kn_checkpointer_ops_copy(const kinesis_checkpointer_t* cp,
                             kinesis_checkpointer_ops_t* ops) {
  size_t required =
      offsetof(kinesis_checkpointer_ops_t, close) + sizeof(ops->close);
  int r;

  if (cp == NULL || cp->ops == NULL)
    return KINESIS_EINVAL;
  memset(ops, 0, sizeof(*ops));
  if ((r = kn_options_copy(ops, sizeof(*ops), cp->ops)) != 0)
    return r;
  if (cp->ops->size < required || ops->claim == NULL ||
      ops->heartbeat == NULL || ops->checkpoint == NULL ||
      ops->finish == NULL || ops->release == NULL || ops->get == NULL ||
      ops->close == NULL)
    return KINESIS_EINVAL;
  return 0;
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
  kinesis_checkpointer_ops_t ops;
  kn_ckpt_base_t* base;
  int r;

  /* The table as this library reads it: a close past its size is none. */
  if ((r = kn_checkpointer_ops_copy(cp, &ops)) != 0)
    return r == KINESIS_EUNSUPPORTED ? r : KINESIS_EINVAL;
  base = base_of(cp);
  if (base != NULL) {
    /* A built-in checkpointer's slot is written only once its op accepted
     * the close: a second close (KINESIS_EALREADY) must not replace the
     * first's callback. Its op answers on a later tick. */
    r = ops.close(cp->self, on_closed, base);
    if (r == 0) {
      base->cp = cp;
      base->cb = cb;
      base->user_data = user_data;
    }
    return r;
  }
  /* The application's own: a slot of its own, filled before the op runs,
   * in case that op answers at once. */
  base = kn_calloc(1, sizeof(*base));
  if (base == NULL)
    return KINESIS_ENOMEM;
  base->allocated = 1;
  base->cp = cp;
  base->cb = cb;
  base->user_data = user_data;
  r = ops.close(cp->self, on_closed, base);
  if (r != 0)
    kn_free(base);
  return r;
}
