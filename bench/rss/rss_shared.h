/*
 * The page that bench/rss/phases shares with its sampler (rss_sample).
 *
 * rss_sample creates a memfd of sizeof(struct rss_shared) bytes, maps it, and
 * passes its descriptor to the workload in the environment variable
 * RSS_LIVE_FD. The workload maps the same memory and keeps there:
 *   - its current phase (RSS_PHASE_*), and
 *   - its live heap: the bytes it holds from malloc, as one counter per
 *     thread (each written by one thread at a time, so the workload pays no
 *     shared atomic per malloc); the live heap is the sum of all counters
 *     (a counter may be negative: a thread that frees another's objects).
 * The sampler reads both every few milliseconds, next to the process's RSS.
 * Aligned 8-byte loads and stores are atomic on x86-64 and AArch64, so a
 * reader sees every counter either before or after an update, never torn.
 *
 * `magic` is written last, once the rest is initialised: until it is there
 * the sampler records nothing (before exec, /proc/<pid> is the sampler's own
 * forked copy).
 */
#ifndef GOMEM_BENCH_RSS_SHARED_H
#define GOMEM_BENCH_RSS_SHARED_H

#include <stdint.h>

#define RSS_SHARED_MAGIC 0x316576696c737372ULL /* "rsslive1" */
#define RSS_SLOTS 64
#define RSS_LIVE_FD_ENV "RSS_LIVE_FD"

/* Phases, in order. The workload moves through every one of them. */
enum {
  RSS_PHASE_START = 0, /* process start-up, parameters, bookkeeping */
  RSS_PHASE_RAMP,      /* 1: all threads allocate up to the peak */
  RSS_PHASE_HOLD,      /* 1: a steady churn at the peak */
  RSS_PHASE_FREE,      /* 2: everything but keep_pct % freed at random */
  RSS_PHASE_QUIET,     /* 3: a little steady churn */
  RSS_PHASE_REGROW,    /* 3: all threads allocate regrow_pct % of the peak */
  RSS_PHASE_REFREE,    /* 3: the regrowth freed again */
  RSS_PHASE_TAIL,      /* 3: a little steady churn again */
  RSS_PHASE_TEARDOWN,  /* everything freed, checks, report */
  RSS_PHASE_COUNT
};

static const char *const rss_phase_names[RSS_PHASE_COUNT] = {
    "start", "ramp", "hold", "free", "quiet", "regrow", "refree", "tail", "teardown"};

struct rss_slot {
  int64_t live; /* bytes; written by one thread at a time */
  int64_t pad[7];
};

struct rss_shared {
  uint64_t magic;
  int64_t phase;
  int64_t pad[6];
  struct rss_slot slot[RSS_SLOTS];
};

static inline int64_t rss_live_sum(const volatile struct rss_shared *s) {
  int64_t sum = 0;
  for (int i = 0; i < RSS_SLOTS; i++) sum += __atomic_load_n(&s->slot[i].live, __ATOMIC_RELAXED);
  return sum;
}

#endif /* GOMEM_BENCH_RSS_SHARED_H */
