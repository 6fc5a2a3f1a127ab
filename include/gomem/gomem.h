/*
 * gomem: Go's memory manager for C and C++ programs.
 *
 * One heap, used three ways:
 *   - a manual heap (gomem_malloc / gomem_free, and malloc / free / new / delete
 *     when libgomem.so is linked or preloaded);
 *   - a collected heap (gomem_gc_alloc, gomem_gc_alloc_noscan), reclaimed by a
 *     mark-sweep garbage collector with Go's structure (GOGC pacing, lazy
 *     sweeping by sweep generation, finalizers);
 *   - uncollectable blocks (gomem_malloc_uncollectable): manual memory that the
 *     collector scans as a root.
 *
 * What the collector sees. It scans, conservatively (any word that points
 * anywhere inside a live collected object, or just past its end, keeps it
 * alive; see gomem_gc_set_interior):
 *   - the stacks and registers of registered threads (a thread registers itself
 *     on its first collected allocation, or with gomem_register_thread);
 *   - the writable data and bss of every loaded object (rescanned each cycle,
 *     so dlopen'ed libraries count);
 *   - ranges added with gomem_add_roots;
 *   - uncollectable blocks and collected "scan" objects.
 * It does NOT see: manual memory (malloc, new, gomem_malloc), thread-local
 * storage, memory of threads that never registered, or noscan objects. A
 * pointer to a collected object kept only there does not keep it alive: keep
 * such pointers in uncollectable blocks, registered roots, or (in C++)
 * containers using gomem::gc_allocator<T>.
 *
 * Errors. Freeing a pointer gomem never handed out, an interior pointer, or an
 * object that is already free prints a message naming the fault, the pointer
 * and the size class, then aborts. Allocation of an impossible size returns
 * NULL with errno == ENOMEM (operator new throws std::bad_alloc).
 */
#ifndef GOMEM_GOMEM_H
#define GOMEM_GOMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOMEM_VERSION_MAJOR 0
#define GOMEM_VERSION_MINOR 1
#define GOMEM_VERSION_PATCH 0

#if defined(__GNUC__)
#define GOMEM_API __attribute__((visibility("default")))
#define GOMEM_MALLOC_ATTR __attribute__((malloc))
#else
#define GOMEM_API
#define GOMEM_MALLOC_ATTR
#endif

/* ---------------------------------------------------------------------------
 * Manual heap: the malloc family. Memory is 16-byte aligned for every request
 * of 16 bytes or more (8-byte aligned below), like glibc.
 * ------------------------------------------------------------------------- */
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_malloc(size_t size);
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_calloc(size_t count, size_t size);
GOMEM_API void *gomem_realloc(void *p, size_t size);
/* alignment must be a power of two; any size is accepted. */
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_aligned_alloc(size_t alignment, size_t size);
GOMEM_API void gomem_free(void *p);
/* Bytes usable at p (at least what was asked for). 0 for NULL. */
GOMEM_API size_t gomem_usable_size(const void *p);

/* ---------------------------------------------------------------------------
 * Collected heap. Memory is zeroed. Objects of 16 bytes or more whose size is
 * a multiple of 16 are 16-byte aligned; others are 8-byte aligned (Go's rule).
 * ------------------------------------------------------------------------- */
/* A collected object that may hold pointers: scanned, every word. */
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_gc_alloc(size_t size);
/* A collected object that holds no pointers: marked, never scanned. */
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_gc_alloc_noscan(size_t size);
/* A collected object aligned to `alignment` (a power of two); scanned if
 * scan != 0. */
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_gc_alloc_aligned(size_t alignment, size_t size, int scan);
/* Manual memory scanned by the collector as a root; free it with gomem_free. */
GOMEM_API GOMEM_MALLOC_ATTR void *gomem_malloc_uncollectable(size_t size);
/* Optional early free of a collected object (the caller promises nothing
 * points to it any more). free() of a collected object does the same. Like
 * an allocation, it registers the calling thread. The object is cleared at
 * once and its slot reclaimed by the next sweep. A second free of it, before
 * or after that sweep, or a free of a slot that is free, aborts with a
 * "gomem: double free" message; once the slot has been handed out again, a
 * second free cannot be told from a free of the new object (as with
 * malloc). */
GOMEM_API void gomem_gc_free(void *p);
/* A full, blocking collection, sweep included (like Go's runtime.GC). */
GOMEM_API void gomem_gc_collect(void);
/* Sets GOGC and returns the previous value. Negative disables automatic
 * collection (like debug.SetGCPercent(-1)). */
GOMEM_API int gomem_gc_set_percent(int percent);

