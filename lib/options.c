/*
 * Options structs that can grow without breaking the ABI (docs/reference.md,
 * "Options"). Each public options struct, and the checkpointer ops table,
 * begins with `size_t size`: the size of the struct in the header the
 * caller was built against. A caller built against an older header has a
 * shorter struct, one built against a newer header a longer one; these two
 * functions are the only places that read or write one by its size.
 */

#include "internal.h"

#include <string.h>


void kn_options_init(void* o, size_t size, const void* defaults,
                     size_t defaults_size) {
  if (o == NULL || size < sizeof(size_t))
    return;
  /* Bytes past the library's struct belong to fields this library does not
   * know: zero is what kn_options_copy() accepts there. */
  memset(o, 0, size);
  memcpy(o, defaults, size < defaults_size ? size : defaults_size);
  memcpy(o, &size, sizeof(size));
}


int kn_options_copy(void* dst, size_t dst_size, const void* src) {
  const unsigned char* tail;
  size_t size;
  size_t i;

  memcpy(&size, src, sizeof(size));
  if (size < sizeof(size_t))
    return KINESIS_EINVAL;
  /* A newer caller's fields that this library lacks are accepted only when
   * they hold zero, which the newer header must define as "as before". */
  tail = (const unsigned char*) src;
  for (i = dst_size; i < size; i++)
    if (tail[i] != 0)
      return KINESIS_EUNSUPPORTED;
  memcpy(dst, src, size < dst_size ? size : dst_size);
  memcpy(dst, &dst_size, sizeof(dst_size));
  return 0;
}
