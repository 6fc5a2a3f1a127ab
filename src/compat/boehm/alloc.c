// Boehm GC layer: initialization, allocation, control, statistics, warnings,
// typed allocation and custom kinds, over gomem's public C API.
//
// Mapping. GC_malloc is gomem_gc_alloc (scanned), GC_malloc_atomic
// gomem_gc_alloc_noscan, GC_malloc_uncollectable and its atomic twin
// gomem_malloc_uncollectable (scanned: gomem has no pointer-free
// uncollectable kind, so an atomic uncollectable block is scanned too, which
// keeps more alive, never less). GC_free is gomem_free, which takes collected
// and uncollectable blocks alike. GC_realloc keeps the kind (gomem_kind).
//
// The hot path of every allocation is gomem's call plus one test: a NULL
// result, compat_attention (first use, finalizers due) or a change of
// GC_dont_gc (old programs set the variable directly instead of calling
// GC_disable) sends it to compat_after_alloc.
//
// Control. GC_disable/GC_enable count in GC_dont_gc, as bdwgc does: while it
// is nonzero gomem's GOGC is off (gomem_gc_set_percent(-1)) and GC_gcollect
// does nothing, so explicit collections stop too. GC_free_space_divisor d
// maps onto GOGC = 200 / d percent (bdwgc allocates about 2 x live / d bytes
// between collections); it is applied only when the program sets it, so a
// program that never does keeps gomem's pacing (GOGC, default 100).
// GC_set_max_heap_size is gomem's soft memory limit.
//
// Custom kinds (GC_new_kind, GC_new_proc: Guile, ECL). An object of a kind
// with a mark procedure or a non-empty descriptor is a scanned object, every
// word conservatively; a kind whose descriptor is empty (length 0, no size
// added) is pointer-free. Objects of a kind with a mark procedure are also
// tracked, and their procedure is called by every collection for as long as
// they live (markprocs.c), so what only the procedure knows of (Guile's VM
// stacks) is marked too. Weak references a mark procedure makes become
// strong (the conservative scan sees them).
// Objects handed out by GC_generic_malloc_many are always scanned objects,
// whatever the kind: the list is linked through first words, and a
// pointer-free object would not keep the rest of the list alive.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "gc/gc_gcj.h"
#include "gc/gc_inline.h"
#include "gc/gc_typed.h"

// Cumulative bytes allocated: gomem_read_stats sums per-P counters (no heap
// walk, no system call).
static uint64_t total_alloc(void) {
  gomem_stats* st = gomem_malloc(sizeof *st);
  if (!st) return 0;
  gomem_read_stats(st);
  uint64_t v = st->total_alloc;
  gomem_free(st);
  return v;
}

// ---------------------------------------------------------------------------
// Exported variables (bdwgc's names; programs read and write them).
// ---------------------------------------------------------------------------
GC_word GC_gc_no;
int GC_parallel;
GC_oom_func GC_oom_fn;
GC_on_heap_resize_proc GC_on_heap_resize;
int GC_find_leak;
int GC_all_interior_pointers = 1;
int GC_finalize_on_demand;
int GC_java_finalization = 1;
GC_finalizer_notifier_proc GC_finalizer_notifier;
int GC_dont_gc;
int GC_dont_expand;
int GC_use_entire_heap;
int GC_full_freq = 19;
GC_word GC_non_gc_bytes;
int GC_no_dls;
GC_word GC_free_space_divisor = 3;
GC_word GC_max_retries;
char* GC_stackbottom;
int GC_dont_precollect;
unsigned long GC_time_limit = GC_TIME_UNLIMITED;
void* GC_least_plausible_heap_addr = (void*)1;
void* GC_greatest_plausible_heap_addr = (void*)~(GC_word)0;
size_t GC_debug_header_size;

static void default_same_obj_print(void* p, void* q) {
  fprintf(stderr, "GC_same_obj test failed: %p and %p are not in the same object\n", p, q);
  abort();
}
static void default_visible_print(void* p) { (void)p; }
void (*GC_same_obj_print_proc)(void*, void*) = default_same_obj_print;
void (*GC_is_valid_displacement_print_proc)(void*) = default_visible_print;
void (*GC_is_visible_print_proc)(void*) = default_visible_print;

atomic_int compat_attention = 1;
int compat_dont_gc_applied;

// Guards the control state below and GC_dont_gc's application. Never held
// while calling into a program's callback.
static pthread_mutex_t compat_ctl_lock = PTHREAD_MUTEX_INITIALIZER;
// GOGC before GC_dont_gc turned collection off (under compat_ctl_lock).
static int saved_percent = 100;
// GC_init has run (written once under compat_ctl_lock, read racily: a late
// reader just takes the lock).
static atomic_int initialized;

