#ifndef KN_STRMAP_H
#define KN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * A map from NUL-terminated strings to pointers: open addressing, linear
 * probing, at most half full, deletion by shifting back (no tombstones).
 * Keys are borrowed: each must stay valid, and unchanged, while its entry
 * is in the map (the consumer keys shards by their own id string).
 */

typedef struct kn_strmap_slot_s {
  const char* key; /* NULL: empty */
  void* value;
  uint32_t hash;
} kn_strmap_slot_t;

typedef struct kn_strmap_s {
  kn_strmap_slot_t* slots;
  size_t nslots; /* 0 or a power of two */
  size_t n;
} kn_strmap_t;

void kn_strmap_init(kn_strmap_t* m);
void kn_strmap_free(kn_strmap_t* m);

/* The value of `key`, or NULL. */
void* kn_strmap_get(const kn_strmap_t* m, const char* key);

/* Sets `key` to `value` (replacing the value, and keeping the first key
 * pointer, when present). Returns 0 or KINESIS_ENOMEM, changing nothing. */
int kn_strmap_put(kn_strmap_t* m, const char* key, void* value);

/* Removes `key`; returns its value, or NULL when it was absent. */
void* kn_strmap_remove(kn_strmap_t* m, const char* key);

#endif /* KN_STRMAP_H */
