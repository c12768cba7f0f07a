/* Name-to-index hash for the importer: models have tens of thousands of
 * tensor names and qi_graph_find_tensor is a linear scan. Linear probing,
 * at most half full. */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* FNV-1a: short keys, no need for anything stronger. */
static uint32_t hash_bytes(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)s[i];
    h *= 16777619u;
  }
  return h;
}

static int alloc_slots(qi_name_map *m, size_t cap) {
  m->slots = malloc(cap * sizeof *m->slots);
  if (!m->slots) return -1;
  for (size_t i = 0; i < cap; i++) m->slots[i].idx = -1;
  m->cap = cap;
  return 0;
}

int qi_name_map_init(qi_name_map *m, qi_name_of_fn name_of,
                     const void *owner, size_t expected) {
  memset(m, 0, sizeof *m);
  m->name_of = name_of;
  m->owner = owner;
  size_t cap = 64;
  while (cap / 2 < expected && cap < SIZE_MAX / (4 * sizeof(qi_name_slot)))
    cap *= 2;
  return alloc_slots(m, cap);
}

void qi_name_map_free(qi_name_map *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->count = 0;
}

static int name_equals(const char *name, const char *s, size_t len) {
  return strncmp(name, s, len) == 0 && name[len] == '\0';
}

int qi_name_map_find(const qi_name_map *m, const char *s, size_t len) {
  uint32_t h = hash_bytes(s, len);
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const qi_name_slot *sl = &m->slots[i];
    if (sl->idx < 0) return -1;
    if (sl->hash == h && name_equals(m->name_of(m->owner, sl->idx), s, len))
      return sl->idx;
  }
}

static void insert(qi_name_slot *slots, size_t cap, uint32_t h, int idx) {
  size_t mask = cap - 1;
  size_t i = h & mask;
  while (slots[i].idx >= 0) i = (i + 1) & mask;
  slots[i].hash = h;
  slots[i].idx = idx;
}

int qi_name_map_add(qi_name_map *m, int idx) {
  if ((m->count + 1) * 2 > m->cap) {
    qi_name_map bigger = *m;
    if (m->cap > SIZE_MAX / 4 || alloc_slots(&bigger, m->cap * 2)) return -1;
    for (size_t i = 0; i < m->cap; i++)
      if (m->slots[i].idx >= 0)
        insert(bigger.slots, bigger.cap, m->slots[i].hash, m->slots[i].idx);
    free(m->slots);
    m->slots = bigger.slots;
    m->cap = bigger.cap;
  }
  const char *name = m->name_of(m->owner, idx);
  insert(m->slots, m->cap, hash_bytes(name, strlen(name)), idx);
  m->count++;
  return 0;
}
