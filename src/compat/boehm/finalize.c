// Boehm GC layer: finalizers and disappearing links (groups 4 and 5).
//
// gomem gives an object one finalizer, run on gomem's finalizer thread (or
// by gomem_gc_run_finalizers). bdwgc's programs expect more: the previous
// finalizer back from every registration, finalizers run by the thread that
// allocates or by GC_invoke_finalizers when GC_finalize_on_demand is set
// (never behind the program's back on another thread), and links that are
// cleared when their object dies. So the layer owns the one gomem finalizer
// of each object it tracks, and keeps a record per object:
//
//   obj ──gomem finalizer (layer_fin)──▶ record { program's fn, cd, order;
//                                                 links to obj (short, long) }
//
// When gomem finds obj unreachable, layer_fin runs (on gomem's thread): it
// clears obj's short links, moves the program's finalizer to the layer's
// queue, and re-arms itself for the long links, which it clears when obj is
// found unreachable again after its finalizer ran (bdwgc's long links). The
// queue holds obj, so obj and what it points to stay alive until the
// program's finalizer has run; then a later cycle frees it. The queue is run
// by GC_invoke_finalizers: from allocations and GC_gcollect when
// GC_finalize_on_demand is 0 (bdwgc's default), otherwise only when the
// program calls it, after GC_finalizer_notifier told it finalizers wait.
//
// The gomem finalizer is ordered like the program's (GC_register_finalizer:
// gomem_gc_set_finalizer; _ignore_self; _no_order; _unreachable: no-order),
// and no-order for an object that has links only.
//
// Links. A link is cleared by layer_fin, after the collection that found its
// object unreachable; until then gomem keeps the object allocated (it waits
// for its finalizer), so a program that reads the link in between gets a
// pointer to a valid object, never to freed memory; if it keeps it, the
// object is simply alive again (bdwgc would have cleared the link inside the
// collection). layer_fin clears links under the allocation lock, so a
// program that reads links inside GC_call_with_alloc_lock (Guile does) sees
// them all cleared or none. A link that lies inside a collected object that
// died is dropped, not written: each such link carries a gomem weak pointer
// to the object holding it.
//
// Memory. Records and links are manual memory (gomem_malloc), which the
// collector does not scan: a program with many links (every key of a Guile
// weak table has one) would otherwise have the collector scan them all in
// every cycle. What the collector must see lives in small uncollectable
// blocks they point to: a finalizer's client data (a cell per record that
// has one), the weak pointer of each collected object links lie in (a
// holder, shared by the links in that object: Guile's weak tables hold
// thousands of links in one array), and the queue entries (their objects
// must stay alive). Object and link addresses are
// hidden (bitwise complement, bdwgc's GC_HIDE_POINTER) wherever they would
// be seen, so that they keep nothing alive. The two hash tables are manual
// memory. Everything is under fin_lock; layer_fin takes the allocation lock
// first (the order is alloc lock, then fin_lock). Nothing under fin_lock
// makes a collected allocation (it may start a collection, whose start
// takes the allocation lock).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "gc/javaxfc.h"

enum { ORDER_NORMAL, ORDER_IGNORE_SELF, ORDER_NONE };

// A chained hash table node: records and links start with one.
struct hnode {
  struct hnode* next;  // next in the bucket
  GC_word key;         // hidden address (and, for links, the long bit)
};

struct link;

// One per object with a program finalizer or links (manual memory).
struct fin_rec {
  struct hnode h;           // key: GC_HIDE_POINTER(obj)
  GC_finalization_proc fn;  // the program's finalizer, or NULL
  void** cd_cell;           // uncollectable: fn's client data; NULL for none
  int order;                // ORDER_*: how fn's gomem finalizer is ordered
  struct link* links;       // the links to obj
};

// A collected object that links lie in (uncollectable: the weak pointer
// must be seen). Shared by its links; freed with the last of them.
struct holder {
  struct hnode h;    // key: GC_HIDE_POINTER(the object)
  gomem_weak* weak;  // the object's weak pointer
  long nlinks;       // links that name it
  int in_table;      // found in `holders` (not once its object died)
};

