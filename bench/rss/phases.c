/*
 * phases: the workload of the RSS-over-time benchmark (bench/rss).
 *
 * A multi-threaded program whose live heap rises, falls and stays low, so
 * that the RSS an allocator keeps can be compared with what the program holds
 * at every moment. Plain malloc/free only: the allocator is swapped in with
 * LD_PRELOAD. `threads` workers (default 4, more than the 2 cores of the
 * benchmark machine) do every work phase; half of them ("persistent") live
 * for the whole run, the other half are created for one work phase and exit
 * at its end, so an allocator must give back the caches of dead threads.
 *
 *   phase 1  ramp    every worker allocates its share of peak_mb of mixed
 *                    objects, interleaved: half the bytes (large_pct) in large
 *                    objects of 64 KiB..4 MiB, the rest in small ones of
 *                    16 B..4 KiB (both log-uniform); every page is touched.
 *                    The transient workers exit.
 *            hold    hold_ms of steady churn at the peak: the persistent
 *                    workers replace random objects (of every worker's) with
 *                    new ones of the same kind, a few every millisecond.
 *   phase 2  free    everything but keep_pct % of the objects (chosen at
 *                    random) is freed in random order by the persistent
 *                    workers and new transient ones; ~3/4 of the frees are of
 *                    another thread's objects. The transient workers exit.
 *   phase 3  quiet   quiet_ms of a little steady churn by the persistent
 *                    workers (a few small objects a millisecond, a 64..256 KiB
 *                    one every 50 ms); the process is otherwise idle.
 *            regrow  every worker (new transient ones) allocates its share of
 *                    regrow_pct % of the peak; transient workers exit;
 *            refree  the regrowth is freed again at random, by every worker;
 *            tail    tail_ms of the same little churn as quiet.
 *   teardown         everything is freed and checked; the report is printed.
 *
 * The program reports its live heap (the bytes it holds from malloc, its own
 * bookkeeping arrays included) through a page shared with the sampler
 * (rss_shared.h; RSS_LIVE_FD in the environment, else a private page), and
 * prints a timeline on stdout, one line per phase:
 *   event phase=<name> idx=<n> t=<CLOCK_MONOTONIC seconds> live=<bytes>
 * followed by per-phase durations and the usual closing lines of the
 * benchmark workloads (checksum=, malloc_lib=, work_s=, vmhwm_kb=; see
 * bench/workloads/common.h). work_s is the time of the allocation-heavy
 * phases (ramp, free, regrow, refree); the churn phases last a fixed time.
 *
 * Every object is filled on allocation and verified when freed; the checksum
 * depends only on the parameters (every random choice comes from a generator
 * seeded by phase and share of the work, never by thread timing), so it is
 * the same under every allocator. Churn phases do a fixed number of steps,
 * one per millisecond (catching up without sleeping when behind).
 */
#include "common.h"
#include "rss_shared.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

BENCH_MAIN_DEFS

#define SMALL_MIN 16
#define SMALL_MAX 4096
#define LARGE_MIN (64 << 10)
#define LARGE_MAX (4 << 20)
#define MAX_THREADS 32
#define STEP_NS 1000000LL /* churn step */
/* Churn at the peak, per persistent worker and step. */
#define HOLD_SMALL_PER_STEP 16
#define HOLD_LARGE_EVERY 10
/* Churn in the quiet phases, per persistent worker. */
#define QUIET_SMALL_PER_STEP 4
#define QUIET_RING 512
#define QUIET_LARGE_EVERY 50
#define QUIET_LRING 4
#define QUIET_LARGE_MAX (256 << 10)

typedef struct {
  void *p;
  size_t size;
} obj_t;

typedef struct {
  obj_t *v;
  size_t n, cap;
} table_t;

typedef struct task {
  int phase, part, slot;
  rng_t rng;
  uint64_t tag;
  uint64_t csum, nalloc, nfree;
} task_t;

typedef void (*task_fn)(task_t *);

/* Parameters. */
static long n_threads, n_persist, peak_mb, large_pct, keep_pct, hold_ms, quiet_ms, regrow_pct,
    tail_ms, seed;

static volatile struct rss_shared *shm;
static uint64_t g_csum, g_nalloc, g_nfree;