/* Pointers one past the end. By default (GOMEM_GC_INTERIOR_PAST_END) a
 * pointer just past the last byte of a collected object (a C++ end()
 * iterator, the `p + n` bound of a loop, a buffer filled backwards from its
 * end) keeps the object alive, as in Boehm GC: every collected allocation,
 * scan or noscan, small or large, is served from a slot at least one byte
 * larger than asked for. That costs memory only for sizes that exactly fill
 * a size class (16, 32, 64, ... bytes; large objects of whole pages: one more
 * page). GOMEM_GC_INTERIOR_EXACT (or the environment variable
 * GOMEM_GC_INTERIOR=exact) drops the extra byte, for programs that never
 * keep such pointers as the only reference. The mode can be changed at any
 * time; it applies to the objects allocated after the change (objects
 * allocated in the exact mode may be reclaimed while only an end pointer
 * holds them). Returns the previous mode, or -1 (nothing changed) for an
 * unknown mode. Pointers further out (p + n + 1, p - 1) never count. */
#define GOMEM_GC_INTERIOR_EXACT 0
#define GOMEM_GC_INTERIOR_PAST_END 1
GOMEM_API int gomem_gc_set_interior(int mode);

/* A finalizer runs once, on the finalizer thread, after the object became
 * unreachable; the object (and what it points to) is kept alive until the
 * finalizer has run and is freed by a later cycle if still unreachable.
 * p must be the start of a collected object. fn == NULL removes the
 * finalizer. Returns 0 on success, -1 if p is not a collected object. Like
 * an allocation, it registers the calling thread. */
typedef void (*gomem_finalizer_fn)(void *obj, void *arg);
GOMEM_API int gomem_gc_set_finalizer(void *p, gomem_finalizer_fn fn, void *arg);

/* Extra root ranges [begin, end), scanned conservatively every cycle. */
GOMEM_API void gomem_add_roots(void *begin, void *end);
GOMEM_API void gomem_remove_roots(void *begin, void *end);

/* Threads that hold collected pointers without allocating collected memory
 * must register so that their stacks and registers are scanned. Threads that
 * allocate register automatically, and so do threads that call
 * gomem_gc_free, free() on a collected object, gomem_gc_set_finalizer,
 * gomem_gc_collect, or gomem_free_os_memory once the collected heap is in
 * use. A registered thread is unregistered when it exits.
 * Returns 0 on success.
 *
 * A thread that is not registered may call the malloc family (gomem_malloc,
 * gomem_free, ..., and malloc, free, new, delete on manual memory),
 * gomem_malloc_uncollectable, gomem_add_roots, gomem_remove_roots,
 * gomem_gc_set_percent, gomem_set_memory_limit, the statistics and
 * gomem_register_thread at any time. But the collector neither
 * scans nor stops it: a collected pointer held only in its stack or registers
 * does not keep the object alive (as in Boehm GC), and since it keeps running
 * while the collector marks, it must never be the only holder of a collected
 * pointer, not even while moving one from one place to another. It may read
 * and write collected objects that something else keeps alive.
 *
 * Stopping the world. Each collection stops registered threads with a
 * signal: SIGPWR by default, another one with the environment variable
 * GOMEM_SIG_SUSPEND=<number> (like Boehm GC's GC_SIG_SUSPEND); the program
 * must leave that signal to gomem. The handler is installed with SA_RESTART,
 * so most interrupted system calls restart by themselves, but, as with Boehm
 * GC, some fail with EINTR (or return early) whatever SA_RESTART says: on
 * Linux nanosleep, clock_nanosleep and usleep, poll, select, epoll_wait,
 * System V semaphores and message queues, socket calls with a timeout, and
 * others listed in signal(7). Code in registered threads should retry them
 * on EINTR. Unregistered threads never get the signal. */
GOMEM_API int gomem_register_thread(void);
GOMEM_API int gomem_unregister_thread(void);

/* ---------------------------------------------------------------------------
 * Giving memory back to the OS.
 * ------------------------------------------------------------------------- */
/* A collection if the collected heap is in use, then every free page is
 * returned to the OS (like debug.FreeOSMemory). */
GOMEM_API void gomem_free_os_memory(void);
/* Soft limit on the memory gomem maps (like debug.SetMemoryLimit). A negative
 * argument only reads it. Returns the previous limit. INT64_MAX = no limit. */
GOMEM_API int64_t gomem_set_memory_limit(int64_t bytes);

/* ---------------------------------------------------------------------------
 * Statistics, with Go's MemStats names in snake case.
 * ------------------------------------------------------------------------- */
#define GOMEM_NUM_SIZE_CLASSES 68
#define GOMEM_NUM_PAUSES 256

