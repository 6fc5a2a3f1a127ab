/*
 * server_mt: a request-handling server with separate writer threads.
 *
 * The main thread plays the acceptor: it admits request numbers into a
 * bounded work queue, at most `inflight` requests being alive at a time (a
 * server's connection limit). W worker threads (16 by default: many more
 * than the machine's cores) take requests from the queue and handle each:
 *   - a header table: 20..40 small strings of 8..64 B, plus the array of
 *     pointers to them;
 *   - a body buffer of 1..64 KiB (log-uniform);
 *   - 2..8 parse nodes of 32..256 B;
 *   - a response built by appending chunks of 64 B..4 KiB to a buffer grown
 *     with realloc (capacity x1.5 from 256 B), to 1..64 KiB of body plus
 *     the header echo.
 * The request record (which holds all of that) is then handed to one of R
 * writer threads (4 by default), which checks and frees every object of it:
 * every free is a cross-thread free, of sizes from 8 B to 100 KiB, from 16
 * allocating threads to 4 freeing ones (the producer/consumer of random
 * sizes that real servers, and xmalloc in small, have).
 *
 * Every request's contents derive from (seed, request number) alone, and the
 * checksum is a sum over requests, so it does not depend on the schedule.
 * live_peak_kb= is the peak of the bytes the live requests asked for (the
 * response at its capacity): the live heap to compare a peak RSS with.
 * maxbody= lowers the largest body (64 KiB), and with it the response.
 */
#include <pthread.h>

#include "common.h"

BENCH_MAIN_DEFS

#define MAX_HEADERS 40
#define MAX_NODES 8

typedef struct request {
  long id;
  int nheaders, nnodes;
  void **headers; /* nheaders self-describing strings */
  void *body;
  void *nodes[MAX_NODES];
  unsigned char *resp; /* chunk markers at known offsets */
  size_t resp_len;
  size_t bytes; /* requested bytes of everything above, the record included */
  int nchunks;
  size_t chunk_off[]; /* nchunks offsets into resp */
} request_t;

/* A bounded FIFO of pointers guarded by one mutex. */
typedef struct queue {
  pthread_mutex_t mu;
  pthread_cond_t nonempty, nonfull;
  void **ring;
  long cap, head, count;
  int done;
} queue_t;

static void q_init(queue_t *q, long cap) {
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->nonempty, NULL);
  pthread_cond_init(&q->nonfull, NULL);
  q->ring = (void **)malloc((size_t)cap * sizeof(void *));
  q->cap = cap;
  q->head = q->count = 0;
  q->done = 0;
}

static void q_push(queue_t *q, void *p) {
  pthread_mutex_lock(&q->mu);
  while (q->count == q->cap) pthread_cond_wait(&q->nonfull, &q->mu);
  q->ring[(q->head + q->count) % q->cap] = p;
  q->count++;
  pthread_cond_signal(&q->nonempty);
  pthread_mutex_unlock(&q->mu);
}

/* NULL once the queue is closed and empty. */
static void *q_pop(queue_t *q) {
  void *p = NULL;
  pthread_mutex_lock(&q->mu);
  while (q->count == 0 && !q->done) pthread_cond_wait(&q->nonempty, &q->mu);
  if (q->count > 0) {
    p = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    pthread_cond_signal(&q->nonfull);
  }
  pthread_mutex_unlock(&q->mu);
  return p;
}

static void q_close(queue_t *q) {
  pthread_mutex_lock(&q->mu);
  q->done = 1;
  pthread_cond_broadcast(&q->nonempty);
  pthread_mutex_unlock(&q->mu);
}

static long g_requests, g_inflight, g_maxbody;
static int g_workers, g_writers;
static uint64_t g_seed;
static queue_t g_work;   /* request numbers + 1, from the acceptor to workers */
static queue_t *g_write; /* request records, from workers to each writer */

/* The in-flight limit: the acceptor waits while `inflight` requests live. */
static pthread_mutex_t g_fl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_fl_cv = PTHREAD_COND_INITIALIZER;
static long g_fl_count;

/* Requested bytes of the live requests, and their peak: the live heap a
 * peak RSS compares with (live_peak_kb=). */
static size_t g_live, g_live_peak;

static void live_add(size_t n) {
  size_t v = __atomic_add_fetch(&g_live, n, __ATOMIC_RELAXED);
  size_t peak = __atomic_load_n(&g_live_peak, __ATOMIC_RELAXED);
  while (v > peak && !__atomic_compare_exchange_n(&g_live_peak, &peak, v, 1, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED)) {
  }
}