// ---------------------------------------------------------------------------
// Warnings and out of memory (group 2).
// ---------------------------------------------------------------------------
static void default_warn_proc(char* msg, GC_word arg) { fprintf(stderr, msg, arg); }

// The program's warn proc (GC_set_warn_proc); any thread may set it.
static _Atomic(GC_warn_proc) warn_proc = default_warn_proc;

void GC_ignore_warn_proc(char* msg, GC_word arg) {
  (void)msg;
  (void)arg;
}
void GC_set_warn_proc(GC_warn_proc p) { atomic_store(&warn_proc, p); }
GC_warn_proc GC_get_warn_proc(void) { return atomic_load(&warn_proc); }

// gomem's diagnostics, as bdwgc words its own: "GC Warning: " and the text,
// with '%' doubled since warn procs treat the message as a printf format.
static void compat_warn(const char* msg) {
  char buf[600];
  size_t n = (size_t)snprintf(buf, sizeof buf, "GC Warning: ");
  for (const char* s = msg; *s && n + 2 < sizeof buf; s++) {
    if (*s == '%') buf[n++] = '%';
    buf[n++] = *s;
  }
  buf[n] = 0;
  atomic_load (&warn_proc)(buf, 0);
}

static void* default_oom_fn(size_t n) {
  (void)n;
  return NULL;
}
void GC_set_oom_fn(GC_oom_func fn) { __atomic_store_n(&GC_oom_fn, fn, __ATOMIC_RELEASE); }
GC_oom_func GC_get_oom_fn(void) { return __atomic_load_n(&GC_oom_fn, __ATOMIC_ACQUIRE); }

static void default_abort(const char* msg) {
  if (msg) fprintf(stderr, "%s\n", msg);
}
static GC_abort_func abort_func = default_abort;
void GC_set_abort_func(GC_abort_func fn) { abort_func = fn; }
GC_abort_func GC_get_abort_func(void) { return abort_func; }
void GC_abort_on_oom(void) {
  abort_func("gomem (libgc): out of memory");
  abort();
}
void GC_set_log_fd(int fd) { (void)fd; }

// ---------------------------------------------------------------------------
// Initialization and the allocation slow path.
// ---------------------------------------------------------------------------
// Applies GC_dont_gc to gomem. Caller holds compat_ctl_lock.
// GC_set_disable_automatic_collection: GOGC off, explicit collections still
// run (under compat_ctl_lock). GOGC is off while this or GC_dont_gc says so;
// saved_percent holds the value to restore.
static int auto_off;

static void apply_dont_gc(void) {
  int want = GC_dont_gc;
  if ((want != 0) != (compat_dont_gc_applied != 0) && !auto_off) {
    if (want)
      saved_percent = gomem_gc_set_percent(-1);
    else
      gomem_gc_set_percent(saved_percent);
  }
  compat_dont_gc_applied = want;
}

static void apply_free_space_divisor(GC_word d) {
  if (d == 0) d = 1;
  int percent = (int)(200 / d);
  if (percent < 1) percent = 1;
  if (compat_dont_gc_applied || auto_off)
    saved_percent = percent;
  else
    gomem_gc_set_percent(percent);
}

void compat_init(void) {
  if (atomic_load_explicit(&initialized, memory_order_acquire)) return;
  pthread_mutex_lock(&compat_ctl_lock);
  if (!atomic_load_explicit(&initialized, memory_order_relaxed)) {
    if (!GC_oom_fn) GC_oom_fn = default_oom_fn;
    gomem_set_warn_fn(compat_warn);
    const char* env = getenv("GC_DONT_GC");
    if (env) GC_dont_gc = 1;
    env = getenv("GC_FREE_SPACE_DIVISOR");
    if (env && atoi(env) > 0) GC_free_space_divisor = (GC_word)atoi(env);
    if (GC_free_space_divisor != 3) apply_free_space_divisor(GC_free_space_divisor);
    if (!GC_all_interior_pointers) gomem_gc_set_interior(GOMEM_GC_INTERIOR_EXACT);
    apply_dont_gc();
    gomem_register_thread();
    compat_mark_thread_registered();
    compat_markprocs_init();
    compat_cycle_start_init();
    atomic_store_explicit(&initialized, 1, memory_order_release);
  }
  pthread_mutex_unlock(&compat_ctl_lock);
  if (!compat_finalizers_pending()) atomic_store_explicit(&compat_attention, 0, memory_order_relaxed);
}

void GC_init(void) { compat_init(); }
int GC_is_init_called(void) { return atomic_load(&initialized); }
void GC_deinit(void) {}

