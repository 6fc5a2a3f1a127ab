/*
 * gc_threads: a multi-threaded shape. Variants: see gcb_common.h.
 *
 *   gc_threads [N] [T]   2^N jobs in all (default 18) on T worker threads
 *                        (default 8: more threads than a small machine's cores)
 *
 * Each worker runs its share of the jobs (2^N / T, the first 2^N mod T
 * workers one more). A job builds a short-lived result
 *   {tree -> a binary tree of depth 2..9, list -> a list of 8..256 cells,
 *    checksum, owner, job number}
 * whose tree nodes are scanned objects of 32..512 bytes
 *   {left, right, payload -> noscan 16..512 bytes (a quarter of the nodes),
 *    payload length, tag, [padding words, the last one a check word]}
 * and whose list cells are 16-byte scanned objects {next, value}; it walks
 * and checks the result and adds its checksum to the worker's. Small results
 * (depth <= 5) are, one time in four, published into a shared table of
 * 2^(N-5) slots (a scanned collected object; one mutex guards it), replacing
 * the result in a random slot; the replaced one (published by any thread) is
 * checked against the checksum it was published with, then dropped. Other
 * results are dropped at once. Dropped means freed in the malloc variant
 * (explicit management: every object is freed once, by the thread that
 * drops it), left to the collector in the others. So collections happen
 * while other threads allocate, build and walk, and while the table (about
 * 55 MB at N = 18) holds results of every thread.
 *
 * Each worker draws from its own fixed-seed splitmix64, so its jobs, its
 * checksum and the slots it publishes into do not depend on the schedule;
 * the output (per-worker lines, their sum, the number of table slots ever
 * filled) is identical across variants and runs. Which result ends up in a
 * slot does depend on the schedule: the final walk of the table checks each
 * result against its own checksum, but prints only how many there are.
 * A failed check prints a message and exits with status 1.
 *
 * Threads: gomem registers a thread at its first collected allocation (the
 * first thing a worker does). Boehm needs GC_THREADS defined before gc.h,
 * which then routes pthread_create through GC_pthread_create (Debian's
 * libgc is built with thread support). Pauses are harvested by whichever
 * worker gets the poll lock first, every 64 jobs.
 */
#define GC_THREADS 1
#include "gcb_common.h"
#include "gcb_mixed.h"

#include <pthread.h>

#define MAX_THREADS 256

