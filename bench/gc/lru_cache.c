/*
 * lru_cache: a long-lived cache, the shape of a server's object cache.
 * Variants: see gcb_common.h.
 *
 *   lru_cache [N]    capacity 2^N entries (default 20: 1 M), 8 * 2^N steps
 *
 * The cache is a chained hash table of 2^N buckets plus a doubly linked LRU
 * list (head = most recently used). Each entry is a scanned 48-byte node
 *   {key -> noscan string of 16..64 bytes, value -> scanned record,
 *    prev/next (LRU list), hnext (hash chain), key length, hash}
 * and each value a scanned record of 32..256 bytes
 *   {owner -> its entry, blob -> noscan 16..64 bytes or NULL, version,
 *    key id, size, blob length, [padding words, the last one a check word]}.
 * At N = 20 about 180 MB are live once the cache is full (58 % of the steps hit).
 *
 * Each step draws a key id from a skewed distribution over 2 * 2^N ids
 * (id = K * (a*a/2^64) for a uniform 32-bit a: density ~ 1/sqrt(id), so half
 * the draws fall in the hottest quarter), builds the request's key string
 * (a fresh noscan object: a new entry keeps it, a hit drops it) and looks it
 * up:
 *   - hit: the value is checked (owner, key id, check word, blob bytes), the
 *     entry moves to the front of the LRU list, and one time in 16 its value
 *     is replaced by a fresh one (the old one is dropped). Moving an entry
 *     writes pointers into old objects all over the heap (the entry, its two
 *     neighbours, the old head): the worst case for collectors that rescan
 *     dirty pages (generational or concurrent marking);
 *   - miss: when the cache is full the least recently used entry is evicted
 *     (unlinked from the list and its hash chain, then dropped: its key,
 *     value and blob with it), and a new entry with a fresh key string and
 *     value is inserted at the front.
 * "Dropped" means freed in the malloc variant, left to the collector in the
 * others. At the end the LRU list and the hash table are walked and every
 * entry checked against its key. Random choices come from a fixed-seed
 * splitmix64 used in the same order by every variant (the Go one included),
 * so the output is identical across variants. A failed check prints a
 * message and exits with status 1.
 */
#include "gcb_common.h"

/* ---- deterministic generator (splitmix64) ---- */
/* splitmix64's output for state z: also a key id's own hash (its string's
 * length and letters). */
static inline uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static inline uint64_t rng(void) {
  uint64_t z = rng_state;
  rng_state += 0x9E3779B97F4A7C15ull;
  return mix(z);
}

static void fail(const char* what, uint64_t step, uint64_t got, uint64_t want) {
  fflush(stdout);
  fprintf(stderr, "lru_cache: CHECK FAILED: %s (step %" PRIu64 "): got %" PRIu64 ", want %" PRIu64 "\n", what, step,
          got, want);
  exit(1);
}

#define GOLDEN 0x9E3779B97F4A7C15ull
#define MAX_KEY 64
#define STEPS_PER_ENTRY 8 /* steps = STEPS_PER_ENTRY * capacity */

typedef struct entry entry;

typedef struct value {
  entry* owner;        /* the entry holding this value */
  unsigned char* blob; /* noscan, blen bytes of (version + keyid) & 0xff; or NULL */
  uint64_t version;    /* the step that made it */
  uint32_t keyid;
  uint16_t size; /* bytes of this record; > 32: the last word = check word */
  uint16_t blen;
} value;

struct entry {
  char* key; /* noscan, klen bytes (no terminator) */
  value* val;
  entry *prev, *next; /* LRU list: head is the most recently used */
  entry* hnext;       /* hash chain */
  uint32_t klen, hash;
};

static const uint16_t vsizes[8] = {32, 32, 32, 32, 48, 48, 64, 256};

/* Cache state. Globals: roots for the collectors. */
static entry** buckets; /* 2^N chains, a scanned collected object */
static uint32_t bmask;
static entry *head, *tail;
static uint64_t count;

