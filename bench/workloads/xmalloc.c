/*
 * xmalloc: producer/consumer (in the spirit of the xmalloc-test family).
 *
 * P producer threads only allocate: they fill objects of random size
 * (log-uniform, minsize..maxsize) and push them, in batches, into a bounded
 * queue shared by all threads. C consumer threads only free: they pop a batch,
 * verify every object and free it. The batch arrays themselves are also
 * malloc'ed by producers and freed by consumers. Every object is therefore
 * freed by a thread other than the one that allocated it, and the allocator's
 * thread caches on the producer side never get anything back directly.
 */
#include <pthread.h>

#include "common.h"

BENCH_MAIN_DEFS

typedef struct batch {
  int n;
  void *p[];
} batch_t;

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_nonfull = PTHREAD_COND_INITIALIZER;
static batch_t **q_ring;
static long q_cap, q_head, q_count;
static int q_done;

static long g_objs, g_batch, g_minsz, g_maxsz;
static uint64_t g_seed;

typedef struct {
  int id;
  uint64_t sum;
  uint64_t freed;
} thr_t;

static void q_push(batch_t *b) {
  pthread_mutex_lock(&q_mu);
  while (q_count == q_cap) pthread_cond_wait(&q_nonfull, &q_mu);
  q_ring[(q_head + q_count) % q_cap] = b;
  q_count++;
  pthread_cond_signal(&q_nonempty);
  pthread_mutex_unlock(&q_mu);
}

static batch_t *q_pop(void) {
  batch_t *b = NULL;
  pthread_mutex_lock(&q_mu);
  while (q_count == 0 && !q_done) pthread_cond_wait(&q_nonempty, &q_mu);
  if (q_count > 0) {
    b = q_ring[q_head];
    q_head = (q_head + 1) % q_cap;
    q_count--;
    pthread_cond_signal(&q_nonfull);
  }
  pthread_mutex_unlock(&q_mu);
  return b;
}

static void *producer(void *arg) {
  thr_t *t = (thr_t *)arg;
  rng_t rng;
  rng_seed(&rng, g_seed ^ ((uint64_t)t->id << 40) ^ 0x77);
  uint64_t tag = (uint64_t)(t->id + 1) << 48;
  long left = g_objs;
  while (left > 0) {
    int n = (int)(left < g_batch ? left : g_batch);
    batch_t *b = (batch_t *)malloc(sizeof(batch_t) + sizeof(void *) * (size_t)n);
    if (!b) abort();
    b->n = n;
    for (int i = 0; i < n; i++)
      b->p[i] = obj_new(rng_logrange(&rng, (uint64_t)g_minsz, (uint64_t)g_maxsz), tag++);
    left -= n;
    q_push(b);
  }
  return NULL;
}

static void *consumer(void *arg) {
  thr_t *t = (thr_t *)arg;
  batch_t *b;
  while ((b = q_pop()) != NULL) {
    for (int i = 0; i < b->n; i++) t->sum += obj_free(b->p[i]);
    t->freed += (uint64_t)b->n;
    free(b);
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"producers", 2, 4, "threads that only allocate", 0},
      {"consumers", 2, 4, "threads that only free", 0},
      {"objs", 50000, 3000000, "objects allocated by each producer", 0},
      {"batch", 64, 64, "objects per queue entry", 0},
      {"queue", 64, 64, "queue capacity in batches", 0},
      {"minsize", 16, 16, "smallest object (>= 16)", 0},
      {"maxsize", 2048, 2048, "largest object (log-uniform sizes)", 0},
      {"seed", 5, 5, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("xmalloc", "producer/consumer: some threads only allocate, others only free", ps,
               np, argc, argv);
  int producers = (int)bench_get(ps, np, "producers");
  int consumers = (int)bench_get(ps, np, "consumers");
  g_objs = bench_get(ps, np, "objs");
  g_batch = bench_get(ps, np, "batch");
  q_cap = bench_get(ps, np, "queue");
  g_minsz = bench_get(ps, np, "minsize");
  g_maxsz = bench_get(ps, np, "maxsize");
  g_seed = (uint64_t)bench_get(ps, np, "seed");
  if (producers < 1 || consumers < 1 || g_batch < 1 || q_cap < 1 || g_minsz < 16 ||
      g_maxsz < g_minsz) {
    fprintf(stderr, "xmalloc: bad parameters\n");
    return 2;
  }
  q_ring = (batch_t **)malloc(sizeof(batch_t *) * (size_t)q_cap);
  int n = producers + consumers;
  thr_t *ts = (thr_t *)calloc((size_t)n, sizeof(thr_t));
  pthread_t *tids = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)n);

  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    ts[i].id = i;
    if (pthread_create(&tids[i], NULL, i < producers ? producer : consumer, &ts[i])) {
      perror("pthread_create");
      return 4;
    }
  }
  for (int i = 0; i < producers; i++) pthread_join(tids[i], NULL);
  pthread_mutex_lock(&q_mu);
  q_done = 1;
  pthread_cond_broadcast(&q_nonempty);
  pthread_mutex_unlock(&q_mu);
  uint64_t sum = 0, freed = 0;
  for (int i = producers; i < n; i++) {
    pthread_join(tids[i], NULL);
    sum += ts[i].sum;
    freed += ts[i].freed;
  }
  double t1 = bench_now();
  if (freed != (uint64_t)producers * (uint64_t)g_objs) {
    fprintf(stderr, "xmalloc: freed %llu objects, expected %llu\n", (unsigned long long)freed,
            (unsigned long long)producers * (unsigned long long)g_objs);
    return 3;
  }
  free(q_ring);
  free(ts);
  free(tids);
  printf("objects=%llu\n", (unsigned long long)freed);
  return bench_finish(sum, t1 - t0);
}
