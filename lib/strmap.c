#include "strmap.h"

#include "internal.h"

#include <string.h>


/* FNV-1a. Shard ids come from the service's listing; a map of a few
 * thousand of them needs no keyed hash. */
static uint32_t str_hash(const char* s) {
  uint32_t h = 2166136261u;
  for (; *s != '\0'; s++) {
    h ^= (uint8_t) *s;
    h *= 16777619u;
  }
  return h;
}


void kn_strmap_init(kn_strmap_t* m) {
  m->slots = NULL;
  m->nslots = 0;
  m->n = 0;
}


void kn_strmap_free(kn_strmap_t* m) {
  kn_free(m->slots);
  kn_strmap_init(m);
}


/* The slot of `key`, or of the empty slot where it would go. */
static size_t slot_of(const kn_strmap_t* m, const char* key, uint32_t h) {
  size_t mask = m->nslots - 1;
  size_t i = h & mask;
  while (m->slots[i].key != NULL &&
         (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
    i = (i + 1) & mask;
  return i;
}


void* kn_strmap_get(const kn_strmap_t* m, const char* key) {
  size_t i;
  if (m->n == 0)
    return NULL;
  i = slot_of(m, key, str_hash(key));
  return m->slots[i].key != NULL ? m->slots[i].value : NULL;
}


static int grow(kn_strmap_t* m) {
  size_t n = m->nslots == 0 ? 16 : m->nslots * 2;
  kn_strmap_t bigger;
  size_t i;

  bigger.slots = kn_calloc(n, sizeof(*bigger.slots));
  if (bigger.slots == NULL)
    return KINESIS_ENOMEM;
  bigger.nslots = n;
  bigger.n = m->n;
  for (i = 0; i < m->nslots; i++)
    if (m->slots[i].key != NULL)
      bigger.slots[slot_of(&bigger, m->slots[i].key, m->slots[i].hash)] =
          m->slots[i];
  kn_free(m->slots);
  *m = bigger;
  return 0;
}


int kn_strmap_put(kn_strmap_t* m, const char* key, void* value) {
  uint32_t h = str_hash(key);
  size_t i;

  if ((m->n + 1) * 2 > m->nslots && grow(m) != 0)
    return KINESIS_ENOMEM;
  i = slot_of(m, key, h);
  if (m->slots[i].key == NULL) {
    m->slots[i].key = key;
    m->slots[i].hash = h;
    m->n++;
  }
  m->slots[i].value = value;
  return 0;
}


void* kn_strmap_remove(kn_strmap_t* m, const char* key) {
  size_t mask = m->nslots - 1;
  size_t i;
  size_t j;
  void* value;

  if (m->n == 0)
    return NULL;
  i = slot_of(m, key, str_hash(key));
  if (m->slots[i].key == NULL)
    return NULL;
  value = m->slots[i].value;
  m->slots[i].key = NULL;
  m->n--;
  /* Linear probing without tombstones: move later entries of the cluster
   * back into the hole when their home slot does not lie cyclically in
   * (hole, their slot]. */
  for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
    size_t home = m->slots[j].hash & mask;
    int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays)
      continue;
    m->slots[i] = m->slots[j];
    m->slots[j].key = NULL;
    i = j;
  }
  return value;
}
