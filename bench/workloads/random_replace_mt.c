/*
 * random_replace_mt: random-size replacement in T threads, a quarter of the
 * frees remote.
 *
 * T threads (8 by default: more than the machine's cores) each own S slots
 * holding objects of random size (log-uniform 16 B..2 KiB). Each operation
 * replaces a random slot with a new object. Three times in four the thread
 * frees the old object itself; the fourth time it sends it (in batches of
 * 32, through a mutex-protected inbox) to the next thread, which frees it:
 * the multi-threaded twin of random_replace, with the cross-thread frees of
 * a server. At the end every thread frees its slots and its inbox, and the
 * last inboxes are drained after all threads have joined.
 *
 * The checksum is the sum of the hashes of all objects ever allocated, so it
 * does not depend on which thread frees what.
 */
#include <pthread.h>

#include "common.h"
#include "inbox.h"

BENCH_MAIN_DEFS

#define BATCH 32

typedef struct worker {
  int id;
  void *out[BATCH]; /* batch for the next thread */
  int nout;
  uint64_t sum;
} worker_t;

static int g_threads;
static long g_slots, g_ops, g_seed;
static inbox_t *g_inbox;

/* Frees everything in thread id's inbox; returns the hashes. */
static uint64_t inbox_drain(int id) {
  size_t n;
  void **items = inbox_take(&g_inbox[id], &n);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += obj_free(items[i]);
  free(items);
  return sum;
}

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  rng_t rng;
  rng_seed(&rng, (uint64_t)g_seed * 7919u + (uint64_t)w->id);
  int next = (w->id + 1) % g_threads;
  void **slots = (void **)calloc((size_t)g_slots, sizeof(void *));
  uint64_t tag = ((uint64_t)w->id + 1) << 40;
  for (long op = 0; op < g_ops; op++) {
    long k = (long)rng_below(&rng, (uint64_t)g_slots);
    void *old = slots[k];
    slots[k] = obj_new((size_t)rng_logrange(&rng, 16, 2048), tag++);
    if (old && rng_below(&rng, 4) == 0) {
      w->out[w->nout++] = old;
      if (w->nout == BATCH) {
        inbox_push(&g_inbox[next], w->out, BATCH);
        w->nout = 0;
      }
    } else if (old) {
      w->sum += obj_free(old);
    }
    if ((op & 255) == 255) w->sum += inbox_drain(w->id);
  }
  if (w->nout) inbox_push(&g_inbox[next], w->out, w->nout);
  for (long k = 0; k < g_slots; k++)
    if (slots[k]) w->sum += obj_free(slots[k]);
  free(slots);
  w->sum += inbox_drain(w->id);
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"threads", 4, 8, "threads (more than cores)", 0},
      {"slots", 1000, 10000, "objects each thread keeps", 0},
      {"ops", 20000, 2000000, "replacements per thread", 0},
      {"seed", 23, 23, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("random_replace_mt", "random-size replacement in T threads, 1/4 of frees remote",
               ps, np, argc, argv);
  g_threads = (int)bench_get(ps, np, "threads");
  g_slots = bench_get(ps, np, "slots");
  g_ops = bench_get(ps, np, "ops");
  g_seed = bench_get(ps, np, "seed");
  if (g_threads < 1 || g_slots < 1 || g_ops < 0) {
    fprintf(stderr, "random_replace_mt: bad parameters\n");
    return 2;
  }
  g_inbox = (inbox_t *)calloc((size_t)g_threads, sizeof(inbox_t));
  worker_t *ws = (worker_t *)calloc((size_t)g_threads, sizeof(worker_t));
  pthread_t *tids = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)g_threads);
  for (int t = 0; t < g_threads; t++) pthread_mutex_init(&g_inbox[t].mu, NULL);
  double t0 = bench_now();
  for (int t = 0; t < g_threads; t++) {
    ws[t].id = t;
    if (pthread_create(&tids[t], NULL, worker_main, &ws[t])) {
      perror("pthread_create");
      return 1;
    }
  }
  for (int t = 0; t < g_threads; t++) pthread_join(tids[t], NULL);
  uint64_t sum = 0;
  for (int t = 0; t < g_threads; t++) sum += ws[t].sum + inbox_drain(t);
  double t1 = bench_now();
  free(g_inbox);
  free(ws);
  free(tids);
  printf("ops=%ld\n", g_ops * g_threads);
  return bench_finish(sum, t1 - t0);
}
