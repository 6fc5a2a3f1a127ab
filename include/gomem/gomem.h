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
 *     on its first collected allocation, or with gomem_register_thread),
 *     fiber stacks they declared they run on (gomem_fiber_start_switch);
 *   - the static thread-local storage (__thread, thread_local) of registered
 *     threads, the main thread's included: the variables of the program and
 *     of the libraries loaded when the thread registered. A registered
 *     thread stays a root until its last pthread key destructor has run;
 *   - the writable data and bss of every loaded object (rescanned each cycle,
 *     so dlopen'ed libraries count);
 *   - ranges added with gomem_add_roots, and what root callbacks name
 *     (gomem_gc_add_root_fn);
 *   - uncollectable blocks and collected "scan" objects;
 *   - the arguments of finalizers and cleanups, and what objects with
 *     finalizers point to (see gomem_gc_set_finalizer).
 * It does NOT see: manual memory (malloc, new, gomem_malloc), the
 * thread-local variables of libraries dlopen'ed after the thread registered,
 * and of dlopen'ed libraries whose TLS the C library allocates with malloc
 * (dynamic TLS), the stacks of suspended fibers unless added with
 * gomem_add_roots, memory of threads that never registered, or noscan
 * objects. A pointer to a collected object kept only there does not keep it
 * alive: keep such pointers in uncollectable blocks, registered roots, or (in
 * C++) containers using gomem::gc_allocator<T>.
 * With GOMEM_GC=generational a minor cycle rereads a collected object that
 * survived a cycle only where its page was written since (the kernel's
 * dirty-page bits): stores by any thread and the kernel's copies into user
 * memory (read(), recv()) count; writes through pages the kernel pinned
 * before the cycle (io_uring fixed buffers, O_DIRECT or AIO reads in flight,
 * RDMA) do not: do not let such I/O deliver pointers into collected objects
 * in that mode. The same holds with GOMEM_GC=concurrent, where marking runs
 * beside the program and rereads the marked objects on pages written
 * meanwhile; there an unregistered thread must not even move a collected
 * pointer while a cycle runs. docs/gc.md has the design.
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
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_malloc(size_t size);
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_calloc(size_t count, size_t size);
GOMEM_API void* gomem_realloc(void* p, size_t size);
/* Any size is accepted. The alignment follows glibc 2.36's memalign and
 * aligned_alloc (and so do those two drop-ins): up to 16 it is malloc; one
 * that is no power of two is rounded up to the next (24 -> 32, 4097 -> 8192);
 * above SIZE_MAX/2 + 1 the result is NULL with errno EINVAL, and an alignment
 * or size too large for the heap gives NULL with ENOMEM. posix_memalign
 * returns EINVAL unless the alignment is a power of two >= sizeof(void *). */
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_aligned_alloc(size_t alignment, size_t size);
GOMEM_API void gomem_free(void* p);
/* Bytes usable at p (at least what was asked for). 0 for NULL. */
GOMEM_API size_t gomem_usable_size(const void* p);

/* ---------------------------------------------------------------------------
 * Collected heap. Memory is zeroed. Objects of 16 bytes or more whose size is
 * a multiple of 16 are 16-byte aligned; others are 8-byte aligned (Go's rule).
 * ------------------------------------------------------------------------- */
/* A collected object that may hold pointers: scanned, every word. */
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_gc_alloc(size_t size);
/* A collected object that holds no pointers: marked, never scanned. */
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_gc_alloc_noscan(size_t size);
/* A collected object aligned to `alignment` (a power of two); scanned if
 * scan != 0. */
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_gc_alloc_aligned(size_t alignment, size_t size, int scan);
/* Manual memory scanned by the collector as a root; free it with gomem_free. */
GOMEM_API GOMEM_MALLOC_ATTR void* gomem_malloc_uncollectable(size_t size);
/* Optional early free of a collected object (the caller promises nothing
 * points to it any more). free() of a collected object does the same. Like
 * an allocation, it registers the calling thread. The object is cleared at
 * once and its slot reclaimed by the next sweep. A second free of it, before
 * or after that sweep, or a free of a slot that is free, aborts with a
 * "gomem: double free" message; once the slot has been handed out again, a
 * second free cannot be told from a free of the new object (as with
 * malloc). */
GOMEM_API void gomem_gc_free(void* p);
/* A full, blocking collection, sweep included (like Go's runtime.GC). */
GOMEM_API void gomem_gc_collect(void);
/* With GOMEM_GC=generational: a blocking minor collection, sweep included,
 * that frees only objects allocated since the last cycle and found dead
 * (objects that survived a cycle are old: only a full cycle frees them, runs
 * their finalizers and cleanups, clears their weak pointers). A full one
 * when a minor one cannot run (GOMEM_GC=stw, dirty-page tracking refused,
 * first cycle after a fork). */
GOMEM_API void gomem_gc_collect_minor(void);
/* Sets GOGC and returns the previous value. Negative disables automatic
 * collection (like debug.SetGCPercent(-1), it then waits for a cycle that
 * is running, so that none runs when it returns). */
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

/* Finalizers (Go's runtime.SetFinalizer). A finalizer runs once, after the
 * object became unreachable, as fn(obj, arg): on the finalizer thread (a
 * thread gomem starts at the first finalizer it queues), or on a thread that
 * calls gomem_gc_run_finalizers, whichever takes it first; queued ones run
 * in the order their objects were found dead. The object, and what it
 * points to, is kept alive until the finalizer has run (the finalizer may
 * store it somewhere: "resurrect" it); a later cycle frees it if it is
 * still unreachable. So a finalizable object needs at least two cycles to be
 * freed. arg is kept alive too, and so is everything the object points to:
 *
 *   - Ordering (Go's rule): if A points to B and both have finalizers, A's
 *     runs first and B's a cycle later (B is still reachable from A while A
 *     waits for its finalizer).
 *   - Cycles: if finalizable objects point to each other (directly or
 *     through other objects), each keeps the others alive and none is ever
 *     finalized or freed: a leak to avoid (as in Go). A no-order finalizer
 *     breaks it.
 *   - Self pointers: with gomem_gc_set_finalizer, a pointer from the object
 *     into itself counts like any other, so an object that points into itself
 *     is never finalized (Go's rule). gomem_gc_set_finalizer_ignore_self
 *     (Boehm GC's GC_register_finalizer_ignore_self) ignores pointers into
 *     the object itself, and otherwise follows the rules above; this is what
 *     gomem::gc_new uses for destructors (a C++ object with a `this` member or
 *     a short std::string points into itself).
 *   - gomem_gc_set_finalizer_no_order (Boehm's
 *     GC_register_finalizer_no_order): the object's contents keep nothing
 *     alive until it is found unreachable, so its finalizer may run while
 *     other finalizable objects it points to have already been finalized, or
 *     are finalized in the same cycle; cycles of no-order objects are
 *     finalized (all in one cycle) and freed.
 *
 * Weak pointers to the object are cleared before its finalizer runs, and stay
 * cleared even if the finalizer resurrects it.
 * p must be the start of an allocated collected object. fn == NULL removes
 * the finalizer (of any of the three kinds); setting one replaces the
 * previous one. gomem_gc_free drops it. Returns 0 on success, -1 if p is not
 * the start of an allocated collected object (one already freed with
 * gomem_gc_free is not). Like an allocation, these
 * register the calling thread. */
typedef void (*gomem_finalizer_fn)(void* obj, void* arg);
GOMEM_API int gomem_gc_set_finalizer(void* p, gomem_finalizer_fn fn, void* arg);
GOMEM_API int gomem_gc_set_finalizer_ignore_self(void* p, gomem_finalizer_fn fn, void* arg);
GOMEM_API int gomem_gc_set_finalizer_no_order(void* p, gomem_finalizer_fn fn, void* arg);

/* Runs the queued finalizers and cleanups on the calling thread (Boehm's
 * GC_invoke_finalizers) and returns how many it ran. Each runs exactly once,
 * here or on the finalizer thread. Before returning it waits for those that
 * other threads (the finalizer thread, other callers) have started, up to one
 * second, so that after gomem_gc_collect(); gomem_gc_run_finalizers(); every
 * finalizer and cleanup that collection queued has returned (unless one runs
 * longer than a second). Called from a finalizer, it does not wait. Registers
 * the calling thread. num_finalizers_run (gomem_stats) counts finalizers and
 * cleanups that returned, on any thread. */
GOMEM_API size_t gomem_gc_run_finalizers(void);

/* Cleanups (Go's runtime.AddCleanup): fn(arg) runs once, like a finalizer
 * (same threads, same queue), after the object containing p became
 * unreachable; the object is never passed to it and never kept alive for it:
 * it is freed by the cycle that found it unreachable. p may point anywhere
 * inside an allocated collected object; an object may have several cleanups
 * (they run in no particular order) and a finalizer too (the cleanups run
 * once the object is unreachable after its finalizer ran). Objects in cycles
 * with cleanups are collected. arg is kept alive until fn ran: if arg
 * reaches the object (arg pointing into it is refused), the object never
 * dies, as in Go. gomem_gc_free drops the cleanups without running them.
 * Returns 0, or -1 if p is not inside an allocated collected object, fn is
 * NULL or arg points into the object. Registers the calling thread. */
GOMEM_API int gomem_gc_add_cleanup(void* p, void (*fn)(void* arg), void* arg);

/* Weak pointers (Go's weak.Pointer). gomem_weak_make(p) returns the handle
 * of p, which may point anywhere inside an allocated collected object (NULL
 * if it does not, if p is NULL, or out of memory); the same p always gives
 * the same handle while its object lives, so handles compare equal when
 * their pointers do. gomem_weak_get returns p while its object is reachable
 * and NULL from the cycle that finds it unreachable on, even if a finalizer
 * resurrects it (the handle is cleared before finalizers are queued);
 * gomem_weak_get(NULL) is NULL. A weak pointer does not keep the object
 * alive; gomem_gc_free of the object clears it too.
 * The handle is itself a small collected object (pointer-free, Go's
 * design): it lives as long as its object does, and afterwards as long as
 * the collector sees a pointer to it, so keep handles where collected
 * pointers must be (a registered thread's stack, globals, registered roots,
 * uncollectable blocks, collected scan objects), never only in malloc
 * memory. Both calls register the calling thread. */
typedef struct gomem_weak gomem_weak;
GOMEM_API gomem_weak* gomem_weak_make(void* p);
GOMEM_API void* gomem_weak_get(gomem_weak* w);

/* Introspection. gomem_gc_base returns the start of the allocated object
 * containing p (anywhere inside it), collected or manual, or NULL if p lies
 * in no allocated object (NULL, the stack, globals, free slots, free pages,
 * memory gomem did not allocate). gomem_kind says which heap the object
 * containing p belongs to, GOMEM_KIND_NONE under the same conditions. A
 * collected object that died in the last cycle counts as allocated until
 * its span is swept (gomem_gc_collect returns with everything swept). Neither
 * call registers the thread; a lookup that a sweep of the object's span
 * overlaps waits for that sweep (on a lock no stopped thread holds), so the
 * answer for an object the caller holds is exact however long the caller is
 * descheduled; for an object another thread may be allocating or freeing
 * meanwhile, the answer is a snapshot. */
enum {
  GOMEM_KIND_NONE = 0,
  GOMEM_KIND_MANUAL,        /* malloc, new, gomem_malloc */
  GOMEM_KIND_UNCOLLECTABLE, /* gomem_malloc_uncollectable */
  GOMEM_KIND_GC_SCAN,       /* gomem_gc_alloc, gomem::gc_new */
  GOMEM_KIND_GC_NOSCAN      /* gomem_gc_alloc_noscan */
};
GOMEM_API void* gomem_gc_base(const void* p);
GOMEM_API int gomem_kind(const void* p);

/* Extra root ranges [begin, end), scanned conservatively every cycle. The
 * range must be mapped and readable when it is added (else the program stops
 * with a message naming the first unreadable address) and until it is
 * removed: pages unmapped or protected meanwhile are dropped from the range
 * at the next collection, with one warning naming the range. */
GOMEM_API void gomem_add_roots(void* begin, void* end);
GOMEM_API void gomem_remove_roots(void* begin, void* end);

/* Threads that hold collected pointers without allocating collected memory
 * must register so that their stacks and registers are scanned. Threads that
 * allocate register automatically, and so do threads that call
 * gomem_gc_free, free() on a collected object, the finalizer, cleanup and
 * weak-pointer calls, gomem_gc_collect, or gomem_free_os_memory once the
 * collected heap is in use. A registered thread is unregistered when it
 * exits, after the last round of its pthread key destructors (collected
 * memory they allocate is safe to use there).
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
 * must leave that signal to gomem. A fault signal (SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGTRAP, SIGSYS), SIGABRT, SIGKILL, SIGSTOP or glibc's own 32 and 33
 * stop the program at startup with a message. The handler is installed with SA_RESTART,
 * so most interrupted system calls restart by themselves, but, as with Boehm
 * GC, some fail with EINTR (or return early) whatever SA_RESTART says: on
 * Linux nanosleep, clock_nanosleep and usleep, poll, select, epoll_wait,
 * System V semaphores and message queues, socket calls with a timeout, and
 * others listed in signal(7). Code in registered threads should retry them
 * on EINTR. Unregistered threads never get the signal.
 *
 * Blocking it. A thread that blocks the stop signal cannot be stopped, so,
 * as Boehm GC does, once the collector is in use (the first collected
 * allocation, collection or gomem_register_thread) gomem's pthread_sigmask
 * and sigprocmask never block it: SIG_BLOCK and SIG_SETMASK take it out of
 * the set, and the old mask they report is the real one, in which it is
 * unblocked (saving a mask and restoring it with SIG_SETMASK works as
 * before). The masks of sigsuspend, ppoll, pselect and epoll_pwait(2) lose
 * it too (a collection during the wait returns EINTR, as a caught signal
 * would), and so do the sets of sigwait, sigwaitinfo, sigtimedwait and
 * signalfd, which therefore never take it from the collector (sigwait
 * itself retries; the others return EINTR). Nothing else changes: a program
 * that never uses the collector gets libc's functions untouched. Not
 * covered: a sigaction sa_mask, masks restored by siglongjmp or setcontext
 * that were saved before the collector was in use, sighold/sigpause and raw
 * system calls. If a thread still does not answer within
 * GOMEM_STW_TIMEOUT_MS (default 1000), the collection prints a line per
 * such thread on standard error, "gomem: collection waiting for thread TID
 * (pthread 0x...): suspend signal N is blocked (SigBlk: ...)" or "not
 * responding (State: ...)" from /proc, repeated at doubling intervals (up
 * to a minute), and goes on waiting, since marking without that thread's
 * stack could free what it holds. A registered thread that is gone (exited
 * without unregistering, or whose tid now names another thread) is dropped
 * and the collection goes on. */
GOMEM_API int gomem_register_thread(void);
GOMEM_API int gomem_unregister_thread(void);

/* Fibers and coroutines (makecontext/swapcontext, hand-written context
 * switches): a registered thread that runs code on a stack other than its
 * own declares each switch, in the spirit of
 * __sanitizer_start_switch_fiber:
 *
 *   gomem_fiber_start_switch(fiber_stack, fiber_size);  // right before
 *   swapcontext(&here, &there);
 *   gomem_fiber_finish_switch();                         // right after, on the new stack
 *
 * start_switch names the stack [stack_lo, stack_lo + size) about to be run
 * on (readable memory: leave a guard page out); NULL, 0 names the thread's
 * own stack (switching back). finish_switch
 * is called first thing on the new stack (in a fiber's entry function too).
 * For each registered thread the collector scans:
 *   - the stack it runs on, from its stack pointer to the top;
 *   - while it runs on another stack: its own stack from the point it left
 *     it (start_switch saves the stack pointer) to the top, so the
 *     suspended frames there keep what they hold;
 *   - between start_switch and finish_switch: whichever of the two stacks
 *     holds its stack pointer, from there to the top (a collection may stop
 *     the thread anywhere in the switch);
 *   - its static TLS (below).
 * It does NOT scan the stack of a suspended fiber (one that no thread runs
 * on): while a suspended fiber's frames hold collected pointers, register
 * its stack with gomem_add_roots (all of it is then scanned, conservatively,
 * even while it runs) and remove it with gomem_remove_roots before freeing
 * it. The registers of a suspended context are saved in its ucontext_t (or
 * jmp_buf): keep that in scanned memory (a stack, a global, a registered
 * root, a collected object), not in malloc'ed memory. Unregistered threads
 * may call both functions; they do nothing there, so register before the
 * first switch. A fiber may be resumed by another thread. */
GOMEM_API void gomem_fiber_start_switch(void* stack_lo, size_t size);
GOMEM_API void gomem_fiber_finish_switch(void);

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
  uint64_t alloc;       /* = heap_alloc */
  uint64_t total_alloc; /* cumulative bytes allocated (object sizes) */
  uint64_t sys;         /* bytes obtained from the OS, heap and metadata */
  uint64_t mallocs;     /* cumulative count of objects allocated */
  uint64_t frees;       /* cumulative count of objects freed */

  /* Heap. */
  uint64_t heap_alloc;    /* bytes of allocated objects (manual + collected;
                           * hardened build: with large objects' guard pages) */
  uint64_t heap_sys;      /* bytes of heap memory mapped from the OS */
  uint64_t heap_idle;     /* bytes in free page runs (retained or released;
                           * hardened build: and freed large objects' spans
                           * kept with their guard pages for reuse) */
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
  uint64_t next_gc;                     /* heap goal: the next cycle starts at this size */
  uint64_t last_gc;                     /* end of the last cycle, ns since 1970 */
  uint64_t pause_total_ns;              /* cumulative stop-the-world time */
  uint64_t pause_ns[GOMEM_NUM_PAUSES];  /* recent pauses, latest at [(num_gc+255)%256] */
  uint64_t pause_end[GOMEM_NUM_PAUSES]; /* their end times, ns since 1970 */
  /* Each pause_ns[i] is the sum of the cycle's stops, as Go's PauseNs:
   * pause_start_ns[i] is its first stop (GOMEM_GC=concurrent: protect the
   * heap, scan the roots; 0 when the whole mark is one stop) and
   * pause_final_ns[i] the stop that ends marking. */
  uint64_t pause_start_ns[GOMEM_NUM_PAUSES];
  uint64_t pause_final_ns[GOMEM_NUM_PAUSES];
  /* Stalls beside the pauses (GOMEM_GC=concurrent; 0 in the other modes,
   * whose collections all happen inside pauses). A pause stops every thread;
   * a stall holds up one, while the world keeps running beside it: a thread
   * that allocated while a cycle marked and pays for it by marking (the
   * proportional mark assist, Go's), or that found the heap past the hard
   * goal (1.1 x next_gc) with no marking left to do and waits for the
   * running cycle to end (or for it to start marking), or runs the whole
   * cycle itself if none was running. wait_ns[i] is the longest such stall
   * of any one thread charged to cycle i (the cycle running, or next to
   * run, when the stall began: the one it marked for, waited for or ran,
   * even if it ended before the thread went on), from its entry into the collector to its
   * return to the allocation, so it includes that cycle's pauses when the
   * thread spanned them; the latency one thread saw for cycle i is
   * max(pause_ns[i], wait_ns[i]). wait_total_ns sums every stall of every
   * thread. gomem_gc_collect's callers and the collector's own threads are
   * not counted (they asked to wait). */
  uint64_t wait_ns[GOMEM_NUM_PAUSES];
  uint64_t wait_total_ns;
  uint32_t num_gc;
  uint32_t num_forced_gc;
  double gc_cpu_fraction; /* share of CPU time spent in the collector */
  int32_t gc_percent;     /* current GOGC; negative = off */
  uint32_t enable_gc;     /* 1 when automatic collection is on */
  uint64_t gc_heap_alloc; /* bytes of allocated collected objects */
  uint64_t gc_heap_live;  /* bytes marked live by the last cycle */
  uint64_t memory_limit;  /* GOMEMLIMIT, UINT64_MAX-like when off */
  uint64_t num_finalizers_run;
  uint32_t num_minor_gc; /* of num_gc, minor cycles (GOMEM_GC=generational) */
  uint32_t gc_mode;      /* 1: generational (minor cycles possible); 2: concurrent marking;
                            0: every cycle full and stopped for its whole mark */

  /* Processors (Ps): allocation contexts that threads hold. */
  uint32_t num_p;        /* Ps made so far (thread Ps and shared per-CPU Ps) */
  uint32_t num_p_in_use; /* Ps held by live threads */

  /* Per size class of the manual heap (malloc), index = class; class 0 =
   * objects over 32 KiB. */
  gomem_size_class_stats by_size[GOMEM_NUM_SIZE_CLASSES];
  /* Per size class of the collected heap (Go's table). */
  gomem_size_class_stats gc_by_size[GOMEM_NUM_SIZE_CLASSES];
} gomem_stats;