typedef struct gomem_size_class_stats {
  uint32_t size;    /* bytes per object of this class */
  uint64_t mallocs; /* cumulative objects allocated */
  uint64_t frees;   /* cumulative objects freed */
} gomem_size_class_stats;

typedef struct gomem_stats {
  /* General. */
  uint64_t alloc;        /* = heap_alloc */
  uint64_t total_alloc;  /* cumulative bytes allocated (object sizes) */
  uint64_t sys;          /* bytes obtained from the OS, heap and metadata */
  uint64_t mallocs;      /* cumulative count of objects allocated */
  uint64_t frees;        /* cumulative count of objects freed */

  /* Heap. */
  uint64_t heap_alloc;    /* bytes of allocated objects (manual + collected) */
  uint64_t heap_sys;      /* bytes of heap memory mapped from the OS */
  uint64_t heap_idle;     /* bytes in free page runs (retained or released) */
  uint64_t heap_inuse;    /* bytes in spans that hold objects */
  uint64_t heap_released; /* bytes of free runs returned to the OS */
  uint64_t heap_objects;  /* live objects = mallocs - frees */

  /* Off-heap metadata. */
  uint64_t mspan_inuse;
  uint64_t mspan_sys;
  uint64_t mcache_inuse;
  uint64_t mcache_sys;
  uint64_t gc_sys;    /* mark/alloc bitmaps, finalizer records, work buffers */
  uint64_t other_sys; /* arena index, page map and other metadata */

  /* Collector. */
  uint64_t next_gc;        /* heap goal: the next cycle starts at this size */
  uint64_t last_gc;        /* end of the last cycle, ns since 1970 */
  uint64_t pause_total_ns; /* cumulative stop-the-world time */
  uint64_t pause_ns[GOMEM_NUM_PAUSES];  /* recent pauses, latest at [(num_gc+255)%256] */
  uint64_t pause_end[GOMEM_NUM_PAUSES]; /* their end times, ns since 1970 */
  uint32_t num_gc;
  uint32_t num_forced_gc;
  double gc_cpu_fraction; /* share of CPU time spent in the collector */
  int32_t gc_percent;     /* current GOGC; negative = off */
  uint32_t enable_gc;     /* 1 when automatic collection is on */
  uint64_t gc_heap_alloc; /* bytes of allocated collected objects */
  uint64_t gc_heap_live;  /* bytes marked live by the last cycle */
  uint64_t memory_limit;  /* GOMEMLIMIT, UINT64_MAX-like when off */
  uint64_t num_finalizers_run;

  /* Processors (Ps): allocation contexts that threads hold. */
  uint32_t num_p;        /* Ps made so far */
  uint32_t num_p_in_use; /* Ps held by live threads */

  /* Per size class of the manual heap (malloc), index = class; class 0 =
   * objects over 32 KiB. */
  gomem_size_class_stats by_size[GOMEM_NUM_SIZE_CLASSES];
  /* Per size class of the collected heap (Go's table). */
  gomem_size_class_stats gc_by_size[GOMEM_NUM_SIZE_CLASSES];
} gomem_stats;

/* Fills *stats. It takes no lock that a collection holds, makes no system
 * call and does not walk the heap: it sums counters kept per P (threads that
 * allocate; pooled when they exit) and per size class, about 10,000
 * instructions with one P (1-2 us), whatever the heap's size. Figures of
 * other threads are read while they run and may be a few objects stale. */
GOMEM_API void gomem_read_stats(gomem_stats *stats);
/* The figures programs poll most, without filling a gomem_stats. None takes
 * a lock a collection holds or makes a system call.
 *   gomem_heap_alloc  = heap_alloc: bytes of live objects, manual and
 *                       collected; sums the same counters (about 3,000
 *                       instructions with one P, 1,500 more per P);
 *   gomem_heap_sys    = heap_sys (one load);
 *   gomem_gc_live     = gc_heap_live: bytes the last cycle marked (one load);
 *   gomem_gc_count    = num_gc: cycles completed (one load). */
GOMEM_API uint64_t gomem_heap_alloc(void);
GOMEM_API uint64_t gomem_heap_sys(void);
GOMEM_API uint64_t gomem_gc_live(void);
GOMEM_API uint32_t gomem_gc_count(void);
/* Writes a human-readable report of the statistics to file descriptor fd. */
GOMEM_API void gomem_print_stats(int fd);

/* Walks the whole heap and checks its invariants (every span, every page of
 * the page map, free lists, counters). Returns the number of spans checked;
 * on a violation prints what is wrong and aborts. Other threads must not
 * allocate or free while it runs. */
GOMEM_API long gomem_check_heap(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GOMEM_GOMEM_H */
