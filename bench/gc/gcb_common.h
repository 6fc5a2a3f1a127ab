/*
 * gcb_common.h: the pieces shared by the C variants of the GC benchmarks.
 *
 * Each benchmark source is compiled three times, with exactly one of
 *   GCB_GOMEM   nodes from gomem_gc_alloc / gomem_gc_alloc_noscan, never freed
 *   GCB_BOEHM   nodes from GC_MALLOC / GC_MALLOC_ATOMIC, never freed
 *   GCB_MALLOC  nodes from malloc, released with free (explicit management)
 * defined. This header provides, for the selected variant:
 *   gcb_init()            collector set-up, pause recording
 *   gcb_alloc(n)          a (scanned) object of n bytes, fields must be set
 *   gcb_alloc_noscan(n)   a pointer-free object of n bytes
 *   GCB_FREE(p)           free(p) for malloc, nothing for the collectors
 *   gcb_poll()            harvest pause and stall times the collector keeps
 *                         in a ring (gomem); cheap, call it every now and then
 *                         (from one thread at a time)
 *   gcb_poll_keep         how many of the latest cycles a poll leaves for the
 *                         next one: 0, or 1 in multi-threaded benchmarks
 *   gcb_report(bench, depth, seconds)
 *                         prints the machine-readable RESULT line
 * The RESULT line goes to stdout, last; everything else a benchmark prints
 * on stdout must be identical across variants (the runner compares it).
 */
#ifndef GCB_COMMON_H
#define GCB_COMMON_H

#define _GNU_SOURCE 1
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if (defined(GCB_GOMEM) + defined(GCB_BOEHM) + defined(GCB_MALLOC)) != 1
#error "define exactly one of GCB_GOMEM, GCB_BOEHM, GCB_MALLOC"
#endif

static inline uint64_t gcb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void gcb_die(const char *what) {
  fprintf(stderr, "FATAL: %s\n", what);
  fflush(stdout);
  exit(2);
}

/* ---------------------------------------------------------------------------
 * Pause and stall logs. Kept in anonymous mappings: not in .bss (a
 * conservative collector would scan it as a root on every cycle), not in the
 * collected heap, and never allocated from inside a collector callback.
 * A stall is the latency the program saw for a collection: its pause, or,
 * when longer, the time its thread waited for a concurrent cycle it had
 * outrun (gomem_stats.wait_ns, GOMEM_GC=concurrent). Collectors with no
 * separate wait (Boehm, malloc) log their pauses as their stalls.
 * ------------------------------------------------------------------------- */
#define GCB_MAX_PAUSES (1u << 20)
static uint64_t *gcb_pauses;      /* ns, one entry per collection */
static uint64_t gcb_npauses;      /* entries recorded */
static uint64_t gcb_pauses_lost;  /* cycles whose pause we could not see */
static uint64_t *gcb_stalls;      /* ns, per collection max(pause, longest wait) */
static uint64_t gcb_nstalls;      /* entries recorded */
/* gomem: cycles gcb_poll leaves unharvested (a stall is charged to the last
 * finished cycle by the stalled thread when it goes on, which in a
 * multi-threaded program may come after another thread's poll). */
static uint32_t gcb_poll_keep;

static uint64_t *gcb_map_log(void) {
  void *p = mmap(NULL, GCB_MAX_PAUSES * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) gcb_die("mmap of the pause log failed");
  return (uint64_t *)p;
}

static void gcb_pauses_init(void) {
  gcb_pauses = gcb_map_log();
  gcb_stalls = gcb_map_log();
}

static inline void gcb_pause_add(uint64_t ns) {
  if (gcb_npauses < GCB_MAX_PAUSES)
    gcb_pauses[gcb_npauses++] = ns;
  else
    gcb_pauses_lost++;
}

static int gcb_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted log of n entries, in ms (0 when
 * empty). */