/* The key string of id: 8 hex digits of id, then letters that follow from
 * mix(id); 16..64 bytes. Returns its length. */
static uint32_t key_fill(uint32_t id, char* buf) {
  static const char hex[16] = "0123456789abcdef";
  uint64_t h = mix(id);
  uint32_t len = 16 + (uint32_t)(h % 49);
  for (int i = 0; i < 8; i++) buf[i] = hex[(id >> (28 - 4 * i)) & 15];
  for (uint32_t i = 8; i < len; i++) buf[i] = (char)('a' + (((h >> ((i & 7) * 8)) & 0xff) ^ i) % 26);
  return len;
}

/* FNV-1a, folded to 32 bits. */
static uint32_t key_hash(const char* s, uint32_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint32_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return (uint32_t)(h ^ (h >> 32));
}

static uint64_t check_word(const value* v) { return v->version * GOLDEN ^ v->keyid; }

static value* new_value(entry* owner, uint32_t keyid, uint64_t version) {
  uint64_t y = rng();
  uint16_t size = vsizes[y & 7];
  value* v = (value*)gcb_alloc(size);
  v->owner = owner;
  v->version = version;
  v->keyid = keyid;
  v->size = size;
  v->blen = 0;
  v->blob = NULL;
  if (size > sizeof(value)) ((uint64_t*)v)[size / 8 - 1] = check_word(v);
  if (((y >> 3) & 3) == 0) {
    uint16_t blen = (uint16_t)(16u << ((y >> 5) % 3));
    unsigned char* b = (unsigned char*)gcb_alloc_noscan(blen);
    memset(b, (int)((version + keyid) & 0xff), blen);
    v->blob = b;
    v->blen = blen;
  }
  return v;
}

static void check_value(const value* v, const entry* e, uint32_t keyid, uint64_t step) {
  if (v->owner != e) fail("value owner", step, 0, 1);
  if (v->keyid != keyid) fail("value key id", step, v->keyid, keyid);
  if (v->size > sizeof(value) && ((const uint64_t*)v)[v->size / 8 - 1] != check_word(v))
    fail("value check word", step, ((const uint64_t*)v)[v->size / 8 - 1], check_word(v));
  if (v->blen) {
    unsigned char want = (unsigned char)((v->version + keyid) & 0xff);
    if (v->blob[0] != want || v->blob[v->blen - 1] != want) fail("value blob", step, v->blob[0], want);
  }
}

static void release_value(value* v) {
  if (v->blob) GCB_FREE(v->blob);
  GCB_FREE(v);
}

static entry* lookup(const char* key, uint32_t klen, uint32_t h) {
  for (entry* e = buckets[h & bmask]; e; e = e->hnext)
    if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
  return NULL;
}

static void list_unlink(entry* e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    tail = e->prev;
}

static void list_push_front(entry* e) {
  e->prev = NULL;
  e->next = head;
  if (head)
    head->prev = e;
  else
    tail = e;
  head = e;
}

static void evict_lru(uint64_t step) {
  entry* e = tail;
  list_unlink(e);
  entry** pp = &buckets[e->hash & bmask];
  while (*pp != e) {
    if (!*pp) fail("evicted entry not in its chain", step, 0, 1);
    pp = &(*pp)->hnext;
  }
  *pp = e->hnext;
  count--;
  release_value(e->val);
  GCB_FREE(e->key);
  GCB_FREE(e);
}

/* Inserts a new entry for id at the front; it keeps the request's key
 * string. */
static void insert(uint32_t id, char* key, uint32_t klen, uint32_t h, uint64_t step) {
  entry* e = (entry*)gcb_alloc(sizeof(entry));
  e->key = key;
  e->klen = klen;
  e->hash = h;
  e->val = new_value(e, id, step);
  e->hnext = buckets[h & bmask];
  buckets[h & bmask] = e;
  list_push_front(e);
  count++;
}

/* Walks the LRU list and the hash table; checks every entry against its key
 * and the links. Returns a checksum of the contents. */