/* Fills *stats. It takes no lock that a collection holds, makes no system
 * call and does not walk the heap: it sums counters kept per P (threads that
 * allocate; pooled when they exit) and per size class, about 4,300
 * instructions with one P (a few hundred ns; about 8,900 once the collector
 * is in use) and 800-1,500 more per P, whatever the heap's size. Figures of
 * other threads are read while they run and may be a few objects stale. */
GOMEM_API void gomem_read_stats(gomem_stats* stats);
/* The figures programs poll most, without filling a gomem_stats. None takes
 * a lock a collection holds or makes a system call.
 *   gomem_heap_alloc  = heap_alloc: bytes of live objects, manual and
 *                       collected; sums the same counters (about 2,000
 *                       instructions with one P, 900 more per P);
 *   gomem_heap_sys    = heap_sys (one load);
 *   gomem_gc_live     = gc_heap_live: bytes the last cycle marked (one load);
 *   gomem_gc_count    = num_gc: cycles completed (one load). */
GOMEM_API uint64_t gomem_heap_alloc(void);
GOMEM_API uint64_t gomem_heap_sys(void);
GOMEM_API uint64_t gomem_gc_live(void);
GOMEM_API uint32_t gomem_gc_count(void);
/* Writes a human-readable report of the statistics to file descriptor fd. */
GOMEM_API void gomem_print_stats(int fd);