static uint64_t marker(long id, int chunk) {
  return bench_mix(((uint64_t)id << 16) ^ (uint64_t)chunk);
}

/* Appends a chunk of n bytes (n >= 8) to the response, growing it x1.5. */
static void resp_append(request_t *r, size_t *cap, size_t n) {
  if (r->resp_len + n > *cap) {
    while (r->resp_len + n > *cap) *cap += *cap / 2;
    r->resp = (unsigned char *)realloc(r->resp, *cap);
    if (!r->resp) {
      fprintf(stderr, "realloc(%zu) failed\n", *cap);
      exit(4);
    }
  }
  uint64_t m = marker(r->id, r->nchunks);
  memcpy(r->resp + r->resp_len, &m, 8);
  r->chunk_off[r->nchunks++] = r->resp_len;
  r->resp_len += n;
}

/* A header string of n >= 8 bytes: a self-describing object from 16 B up;
 * below that (which obj_fill cannot describe) the tag, with the size in its
 * top byte. */
static void *header_new(size_t n, uint64_t tag) {
  if (n >= 16) return obj_new(n, tag);
  uint64_t *p = (uint64_t *)malloc(n);
  if (!p) {
    fprintf(stderr, "malloc(%zu) failed\n", n);
    exit(4);
  }
  *p = tag | ((uint64_t)n << 56);
  return p;
}

static uint64_t header_free(void *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  if ((w >> 56) == 0) return obj_free(p);
  if ((w >> 56) < 8 || (w >> 56) > 15) obj_report_corruption(p, (size_t)(w >> 56), w, "header");
  free(p);
  return obj_hash(w & ((1ULL << 56) - 1), w >> 56);
}

static request_t *handle(long id) {
  rng_t rng;
  rng_seed(&rng, g_seed * 1000003u + (uint64_t)id);
  uint64_t tag = (uint64_t)id << 8;
  size_t body = (size_t)rng_logrange(&rng, 1 << 10, (uint64_t)g_maxbody);
  /* Response chunks: one per 64 B of headers echoed, then chunks of
   * 64 B..4 KiB until the body is covered. */
  int nheaders = (int)rng_range(&rng, 20, MAX_HEADERS);
  int maxchunks = (int)(body / 64) + nheaders + 2;
  request_t *r = (request_t *)malloc(sizeof(request_t) + (size_t)maxchunks * sizeof(size_t));
  r->id = id;
  r->bytes = sizeof(request_t) + (size_t)maxchunks * sizeof(size_t) +
             (size_t)nheaders * sizeof(void *) + body;
  r->nheaders = nheaders;
  r->headers = (void **)malloc((size_t)nheaders * sizeof(void *));
  size_t echo = 0;
  for (int i = 0; i < nheaders; i++) {
    size_t n = (size_t)rng_range(&rng, 8, 64);
    r->headers[i] = header_new(n, tag++);
    echo += n;
    r->bytes += n;
  }
  r->body = obj_new(body, tag++);
  r->nnodes = (int)rng_range(&rng, 2, MAX_NODES);
  for (int i = 0; i < r->nnodes; i++) {
    size_t n = (size_t)rng_range(&rng, 32, 256);
    r->nodes[i] = obj_new(n, tag++);
    r->bytes += n;
  }
  size_t cap = 256;
  r->resp = (unsigned char *)malloc(cap);
  r->resp_len = 0;
  r->nchunks = 0;
  for (size_t e = 0; e < echo; e += 64) resp_append(r, &cap, 64 + (size_t)rng_below(&rng, 64));
  for (size_t b = 0; b < body;) {
    size_t n = (size_t)rng_logrange(&rng, 64, 4096);
    resp_append(r, &cap, n);
    b += n;
  }
  r->bytes += cap;
  live_add(r->bytes);
  return r;
}

/* Verifies and frees everything of a request; returns its hash. */
static uint64_t retire(request_t *r) {
  uint64_t sum = 0;
  __atomic_sub_fetch(&g_live, r->bytes, __ATOMIC_RELAXED);
  for (int i = 0; i < r->nheaders; i++) sum += header_free(r->headers[i]);
  free(r->headers);
  sum += obj_free(r->body);
  for (int i = 0; i < r->nnodes; i++) sum += obj_free(r->nodes[i]);
  for (int c = 0; c < r->nchunks; c++) {
    uint64_t m;
    memcpy(&m, r->resp + r->chunk_off[c], 8);
    if (m != marker(r->id, c))
      obj_report_corruption(r->resp, r->resp_len, (uint64_t)r->id, "response");
    sum += m;
  }
  sum += r->resp_len;
  free(r->resp);
  free(r);
  return sum;
}

