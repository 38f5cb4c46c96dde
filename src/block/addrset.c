/* Address sets: which headers at the big-block page offset are ours, and
 * which segments hold chunk memory (block.h says why). Each set is 64
 * shards, each an open-addressing table of keys under its own lock: only
 * rare paths use them (a big block's allocation and free, a small block
 * that lands on the offset by chance, a free of such a pointer). */
#include "block.h"

#include <stdlib.h>
#include <string.h>

#define AS_SHARDS    64
#define AS_EMPTY     ((uintptr_t)0)
#define AS_TOMBSTONE ((uintptr_t)1) /* keys are 16-aligned: never 0 or 1 */
#define AS_FIRST_CAP 64

typedef struct {
    mmi_lock lock;    /* guards the fields below */
    uintptr_t *slots; /* cap entries: a key, AS_EMPTY or AS_TOMBSTONE */
    size_t cap;       /* a power of two, or 0 before the first add */
    size_t used;      /* keys plus tombstones */
    size_t keys;      /* keys */
} as_shard;

#define AS_SHARD_INIT {MMI_LOCK_INIT(MMI_RANK_ADDRSET, "address set"), NULL, 0, 0, 0}
#define AS_SHARDS_INIT                                                                             \
    AS_SHARD_INIT, AS_SHARD_INIT, AS_SHARD_INIT, AS_SHARD_INIT, AS_SHARD_INIT, AS_SHARD_INIT,      \
        AS_SHARD_INIT, AS_SHARD_INIT

static as_shard as_sets[2][AS_SHARDS] = {
    {AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT,
     AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT},
    {AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT,
     AS_SHARDS_INIT, AS_SHARDS_INIT, AS_SHARDS_INIT}};

static _Atomic uintptr_t as_released[MMI_RELEASED_KEPT]; /* ring of released headers */
static _Atomic unsigned as_released_next;                /* next ring slot */

static uint64_t as_hash(uintptr_t key) {
    uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static as_shard *as_shard_of(int set, uintptr_t key) {
    return &as_sets[set][(as_hash(key) >> 58) & (AS_SHARDS - 1)];
}

/* The slot holding key, or NULL. */
static uintptr_t *as_find(as_shard *s, uintptr_t key) {
    if (s->cap == 0) return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = as_hash(key) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] == key) return &s->slots[i];
        if (s->slots[i] == AS_EMPTY) return NULL;
    }
}

static void as_put(uintptr_t *slots, size_t cap, uintptr_t key) {
    size_t mask = cap - 1;
    size_t i = as_hash(key) & mask;
    while (slots[i] != AS_EMPTY && slots[i] != AS_TOMBSTONE) i = (i + 1) & mask;
    slots[i] = key;
}

/* Rebuilds the table at a size that keeps it at most half full. */
static bool as_grow(as_shard *s) {
    size_t cap = s->cap ? s->cap : AS_FIRST_CAP;
    while ((s->keys + 1) * 2 > cap) cap *= 2;
    uintptr_t *slots = mmi_sys_calloc(cap * sizeof *slots, MMI_SYS_EXEMPT, NULL);
    if (slots == NULL) return false;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i] != AS_EMPTY && s->slots[i] != AS_TOMBSTONE) as_put(slots, cap, s->slots[i]);
    mmi_sys_free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->keys;
    return true;
}

bool mmi_addrset_add(int set, uintptr_t key) {
    as_shard *s = as_shard_of(set, key);
    bool ok = true;
    mmi_lock_take(&s->lock);
    if (as_find(s, key) == NULL) {
        if ((s->used + 1) * 2 > s->cap) ok = as_grow(s);
        if (ok) {
            as_put(s->slots, s->cap, key);
            s->used++;
            s->keys++;
        }
    }
    mmi_lock_drop(&s->lock);
    return ok;
}

void mmi_addrset_remove(int set, uintptr_t key) {
    as_shard *s = as_shard_of(set, key);
    mmi_lock_take(&s->lock);
    uintptr_t *slot = as_find(s, key);
    if (slot) {
        *slot = AS_TOMBSTONE;
        s->keys--;
    }
    mmi_lock_drop(&s->lock);
}

bool mmi_addrset_contains(int set, uintptr_t key) {
    as_shard *s = as_shard_of(set, key);
    mmi_lock_take(&s->lock);
    bool found = as_find(s, key) != NULL;
    mmi_lock_drop(&s->lock);
    return found;
}

void mmi_ours_release(uintptr_t h) {
    mmi_addrset_remove(MMI_SET_OURS, h);
    unsigned i = atomic_fetch_add_explicit(&as_released_next, 1, MMI_RELAXED);
    mmi_store(&as_released[i % MMI_RELEASED_KEPT], h);
}

bool mmi_ours_recently_released(uintptr_t h) {
    for (unsigned i = 0; i < MMI_RELEASED_KEPT; i++)
        if (mmi_load(&as_released[i]) == h) return true;
    return false;
}