void* compat_after_alloc(void* p, size_t n) {
  if (COMPAT_UNLIKELY(!atomic_load_explicit(&initialized, memory_order_acquire))) compat_init();
  if (GC_dont_gc != compat_dont_gc_applied) {
    pthread_mutex_lock(&compat_ctl_lock);
    apply_dont_gc();
    pthread_mutex_unlock(&compat_ctl_lock);
  }
  if (compat_finalizers_pending()) compat_finalizers_due();
  if (!p) return GC_get_oom_fn()(n);
  return p;
}

#define AFTER_ALLOC(p, n)                                                                   \
  (COMPAT_UNLIKELY(!(p) || atomic_load_explicit(&compat_attention, memory_order_relaxed) || \
                   GC_dont_gc != compat_dont_gc_applied)                                    \
       ? compat_after_alloc(p, n)                                                           \
       : (p))

// ---------------------------------------------------------------------------
// Allocation (group 1).
// ---------------------------------------------------------------------------
void* GC_malloc(size_t n) {
  void* p = gomem_gc_alloc(n);
  return AFTER_ALLOC(p, n);
}

void* GC_malloc_atomic(size_t n) {
  void* p = gomem_gc_alloc_noscan(n);
  return AFTER_ALLOC(p, n);
}

void* GC_malloc_uncollectable(size_t n) {
  void* p = gomem_malloc_uncollectable(n);
  return AFTER_ALLOC(p, n);
}

void* GC_malloc_atomic_uncollectable(size_t n) { return GC_malloc_uncollectable(n); }
void* GC_malloc_ignore_off_page(size_t n) { return GC_malloc(n); }
void* GC_malloc_atomic_ignore_off_page(size_t n) { return GC_malloc_atomic(n); }
void* GC_malloc_stubborn(size_t n) { return GC_malloc(n); }
void GC_change_stubborn(const void* p) { (void)p; }
void GC_end_stubborn_change(const void* p) { (void)p; }
void GC_ptr_store_and_dirty(void* p, const void* q) { *(const void**)p = q; }
void GC_debug_ptr_store_and_dirty(void* p, const void* q) { *(const void**)p = q; }

char* GC_strdup(const char* s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char* d = GC_malloc_atomic(n);
  if (d) memcpy(d, s, n);
  return d;
}