struct link {             // manual memory
  struct hnode h;         // key: GC_HIDE_POINTER(link address | is_long)
  struct link* next;      // next link to the same object
  struct fin_rec* rec;    // the object's record
  int is_long;            // a long link (cleared after finalization)
  struct holder* holder;  // the collected object the link lies in, or NULL
};

// A finalizer waiting for GC_invoke_finalizers.
struct queued {
  struct queued* next;
  void* obj;  // visible: keeps the object alive until fn ran
  GC_finalization_proc fn;
  void* cd;
};

struct table {
  struct hnode** buckets;  // manual memory
  size_t mask;             // bucket count - 1 (0 before the first insert)
  size_t count;
};

static pthread_mutex_t fin_lock = PTHREAD_MUTEX_INITIALIZER;
// All under fin_lock.
static struct table recs;     // fin_rec by object
static struct table links;    // link by link address
static struct table holders;  // holder by object, for the objects alive
static struct queued *q_head, *q_tail;
// Finalizers in the queue (written under fin_lock, read racily by
// GC_should_invoke_finalizers and the allocation path).
static atomic_long q_len;
// Finalizers were queued since the notifier was last called.
static atomic_int notify_due;
static GC_await_finalize_proc await_finalize_proc;

// Frees an uncollectable block of the layer, cleared first: gomem scans
// whole uncollectable spans, free slots included, so a pointer left in a
// freed block would keep its object alive. (Manual blocks are freed with
// gomem_free: they are never scanned.)
static void release(void* block, size_t size) {
  memset(block, 0, size);
  gomem_free(block);
}

// ---------------------------------------------------------------------------
// Hash tables.
// ---------------------------------------------------------------------------
static size_t bucket_of(const struct table* t, GC_word key) {
  return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & t->mask;
}

static struct hnode* table_find(const struct table* t, GC_word key) {
  if (!t->mask) return NULL;
  for (struct hnode* n = t->buckets[bucket_of(t, key)]; n; n = n->next)
    if (n->key == key) return n;
  return NULL;
}

// Returns 0 when out of memory (the table stays as it was).
static int table_grow(struct table* t) {
  size_t nb = t->mask ? 2 * (t->mask + 1) : 64;
  struct hnode** b = gomem_calloc(nb, sizeof *b);
  if (!b) return 0;
  struct table nt = {b, nb - 1, t->count};
  for (size_t i = 0; t->mask && i <= t->mask; i++) {
    for (struct hnode *n = t->buckets[i], *next; n; n = next) {
      next = n->next;
      size_t j = bucket_of(&nt, n->key);
      n->next = b[j];
      b[j] = n;
    }
  }
  gomem_free(t->buckets);
  *t = nt;
  return 1;
}

static int table_insert(struct table* t, struct hnode* n) {
  if (t->count >= t->mask && !table_grow(t)) return 0;
  size_t i = bucket_of(t, n->key);
  n->next = t->buckets[i];
  t->buckets[i] = n;
  t->count++;
  return 1;
}

