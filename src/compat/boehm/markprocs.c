// Boehm GC layer: mark procedures of custom kinds (group 9; Guile, ECL).
//
// bdwgc calls a kind's mark procedure for each reachable object of that
// kind, and the procedure pushes what the object refers to: Guile marks its
// VM stacks (mmap'ed memory no collector would scan) from its thread
// objects this way. gomem calls no per-object procedure, so the layer runs
// them from a root callback (gomem_gc_add_root_fn), with the world stopped:
//
//   - every object of a kind whose descriptor is GC_MAKE_PROC(...) is
//     tracked, with a gomem weak pointer (compat_track_object);
//   - each collection calls the procedure of every tracked object whose
//     weak pointer still holds it, i.e. every object the previous cycle
//     found alive (and those allocated since). The procedure pushes entries
//     on a mark stack of the layer's; GC_mark_and_push marks at once. The
//     entries are then scanned, conservatively (a length descriptor: its
//     range; a bitmap: the words it names; a procedure: that procedure, up
//     to a depth of 8; per-object descriptors: the whole object).
//
// An object found dead keeps what its procedure marked for one more cycle
// (its weak pointer is cleared by that cycle, after the roots): floating
// garbage, never a freed object in use. The object itself is not marked by
// this, so tracking never keeps it alive.
//
// Tracking table: chunks of entries in uncollectable memory (the weak
// pointers must be in scanned memory), appended under track_lock and read
// by the root callback without it, with the world stopped, possibly while a
// stopped thread was in the middle of an append. So an entry is published
// by its object word, written last (release), and the callback only ever
// clears entries (live -> empty), which appends never touch (they only fill
// empty ones). Chunks are linked once initialized and never freed.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

#define MAX_PROCS GC_MAX_MARK_PROCS
#define CHUNK_ENTRIES 1024
#define MARK_STACK_ENTRIES 4096
#define MAX_DEPTH 8

struct tracked {
  _Atomic(GC_word) hidden_obj;  // GC_HIDE_POINTER(obj), 0 for an empty entry
  gomem_weak* weak;             // obj's weak pointer
  GC_word descr;                // obj's kind descriptor (GC_DS_PROC)
};

struct chunk {
  _Atomic(struct chunk*) next;
  struct tracked e[CHUNK_ENTRIES];
};

// The procedures (GC_new_proc), by index. Written under track_lock before
// any object of their kind exists; read by the root callback.
static GC_mark_proc procs[MAX_PROCS];
static unsigned n_procs = GC_RESERVED_MARK_PROCS;

static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct chunk*) chunks;  // appended at the head
// Where the next append starts looking for an empty entry (under
// track_lock): entries are filled in order, so this is near the end.
static struct chunk* hint_chunk;
static size_t hint_index;

// Set while the root callback runs (the collecting thread only, world
// stopped): GC_mark_and_push and GC_push_all act only then.
static int in_root_fn;

unsigned GC_new_proc_inner(GC_mark_proc proc) {
  if (n_procs >= MAX_PROCS) {
    fprintf(stderr, "gomem: GC_new_proc: more than %d mark procedures\n", MAX_PROCS);
    abort();
  }
  procs[n_procs] = proc;
  return n_procs++;
}

unsigned GC_new_proc(GC_mark_proc proc) {
  pthread_mutex_lock(&track_lock);
  unsigned i = GC_new_proc_inner(proc);
  pthread_mutex_unlock(&track_lock);
  return i;
}

void GC_init_gcj_malloc_mp(unsigned index, GC_mark_proc proc) {
  if (index < MAX_PROCS) procs[index] = proc;
}

// An empty entry (track_lock held), from a new chunk if all are full; NULL
// when out of memory.
static struct tracked* empty_entry(void) {
  for (struct chunk* c = hint_chunk; c; c = atomic_load(&c->next), hint_index = 0) {
    for (; hint_index < CHUNK_ENTRIES; hint_index++) {
      if (!atomic_load_explicit(&c->e[hint_index].hidden_obj, memory_order_relaxed)) {
        hint_chunk = c;
        return &c->e[hint_index];
      }
    }
  }
  // Everything after the hint is full: look from the head once (entries
  // the callback emptied), then grow.
  for (struct chunk* c = atomic_load(&chunks); c; c = atomic_load(&c->next)) {
    for (size_t i = 0; i < CHUNK_ENTRIES; i++) {
      if (!atomic_load_explicit(&c->e[i].hidden_obj, memory_order_relaxed)) {
        hint_chunk = c;
        hint_index = i;
        return &c->e[i];
      }
    }
  }
  struct chunk* c = gomem_malloc_uncollectable(sizeof *c);
  if (!c) return NULL;
  atomic_store_explicit(&c->next, atomic_load(&chunks), memory_order_relaxed);
  atomic_store_explicit(&chunks, c, memory_order_release);
  hint_chunk = c;
  hint_index = 0;
  return &c->e[0];
}