static inline uint64_t rng(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void fail(const char* what, int thread, uint64_t got, uint64_t want) {
  fflush(stdout);
  fprintf(stderr, "gc_threads: CHECK FAILED: %s (thread %d): got %" PRIu64 ", want %" PRIu64 "\n", what, thread, got,
          want);
  exit(1);
}

typedef struct cell {
  struct cell* next;
  uint64_t val;
} cell;

typedef struct result {
  mnode* tree;
  cell* list;
  uint64_t sum; /* check_result's value when it was built */
  uint32_t owner, job;
} result;

static const size_t nsizes[8] = {32, 32, 48, 64, 96, 128, 256, 512};

/* One per worker; written by its worker only, read by main after the join. */
typedef struct worker {
  pthread_t tid;
  int index;
  uint64_t rng;                 /* the worker's own splitmix64 state */
  uint64_t jobs;                /* jobs to run */
  uint64_t nodes, cells, bytes; /* what its jobs built */
  uint64_t published;           /* results it put into the table */
  uint64_t checksum;            /* sum of its results' checksums */
} worker;

/* The shared table: its slots are written under table_mu; the pointer and
 * size are set before the workers start. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static result** table;
static uint64_t table_slots;
/* Serialises gcb_poll (which keeps its logs in plain variables). */
static pthread_mutex_t poll_mu = PTHREAD_MUTEX_INITIALIZER;

static mnode* make_tree(worker* w, int depth) {
  mnode *l = NULL, *r = NULL;
  if (depth > 0) {
    l = make_tree(w, depth - 1);
    r = make_tree(w, depth - 1);
  }
  uint64_t x = rng(&w->rng);
  return mnode_new(nsizes[(uint32_t)(x >> 32) % 8], x, l, r);
}

static cell* make_list(worker* w, uint32_t len) {
  cell* head = NULL;
  for (uint32_t i = 0; i < len; i++) {
    cell* c = (cell*)gcb_alloc(sizeof(cell));
    c->next = head;
    c->val = rng(&w->rng);
    head = c;
  }
  return head;
}

typedef struct {
  uint64_t nodes, cells, bytes, sum;
} rcheck;

static void walk_tree(const mnode* n, rcheck* c, int thread) {
  while (n) {
    size_t sz = nsizes[n->tag % 8];
    c->nodes++;
    c->bytes += sz + n->plen;
    c->sum = c->sum * 31 + n->tag + n->plen;
    if (!mnode_intact(n, sz)) fail("tree node check word or payload", thread, n->tag, 0);
    walk_tree(n->left, c, thread);
    n = n->right;
  }
}

static rcheck check_result(const result* r, int thread) {
  rcheck c = {0, 0, 0, 0};
  walk_tree(r->tree, &c, thread);
  for (const cell* p = r->list; p; p = p->next) {
    c.cells++;
    c.bytes += sizeof(cell);
    c.sum ^= p->val + c.cells;
  }
  return c;
}

static void release_result(result* r) {
#if GCB_EXPLICIT_FREE
  mnode_release(r->tree);
  for (cell *p = r->list, *next; p; p = next) {
    next = p->next;
    GCB_FREE(p);
  }
  GCB_FREE(r);
#else
  (void)r;
#endif
}

/* Checks a result taken out of the table against its own checksum. */
static void check_published(const result* r, int thread) {
  rcheck c = check_result(r, thread);
  if (c.sum != r->sum) fail("published result (by thread, job)", thread, r->owner, r->job);
}

static void run_job(worker* w, uint32_t job) {
  uint64_t x = rng(&w->rng);
  int depth = 2 + (int)(x % 8);
  uint32_t len = 8u << ((x >> 3) % 6);
  result* r = (result*)gcb_alloc(sizeof(result));
  r->owner = (uint32_t)w->index;
  r->job = job;
  r->tree = make_tree(w, depth);
  r->list = make_list(w, len);
  rcheck c = check_result(r, w->index);
  r->sum = c.sum;
  w->nodes += c.nodes;
  w->cells += c.cells;
  w->bytes += c.bytes;
  w->checksum += c.sum;
  if (depth > 5 || ((x >> 8) & 3) != 0) {
    release_result(r);
    return;
  }
  uint64_t slot = (x >> 16) % table_slots;
  pthread_mutex_lock(&table_mu);
  result* old = table[slot];
  table[slot] = r;
  pthread_mutex_unlock(&table_mu);
  w->published++;
  if (old) {
    check_published(old, w->index);
    release_result(old);
  }
}

static void* worker_main(void* arg) {
  worker* w = (worker*)arg;
  for (uint64_t j = 0; j < w->jobs; j++) {
    run_job(w, (uint32_t)j);
    if (j % 64 == 63 && pthread_mutex_trylock(&poll_mu) == 0) {
      gcb_poll();
      pthread_mutex_unlock(&poll_mu);
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 18;
  int nthreads = argc > 2 ? atoi(argv[2]) : 8;
  if (n < 8) n = 8;
  if (n > 26) n = 26;
  if (nthreads < 1) nthreads = 1;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  const uint64_t jobs = 1ull << n;
  table_slots = 1ull << (n - 5);

  gcb_init();
  gcb_poll_keep = 1; /* other threads may still charge a stall to the latest cycle */
  uint64_t t0 = gcb_now_ns();
  printf("gc_threads N=%d: %" PRIu64 " jobs on %d threads, table of %" PRIu64 " slots\n", n, jobs, nthreads,
         table_slots);

  table = (result**)gcb_alloc(table_slots * sizeof(result*));
  memset(table, 0, table_slots * sizeof(result*));
  static worker workers[MAX_THREADS];
  for (int i = 0; i < nthreads; i++) {
    worker* w = &workers[i];
    w->index = i;
    w->rng = 0x243F6A8885A308D3ull ^ ((uint64_t)(i + 1) * 0xD1B54A32D192ED03ull);
    w->jobs = jobs / (uint64_t)nthreads + ((uint64_t)i < jobs % (uint64_t)nthreads);
    if (pthread_create(&w->tid, NULL, worker_main, w) != 0) gcb_die("pthread_create failed");
  }
  uint64_t nodes = 0, cells = 0, bytes = 0, published = 0, checksum = 0;
  for (int i = 0; i < nthreads; i++) {
    worker* w = &workers[i];
    if (pthread_join(w->tid, NULL) != 0) gcb_die("pthread_join failed");
    printf("thread %d\t jobs %" PRIu64 "\t nodes %" PRIu64 "\t cells %" PRIu64 "\t bytes %" PRIu64
           "\t published %" PRIu64 "\t checksum %016" PRIx64 "\n",
           i, w->jobs, w->nodes, w->cells, w->bytes, w->published, w->checksum);
    nodes += w->nodes;
    cells += w->cells;
    bytes += w->bytes;
    published += w->published;
    checksum += w->checksum;
  }
  printf("total\t jobs %" PRIu64 "\t nodes %" PRIu64 "\t cells %" PRIu64 "\t bytes %" PRIu64 "\t published %" PRIu64
         "\t checksum %016" PRIx64 "\n",
         jobs, nodes, cells, bytes, published, checksum);

  uint64_t filled = 0;
  for (uint64_t s = 0; s < table_slots; s++) {
    result* r = table[s];
    if (!r) continue;
    check_published(r, -1);
    filled++;
    release_result(r);
  }
  GCB_FREE(table);
  printf("table: %" PRIu64 " of %" PRIu64 " slots filled\n", filled, table_slots);

  double secs = (double)(gcb_now_ns() - t0) / 1e9;
  gcb_report("gc_threads", n, secs);
  return 0;
}