static void table_remove(struct table* t, struct hnode* n) {
  for (struct hnode** pp = &t->buckets[bucket_of(t, n->key)]; *pp; pp = &(*pp)->next) {
    if (*pp == n) {
      *pp = n->next;
      t->count--;
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Records and arming the gomem finalizer. All under fin_lock.
// ---------------------------------------------------------------------------
static struct fin_rec* rec_find(void* obj) { return (struct fin_rec*)table_find(&recs, GC_HIDE_POINTER(obj)); }

static struct fin_rec* rec_get(void* obj) {
  struct fin_rec* r = rec_find(obj);
  if (r) return r;
  r = gomem_calloc(1, sizeof *r);
  if (!r) return NULL;
  r->h.key = GC_HIDE_POINTER(obj);
  if (!table_insert(&recs, &r->h)) {
    gomem_free(r);
    return NULL;
  }
  return r;
}

// Sets r's finalizer and client data; 0 when out of memory for the cell
// (r unchanged).
static int rec_set(struct fin_rec* r, GC_finalization_proc fn, void* cd) {
  if (fn && cd && !r->cd_cell) {
    r->cd_cell = gomem_malloc_uncollectable(sizeof(void*));
    if (!r->cd_cell) return 0;
  }
  if (r->cd_cell && (!fn || !cd)) {
    release(r->cd_cell, sizeof(void*));
    r->cd_cell = NULL;
  }
  r->fn = fn;
  if (r->cd_cell) *r->cd_cell = cd;
  return 1;
}

static void* rec_cd(const struct fin_rec* r) { return r->cd_cell ? *r->cd_cell : NULL; }

static void layer_fin(void* obj, void* arg);

// Gives obj the gomem finalizer its record asks for, or drops both when
// nothing is left to do. fired: obj's gomem finalizer has just run (so gomem
// holds none to remove).
static void arm(struct fin_rec* r, void* obj, int fired) {
  if (r->fn && r->order == ORDER_NORMAL)
    gomem_gc_set_finalizer(obj, layer_fin, NULL);
  else if (r->fn && r->order == ORDER_IGNORE_SELF)
    gomem_gc_set_finalizer_ignore_self(obj, layer_fin, NULL);
  else if (r->fn || r->links)
    gomem_gc_set_finalizer_no_order(obj, layer_fin, NULL);
  else {
    if (!fired) gomem_gc_set_finalizer(obj, NULL, NULL);
    table_remove(&recs, &r->h);
    rec_set(r, NULL, NULL);
    gomem_free(r);
  }
}

// The holder for the collected object at base, its link count raised; a
// new one if the object has none yet (or had one, and died: a new object
// at the same address). NULL when out of memory. Takes fin_lock itself; the
// weak pointer is made outside it.
static struct holder* holder_get(void* base) {
  pthread_mutex_lock(&fin_lock);
  struct holder* h = (struct holder*)table_find(&holders, GC_HIDE_POINTER(base));
  if (h && gomem_weak_get(h->weak) == base) {
    h->nlinks++;
    pthread_mutex_unlock(&fin_lock);
    return h;
  }
  if (h) {  // its object died: it stays for its links, out of the table
    table_remove(&holders, &h->h);
    h->in_table = 0;
  }
  pthread_mutex_unlock(&fin_lock);
  gomem_weak* w = gomem_weak_make(base);
  h = w ? gomem_malloc_uncollectable(sizeof *h) : NULL;
  if (!h) return NULL;
  h->h.key = GC_HIDE_POINTER(base);
  h->weak = w;
  h->nlinks = 1;
  pthread_mutex_lock(&fin_lock);
  h->in_table = table_insert(&holders, &h->h);  // out of memory: just not found again
  pthread_mutex_unlock(&fin_lock);
  return h;
}

// Drops one link's hold on h (fin_lock held).
static void holder_put(struct holder* h) {
  if (!h || --h->nlinks > 0) return;
  if (h->in_table) table_remove(&holders, &h->h);
  release(h, sizeof *h);
}

static void link_drop(struct link* l) {
  table_remove(&links, &l->h);
  for (struct link** pp = &l->rec->links; *pp; pp = &(*pp)->next) {
    if (*pp == l) {
      *pp = l->next;
      break;
    }
  }
  holder_put(l->holder);
  gomem_free(l);
}

// Clears and drops r's links of the given length. A link inside a collected
// object that died is not written.
static void clear_links(struct fin_rec* r, int is_long) {
  for (struct link *l = r->links, *next; l; l = next) {
    next = l->next;
    if (l->is_long != is_long) continue;
    void** addr = (void**)((GC_word)GC_REVEAL_POINTER(l->h.key) & ~(GC_word)1);
    void* holder = l->holder ? gomem_weak_get(l->holder->weak) : addr;
    if (holder) *addr = NULL;
    __asm__ __volatile__("" : : "r"(holder) : "memory");  // the holder lives until the write is done
    link_drop(l);
  }
}

// Moves r's program finalizer (r->fn set) to the end of the queue, which
// keeps obj alive until it ran; r is left without one. NULL when out of
// memory (r unchanged). fin_lock held.
static struct queued* queue_finalizer(struct fin_rec* r, void* obj) {
  struct queued* q = gomem_malloc_uncollectable(sizeof *q);
  if (!q) return NULL;
  q->obj = obj;
  q->fn = r->fn;
  q->cd = rec_cd(r);
  if (q_tail)
    q_tail->next = q;
  else
    q_head = q;
  q_tail = q;
  atomic_fetch_add(&q_len, 1);
  rec_set(r, NULL, NULL);
  return q;
}

// gomem's finalizer for every object the layer tracks (see the essay). The
// record is looked up, not taken from arg: it may have changed since the
// finalizer was set.
static void layer_fin(void* obj, void* arg) {
  (void)arg;
  struct queued* q = NULL;
  compat_lock_alloc();
  pthread_mutex_lock(&fin_lock);
  struct fin_rec* r = rec_find(obj);
  if (r) {
    clear_links(r, 0);
    if (r->fn) q = queue_finalizer(r, obj);
    if (!q) clear_links(r, 1);
    arm(r, obj, 1);  // long links left: armed again (no-order); otherwise dropped
  }
  pthread_mutex_unlock(&fin_lock);
  compat_unlock_alloc();
  if (q) {
    atomic_store(&notify_due, 1);
    atomic_store(&compat_attention, 1);
  }
}

// ---------------------------------------------------------------------------
// Finalizers (group 4).
// ---------------------------------------------------------------------------
static void register_finalizer(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn, void** ocd,
                               int order) {
  GC_finalization_proc old_fn = NULL;
  void* old_cd = NULL;
  compat_init();
  int k = gomem_kind(obj);
  // bdwgc ignores objects outside its collected heap, and so does the layer.
  if ((k == GOMEM_KIND_GC_SCAN || k == GOMEM_KIND_GC_NOSCAN) && gomem_gc_base(obj) == obj) {
    pthread_mutex_lock(&fin_lock);
    struct fin_rec* r = fn ? rec_get(obj) : rec_find(obj);
    if (r) {
      old_fn = r->fn;
      old_cd = rec_cd(r);
      if (rec_set(r, fn, cd)) {
        r->order = order;
      } else {  // out of memory: nothing registered, as bdwgc does
        old_fn = NULL;
        old_cd = NULL;
      }
      arm(r, obj, 0);
    }
    pthread_mutex_unlock(&fin_lock);
  }
  if (ofn) *ofn = old_fn;
  if (ocd) *ocd = old_cd;
}

void GC_register_finalizer(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn, void** ocd) {
  register_finalizer(obj, fn, cd, ofn, ocd, ORDER_NORMAL);
}
void GC_register_finalizer_ignore_self(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn,
                                       void** ocd) {
  register_finalizer(obj, fn, cd, ofn, ocd, ORDER_IGNORE_SELF);
}
void GC_register_finalizer_no_order(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn,
                                    void** ocd) {
  register_finalizer(obj, fn, cd, ofn, ocd, ORDER_NONE);
}
// Java's rule (run once unreachable, even from other finalizable objects)
// is no-order on gomem.
void GC_register_finalizer_unreachable(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn,
                                       void** ocd) {
  register_finalizer(obj, fn, cd, ofn, ocd, ORDER_NONE);
}
void GC_debug_register_finalizer(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn, void** ocd) {
  GC_register_finalizer(obj, fn, cd, ofn, ocd);
}
void GC_debug_register_finalizer_ignore_self(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn,
                                             void** ocd) {
  GC_register_finalizer_ignore_self(obj, fn, cd, ofn, ocd);
}
void GC_debug_register_finalizer_no_order(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn,
                                          void** ocd) {
  GC_register_finalizer_no_order(obj, fn, cd, ofn, ocd);
}
void GC_debug_register_finalizer_unreachable(void* obj, GC_finalization_proc fn, void* cd, GC_finalization_proc* ofn,
                                             void** ocd) {
  GC_register_finalizer_unreachable(obj, fn, cd, ofn, ocd);
}

int GC_should_invoke_finalizers(void) { return atomic_load(&q_len) > 0; }

int GC_invoke_finalizers(void) {
  // Let gomem hand over what it found (layer_fin fills the queue).
  gomem_gc_run_finalizers();
  int n = 0;
  for (;;) {
    pthread_mutex_lock(&fin_lock);
    struct queued* q = q_head;
    if (q) {
      q_head = q->next;
      if (!q_head) q_tail = NULL;
      atomic_fetch_sub(&q_len, 1);
    }
    pthread_mutex_unlock(&fin_lock);
    if (!q) return n;
    void* obj = q->obj;
    GC_finalization_proc fn = q->fn;
    void* cd = q->cd;
    release(q, sizeof *q);
    fn(obj, cd);
    n++;
  }
}

// GC_finalize_all: moves every program finalizer to the queue (the queue
// keeps its object alive), then runs the queue; again while finalizers
// register new ones.
static int queue_all_finalizers(void) {
  int queued = 0;
  compat_lock_alloc();
  pthread_mutex_lock(&fin_lock);
  for (size_t i = 0; recs.mask && i <= recs.mask; i++) {
    for (struct hnode *n = recs.buckets[i], *next; n; n = next) {
      next = n->next;  // arm may drop n's record
      struct fin_rec* r = (struct fin_rec*)n;
      if (!r->fn) continue;
      void* obj = (void*)GC_REVEAL_POINTER(r->h.key);
      if (!queue_finalizer(r, obj)) goto out;  // out of memory: those left stay registered
      arm(r, obj, 0);
      queued++;
    }
  }
out:
  pthread_mutex_unlock(&fin_lock);
  compat_unlock_alloc();
  return queued;
}

void GC_finalize_all(void) {
  compat_init();
  while (queue_all_finalizers() > 0) GC_invoke_finalizers();
}

int compat_finalizers_pending(void) { return atomic_load(&q_len) > 0 || atomic_load(&notify_due); }

// Set while the thread runs finalizers from an allocation: a finalizer that
// allocates does not start another round.
static __thread int t_invoking;

void compat_finalizers_due(void) {
  atomic_store(&compat_attention, 0);
  if (GC_finalize_on_demand) {
    GC_finalizer_notifier_proc notify = GC_finalizer_notifier;
    if (atomic_exchange(&notify_due, 0) && notify) notify();
    return;
  }
  atomic_store(&notify_due, 0);
  if (t_invoking || atomic_load(&q_len) == 0) return;
  t_invoking = 1;
  GC_invoke_finalizers();
  t_invoking = 0;
}

void GC_dump_finalization(void) {
  pthread_mutex_lock(&fin_lock);
  fprintf(stderr, "gomem (libgc): %zu objects with finalizers or links, %zu links, %ld finalizers queued\n", recs.count,
          links.count, (long)atomic_load(&q_len));
  pthread_mutex_unlock(&fin_lock);
}

void GC_set_await_finalize_proc(GC_await_finalize_proc fn) { await_finalize_proc = fn; }
GC_await_finalize_proc GC_get_await_finalize_proc(void) { return await_finalize_proc; }

// ---------------------------------------------------------------------------
// Disappearing links (group 5).
// ---------------------------------------------------------------------------
static GC_word link_key(void** link, int is_long) { return GC_HIDE_POINTER((GC_word)link | (GC_word)is_long); }

static void check_link(void** link, const char* what) {
  if (((GC_word)link & (sizeof(void*) - 1)) != 0 || !link) {
    fprintf(stderr, "gomem: %s: link %p is not a word-aligned address\n", what, (void*)link);
    abort();
  }
}

// The start of the collected object a link lies in, or NULL when the link
// is not in a collected object.
static void* holder_base(void** link) {
  int k = gomem_kind(link);
  if (k != GOMEM_KIND_GC_SCAN && k != GOMEM_KIND_GC_NOSCAN) return NULL;
  return gomem_gc_base(link);
}

static int register_link(void** link, const void* obj, int is_long) {
  check_link(link, is_long ? "GC_register_long_link" : "GC_general_register_disappearing_link");
  compat_init();
  int k = gomem_kind(obj);
  // Only a collected object can disappear; a link to anything else would
  // never be cleared (as in bdwgc).
  if (k != GOMEM_KIND_GC_SCAN && k != GOMEM_KIND_GC_NOSCAN) return GC_SUCCESS;
  void* base = gomem_gc_base(obj);
  // Outside fin_lock (it may make a weak pointer); NULL when the link is not
  // in a collected object.
  void* hbase = holder_base(link);
  struct holder* holder = hbase ? holder_get(hbase) : NULL;
  if (hbase && !holder) return GC_NO_MEMORY;
  int result = GC_SUCCESS;
  pthread_mutex_lock(&fin_lock);
  struct link* old = (struct link*)table_find(&links, link_key(link, is_long));
  if (old && old->holder && !gomem_weak_get(old->holder->weak)) {
    // A link left in an object that died: its address is in use again.
    struct fin_rec* r = old->rec;
    link_drop(old);
    arm(r, (void*)GC_REVEAL_POINTER(r->h.key), 0);
    old = NULL;
  }
  struct fin_rec* r = old ? NULL : rec_get(base);
  struct link* l = r ? gomem_calloc(1, sizeof *l) : NULL;
  if (old) {
    holder_put(holder);
    result = GC_DUPLICATE;
  } else if (!l || (l->h.key = link_key(link, is_long), !table_insert(&links, &l->h))) {
    gomem_free(l);
    holder_put(holder);
    if (r) arm(r, base, 0);  // drops a record made for nothing
    result = GC_NO_MEMORY;
  } else {
    l->rec = r;
    l->is_long = is_long;
    l->holder = holder;
    l->next = r->links;
    r->links = l;
    if (!l->next) arm(r, base, 0);
  }
  pthread_mutex_unlock(&fin_lock);
  return result;
}

static int unregister_link(void** link, int is_long) {
  if (((GC_word)link & (sizeof(void*) - 1)) != 0) return 0;
  pthread_mutex_lock(&fin_lock);
  struct link* l = (struct link*)table_find(&links, link_key(link, is_long));
  if (l) {
    struct fin_rec* r = l->rec;
    link_drop(l);
    if (!r->links) arm(r, (void*)GC_REVEAL_POINTER(r->h.key), 0);
  }
  pthread_mutex_unlock(&fin_lock);
  return l != NULL;
}

static int move_link(void** link, void** new_link, int is_long) {
  check_link(new_link, is_long ? "GC_move_long_link" : "GC_move_disappearing_link");
  if (((GC_word)link & (sizeof(void*) - 1)) != 0) return GC_NOT_FOUND;
  void* hbase = holder_base(new_link);
  struct holder* holder = hbase ? holder_get(hbase) : NULL;
  if (hbase && !holder) return GC_NO_MEMORY;
  int result = GC_SUCCESS;
  pthread_mutex_lock(&fin_lock);
  struct link* l = (struct link*)table_find(&links, link_key(link, is_long));
  struct link* taken = (struct link*)table_find(&links, link_key(new_link, is_long));
  if (!l) {
    result = GC_NOT_FOUND;
  } else if (new_link == link) {
    result = GC_SUCCESS;
  } else if (taken) {
    result = GC_DUPLICATE;
  } else {
    table_remove(&links, &l->h);
    l->h.key = link_key(new_link, is_long);
    struct holder* old_holder = l->holder;
    l->holder = holder;
    holder = old_holder;          // the one to let go of below
    table_insert(&links, &l->h);  // cannot fail: the table did not grow
  }
  holder_put(holder);
  pthread_mutex_unlock(&fin_lock);
  return result;
}

int GC_general_register_disappearing_link(void** link, const void* obj) { return register_link(link, obj, 0); }
int GC_register_disappearing_link(void** link) { return register_link(link, *link, 0); }
int GC_unregister_disappearing_link(void** link) { return unregister_link(link, 0); }
int GC_move_disappearing_link(void** link, void** new_link) { return move_link(link, new_link, 0); }
int GC_register_long_link(void** link, const void* obj) { return register_link(link, obj, 1); }
int GC_unregister_long_link(void** link) { return unregister_link(link, 1); }
int GC_move_long_link(void** link, void** new_link) { return move_link(link, new_link, 1); }