void compat_track_object(void* obj, GC_word descr) {
  gomem_weak* w = gomem_weak_make(obj);  // allocates: outside the lock
  if (!w) {
    fprintf(stderr, "gomem: out of memory tracking an object of a kind with a mark procedure\n");
    abort();
  }
  pthread_mutex_lock(&track_lock);
  struct tracked* t = empty_entry();
  if (!t) {
    pthread_mutex_unlock(&track_lock);
    fprintf(stderr, "gomem: out of memory tracking an object of a kind with a mark procedure\n");
    abort();
  }
  t->weak = w;
  t->descr = descr;
  atomic_store_explicit(&t->hidden_obj, GC_HIDE_POINTER(obj), memory_order_release);
  hint_index++;
  pthread_mutex_unlock(&track_lock);
}

static struct GC_ms_entry mark_stack[MARK_STACK_ENTRIES];

static void run_proc(GC_word* addr, GC_word descr, int depth);

// Scans the entries a procedure pushed above base.
static void drain(struct GC_ms_entry* base, struct GC_ms_entry* top, int depth) {
  for (struct GC_ms_entry* e = base + 1; e <= top; e++) {
    char* start = e->mse_start;
    GC_word d = e->mse_descr;
    switch (d & GC_DS_TAGS) {
      case GC_DS_LENGTH:
        gomem_gc_mark_range(start, start + d);
        break;
      case GC_DS_BITMAP:
        for (size_t i = 0; i < 8 * sizeof(GC_word) - GC_DS_TAG_BITS; i++)
          if (d & ((GC_word)1 << (8 * sizeof(GC_word) - 1 - i)))
            gomem_gc_mark_range(start + i * sizeof(GC_word), start + (i + 1) * sizeof(GC_word));
        break;
      case GC_DS_PROC:
        run_proc((GC_word*)start, d, depth + 1);
        break;
      default:  // per-object: the whole object
        gomem_gc_mark_range(start, start + gomem_usable_size(gomem_gc_base(start)));
        break;
    }
  }
}

static void run_proc(GC_word* addr, GC_word descr, int depth) {
  unsigned index = (unsigned)(descr >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1);
  GC_word env = descr >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS);
  GC_mark_proc proc = procs[index];
  if (!proc || depth > MAX_DEPTH) {
    // Unknown or too deep: the object's words, conservatively.
    gomem_gc_mark_range(addr, (char*)addr + gomem_usable_size(gomem_gc_base(addr)));
    return;
  }
  // Each level takes the part of the mark stack above its caller's.
  struct GC_ms_entry* base = mark_stack + depth * (MARK_STACK_ENTRIES / (MAX_DEPTH + 2));
  struct GC_ms_entry* limit = base + MARK_STACK_ENTRIES / (MAX_DEPTH + 2) - 1;
  struct GC_ms_entry* top = proc(addr, base, limit, env);
  if (top > limit) {
    fprintf(stderr, "gomem: a mark procedure overflowed the mark stack (%p > %p)\n", (void*)top, (void*)limit);
    abort();
  }
  drain(base, top, depth);
}

// The program's own root pusher (GC_set_push_other_roots; bdwgc's
// exported variable of the same name, which old programs set directly).
// Called from the root callback, where GC_push_all marks. The default does
// nothing (gomem finds threads itself) but, as bdwgc's default, is a
// function a program's pusher can chain to.
static void default_push_other_roots(void) {}
__attribute__((visibility("default"))) GC_push_other_roots_proc GC_push_other_roots = default_push_other_roots;
void GC_set_push_other_roots(GC_push_other_roots_proc fn) { GC_push_other_roots = fn; }
GC_push_other_roots_proc GC_get_push_other_roots(void) { return GC_push_other_roots; }

// The root callback: the program's root pusher, then every tracked object
// still alive gets its procedure run; entries of dead objects are emptied.
static void run_mark_procs(void* arg) {
  (void)arg;
  in_root_fn = 1;
  GC_push_other_roots_proc push = GC_push_other_roots;
  if (push) push();  // NULL if the program set it so
  for (struct chunk* c = atomic_load_explicit(&chunks, memory_order_acquire); c;
       c = atomic_load_explicit(&c->next, memory_order_acquire)) {
    for (size_t i = 0; i < CHUNK_ENTRIES; i++) {
      struct tracked* t = &c->e[i];
      if (!atomic_load_explicit(&t->hidden_obj, memory_order_acquire)) continue;
      GC_word* obj = gomem_weak_get(t->weak);
      if (!obj) {
        t->weak = NULL;
        atomic_store_explicit(&t->hidden_obj, 0, memory_order_release);
        continue;
      }
      run_proc(obj, t->descr, 0);
    }
  }
  in_root_fn = 0;
}

void compat_markprocs_init(void) {
  if (gomem_gc_add_root_fn(run_mark_procs, NULL) != 0) {
    fprintf(stderr, "gomem: no room for the Boehm GC layer's root callback\n");
    abort();
  }
}

// Marks obj (what a pointer to it keeps alive) at once.
struct GC_ms_entry* GC_mark_and_push(void* obj, struct GC_ms_entry* msp, struct GC_ms_entry* lim, void** src) {
  (void)lim;
  (void)src;
  if (in_root_fn) gomem_gc_mark_range(&obj, &obj + 1);
  return msp;
}

void GC_push_all(void* b, void* t) {
  if (in_root_fn) gomem_gc_mark_range(b, t);
}
void GC_push_all_eager(void* b, void* t) { GC_push_all(b, t); }
void GC_push_conditional(void* b, void* t, int all) {
  (void)all;
  GC_push_all(b, t);
}