static double gcb_pct_ms(const uint64_t *log, uint64_t n, double q) {
  if (n == 0) return 0.0;
  uint64_t rank = (uint64_t)(q * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return (double)log[rank - 1] / 1e6;
}

/* ---------------------------------------------------------------------------
 * Variants.
 * ------------------------------------------------------------------------- */
#if defined(GCB_GOMEM)
#include <gomem/gomem.h>
#define GCB_VARIANT "gomem"
#define GCB_EXPLICIT_FREE 0

static gomem_stats *gcb_stats; /* ~6 KiB: mapped, not on the stack */
static uint32_t gcb_seen_gc;   /* cycles whose pause has been harvested */

static void gcb_init(void) {
  gcb_pauses_init();
  gcb_stats = (gomem_stats *)mmap(NULL, sizeof(gomem_stats), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (gcb_stats == MAP_FAILED) gcb_die("mmap failed");
  gomem_read_stats(gcb_stats);
  gcb_seen_gc = gcb_stats->num_gc;
}

static inline void *gcb_alloc(size_t n) {
  void *p = gomem_gc_alloc(n);
  if (!p) gcb_die("gomem_gc_alloc returned NULL");
  return p;
}
static inline void *gcb_alloc_noscan(size_t n) {
  void *p = gomem_gc_alloc_noscan(n);
  if (!p) gcb_die("gomem_gc_alloc_noscan returned NULL");
  return p;
}
#define GCB_FREE(p) ((void)(p))

/* gomem keeps the last GOMEM_NUM_PAUSES pauses, cycle k at pause_ns[k % 256]
 * (latest at [(num_gc+255)%256]), and the longest stall charged to it at
 * wait_ns[k % 256]; copy the ones we have not seen yet, but the latest
 * gcb_poll_keep. A stall is charged to the last finished cycle by the
 * stalled thread before it allocates again: in a single-threaded benchmark
 * a poll sees it; in a multi-threaded one, the poll after next does. */
static void gcb_poll(void) {
  gomem_read_stats(gcb_stats);
  uint32_t n = gcb_stats->num_gc;
  if ((uint32_t)(n - gcb_seen_gc) <= gcb_poll_keep) return;
  for (uint32_t upto = n - gcb_poll_keep; gcb_seen_gc != upto; gcb_seen_gc++) {
    if ((uint32_t)(n - gcb_seen_gc) > GOMEM_NUM_PAUSES) {
      gcb_pauses_lost++;
      continue;
    }
    uint64_t pause = gcb_stats->pause_ns[gcb_seen_gc % GOMEM_NUM_PAUSES];
    uint64_t wait = gcb_stats->wait_ns[gcb_seen_gc % GOMEM_NUM_PAUSES];
    gcb_pause_add(pause);
    if (gcb_nstalls < GCB_MAX_PAUSES) gcb_stalls[gcb_nstalls++] = wait > pause ? wait : pause;
  }
}

static uint64_t gcb_cycles(void) { return gcb_stats->num_gc; }
static double gcb_pause_total_ms(void) { return (double)gcb_stats->pause_total_ns / 1e6; }
static double gcb_heap_mb(void) { return (double)gcb_stats->heap_sys / 1048576.0; }
/* Go's GCCPUFraction: the collector's CPU time over all CPUs' time since start. */
static double gcb_gc_cpu_pct(double seconds) {
  (void)seconds;
  return 100.0 * gcb_stats->gc_cpu_fraction;
}

#elif defined(GCB_BOEHM)
#include <gc.h>
#define GCB_VARIANT "boehm"
#define GCB_EXPLICIT_FREE 0

/* A pause is the stop-the-world interval: GC_EVENT_PRE_STOP_WORLD to
 * GC_EVENT_POST_START_WORLD. Builds without threads have no world to stop;
 * there, GC_EVENT_START to GC_EVENT_END (the whole collection) is used. */
static uint64_t gcb_stw_begin, gcb_gc_begin;
static uint64_t gcb_stw_count;
static uint64_t *gcb_whole;  /* fallback log: whole collections */
static uint64_t gcb_gc_no0;  /* GC_INIT itself runs one collection */
static uint64_t gcb_nwhole;

static void gcb_on_event(GC_EventType e) {
  switch (e) {
    case GC_EVENT_PRE_STOP_WORLD: gcb_stw_begin = gcb_now_ns(); break;
    case GC_EVENT_POST_START_WORLD:
      if (gcb_stw_begin) {
        gcb_pause_add(gcb_now_ns() - gcb_stw_begin);
        gcb_stw_begin = 0;
        gcb_stw_count++;
      }
      break;
    case GC_EVENT_START: gcb_gc_begin = gcb_now_ns(); break;
    case GC_EVENT_END:
      if (gcb_gc_begin && gcb_nwhole < GCB_MAX_PAUSES)
        gcb_whole[gcb_nwhole++] = gcb_now_ns() - gcb_gc_begin;
      gcb_gc_begin = 0;
      break;
    default: break;
  }
}

static void gcb_init(void) {
  GC_INIT();
  gcb_pauses_init();
  gcb_whole = (uint64_t *)mmap(NULL, GCB_MAX_PAUSES * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (gcb_whole == MAP_FAILED) gcb_die("mmap failed");
  GC_set_on_collection_event(gcb_on_event);
  gcb_gc_no0 = GC_get_gc_no();
}

static inline void *gcb_alloc(size_t n) {
  void *p = GC_MALLOC(n);
  if (!p) gcb_die("GC_MALLOC returned NULL");
  return p;
}
static inline void *gcb_alloc_noscan(size_t n) {
  void *p = GC_MALLOC_ATOMIC(n);
  if (!p) gcb_die("GC_MALLOC_ATOMIC returned NULL");
  return p;
}
#define GCB_FREE(p) ((void)(p))

static void gcb_poll(void) {
  if (gcb_stw_count == 0 && gcb_nwhole > 0) { /* no stop-world events seen */
    memcpy(gcb_pauses, gcb_whole, gcb_nwhole * sizeof(uint64_t));
    gcb_npauses = gcb_nwhole;
  }
}
static uint64_t gcb_cycles(void) { return GC_get_gc_no() - gcb_gc_no0; }
static double gcb_pause_total_ms(void) {
  uint64_t s = 0;
  for (uint64_t i = 0; i < gcb_npauses; i++) s += gcb_pauses[i];
  return (double)s / 1e6;
}
static double gcb_heap_mb(void) { return (double)GC_get_heap_size() / 1048576.0; }
/* Boehm reports no CPU figure: its collections run with the world stopped
 * and every marker busy, so the stopped share of the run stands in for it. */
static double gcb_gc_cpu_pct(double seconds) {
  return seconds > 0 ? 100.0 * gcb_pause_total_ms() / 1e3 / seconds : 0.0;
}

#else /* GCB_MALLOC */
#define GCB_VARIANT "malloc"
#define GCB_EXPLICIT_FREE 1

static void gcb_init(void) { gcb_pauses_init(); }
static inline void *gcb_alloc(size_t n) {
  void *p = malloc(n);
  if (!p) gcb_die("malloc returned NULL");
  return p;
}
static inline void *gcb_alloc_noscan(size_t n) { return gcb_alloc(n); }
#define GCB_FREE(p) free(p)
static void gcb_poll(void) {}
static uint64_t gcb_cycles(void) { return 0; }
static double gcb_pause_total_ms(void) { return 0.0; }
static double gcb_heap_mb(void) { return 0.0; }
static double gcb_gc_cpu_pct(double seconds) {
  (void)seconds;
  return 0.0;
}
#endif

/* The one machine-readable line, printed last on stdout. */
static void gcb_report(const char *bench, int depth, double seconds) {
  gcb_poll_keep = 0; /* every thread has gone on: harvest the rest */
  gcb_poll();
#if !defined(GCB_GOMEM)
  memcpy(gcb_stalls, gcb_pauses, gcb_npauses * sizeof(uint64_t)); /* no separate wait */
  gcb_nstalls = gcb_npauses;
#endif
  qsort(gcb_pauses, gcb_npauses, sizeof(uint64_t), gcb_cmp_u64);
  qsort(gcb_stalls, gcb_nstalls, sizeof(uint64_t), gcb_cmp_u64);
  const uint64_t *p = gcb_pauses, *s = gcb_stalls;
  uint64_t np = gcb_npauses, ns = gcb_nstalls;
  printf("RESULT variant=%s bench=%s depth=%d time_s=%.3f gc_cycles=%" PRIu64
         " pauses=%" PRIu64 " pauses_lost=%" PRIu64
         " pause_p50_ms=%.3f pause_p99_ms=%.3f pause_max_ms=%.3f"
         " pause_total_ms=%.3f stall_p50_ms=%.3f stall_p99_ms=%.3f stall_max_ms=%.3f"
         " heap_mb=%.1f gc_cpu_pct=%.1f",
         GCB_VARIANT, bench, depth, seconds, gcb_cycles(), gcb_npauses, gcb_pauses_lost,
         gcb_pct_ms(p, np, 0.50), gcb_pct_ms(p, np, 0.99), gcb_pct_ms(p, np, 1.0),
         gcb_pause_total_ms(), gcb_pct_ms(s, ns, 0.50), gcb_pct_ms(s, ns, 0.99),
         gcb_pct_ms(s, ns, 1.0), gcb_heap_mb(), gcb_gc_cpu_pct(seconds));
#if defined(GCB_GOMEM)
  /* The sum of every stall (gomem_stats.wait_total_ns): time program threads
   * waited for concurrent cycles they outran, all threads together. */
  printf(" wait_total_ms=%.3f", (double)gcb_stats->wait_total_ns / 1e6);
#endif
  printf("\n");
  fflush(stdout);
}

#endif /* GCB_COMMON_H */