/* ---------------------------------------------------------------------------
 * Heap profiles (docs/profiling.md).
 * ------------------------------------------------------------------------- */
/* Sampled allocation profiling, Go's way: on average one sample per `bytes`
 * allocated (each allocation of n bytes is sampled with probability
 * 1 - exp(-n/bytes)), manual and collected heaps alike; 0 turns it off (the
 * default; GOMEM_PROFILE_RATE sets it at start-up, and GOMEM_HEAP_PROFILE
 * alone sets Go's 524288). Off, it costs nothing on malloc's and free's fast
 * paths. A sampled object records its call stack (frame pointers: build the
 * program with -fno-omit-frame-pointer for whole stacks); the profile
 * counts it until free() or the collector frees it. A sampled small object
 * takes a page of its own (at 512 KiB, ~1.6 % more memory). Returns the
 * previous rate. */
GOMEM_API uint64_t gomem_set_profile_rate(uint64_t bytes);
GOMEM_API uint64_t gomem_profile_rate(void);
/* Writes the heap profile to fd in pprof's format (gzipped profile.proto:
 * `go tool pprof -top FILE`): alloc_objects, alloc_space, inuse_objects and
 * inuse_space per call stack, scaled from the samples, each sample labelled
 * kind=gc or kind=manual; functions named from the loaded objects' ELF
 * symbol tables. Does not call malloc; may be called from any thread, not
 * from a signal handler. Returns 0, or -1 when memory for the tables could
 * not be mapped. With GOMEM_HEAP_PROFILE=FILE (%p: the process id) the
 * library writes FILE at exit if it sampled anything, and FILE.1, FILE.2,
 * ... on SIGUSR2 and every GOMEM_HEAP_PROFILE_EVERY_MB megabytes of heap
 * growth (docs/profiling.md). */
