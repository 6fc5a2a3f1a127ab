/*
 * threads1000: memory that grows with threads.
 *
 * T threads (1,000 by default) are alive at the same time, each keeping K
 * small objects (2,560) spread evenly over 40 sizes (24, 48, ..., 960
 * bytes). Each thread allocates its objects, replaces K of them at random
 * (so its caches reach a steady state), then waits until every thread of its
 * wave has done the same: that is the moment of peak memory, the figure this
 * row is about (VmHWM). Then every thread verifies and frees its objects and
 * exits. Allocators with a cache per thread pay for it once per thread;
 * glibc pays per arena (8 per core). `wave` threads run at a time (default:
 * all of them) for machines where T threads' memory would not fit.
 *
 * Stacks are 128 KiB, so the figure is the allocator's, not the stacks'.
 */
#include <pthread.h>

#include "common.h"

BENCH_MAIN_DEFS

#define NSIZES 40

static long g_objs, g_seed;
static pthread_barrier_t g_barrier;

typedef struct worker {
  int id;
  uint64_t sum;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  rng_t rng;
  rng_seed(&rng, (uint64_t)g_seed * 1000003u + (uint64_t)w->id);
  void **objs = (void **)malloc((size_t)g_objs * sizeof(void *));
  if (!objs) abort();
  uint64_t tag = (uint64_t)w->id << 40;
  for (long i = 0; i < g_objs; i++) objs[i] = obj_new((size_t)(24 * (1 + i % NSIZES)), tag++);
  for (long i = 0; i < g_objs; i++) {
    long k = (long)rng_below(&rng, (uint64_t)g_objs);
    size_t size;
    w->sum += obj_verify(objs[k], &size);
    free(objs[k]);
    objs[k] = obj_new(size, tag++);
  }
  pthread_barrier_wait(&g_barrier); /* every thread of the wave holds its objects */
  for (long i = 0; i < g_objs; i++) w->sum += obj_free(objs[i]);
  free(objs);
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"threads", 50, 1000, "threads in all", 0},
      {"wave", 50, 1000, "threads alive at the same time", 0},
      {"objs", 256, 2560, "objects each thread keeps (40 sizes, 24..960 B)", 0},
      {"seed", 5, 5, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("threads1000", "many threads each keeping small objects of 40 sizes", ps, np, argc,
               argv);
  long threads = bench_get(ps, np, "threads");
  long wave = bench_get(ps, np, "wave");
  g_objs = bench_get(ps, np, "objs");
  g_seed = bench_get(ps, np, "seed");
  if (threads < 1 || wave < 1 || g_objs < 1) {
    fprintf(stderr, "threads1000: bad parameters\n");
    return 2;
  }
  if (wave > threads) wave = threads;
  worker_t *ws = (worker_t *)calloc((size_t)threads, sizeof(worker_t));
  pthread_t *tids = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)wave);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 << 10);
  double t0 = bench_now();
  for (long first = 0; first < threads; first += wave) {
    long n = threads - first < wave ? threads - first : wave;
    pthread_barrier_init(&g_barrier, NULL, (unsigned)n);
    for (long t = 0; t < n; t++) {
      ws[first + t].id = (int)(first + t);
      if (pthread_create(&tids[t], &attr, worker_main, &ws[first + t])) {
        perror("pthread_create");
        return 1;
      }
    }
    for (long t = 0; t < n; t++) pthread_join(tids[t], NULL);
    pthread_barrier_destroy(&g_barrier);
  }
  double t1 = bench_now();
  uint64_t sum = 0;
  for (long t = 0; t < threads; t++) sum += ws[t].sum;
  free(ws);
  free(tids);
  printf("ops=%ld\n", threads * g_objs * 2);
  return bench_finish(sum, t1 - t0);
}