static void *worker_main(void *arg) {
  (void)arg;
  for (;;) {
    void *p = q_pop(&g_work);
    if (!p) return NULL;
    long id = (long)(uintptr_t)p - 1;
    request_t *r = handle(id);
    q_push(&g_write[bench_mix((uint64_t)id) % (uint64_t)g_writers], r);
  }
}

typedef struct writer {
  int id;
  uint64_t sum;
  long done;
} writer_t;

static void *writer_main(void *arg) {
  writer_t *w = (writer_t *)arg;
  for (;;) {
    request_t *r = (request_t *)q_pop(&g_write[w->id]);
    if (!r) return NULL;
    w->sum += retire(r);
    w->done++;
    pthread_mutex_lock(&g_fl_mu);
    g_fl_count--;
    pthread_cond_signal(&g_fl_cv);
    pthread_mutex_unlock(&g_fl_mu);
  }
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"requests", 4000, 160000, "requests handled", 0},
      {"workers", 16, 16, "worker threads (more than cores)", 0},
      {"writers", 4, 4, "writer threads that free the requests", 0},
      {"inflight", 256, 256, "requests alive at a time at most", 0},
      {"maxbody", 64 << 10, 64 << 10, "largest body (from 1 KiB, log-uniform)", 0},
      {"seed", 23, 23, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("server_mt", "request-handling server: workers allocate, writer threads free", ps,
               np, argc, argv);
  g_requests = bench_get(ps, np, "requests");
  g_workers = (int)bench_get(ps, np, "workers");
  g_writers = (int)bench_get(ps, np, "writers");
  g_inflight = bench_get(ps, np, "inflight");
  g_maxbody = bench_get(ps, np, "maxbody");
  g_seed = (uint64_t)bench_get(ps, np, "seed");
  if (g_requests < 1 || g_workers < 1 || g_writers < 1 || g_inflight < 1 || g_maxbody < 1024) {
    fprintf(stderr, "server_mt: bad parameters\n");
    return 2;
  }
  q_init(&g_work, g_inflight);
  g_write = (queue_t *)malloc((size_t)g_writers * sizeof(queue_t));
  for (int i = 0; i < g_writers; i++) q_init(&g_write[i], g_inflight);
  pthread_t *wt = (pthread_t *)malloc((size_t)(g_workers + g_writers) * sizeof(pthread_t));
  writer_t *ws = (writer_t *)calloc((size_t)g_writers, sizeof(writer_t));

  double t0 = bench_now();
  for (int i = 0; i < g_workers; i++) pthread_create(&wt[i], NULL, worker_main, NULL);
  for (int i = 0; i < g_writers; i++) {
    ws[i].id = i;
    pthread_create(&wt[g_workers + i], NULL, writer_main, &ws[i]);
  }
  for (long id = 0; id < g_requests; id++) {
    pthread_mutex_lock(&g_fl_mu);
    while (g_fl_count >= g_inflight) pthread_cond_wait(&g_fl_cv, &g_fl_mu);
    g_fl_count++;
    pthread_mutex_unlock(&g_fl_mu);
    q_push(&g_work, (void *)(uintptr_t)(id + 1));
  }
  q_close(&g_work);
  for (int i = 0; i < g_workers; i++) pthread_join(wt[i], NULL);
  for (int i = 0; i < g_writers; i++) q_close(&g_write[i]);
  uint64_t sum = 0;
  long done = 0;
  for (int i = 0; i < g_writers; i++) {
    pthread_join(wt[g_workers + i], NULL);
    sum += ws[i].sum;
    done += ws[i].done;
  }
  double t1 = bench_now();
  if (done != g_requests) {
    fprintf(stderr, "server_mt: %ld of %ld requests retired\n", done, g_requests);
    return 5;
  }
  for (int i = 0; i < g_writers; i++) free(g_write[i].ring);
  free(g_work.ring);
  free(g_write);
  free(wt);
  free(ws);
  printf("ops=%ld live_peak_kb=%zu\n", g_requests, g_live_peak >> 10);
  return bench_finish(sum, t1 - t0);
}