/* Objects of the ramp (one small and one large table per worker share) and
 * of the regrowth. */
static table_t ramp_t[2 * MAX_THREADS], regrow_t[2 * MAX_THREADS];
/* A random order of every object of a set of tables: (table << 32) | index. */
static uint64_t *perm;
static size_t perm_n;
/* Rings of the quiet churn, one per persistent worker. */
static obj_t ring_small[MAX_THREADS][QUIET_RING], ring_large[MAX_THREADS][QUIET_LRING];
static long long phase_t0_ns;

/* --------------------------------------------------------------- helpers */
static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until_ns(long long t) {
  struct timespec ts = {(time_t)(t / 1000000000LL), (long)(t % 1000000000LL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static inline void live_add(const task_t *t, int64_t d) {
  volatile int64_t *c = &shm->slot[t->slot].live;
  __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

static int64_t live_now(void) { return rss_live_sum(shm); }

static void *xmalloc_counted(task_t *t, size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "phases: malloc(%zu) failed\n", n);
    exit(4);
  }
  live_add(t, (int64_t)n);
  return p;
}

static void free_counted(task_t *t, void *p, size_t n) {
  free(p);
  live_add(t, -(int64_t)n);
}

/* A new test object of `size` bytes, every page of it written. */
static void *obj_make(task_t *t, size_t size) {
  unsigned char *p = (unsigned char *)obj_new(size, t->tag++);
  volatile unsigned char *b = p;
  /* obj_fill wrote the first 64 and the last 8 bytes; one byte per page
   * in between makes the whole object resident. */
  for (size_t off = 4096; off + 8 < size; off += 4096) b[off] = (unsigned char)(off >> 12);
  live_add(t, (int64_t)size);
  t->nalloc++;
  return p;
}

static void obj_drop(task_t *t, void *p, size_t size) {
  size_t got = 0;
  t->csum += obj_verify(p, &got);
  if (got != size) obj_report_corruption(p, size, 0, "size");
  free(p);
  live_add(t, -(int64_t)size);
  t->nfree++;
}

static size_t small_size(rng_t *r) { return (size_t)rng_logrange(r, SMALL_MIN, SMALL_MAX); }
static size_t large_size(rng_t *r) { return (size_t)rng_logrange(r, LARGE_MIN, LARGE_MAX); }

static void table_push(task_t *t, table_t *tb, void *p, size_t size) {
  if (tb->n == tb->cap) {
    size_t ncap = tb->cap ? tb->cap * 2 : 1024;
    obj_t *nv = (obj_t *)realloc(tb->v, ncap * sizeof(obj_t));
    if (!nv) {
      fprintf(stderr, "phases: realloc failed\n");
      exit(4);
    }
    live_add(t, (int64_t)((ncap - tb->cap) * sizeof(obj_t)));
    tb->v = nv;
    tb->cap = ncap;
  }
  tb->v[tb->n].p = p;
  tb->v[tb->n].size = size;
  tb->n++;
}

static void table_release(task_t *t, table_t *tb) {
  if (tb->v) free_counted(t, tb->v, tb->cap * sizeof(obj_t));
  memset(tb, 0, sizeof *tb);
}

/* Allocates `budget` bytes of mixed objects into (small, large). */
static void fill_tables(task_t *t, table_t *ts, table_t *tl, uint64_t budget) {
  uint64_t lb = budget * (uint64_t)large_pct / 100, sb = budget - lb, sd = 0, ld = 0;
  while (sd < sb || ld < lb) {
    /* Whichever kind is further behind its share goes next. */
    int large = ld < lb && (sd >= sb || (unsigned __int128)ld * sb <= (unsigned __int128)sd * lb);
    size_t size = large ? large_size(&t->rng) : small_size(&t->rng);
    table_push(t, large ? tl : ts, obj_make(t, size), size);
    if (large) ld += size;
    else sd += size;
  }
}

static int kept(uint64_t id) {
  return bench_mix((uint64_t)seed * 0x9e3779b97f4a7c15ULL ^ id) % 100 < (uint64_t)keep_pct;
}

/* Builds perm: every object of tables[0..nt) in a random order. */
static void perm_build(task_t *t, table_t *tables, int nt) {
  size_t n = 0;
  for (int i = 0; i < nt; i++) n += tables[i].n;
  perm = (uint64_t *)xmalloc_counted(t, (n ? n : 1) * sizeof(uint64_t));
  perm_n = 0;
  for (int i = 0; i < nt; i++)
    for (size_t j = 0; j < tables[i].n; j++) perm[perm_n++] = ((uint64_t)i << 32) | j;
  for (size_t i = perm_n; i > 1; i--) {
    size_t j = (size_t)rng_below(&t->rng, i);
    uint64_t x = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = x;
  }
}

static void perm_release(task_t *t) {
  free_counted(t, perm, (perm_n ? perm_n : 1) * sizeof(uint64_t));
  perm = NULL;
  perm_n = 0;
}

/* Frees share t->part of perm over `tables` (all of it, or only the objects
 * that are not kept). */
static void free_share(task_t *t, table_t *tables, int keep) {
  size_t lo = perm_n * (size_t)t->part / (size_t)n_threads;
  size_t hi = perm_n * (size_t)(t->part + 1) / (size_t)n_threads;
  for (size_t i = lo; i < hi; i++) {
    uint64_t id = perm[i];
    obj_t *o = &tables[id >> 32].v[id & 0xffffffffu];
    if (keep && kept(id)) continue;
    obj_drop(t, o->p, o->size);
    o->p = NULL;
  }
}

/* ----------------------------------------------------------------- tasks */
static void task_ramp(task_t *t) {
  uint64_t budget = ((uint64_t)peak_mb << 20) / (uint64_t)n_threads;
  fill_tables(t, &ramp_t[2 * t->part], &ramp_t[2 * t->part + 1], budget);
}

static void replace(task_t *t, table_t *tb, int large) {
  if (tb->n == 0) return;
  obj_t *o = &tb->v[rng_below(&t->rng, tb->n)];
  obj_drop(t, o->p, o->size);
  o->size = large ? large_size(&t->rng) : small_size(&t->rng);
  o->p = obj_make(t, o->size);
}

/* Churn at the peak over the shares k, k + n_persist, ... */
static void task_hold(task_t *t) {
  long steps = hold_ms * 1000000LL / STEP_NS;
  long nshares = (n_threads - t->part + n_persist - 1) / n_persist;
  for (long s = 0; s < steps; s++) {
    sleep_until_ns(phase_t0_ns + s * STEP_NS);
    for (int j = 0; j < HOLD_SMALL_PER_STEP; j++) {
      long share = t->part + n_persist * (long)rng_below(&t->rng, (uint64_t)nshares);
      replace(t, &ramp_t[2 * share], 0);
    }
    if (s % HOLD_LARGE_EVERY == 0) {
      long share = t->part + n_persist * (long)rng_below(&t->rng, (uint64_t)nshares);
      replace(t, &ramp_t[2 * share + 1], 1);
    }
  }
}

static void task_free(task_t *t) { free_share(t, ramp_t, 1); }

/* The little churn of the quiet phases: a ring of small objects and one of
 * medium-sized ones per persistent worker. */
static void churn_quiet(task_t *t, long ms) {
  obj_t *rs = ring_small[t->part], *rl = ring_large[t->part];
  long steps = ms * 1000000LL / STEP_NS;
  for (long s = 0; s < steps; s++) {
    sleep_until_ns(phase_t0_ns + s * STEP_NS);
    for (int j = 0; j < QUIET_SMALL_PER_STEP; j++) {
      obj_t *o = &rs[(s * QUIET_SMALL_PER_STEP + j) % QUIET_RING];
      if (o->p) obj_drop(t, o->p, o->size);
      o->size = small_size(&t->rng);
      o->p = obj_make(t, o->size);
    }
    if (s % QUIET_LARGE_EVERY == 0) {
      obj_t *o = &rl[(s / QUIET_LARGE_EVERY) % QUIET_LRING];
      if (o->p) obj_drop(t, o->p, o->size);
      o->size = (size_t)rng_logrange(&t->rng, LARGE_MIN, QUIET_LARGE_MAX);
      o->p = obj_make(t, o->size);
    }
  }
}

static void task_quiet(task_t *t) { churn_quiet(t, quiet_ms); }
static void task_tail(task_t *t) { churn_quiet(t, tail_ms); }

static void task_regrow(task_t *t) {
  uint64_t budget = ((uint64_t)peak_mb << 20) * (uint64_t)regrow_pct / 100 / (uint64_t)n_threads;
  fill_tables(t, &regrow_t[2 * t->part], &regrow_t[2 * t->part + 1], budget);
}

static void task_refree(task_t *t) { free_share(t, regrow_t, 0); }

/* ------------------------------------------------------------- threading */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_job = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static uint64_t job_gen;
static task_fn job_fn;
static int job_phase, job_done;
static int next_transient;

static void task_init(task_t *t, int phase, int part, int slot) {
  memset(t, 0, sizeof *t);
  t->phase = phase;
  t->part = part;
  t->slot = slot;
  rng_seed(&t->rng, (uint64_t)seed * 1000003u + (uint64_t)phase * 4099u + (uint64_t)part);
  t->tag = ((uint64_t)phase << 56) | ((uint64_t)part << 48);
}

static void task_run(task_fn fn, int phase, int part, int slot) {
  task_t t;
  task_init(&t, phase, part, slot);
  fn(&t);
  __atomic_add_fetch(&g_csum, t.csum, __ATOMIC_RELAXED);
  __atomic_add_fetch(&g_nalloc, t.nalloc, __ATOMIC_RELAXED);
  __atomic_add_fetch(&g_nfree, t.nfree, __ATOMIC_RELAXED);
}

/* Persistent worker k: runs share k of every phase; slot 1 + k. */
static void *persistent_main(void *arg) {
  int k = (int)(intptr_t)arg;
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (job_gen == seen) pthread_cond_wait(&cv_job, &mu);
    seen = job_gen;
    task_fn fn = job_fn;
    int phase = job_phase;
    pthread_mutex_unlock(&mu);
    if (!fn) return NULL;
    task_run(fn, phase, k, 1 + k);
    pthread_mutex_lock(&mu);
    job_done++;
    pthread_cond_signal(&cv_done);
    pthread_mutex_unlock(&mu);
  }
}

typedef struct {
  task_fn fn;
  int phase, part, slot;
} transient_arg_t;

static void *transient_main(void *arg) {
  transient_arg_t *a = (transient_arg_t *)arg;
  task_run(a->fn, a->phase, a->part, a->slot);
  return NULL;
}

/* Runs fn in every persistent worker and, if `all`, in a transient thread
 * for every other share; returns when all of them are done. */
static void run_phase(task_fn fn, int phase, int all) {
  pthread_t th[MAX_THREADS];
  transient_arg_t args[MAX_THREADS];
  int nt = 0;
  phase_t0_ns = now_ns();
  pthread_mutex_lock(&mu);
  job_fn = fn;
  job_phase = phase;
  job_done = 0;
  job_gen++;
  pthread_cond_broadcast(&cv_job);
  pthread_mutex_unlock(&mu);
  if (all) {
    for (long p = n_persist; p < n_threads; p++, nt++) {
      /* Slots after the persistent workers', reused round-robin: a dead
       * thread's counter keeps its value and the next owner adds to it. */
      args[nt] = (transient_arg_t){fn, phase, (int)p,
                                   1 + (int)n_persist +
                                       next_transient++ % (RSS_SLOTS - 1 - (int)n_persist)};
      int e = pthread_create(&th[nt], NULL, transient_main, &args[nt]);
      if (e) {
        fprintf(stderr, "phases: pthread_create: %s\n", strerror(e));
        exit(5);
      }
    }
  }
  for (int i = 0; i < nt; i++) pthread_join(th[i], NULL);
  pthread_mutex_lock(&mu);
  while (job_done < n_persist) pthread_cond_wait(&cv_done, &mu);
  pthread_mutex_unlock(&mu);
}

/* ------------------------------------------------------------------ main */
static double phase_start[RSS_PHASE_COUNT + 1];

static void enter_phase(int ph) {
  double t = bench_now();
  phase_start[ph] = t;
  __atomic_store_n(&shm->phase, (int64_t)ph, __ATOMIC_RELEASE);
  printf("event phase=%s idx=%d t=%.6f live=%lld\n", rss_phase_names[ph], ph, t,
         (long long)live_now());
  fflush(stdout);
}

static void map_shared(void) {
  const char *fd_s = getenv(RSS_LIVE_FD_ENV);
  void *p = MAP_FAILED;
  if (fd_s && *fd_s) {
    int fd = atoi(fd_s);
    p = mmap(NULL, sizeof(struct rss_shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
      fprintf(stderr, "phases: cannot map %s=%s (%s); live heap not shared\n", RSS_LIVE_FD_ENV,
              fd_s, strerror(errno));
    close(fd);
  }
  if (p == MAP_FAILED)
    p = mmap(NULL, sizeof(struct rss_shared), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("phases: mmap");
    exit(4);
  }
  shm = (volatile struct rss_shared *)p;
  memset((void *)shm, 0, sizeof(struct rss_shared));
  shm->phase = RSS_PHASE_START;
  __atomic_store_n(&shm->magic, RSS_SHARED_MAGIC, __ATOMIC_RELEASE);
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"threads", 4, 4, "workers in every work phase; half live for the whole run", 0},
      {"peak_mb", 48, 1024, "live heap at the end of the ramp, MiB", 0},
      {"large_pct", 50, 50, "% of the bytes in large objects (64 KiB..4 MiB), else 16 B..4 KiB", 0},
      {"keep_pct", 10, 10, "% of the objects still live after the free phase", 0},
      {"hold_ms", 100, 1000, "steady churn at the peak, ms", 0},
      {"quiet_ms", 400, 3000, "quiet phase (a little churn), ms", 0},
      {"regrow_pct", 30, 30, "regrowth after the quiet phase, % of the peak", 0},
      {"tail_ms", 300, 3000, "quiet again after the regrowth is freed, ms", 0},
      {"seed", 1, 1, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  /* The shared page first: the sampler waits for its magic. */
  map_shared();
  bench_params("phases", "ramp to a peak, free 90 % at random, stay quiet, regrow 30 % and free it",
               ps, np, argc, argv);
  n_threads = bench_get(ps, np, "threads");
  peak_mb = bench_get(ps, np, "peak_mb");
  large_pct = bench_get(ps, np, "large_pct");
  keep_pct = bench_get(ps, np, "keep_pct");
  hold_ms = bench_get(ps, np, "hold_ms");
  quiet_ms = bench_get(ps, np, "quiet_ms");
  regrow_pct = bench_get(ps, np, "regrow_pct");
  tail_ms = bench_get(ps, np, "tail_ms");
  seed = bench_get(ps, np, "seed");
  if (n_threads < 2 || n_threads > MAX_THREADS || peak_mb < 1 || large_pct < 0 ||
      large_pct > 100 || keep_pct < 0 || keep_pct > 100 || hold_ms < 0 || quiet_ms < 0 ||
      regrow_pct < 0 || tail_ms < 0) {
    fprintf(stderr, "phases: bad parameters (threads 2..%d, percentages 0..100)\n", MAX_THREADS);
    return 2;
  }
  n_persist = n_threads / 2;

  task_t m; /* the main thread's own work: slot 0 */
  task_init(&m, RSS_PHASE_START, MAX_THREADS, 0);
  pthread_t persist[MAX_THREADS];
  for (long k = 0; k < n_persist; k++) {
    int e = pthread_create(&persist[k], NULL, persistent_main, (void *)(intptr_t)k);
    if (e) {
      fprintf(stderr, "phases: pthread_create: %s\n", strerror(e));
      return 5;
    }
  }

  enter_phase(RSS_PHASE_START);
  enter_phase(RSS_PHASE_RAMP);
  run_phase(task_ramp, RSS_PHASE_RAMP, 1);
  int64_t live_peak = live_now();

  enter_phase(RSS_PHASE_HOLD);
  run_phase(task_hold, RSS_PHASE_HOLD, 0);

  enter_phase(RSS_PHASE_FREE);
  perm_build(&m, ramp_t, 2 * (int)n_threads);
  run_phase(task_free, RSS_PHASE_FREE, 1);
  perm_release(&m);
  /* Compact the tables to the kept objects (the program's bookkeeping
   * shrinks with its heap). */
  for (int i = 0; i < 2 * n_threads; i++) {
    table_t nt = {0, 0, 0};
    for (size_t j = 0; j < ramp_t[i].n; j++)
      if (ramp_t[i].v[j].p) table_push(&m, &nt, ramp_t[i].v[j].p, ramp_t[i].v[j].size);
    table_release(&m, &ramp_t[i]);
    ramp_t[i] = nt;
  }
  int64_t live_after_free = live_now();

  enter_phase(RSS_PHASE_QUIET);
  run_phase(task_quiet, RSS_PHASE_QUIET, 0);

  enter_phase(RSS_PHASE_REGROW);
  run_phase(task_regrow, RSS_PHASE_REGROW, 1);
  int64_t live_regrow = live_now();

  enter_phase(RSS_PHASE_REFREE);
  perm_build(&m, regrow_t, 2 * (int)n_threads);
  run_phase(task_refree, RSS_PHASE_REFREE, 1);
  perm_release(&m);
  for (int i = 0; i < 2 * n_threads; i++) table_release(&m, &regrow_t[i]);

  enter_phase(RSS_PHASE_TAIL);
  run_phase(task_tail, RSS_PHASE_TAIL, 0);

  enter_phase(RSS_PHASE_TEARDOWN);
  pthread_mutex_lock(&mu);
  job_fn = NULL;
  job_gen++;
  pthread_cond_broadcast(&cv_job);
  pthread_mutex_unlock(&mu);
  for (long k = 0; k < n_persist; k++) pthread_join(persist[k], NULL);
  for (long k = 0; k < n_persist; k++) {
    for (int j = 0; j < QUIET_RING; j++)
      if (ring_small[k][j].p) obj_drop(&m, ring_small[k][j].p, ring_small[k][j].size);
    for (int j = 0; j < QUIET_LRING; j++)
      if (ring_large[k][j].p) obj_drop(&m, ring_large[k][j].p, ring_large[k][j].size);
  }
  for (int i = 0; i < 2 * n_threads; i++) {
    for (size_t j = 0; j < ramp_t[i].n; j++) obj_drop(&m, ramp_t[i].v[j].p, ramp_t[i].v[j].size);
    table_release(&m, &ramp_t[i]);
  }
  g_csum += m.csum;
  g_nalloc += m.nalloc;
  g_nfree += m.nfree;
  double t_end = bench_now();
  int64_t live_end = live_now();

  printf("event phase=end idx=%d t=%.6f live=%lld\n", RSS_PHASE_COUNT, t_end,
         (long long)live_end);
  phase_start[RSS_PHASE_COUNT] = t_end;
  for (int ph = RSS_PHASE_RAMP; ph < RSS_PHASE_COUNT; ph++)
    printf("%s%s_s=%.4f", ph == RSS_PHASE_RAMP ? "" : " ", rss_phase_names[ph],
           phase_start[ph + 1] - phase_start[ph]);
  printf("\nlive_peak_kb=%lld live_after_free_kb=%lld live_regrow_kb=%lld mallocs=%llu\n",
         (long long)(live_peak >> 10), (long long)(live_after_free >> 10),
         (long long)(live_regrow >> 10), (unsigned long long)g_nalloc);
  if (g_nalloc != g_nfree || live_end != 0) {
    fprintf(stderr, "phases: internal error: %llu objects allocated, %llu freed, %lld bytes live\n",
            (unsigned long long)g_nalloc, (unsigned long long)g_nfree, (long long)live_end);
    return 6;
  }
  double work = (phase_start[RSS_PHASE_HOLD] - phase_start[RSS_PHASE_RAMP]) +
                (phase_start[RSS_PHASE_QUIET] - phase_start[RSS_PHASE_FREE]) +
                (phase_start[RSS_PHASE_TAIL] - phase_start[RSS_PHASE_REGROW]);
  /* The checksum covers every object (tag and size), whichever thread freed it. */
  uint64_t sum = bench_mix(g_csum ^ g_nalloc);
  return bench_finish(sum, work);
}
