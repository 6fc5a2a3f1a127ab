/*
 * cache_scratch / cache_thrash: false sharing induced by the allocator
 * (after the Hoard benchmarks of the same names; own code).
 *
 * Built twice from this file:
 *   cache_thrash  (CACHE_PASSIVE=0, "active" false sharing): each of T
 *     threads repeatedly allocates a small object, writes every byte of it
 *     many times, and frees it. An allocator that hands neighbouring small
 *     objects in one cache line to different threads makes the threads fight
 *     over that line.
 *   cache_scratch (CACHE_PASSIVE=1, "passive" false sharing): the main thread
 *     allocates T small objects back to back (likely in one cache line) and
 *     hands one to each worker. Each worker writes to it, frees it, then
 *     repeatedly allocates, writes and frees objects of the same size. An
 *     allocator that gives the freed foreign object back to the worker keeps
 *     the workers writing into one shared cache line.
 * The run time is what matters; no allocator should be much slower than the
 * others unless it induces false sharing.
 */
#include <pthread.h>

#include "common.h"

#ifndef CACHE_PASSIVE
#define CACHE_PASSIVE 0
#endif

BENCH_MAIN_DEFS

static long g_iters, g_reps, g_size;

typedef struct {
  int id;
  char *given; /* passive mode: object allocated by the main thread */
  uint64_t sum;
} thr_t;

/* Writes every byte of obj reps times; returns a content sum. */
static uint64_t hammer(char *obj, long reps, int id) {
  volatile char *c = (volatile char *)obj;
  for (long j = 0; j < g_size; j++) c[j] = (char)(id + j);
  for (long r = 0; r < reps; r++)
    for (long j = 0; j < g_size; j++) c[j] = (char)(c[j] + 1);
  uint64_t s = 0;
  for (long j = 0; j < g_size; j++) s += (unsigned char)c[j];
  return s;
}

static void *worker(void *arg) {
  thr_t *t = (thr_t *)arg;
  if (t->given) {
    t->sum += hammer(t->given, g_reps, t->id);
    free(t->given);
  }
  for (long i = 0; i < g_iters; i++) {
    char *obj = (char *)malloc((size_t)g_size);
    if (!obj) abort();
    t->sum += hammer(obj, g_reps, t->id);
    free(obj);
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"threads", 2, 4, "worker threads", 0},
      {"iters", 200, 2000, "allocate/write/free cycles per thread", 0},
      {"reps", 2000, 60000, "times each byte is written per cycle", 0},
      {"size", 8, 8, "object size in bytes", 0},
  };
  const int np = BENCH_NPARAMS(ps);
#if CACHE_PASSIVE
  const char *name = "cache_scratch";
  const char *desc = "passive false sharing: objects from the main thread, reused by workers";
#else
  const char *name = "cache_thrash";
  const char *desc = "active false sharing: each thread allocates and writes small objects";
#endif
  bench_params(name, desc, ps, np, argc, argv);
  int threads = (int)bench_get(ps, np, "threads");
  g_iters = bench_get(ps, np, "iters");
  g_reps = bench_get(ps, np, "reps");
  g_size = bench_get(ps, np, "size");
  if (threads < 1 || g_size < 1) {
    fprintf(stderr, "%s: bad parameters\n", name);
    return 2;
  }
  thr_t *ts = (thr_t *)calloc((size_t)threads, sizeof(thr_t));
  pthread_t *tids = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)threads);
  double t0 = bench_now();
#if CACHE_PASSIVE
  for (int i = 0; i < threads; i++) {
    ts[i].given = (char *)malloc((size_t)g_size);
    if (!ts[i].given) abort();
  }
#endif
  for (int i = 0; i < threads; i++) {
    ts[i].id = i;
    if (pthread_create(&tids[i], NULL, worker, &ts[i])) {
      perror("pthread_create");
      return 4;
    }
  }
  uint64_t sum = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(tids[i], NULL);
    sum = sum * 1000003 + ts[i].sum;
  }
  double t1 = bench_now();
  free(ts);
  free(tids);
  return bench_finish(sum, t1 - t0);
}