GOMEM_API int gomem_write_heap_profile(int fd);

/* Walks the whole heap and checks its invariants (every span, every page of
 * the page map, free lists, counters). Returns the number of spans checked;
 * on a violation prints what is wrong and aborts. Other threads must not
 * allocate or free while it runs. */
GOMEM_API long gomem_check_heap(void);

/* ---------------------------------------------------------------------------
 * Warnings (added for the Boehm GC layer, src/compat/boehm).
 * ------------------------------------------------------------------------- */
/* Non-fatal diagnostics (today: a collected allocation that failed for lack
 * of memory, with the heap's figures) go to fn instead of standard error;
 * NULL restores standard error. msg is one NUL-terminated line, ending in a
 * newline, valid only during the call. fn runs on the thread that hit the
 * condition, outside gomem's locks; it may allocate but must not free the
 * object being reported. Returns the previous fn (NULL = standard error).
 * Fatal faults (bad free, corruption) still print and abort, and warnings
 * raised while the world is stopped (a root range found unmapped) still go
 * to standard error. */
typedef void (*gomem_warn_fn)(const char* msg);
GOMEM_API gomem_warn_fn gomem_set_warn_fn(gomem_warn_fn fn);

/* Root callbacks (for the Boehm GC layer's mark procedures, Guile's among
 * them): memory the collector cannot find by itself (a language's stacks in
 * mmap'ed memory, reachable only through the program's own bookkeeping).
 * Every collection calls fn(arg) while it marks its roots, with the world
 * stopped, on the collecting thread; fn reads the program's data and names
 * what to scan with gomem_gc_mark_range, and must not allocate, free, take
 * a lock another thread may hold, or call any other gomem function but
 * gomem_weak_get, gomem_gc_base, gomem_kind and gomem_usable_size.
 * Callbacks cannot be removed; at most 16. Returns 0, or -1 when fn is NULL
 * or the table is full. */
typedef void (*gomem_root_fn)(void* arg);
GOMEM_API int gomem_gc_add_root_fn(gomem_root_fn fn, void* arg);
/* The cycle-start callback (for the Boehm GC layer's toggle references and
 * GC_set_start_callback): every collection, automatic or gomem_gc_collect,
 * calls fn() first, on the thread that starts it (an allocating thread,
 * the caller of gomem_gc_collect, or gomem's scavenger), while the world
 * runs and before it takes any lock of gomem's: fn may allocate, free and
 * take the program's locks. A collection that fn's own allocations start
 * does not call it again. Several threads may call fn at once; a thread
 * that finds a collection just done calls it too. One callback; NULL
 * removes it. Returns the previous one. */
typedef void (*gomem_cycle_start_fn)(void);
GOMEM_API gomem_cycle_start_fn gomem_gc_set_cycle_start_fn(gomem_cycle_start_fn fn);
/* Inside a root callback: scans [lo, hi) conservatively, like a registered
 * root range (every word that points into a collected object keeps it
 * alive). Anywhere else it is a fault: message and abort. */
GOMEM_API void gomem_gc_mark_range(const void* lo, const void* hi);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GOMEM_GOMEM_H */