char* GC_strndup(const char* s, size_t max) {
  size_t n = strnlen(s, max);
  char* d = GC_malloc_atomic(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

void* GC_memalign(size_t align, size_t n) {
  if (align <= 16) return GC_malloc(n);
  if (align & (align - 1)) {
    errno = EINVAL;
    return NULL;
  }
  void* p = gomem_gc_alloc_aligned(align, n, 1);
  return AFTER_ALLOC(p, n);
}

int GC_posix_memalign(void** out, size_t align, size_t n) {
  if (align < sizeof(void*) || (align & (align - 1))) return EINVAL;
  void* p = GC_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

// An uncollectable block is cleared first: gomem scans whole uncollectable
// spans, free slots included, and bdwgc does not scan freed blocks.
void GC_free(void* p) {
  if (!p) return;
  if (gomem_kind(p) == GOMEM_KIND_UNCOLLECTABLE) memset(p, 0, gomem_usable_size(p));
  gomem_free(p);
}

// bdwgc's realloc: NULL allocates, size 0 frees, a shrink to half or more
// stays in place, anything else moves the contents to a new object of the
// same kind and frees the old one.
void* GC_realloc(void* p, size_t n) {
  if (!p) return GC_malloc(n);
  if (n == 0) {
    GC_free(p);
    return NULL;
  }
  size_t old = gomem_usable_size(p);
  if (n <= old && n >= old / 2) return p;
  void* q;
  switch (gomem_kind(p)) {
    case GOMEM_KIND_GC_NOSCAN:
      q = GC_malloc_atomic(n);
      break;
    case GOMEM_KIND_UNCOLLECTABLE:
      q = GC_malloc_uncollectable(n);
      break;
    case GOMEM_KIND_GC_SCAN:
      q = GC_malloc(n);
      break;
    default:
      fprintf(stderr, "gomem: GC_realloc of %p: not an object of the collected heap\n", p);
      abort();
  }
  if (!q) return NULL;
  memcpy(q, p, old < n ? old : n);
  GC_free(p);
  return q;
}

void* GC_malloc_many(size_t n) {
  void* list = NULL;
  GC_generic_malloc_many(n, GC_I_NORMAL, &list);
  return list;
}

// ---------------------------------------------------------------------------
// Debugging allocation (group 8): the plain calls.
// ---------------------------------------------------------------------------
void* GC_debug_malloc(size_t n, const char* s, int i) { return (void)s, (void)i, GC_malloc(n); }
void* GC_debug_malloc_atomic(size_t n, const char* s, int i) { return (void)s, (void)i, GC_malloc_atomic(n); }
char* GC_debug_strdup(const char* str, const char* s, int i) { return (void)s, (void)i, GC_strdup(str); }
char* GC_debug_strndup(const char* str, size_t n, const char* s, int i) { return (void)s, (void)i, GC_strndup(str, n); }
void* GC_debug_malloc_uncollectable(size_t n, const char* s, int i) {
  return (void)s, (void)i, GC_malloc_uncollectable(n);
}
void* GC_debug_malloc_atomic_uncollectable(size_t n, const char* s, int i) {
  return (void)s, (void)i, GC_malloc_uncollectable(n);
}
void* GC_debug_malloc_stubborn(size_t n, const char* s, int i) { return (void)s, (void)i, GC_malloc(n); }
void* GC_debug_malloc_ignore_off_page(size_t n, const char* s, int i) { return (void)s, (void)i, GC_malloc(n); }
void* GC_debug_malloc_atomic_ignore_off_page(size_t n, const char* s, int i) {
  return (void)s, (void)i, GC_malloc_atomic(n);
}
void GC_debug_free(void* p) { GC_free(p); }
void* GC_debug_realloc(void* p, size_t n, const char* s, int i) { return (void)s, (void)i, GC_realloc(p, n); }
void GC_debug_change_stubborn(const void* p) { (void)p; }
void GC_debug_end_stubborn_change(const void* p) { (void)p; }
void* GC_debug_malloc_replacement(size_t n) { return GC_malloc(n); }
void* GC_debug_realloc_replacement(void* p, size_t n) { return GC_realloc(p, n); }
void GC_debug_register_displacement(size_t n) { (void)n; }
void GC_register_displacement(size_t n) { (void)n; }
size_t GC_get_debug_header_size(void) { return 0; }

// ---------------------------------------------------------------------------
// Typed allocation (group 8): conservative. A descriptor is the number of
// words it describes; the object is scanned, every word.
// ---------------------------------------------------------------------------
GC_descr GC_make_descriptor(const GC_word* bm, size_t len) {
  (void)bm;
  return (GC_descr)(len * sizeof(GC_word)) | GC_DS_LENGTH;
}
void* GC_malloc_explicitly_typed(size_t n, GC_descr d) { return (void)d, GC_malloc(n); }
void* GC_malloc_explicitly_typed_ignore_off_page(size_t n, GC_descr d) { return (void)d, GC_malloc(n); }
void* GC_calloc_explicitly_typed(size_t count, size_t size, GC_descr d) {
  (void)d;
  size_t n;
  if (__builtin_mul_overflow(count, size, &n)) return GC_get_oom_fn()((size_t)-1);
  return GC_malloc(n);
}

// ---------------------------------------------------------------------------
// Kinds and mark procedures (group 9).
// ---------------------------------------------------------------------------
enum { KIND_NOSCAN, KIND_SCAN, KIND_UNCOLLECTABLE };
#define MAX_KINDS 64
// What each kind allocates: bdwgc's four predefined kinds, then those of
// GC_new_kind. Written under compat_ctl_lock; a kind is published (n_kinds
// incremented) after its entry is written.
static unsigned char kinds[MAX_KINDS] = {KIND_NOSCAN, KIND_SCAN, KIND_UNCOLLECTABLE, KIND_UNCOLLECTABLE};
static atomic_uint n_kinds = 4;
// Each kind's descriptor (GC_new_kind's template), for the mark
// procedures (markprocs.c). Written with kinds[].
static GC_word kind_descr[MAX_KINDS];

void** GC_new_free_list_inner(void) {
  // The free-list array is only a token on gomem; uncollectable so that
  // whatever a program stores in it is seen.
  return gomem_malloc_uncollectable((GC_TINY_FREELISTS + 1) * sizeof(void*));
}
void** GC_new_free_list(void) { return GC_new_free_list_inner(); }

unsigned GC_new_kind_inner(void** fl, GC_word descr, int add_size, int clear) {
  (void)fl;
  (void)clear;  // gomem clears every object
  unsigned k = atomic_load(&n_kinds);
  if (k >= MAX_KINDS) {
    fprintf(stderr, "gomem: GC_new_kind: more than %d kinds\n", MAX_KINDS);
    abort();
  }
  kinds[k] = (descr == 0 && !add_size) ? KIND_NOSCAN : KIND_SCAN;
  kind_descr[k] = descr;
  atomic_store(&n_kinds, k + 1);
  return k;
}

unsigned GC_new_kind(void** fl, GC_word descr, int add_size, int clear) {
  pthread_mutex_lock(&compat_ctl_lock);
  unsigned k = GC_new_kind_inner(fl, descr, add_size, clear);
  pthread_mutex_unlock(&compat_ctl_lock);
  return k;
}

static int kind_of(int k) {
  if (k < 0 || (unsigned)k >= atomic_load(&n_kinds)) {
    fprintf(stderr, "gomem: GC_generic_malloc: unknown kind %d\n", k);
    abort();
  }
  return kinds[k];
}

void* GC_generic_malloc(size_t n, int k) {
  switch (kind_of(k)) {
    case KIND_NOSCAN:
      return GC_malloc_atomic(n);
    case KIND_UNCOLLECTABLE:
      return GC_malloc_uncollectable(n);
    default:
      break;
  }
  void* p = GC_malloc(n);
  if (p && (kind_descr[k] & GC_DS_TAGS) == GC_DS_PROC) compat_track_object(p, kind_descr[k]);
  return p;
}
void* GC_generic_malloc_ignore_off_page(size_t n, int k) { return GC_generic_malloc(n, k); }
void* GC_generic_malloc_uncollectable(size_t n, int k) { return (void)k, GC_malloc_uncollectable(n); }
void* GC_generic_or_special_malloc(size_t n, int k) { return GC_generic_malloc(n, k); }
void* GC_debug_generic_or_special_malloc(size_t n, int k, const char* s, int i) {
  return (void)s, (void)i, GC_generic_malloc(n, k);
}
void* GC_malloc_kind(size_t n, int k) { return GC_generic_malloc(n, k); }
void* GC_malloc_kind_global(size_t n, int k) { return GC_generic_malloc(n, k); }

// About 1 KiB of objects per call (at least one, at most 64), linked through
// their first words, newest last. Scanned objects, whatever the kind (see
// the essay).
void GC_generic_malloc_many(size_t n, int k, void** result) {
  int uncollectable = kind_of(k) == KIND_UNCOLLECTABLE;
  size_t count = n >= 1024 ? 1 : 1024 / (n ? n : 1);
  if (count > 64) count = 64;
  void* head = NULL;
  for (size_t i = 0; i < count; i++) {
    void* p = uncollectable ? GC_malloc_uncollectable(n < sizeof(void*) ? sizeof(void*) : n)
                            : GC_malloc(n < sizeof(void*) ? sizeof(void*) : n);
    if (!p) break;
    if (!uncollectable && (kind_descr[k] & GC_DS_TAGS) == GC_DS_PROC) compat_track_object(p, kind_descr[k]);
    *(void**)p = head;
    head = p;
  }
  *result = head;
}

int GC_get_kind_and_size(const void* p, size_t* psize) {
  if (psize) *psize = gomem_usable_size(p);
  switch (gomem_kind(p)) {
    case GOMEM_KIND_GC_NOSCAN:
      return 0;
    case GOMEM_KIND_UNCOLLECTABLE:
      return 2;
    default:
      return 1;
  }
}

void GC_register_describe_type_fn(int kind, GC_describe_type_fn fn) {
  (void)kind;
  (void)fn;
}
void* GC_clear_stack(void* p) { return p; }

void GC_push_finalizer_structures(void) {}
// Mark bits are the collector's own: an allocated object counts as marked.
int GC_is_marked(const void* p) { return gomem_kind(p) != GOMEM_KIND_NONE; }
void GC_clear_mark_bit(const void* p) { (void)p; }
void GC_set_mark_bit(const void* p) { (void)p; }
int GC_is_tmp_root(void* p) { return (void)p, 0; }
void GC_print_trace(GC_word n) { (void)n; }
void GC_print_trace_inner(GC_word n) { (void)n; }
void GC_print_free_list(int k, size_t g) {
  (void)k;
  (void)g;
}
void GC_enumerate_reachable_objects_inner(GC_reachable_object_proc fn, void* cd) {
  (void)fn;
  (void)cd;
}

// The allocation lock: held by GC_call_with_alloc_lock around the program's
// function. gomem needs no lock to allocate; the layer takes this one where
// bdwgc's lock makes a promise programs rely on: disappearing links are not
// cleared while it is held (finalize.c).
static pthread_mutex_t compat_alloc_lock = PTHREAD_MUTEX_INITIALIZER;
// Set while this thread holds compat_alloc_lock (written by the thread
// itself): the start of a collection that this thread's allocation starts
// inside the lock must not take it again (toggleref.c).
static __thread int alloc_lock_held;
void compat_lock_alloc(void) {
  pthread_mutex_lock(&compat_alloc_lock);
  alloc_lock_held = 1;
}
void compat_unlock_alloc(void) {
  alloc_lock_held = 0;
  pthread_mutex_unlock(&compat_alloc_lock);
}
int compat_alloc_lock_held(void) { return alloc_lock_held; }
void GC_alloc_lock(void) { compat_lock_alloc(); }
void GC_alloc_unlock(void) { compat_unlock_alloc(); }
void* GC_call_with_alloc_lock(GC_fn_type fn, void* cd) {
  compat_lock_alloc();
  void* r = fn(cd);
  compat_unlock_alloc();
  return r;
}

// ---------------------------------------------------------------------------
// Collection and control (group 6).
// ---------------------------------------------------------------------------
static void collect(int unmap) {
  compat_init();
  if (GC_dont_gc) return;
  if (unmap)
    gomem_free_os_memory();
  else
    gomem_gc_collect();
  // The collector's callbacks first (they queue bdwgc-style finalizers and
  // clear links), then what bdwgc does after a collection.
  gomem_gc_run_finalizers();
  GC_gc_no = GC_get_gc_no();
  compat_finalizers_due();
}
void GC_gcollect(void) { collect(0); }
void GC_gcollect_and_unmap(void) { collect(1); }

static GC_stop_func stop_func;
int GC_try_to_collect(GC_stop_func fn) {
  if (GC_dont_gc || fn()) return 0;
  collect(0);
  return 1;
}
void GC_set_stop_func(GC_stop_func fn) { stop_func = fn; }
GC_stop_func GC_get_stop_func(void) { return stop_func; }

void GC_disable(void) {
  pthread_mutex_lock(&compat_ctl_lock);
  GC_dont_gc++;
  apply_dont_gc();
  pthread_mutex_unlock(&compat_ctl_lock);
}
void GC_enable(void) {
  pthread_mutex_lock(&compat_ctl_lock);
  if (GC_dont_gc <= 0) {
    pthread_mutex_unlock(&compat_ctl_lock);
    fprintf(stderr, "gomem: GC_enable without GC_disable (GC_dont_gc %d)\n", GC_dont_gc);
    abort();
  }
  GC_dont_gc--;
  apply_dont_gc();
  pthread_mutex_unlock(&compat_ctl_lock);
}
int GC_is_disabled(void) { return GC_dont_gc != 0; }
void GC_set_disable_automatic_collection(int off) {
  pthread_mutex_lock(&compat_ctl_lock);
  if (off && !auto_off && !compat_dont_gc_applied) saved_percent = gomem_gc_set_percent(-1);
  if (!off && auto_off && !compat_dont_gc_applied) gomem_gc_set_percent(saved_percent);
  auto_off = off != 0;
  pthread_mutex_unlock(&compat_ctl_lock);
}
int GC_get_disable_automatic_collection(void) { return auto_off; }

void GC_set_free_space_divisor(GC_word d) {
  pthread_mutex_lock(&compat_ctl_lock);
  GC_free_space_divisor = d;
  apply_free_space_divisor(d);
  pthread_mutex_unlock(&compat_ctl_lock);
}
GC_word GC_get_free_space_divisor(void) { return GC_free_space_divisor; }
void GC_set_max_heap_size(GC_word n) { gomem_set_memory_limit(n ? (int64_t)n : INT64_MAX); }
int GC_expand_hp(size_t n) { return (void)n, 1; }

void GC_set_all_interior_pointers(int v) {
  GC_all_interior_pointers = v;
  gomem_gc_set_interior(v ? GOMEM_GC_INTERIOR_PAST_END : GOMEM_GC_INTERIOR_EXACT);
}
int GC_get_all_interior_pointers(void) { return GC_all_interior_pointers; }

// Incremental mode: gomem marks concurrently where the kernel lets it,
// without being asked; there is nothing to switch on.
void GC_enable_incremental(void) {}
int GC_is_incremental_mode(void) { return 0; }
int GC_incremental_protection_needs(void) { return GC_PROTECTS_NONE; }
void GC_start_incremental_collection(void) {}
int GC_collect_a_little(void) { return 0; }
void GC_set_manual_vdb_allowed(int v) { (void)v; }
int GC_get_manual_vdb_allowed(void) { return 0; }

// Roots. gomem scans every loaded object's data and bss, always: excluding
// some (GC_no_dls, GC_exclude_static_roots, the has-static-roots callback)
// is accepted and ignored, which keeps more alive, never less.
struct root_range {
  struct root_range* next;
  void *lo, *hi;
};
// The ranges added by GC_add_roots (for GC_clear_roots and GC_remove_roots);
// manual memory, under compat_ctl_lock.
static struct root_range* roots;

void GC_add_roots(void* lo, void* hi) {
  struct root_range* r = gomem_malloc(sizeof *r);
  if (!r) return;
  r->lo = lo;
  r->hi = hi;
  pthread_mutex_lock(&compat_ctl_lock);
  r->next = roots;
  roots = r;
  gomem_add_roots(lo, hi);
  pthread_mutex_unlock(&compat_ctl_lock);
}

// Removes the added ranges that lie within [lo, hi) (all with lo > hi).
static void remove_roots_within(void* lo, void* hi, int all) {
  pthread_mutex_lock(&compat_ctl_lock);
  for (struct root_range** pp = &roots; *pp;) {
    struct root_range* r = *pp;
    if (all || ((char*)r->lo >= (char*)lo && (char*)r->hi <= (char*)hi)) {
      gomem_remove_roots(r->lo, r->hi);
      *pp = r->next;
      gomem_free(r);
    } else {
      pp = &r->next;
    }
  }
  pthread_mutex_unlock(&compat_ctl_lock);
}
void GC_remove_roots(void* lo, void* hi) { remove_roots_within(lo, hi, 0); }
void GC_clear_roots(void) { remove_roots_within(NULL, NULL, 1); }
void GC_exclude_static_roots(void* lo, void* hi) {
  (void)lo;
  (void)hi;
}
void GC_clear_exclusion_table(void) {}
void GC_set_no_dls(int v) { GC_no_dls = v; }
int GC_get_no_dls(void) { return GC_no_dls; }
void GC_register_has_static_roots_callback(GC_has_static_roots_func fn) { (void)fn; }

// Plain setters and getters of the exported variables.
#define ACCESSORS(type, name, var)        \
  void GC_set_##name(type v) { var = v; } \
  type GC_get_##name(void) { return var; }
ACCESSORS(int, find_leak, GC_find_leak)
ACCESSORS(int, finalize_on_demand, GC_finalize_on_demand)
ACCESSORS(int, java_finalization, GC_java_finalization)
ACCESSORS(GC_finalizer_notifier_proc, finalizer_notifier, GC_finalizer_notifier)
ACCESSORS(int, dont_expand, GC_dont_expand)
ACCESSORS(int, full_freq, GC_full_freq)
ACCESSORS(GC_word, non_gc_bytes, GC_non_gc_bytes)
ACCESSORS(GC_word, max_retries, GC_max_retries)
ACCESSORS(int, dont_precollect, GC_dont_precollect)
ACCESSORS(unsigned long, time_limit, GC_time_limit)
// Recorded, without effect (gomem has no incremental mode to limit).
static struct GC_timeval_s time_limit_tv;
ACCESSORS(struct GC_timeval_s, time_limit_tv, time_limit_tv)
ACCESSORS(GC_on_heap_resize_proc, on_heap_resize, GC_on_heap_resize)
static GC_word allocd_bytes_per_finalizer = 10000;
ACCESSORS(GC_word, allocd_bytes_per_finalizer, allocd_bytes_per_finalizer)
static int pages_executable;
ACCESSORS(int, pages_executable, pages_executable)
static size_t min_bytes_allocd = 1;
ACCESSORS(size_t, min_bytes_allocd, min_bytes_allocd)
static int rate = 10;
ACCESSORS(int, rate, rate)
static int max_prior_attempts = 1;
ACCESSORS(int, max_prior_attempts, max_prior_attempts)
static int force_unmap_on_gcollect;
ACCESSORS(int, force_unmap_on_gcollect, force_unmap_on_gcollect)
static GC_on_collection_event_proc on_collection_event;
ACCESSORS(GC_on_collection_event_proc, on_collection_event, on_collection_event)
static GC_on_thread_event_proc on_thread_event;
ACCESSORS(GC_on_thread_event_proc, on_thread_event, on_thread_event)
void GC_set_markers_count(unsigned n) { (void)n; }
int GC_get_parallel(void) { return GC_parallel; }
void GC_set_handle_fork(int v) { (void)v; }
void GC_atfork_prepare(void) {}
void GC_atfork_parent(void) {}
void GC_atfork_child(void) {}
void GC_start_performance_measurement(void) {}
unsigned long GC_get_full_gc_total_time(void) { return 0; }
unsigned GC_get_version(void) { return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO; }
void GC_noop1(GC_word x) { __asm__ __volatile__("" : : "r"(x) : "memory"); }

// ---------------------------------------------------------------------------
// Introspection and statistics (group 7), constant-time: gomem's cheap
// getters, no heap walk.
// ---------------------------------------------------------------------------
static int collected_kind(int k) {
  return k == GOMEM_KIND_GC_SCAN || k == GOMEM_KIND_GC_NOSCAN || k == GOMEM_KIND_UNCOLLECTABLE;
}

void* GC_base(void* p) { return collected_kind(gomem_kind(p)) ? gomem_gc_base(p) : NULL; }
int GC_is_heap_ptr(const void* p) { return collected_kind(gomem_kind(p)); }
size_t GC_size(const void* p) { return gomem_usable_size(gomem_gc_base(p)); }

void* GC_same_obj(void* p, void* q) {
  void* bp = GC_base(p);
  if (bp != GC_base(q)) GC_same_obj_print_proc(p, q);
  return p;
}
void* GC_pre_incr(void** p, ptrdiff_t how_much) {
  void* initial = *p;
  void* result = GC_same_obj((char*)initial + how_much, initial);
  *p = result;
  return result;
}
void* GC_post_incr(void** p, ptrdiff_t how_much) {
  void* initial = *p;
  *p = GC_same_obj((char*)initial + how_much, initial);
  return initial;
}
void* GC_is_visible(void* p) { return p; }
void* GC_is_valid_displacement(void* p) { return p; }

GC_word GC_get_gc_no(void) { return GC_gc_no = gomem_gc_count(); }
size_t GC_get_heap_size(void) { return (size_t)gomem_heap_sys(); }
size_t GC_get_free_bytes(void) {
  uint64_t sys = gomem_heap_sys(), used = gomem_heap_alloc();
  return used < sys ? (size_t)(sys - used) : 0;
}
size_t GC_get_unmapped_bytes(void) { return 0; }
size_t GC_get_memory_use(void) { return (size_t)gomem_heap_alloc(); }
size_t GC_get_obtained_from_os_bytes(void) { return (size_t)gomem_heap_sys(); }
size_t GC_get_expl_freed_bytes_since_gc(void) { return 0; }
// Bytes allocated since the last collection: what the heap holds beyond
// what that collection found live.
size_t GC_get_bytes_since_gc(void) {
  uint64_t used = gomem_heap_alloc(), live = gomem_gc_live();
  return used > live ? (size_t)(used - live) : 0;
}
size_t GC_get_total_bytes(void) { return (size_t)total_alloc(); }

void GC_get_heap_usage_safe(GC_word* heap, GC_word* free_bytes, GC_word* unmapped, GC_word* since_gc, GC_word* total) {
  if (heap) *heap = GC_get_heap_size();
  if (free_bytes) *free_bytes = GC_get_free_bytes();
  if (unmapped) *unmapped = 0;
  if (since_gc) *since_gc = GC_get_bytes_since_gc();
  if (total) *total = GC_get_total_bytes();
}

size_t GC_get_prof_stats(struct GC_prof_stats_s* st, size_t size) {
  struct GC_prof_stats_s s;
  s.heapsize_full = GC_get_heap_size();
  s.free_bytes_full = GC_get_free_bytes();
  s.unmapped_bytes = 0;
  s.bytes_allocd_since_gc = GC_get_bytes_since_gc();
  s.allocd_bytes_before_gc = GC_get_total_bytes() - s.bytes_allocd_since_gc;
  s.non_gc_bytes = GC_non_gc_bytes;
  s.gc_no = GC_get_gc_no();
  s.markers_m1 = 0;
  s.bytes_reclaimed_since_gc = 0;
  s.reclaimed_bytes_before_gc = 0;
  s.expl_freed_bytes_since_gc = 0;
  s.obtained_from_os_bytes = GC_get_obtained_from_os_bytes();
  if (size > sizeof s) {
    memset((char*)st + sizeof s, 0xff, size - sizeof s);
    size = sizeof s;
  }
  memcpy(st, &s, size);
  return size;
}
size_t GC_get_prof_stats_unsafe(struct GC_prof_stats_s* st, size_t size) { return GC_get_prof_stats(st, size); }
size_t GC_get_size_map_at(int i) { return i < 0 ? 0 : (size_t)(i + 15) & ~(size_t)15; }

void GC_dump(void) { gomem_print_stats(2); }
void GC_dump_named(const char* name) {
  if (name) fprintf(stderr, "GC dump %s:\n", name);
  gomem_print_stats(2);
}
void GC_dump_regions(void) { gomem_print_stats(2); }

// ---------------------------------------------------------------------------
// gcj-style objects (gc_gcj.h): the first word points to a vtable whose
// second word is bdwgc's mark descriptor. gomem scans the object
// conservatively (every word), which keeps at least what the descriptor
// names; the kinds are the normal one.
// ---------------------------------------------------------------------------
int GC_gcj_kind;
int GC_gcj_debug_kind;

void GC_init_gcj_malloc(int mp_index, void* mp) {
  compat_init();
  if (mp_index >= 0) GC_init_gcj_malloc_mp((unsigned)mp_index, (GC_mark_proc)mp);
  GC_gcj_kind = GC_gcj_debug_kind = GC_I_NORMAL;
}

void* GC_gcj_malloc(size_t n, void* vtable) {
  void** p = GC_malloc(n < sizeof(void*) ? sizeof(void*) : n);
  if (p) *p = vtable;
  return p;
}
void* GC_gcj_malloc_ignore_off_page(size_t n, void* vtable) { return GC_gcj_malloc(n, vtable); }
void* GC_debug_gcj_malloc(size_t n, void* vtable, const char* s, int i) {
  (void)s;
  (void)i;
  return GC_gcj_malloc(n, vtable);
}
