/*
 * mstress: thread churn (in the spirit of mimalloc's mstress; own code).
 *
 * The run is a sequence of waves. Each wave starts T short-lived threads and
 * joins them. A thread of wave w:
 *   1. frees the K survivors left by thread (i+1) mod T of wave w-1 (a thread
 *      that has exited: cross-thread frees of a dead thread's objects);
 *   2. churns a private working set of L slots with random sizes (mostly
 *      small, some up to 64 KiB), then frees all but K objects, which it
 *      leaves behind as survivors for the next wave;
 *   3. swaps a few objects into a global pool of long-lived objects (under a
 *      lock), freeing the ones it takes out: pool objects outlive many
 *      waves and are freed by arbitrary later threads.
 * This stresses per-thread cache creation and teardown, and the reclamation
 * of memory owned by threads that have gone.
 */
#include <pthread.h>

#include "common.h"

BENCH_MAIN_DEFS

static int g_threads;
static long g_live, g_ops, g_keep, g_pool_n, g_swaps;
static uint64_t g_seed;
static void **g_surv[2]; /* [2][threads * keep] */
static void **g_pool;
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_sum;
static pthread_mutex_t g_sum_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
  int id;
  long wave;
} thr_t;

static size_t pick_size(rng_t *r) {
  uint64_t k = rng_below(r, 100);
  if (k < 80) return (size_t)rng_range(r, 16, 256);
  if (k < 98) return (size_t)rng_range(r, 257, 4096);
  return (size_t)rng_range(r, 4097, 65536);
}

static void *worker(void *arg) {
  thr_t *t = (thr_t *)arg;
  rng_t rng;
  rng_seed(&rng, g_seed ^ ((uint64_t)t->wave << 20) ^ (uint64_t)t->id);
  uint64_t tag = ((uint64_t)t->wave << 24 | (uint64_t)t->id << 16) << 24;
  uint64_t sum = 0;

  /* 1. Survivors of the previous wave's neighbour. */
  if (t->wave > 0) {
    void **prev = g_surv[(t->wave - 1) & 1] + (long)((t->id + 1) % g_threads) * g_keep;
    for (long k = 0; k < g_keep; k++) {
      sum += obj_free(prev[k]);
      prev[k] = NULL;
    }
  }

  /* 2. Private churn. */
  void **live = (void **)malloc(sizeof(void *) * (size_t)g_live);
  for (long i = 0; i < g_live; i++) live[i] = obj_new(pick_size(&rng), tag++);
  for (long op = 0; op < g_ops; op++) {
    long i = (long)rng_below(&rng, (uint64_t)g_live);
    sum += obj_free(live[i]);
    live[i] = obj_new(pick_size(&rng), tag++);
  }
  void **mine = g_surv[t->wave & 1] + (long)t->id * g_keep;
  for (long i = 0; i < g_live; i++) {
    if (i < g_keep) mine[i] = live[i];
    else sum += obj_free(live[i]);
  }
  free(live);

  /* 3. Long-lived pool. */
  for (long s = 0; s < g_swaps; s++) {
    void *fresh = obj_new(pick_size(&rng), tag++);
    long i = (long)rng_below(&rng, (uint64_t)g_pool_n);
    pthread_mutex_lock(&g_pool_mu);
    void *old = g_pool[i];
    g_pool[i] = fresh;
    pthread_mutex_unlock(&g_pool_mu);
    if (old) sum += obj_free(old);
  }

  pthread_mutex_lock(&g_sum_mu);
  g_sum += sum;
  pthread_mutex_unlock(&g_sum_mu);
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"waves", 10, 100, "waves of short-lived threads", 0},
      {"threads", 4, 8, "threads per wave", 0},
      {"live", 200, 2000, "private working set per thread", 0},
      {"ops", 2000, 25000, "replacements in the private working set", 0},
      {"keep", 20, 200, "objects each thread leaves to the next wave (<= live)", 0},
      {"pool", 1000, 20000, "slots in the global long-lived pool", 0},
      {"swaps", 50, 500, "pool replacements per thread", 0},
      {"seed", 11, 11, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("mstress", "thread churn: waves of short-lived threads, survivors freed later", ps,
               np, argc, argv);
  long waves = bench_get(ps, np, "waves");
  g_threads = (int)bench_get(ps, np, "threads");
  g_live = bench_get(ps, np, "live");
  g_ops = bench_get(ps, np, "ops");
  g_keep = bench_get(ps, np, "keep");
  g_pool_n = bench_get(ps, np, "pool");
  g_swaps = bench_get(ps, np, "swaps");
  g_seed = (uint64_t)bench_get(ps, np, "seed");
  if (g_threads < 1 || g_live < 1 || g_keep > g_live || g_keep < 0 || g_pool_n < 1) {
    fprintf(stderr, "mstress: bad parameters\n");
    return 2;
  }
  for (int b = 0; b < 2; b++)
    g_surv[b] = (void **)calloc((size_t)g_threads * (size_t)g_keep + 1, sizeof(void *));
  g_pool = (void **)calloc((size_t)g_pool_n, sizeof(void *));
  thr_t *ts = (thr_t *)calloc((size_t)g_threads, sizeof(thr_t));
  pthread_t *tids = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)g_threads);

  double t0 = bench_now();
  for (long w = 0; w < waves; w++) {
    for (int i = 0; i < g_threads; i++) {
      ts[i].id = i;
      ts[i].wave = w;
      if (pthread_create(&tids[i], NULL, worker, &ts[i])) {
        perror("pthread_create");
        return 4;
      }
    }
    for (int i = 0; i < g_threads; i++) pthread_join(tids[i], NULL);
  }
  /* Free what is left: the last wave's survivors and the pool. */
  uint64_t sum = g_sum;
  for (int b = 0; b < 2; b++) {
    for (long k = 0; k < (long)g_threads * g_keep; k++)
      if (g_surv[b][k]) sum += obj_free(g_surv[b][k]);
    free(g_surv[b]);
  }
  for (long i = 0; i < g_pool_n; i++)
    if (g_pool[i]) sum += obj_free(g_pool[i]);
  double t1 = bench_now();
  free(g_pool);
  free(ts);
  free(tids);
  printf("threads_started=%ld\n", waves * g_threads);
  return bench_finish(sum, t1 - t0);
}