static uint64_t final_check(uint64_t steps) {
  char buf[MAX_KEY];
  uint64_t n = 0, sum = 0;
  for (entry *e = head, *prev = NULL; e; prev = e, e = e->next) {
    if (e->prev != prev) fail("LRU back link", steps, n, 0);
    value* v = e->val;
    uint32_t klen = key_fill(v->keyid, buf);
    if (klen != e->klen || memcmp(buf, e->key, klen) != 0 || key_hash(buf, klen) != e->hash)
      fail("entry key", steps, v->keyid, klen);
    check_value(v, e, v->keyid, steps);
    sum = sum * 31 + (v->version ^ ((uint64_t)v->keyid << 32)) + v->blen;
    n++;
  }
  if (n != count) fail("LRU length", steps, n, count);
  uint64_t chained = 0;
  for (uint64_t b = 0; b <= bmask; b++)
    for (entry* e = buckets[b]; e; e = e->hnext) {
      if ((e->hash & bmask) != b) fail("entry in wrong bucket", steps, b, e->hash & bmask);
      chained++;
    }
  if (chained != count) fail("hash table size", steps, chained, count);
  return sum;
}

static void release_all(void) {
#if GCB_EXPLICIT_FREE
  while (tail) {
    entry* e = tail;
    list_unlink(e);
    release_value(e->val);
    GCB_FREE(e->key);
    GCB_FREE(e);
  }
  GCB_FREE(buckets);
#endif
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20;
  if (n < 8) n = 8;
  if (n > 24) n = 24;
  const uint64_t cap = 1ull << n, steps = STEPS_PER_ENTRY * cap, keyspace = 2 * cap;
  const uint64_t poll_stride = steps / 256;

  gcb_init();
  uint64_t t0 = gcb_now_ns();
  printf("lru_cache N=%d: capacity %" PRIu64 " entries, %" PRIu64 " steps, key space %" PRIu64 "\n", n, cap, steps,
         keyspace);

  buckets = (entry**)gcb_alloc(cap * sizeof(entry*));
  memset(buckets, 0, cap * sizeof(entry*));
  bmask = (uint32_t)(cap - 1);

  uint64_t hits = 0, misses = 0, evictions = 0, replaced = 0, sum = 0;
  char buf[MAX_KEY];
  for (uint64_t step = 0; step < steps; step++) {
    uint64_t x = rng();
    uint64_t a = x >> 32;
    uint32_t id = (uint32_t)((((a * a) >> 32) * keyspace) >> 32);
    /* The request's key: a fresh string, kept by a new entry, else dropped. */
    uint32_t klen = key_fill(id, buf);
    char* key = (char*)gcb_alloc_noscan(klen);
    memcpy(key, buf, klen);
    uint32_t h = key_hash(key, klen);
    entry* e = lookup(key, klen, h);
    if (e) {
      hits++;
      GCB_FREE(key);
      value* v = e->val;
      check_value(v, e, id, step);
      sum += v->version ^ id;
      if (e != head) {
        list_unlink(e);
        list_push_front(e);
      }
      if ((x & 15) == 0) {
        e->val = new_value(e, id, step);
        release_value(v);
        replaced++;
      }
    } else {
      misses++;
      if (count == cap) {
        evict_lru(step);
        evictions++;
      }
      insert(id, key, klen, h, step);
    }
    if ((step + 1) % (steps / 8) == 0)
      printf("step %" PRIu64 "\t hits %" PRIu64 "\t misses %" PRIu64 "\t evictions %" PRIu64 "\t replaced %" PRIu64
             "\t checksum %016" PRIx64 "\n",
             step + 1, hits, misses, evictions, replaced, sum);
    if (step % poll_stride == 0) gcb_poll();
  }
  uint64_t fsum = final_check(steps);
  printf("final: %" PRIu64 " entries\t checksum %016" PRIx64 "\n", count, fsum);
  release_all();

  double secs = (double)(gcb_now_ns() - t0) / 1e9;
  gcb_report("lru_cache", n, secs);
  return 0;
}
