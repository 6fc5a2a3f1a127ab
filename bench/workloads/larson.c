/*
 * larson: server simulation (after Larson & Krishnan's benchmark, own code).
 *
 * T worker threads each own a working set of S slots holding objects of
 * random size. Each operation replaces a random slot with a new object. The
 * object taken out is usually freed by the thread itself, but a share of
 * them (share/1000) is handed to another thread (in batches of 64, through
 * that thread's mutex-protected inbox), which frees it: a server where one
 * thread builds a response and another one releases it. The run consists of
 * several generations: at the end of each, all workers exit and a fresh set
 * of threads takes over their slots and inboxes, so objects allocated by
 * threads that no longer exist get freed too.
 *
 * Every object is verified when freed; the checksum is the sum of the hashes
 * of all objects ever allocated, so it does not depend on who frees what.
 */
#include <pthread.h>

#include "common.h"
#include "inbox.h"

BENCH_MAIN_DEFS

#define BATCH 64


typedef struct worker {
  int id;
  int gen;
  void **slots;
  void *out[16][BATCH]; /* outgoing batch per target (threads <= 16) */
  int nout[16];
  uint64_t sum;
  uint64_t frees_remote;
} worker_t;

static int g_threads;
static long g_slots, g_ops, g_minsz, g_maxsz, g_share;
static uint64_t g_seed;
static inbox_t g_inbox[16];

/* Frees everything in this thread's inbox. */
static void inbox_drain(worker_t *w) {
  size_t n;
  void **items = inbox_take(&g_inbox[w->id], &n);
  for (size_t i = 0; i < n; i++) w->sum += obj_free(items[i]);
  w->frees_remote += n;
  free(items);
}

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  rng_t rng;
  rng_seed(&rng, g_seed ^ ((uint64_t)w->id << 32) ^ ((uint64_t)w->gen << 48) ^ 0x1a2b);
  uint64_t tagbase = ((uint64_t)(w->gen + 1) << 56) | ((uint64_t)w->id << 48);
  if (!w->slots) {
    /* First generation: fill the working set. */
    w->slots = (void **)malloc(sizeof(void *) * (size_t)g_slots);
    for (long i = 0; i < g_slots; i++)
      w->slots[i] = obj_new(rng_range(&rng, (uint64_t)g_minsz, (uint64_t)g_maxsz), tagbase++);
  }
  memset(w->nout, 0, sizeof w->nout);
  for (long op = 0; op < g_ops; op++) {
    long i = (long)rng_below(&rng, (uint64_t)g_slots);
    void *old = w->slots[i];
    if (g_threads > 1 && (long)rng_below(&rng, 1000) < g_share) {
      int target = (int)rng_below(&rng, (uint64_t)g_threads - 1);
      if (target >= w->id) target++;
      w->out[target][w->nout[target]++] = old;
      if (w->nout[target] == BATCH) {
        inbox_push(&g_inbox[target], w->out[target], BATCH);
        w->nout[target] = 0;
      }
    } else {
      w->sum += obj_free(old);
    }
    w->slots[i] = obj_new(rng_range(&rng, (uint64_t)g_minsz, (uint64_t)g_maxsz), tagbase++);
    if ((op & 255) == 255) inbox_drain(w);
  }
  for (int t = 0; t < g_threads; t++)
    if (w->nout[t]) inbox_push(&g_inbox[t], w->out[t], w->nout[t]);
  inbox_drain(w);
  return NULL;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"threads", 4, 8, "worker threads (max 16)", 0},
      {"gens", 2, 4, "thread generations (threads exit, new ones take over)", 0},
      {"slots", 500, 4000, "objects in each thread's working set", 0},
      {"ops", 20000, 400000, "slot replacements per thread per generation", 0},
      {"minsize", 16, 16, "smallest object (>= 16)", 0},
      {"maxsize", 1024, 1024, "largest object", 0},
      {"share", 250, 250, "per mille of replaced objects freed by another thread", 0},
      {"seed", 3, 3, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("larson", "server simulation: threads replace objects, hand some to other threads",
               ps, np, argc, argv);
  g_threads = (int)bench_get(ps, np, "threads");
  long gens = bench_get(ps, np, "gens");
  g_slots = bench_get(ps, np, "slots");
  g_ops = bench_get(ps, np, "ops");
  g_minsz = bench_get(ps, np, "minsize");
  g_maxsz = bench_get(ps, np, "maxsize");
  g_share = bench_get(ps, np, "share");
  g_seed = (uint64_t)bench_get(ps, np, "seed");
  if (g_threads < 1 || g_threads > 16 || g_minsz < 16 || g_maxsz < g_minsz || g_slots < 1) {
    fprintf(stderr, "larson: bad parameters\n");
    return 2;
  }
  for (int t = 0; t < g_threads; t++) pthread_mutex_init(&g_inbox[t].mu, NULL);

  worker_t *ws = (worker_t *)calloc((size_t)g_threads, sizeof(worker_t));
  pthread_t *tids = (pthread_t *)malloc(sizeof(pthread_t) * (size_t)g_threads);
  double t0 = bench_now();
  for (long g = 0; g < gens; g++) {
    for (int t = 0; t < g_threads; t++) {
      ws[t].id = t;
      ws[t].gen = (int)g;
      if (pthread_create(&tids[t], NULL, worker_main, &ws[t])) {
        perror("pthread_create");
        return 4;
      }
    }
    for (int t = 0; t < g_threads; t++) pthread_join(tids[t], NULL);
  }
  /* Tear down: free every working set (all objects from dead threads). */
  uint64_t sum = 0, remote = 0;
  for (int t = 0; t < g_threads; t++) {
    inbox_drain(&ws[t]);
    for (long i = 0; i < g_slots; i++) ws[t].sum += obj_free(ws[t].slots[i]);
    free(ws[t].slots);
    sum += ws[t].sum;
    remote += ws[t].frees_remote;
  }
  double t1 = bench_now();
  free(ws);
  free(tids);
  printf("ops=%ld remote_frees=%llu\n", (long)g_threads * gens * g_ops,
         (unsigned long long)remote);
  return bench_finish(sum, t1 - t0);
}
