/*
 * gcbench: a GCBench-style workload (after the idea of Ellis, Kovac and
 * Boehm's GCBench; this is an independent re-implementation), scaled for a
 * current machine and extended. Variants: see gcb_common.h.
 *
 *   gcbench [N]      N = depth parameter (default 20)
 *
 * Phases (all sizes follow from N):
 *  1. stretch: a tree of depth N+1 is built bottom-up, checked, dropped;
 *  2. long-lived data, reachable until the end, that every collection must
 *     mark: a tree of depth N built top-down, and an array of 2^(N+2)
 *     doubles (pointer-free: gomem_gc_alloc_noscan / GC_MALLOC_ATOMIC /
 *     []float64) half filled with 1/(i+1);
 *  3. for d = 4, 6, ..., N:
 *     a. top-down:  2*TreeSize(N)/TreeSize(d) trees of depth d, each node
 *        allocated before its children are (stores into older objects);
 *     b. bottom-up: as many trees built children first;
 *     c. mixed (only for d <= N-4, so that these trees stay small next to
 *        the long-lived data): TreeSize(N)/TreeSize(d) trees of depth d whose
 *        nodes have varied sizes (32..256 bytes) and a quarter of which own
 *        a pointer-free payload of 16..512 bytes (noscan);
 *     d. churn:     2^(N-S)/8 randomly chosen subtrees of depth S = N/2 of
 *        the long-lived tree are replaced by new ones (the old ones become
 *        garbage), which leaves holes among old objects and creates
 *        old-to-young pointers;
 *  4. the long-lived tree and array are checked.
 * Every tree is walked and checked against its expected node count and
 * field sums; a mismatch prints a message and exits with status 1. The
 * pseudo-random choices come from a fixed-seed splitmix64 generator used in
 * the same order by every variant (the Go one included), so the output is
 * identical across variants.
 */
#include "gcb_common.h"
#include "gcb_mixed.h"

/* ---- deterministic generator (splitmix64) ---- */
static uint64_t rng_state = 0x243F6A8885A308D3ull;
static inline uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void fail(const char *what, int depth, long got, long want) {
  fflush(stdout);
  fprintf(stderr, "gcbench: CHECK FAILED: %s (depth %d): got %ld, want %ld\n", what, depth,
          got, want);
  exit(1);
}

static long tree_size(int d) { return (1L << (d + 1)) - 1; }
/* Sum over a complete tree of depth d of each node's height i. */
static long height_sum(int d) { return (1L << (d + 1)) - d - 2; }

/* ---------------------------------------------------------------------------
 * Uniform trees of 24-byte nodes (GCBench's Node: two pointers, two ints).
 * ------------------------------------------------------------------------- */
typedef struct tnode {
  struct tnode *left, *right;
  int32_t i, j; /* i = height of the node, j = churn round that made it */
} tnode;

static inline tnode *new_tnode(tnode *l, tnode *r, int32_t i, int32_t j) {
  tnode *n = (tnode *)gcb_alloc(sizeof(tnode));
  n->left = l;
  n->right = r;
  n->i = i;
  n->j = j;
  return n;
}

/* Top-down: the node exists before its children. */
static void populate(int depth, tnode *n, int32_t j) {
  if (depth <= 0) return;
  n->left = new_tnode(NULL, NULL, depth - 1, j);
  n->right = new_tnode(NULL, NULL, depth - 1, j);
  populate(depth - 1, n->left, j);
  populate(depth - 1, n->right, j);
}

static tnode *top_down(int depth, int32_t j) {
  tnode *n = new_tnode(NULL, NULL, depth, j);
  populate(depth, n, j);
  return n;
}

/* Bottom-up: children first. */
static tnode *bottom_up(int depth) {
  if (depth <= 0) return new_tnode(NULL, NULL, 0, 0);
  tnode *l = bottom_up(depth - 1);
  tnode *r = bottom_up(depth - 1);
  return new_tnode(l, r, depth, 0);
}

typedef struct {
  long nodes, isum, jsum;
} tcheck;

static void walk(const tnode *n, tcheck *c) {
  while (n) {
    c->nodes++;
    c->isum += n->i;
    c->jsum += n->j;
    if ((n->left == NULL) != (n->right == NULL) || (n->left && n->left->i != n->i - 1))
      fail("tree shape", n->i, 0, 1);
    walk(n->left, c);
    n = n->right;
  }
}

static void release_tree(tnode *n) {
#if GCB_EXPLICIT_FREE
  while (n) {
    tnode *r = n->right;
    release_tree(n->left);
    GCB_FREE(n);
    n = r;
  }
#else
  (void)n;
#endif
}

/* ---------------------------------------------------------------------------
 * Mixed trees: nodes of 32..256 bytes, some with a pointer-free payload
 * (gcb_mixed.h). The node's size follows from its tag.
 * ------------------------------------------------------------------------- */
static const size_t msizes[6] = {32, 48, 64, 96, 128, 256};

static mnode *make_mixed(int depth) {
  mnode *l = NULL, *r = NULL;
  if (depth > 0) {
    l = make_mixed(depth - 1);
    r = make_mixed(depth - 1);
  }
  uint64_t x = rng();
  return mnode_new(msizes[(uint32_t)(x >> 32) % 6], x, l, r);
}

typedef struct {
  long nodes, bytes;
  uint64_t tags;
} mcheck;

static void walk_mixed(const mnode *n, mcheck *c) {
  while (n) {
    c->nodes++;
    c->tags += n->tag;
    c->bytes += n->plen;
    if (!mnode_intact(n, msizes[n->tag % 6])) fail("mixed node check word or payload", -1, 0, 1);
    walk_mixed(n->left, c);
    n = n->right;
  }
}

/* ---------------------------------------------------------------------------
 * Churn: replace `count` random subtrees of depth s of the long-lived tree.
 * ------------------------------------------------------------------------- */
static void churn(tnode *root, int n, int s, long count, int32_t round) {
  for (long k = 0; k < count; k++) {
    tnode *p = root;
    for (int lvl = n; lvl > s + 1; lvl--) p = (rng() & 1) ? p->right : p->left;
    tnode **slot = (rng() & 1) ? &p->right : &p->left;
    tnode *old = *slot;
    *slot = top_down(s, round);
    release_tree(old);
  }
}

static inline long iters_per_poll(long iters) { return iters / 32 > 0 ? iters / 32 : 1; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20;
  if (n < 6) n = 6;
  if (n > 26) n = 26;
  const int stretch_depth = n + 1, long_depth = n, min_depth = 4;
  const long array_len = 1L << (n + 2);
  const int churn_depth = n / 2;
  const long churn_count = (1L << (n - churn_depth)) / 8 > 0 ? (1L << (n - churn_depth)) / 8 : 1;

  gcb_init();
  uint64_t t0 = gcb_now_ns(), tp = t0;
  double ph[6] = {0, 0, 0, 0, 0, 0}; /* stretch, long-lived, top-down, bottom-up, mixed, churn */
#define PHASE(k) do { uint64_t t_ = gcb_now_ns(); ph[k] += (double)(t_ - tp) / 1e9; tp = t_; } while (0)
  printf("gcbench N=%d: stretch depth %d, long-lived depth %d + %ld doubles, trees %d..%d\n", n,
         stretch_depth, long_depth, array_len, min_depth, n);

  { /* 1. stretch */
    tnode *t = bottom_up(stretch_depth);
    tcheck c = {0, 0, 0};
    walk(t, &c);
    if (c.nodes != tree_size(stretch_depth)) fail("stretch", stretch_depth, c.nodes, tree_size(stretch_depth));
    printf("stretch tree of depth %d\t check: %ld\n", stretch_depth, c.nodes);
    release_tree(t);
  }
  PHASE(0);

  /* 2. long-lived data */
  tnode *long_lived = top_down(long_depth, 0);
  double *array = (double *)gcb_alloc_noscan((size_t)array_len * sizeof(double));
  for (long i = 0; i < array_len; i++) array[i] = i < array_len / 2 ? 1.0 / (double)(i + 1) : 0.0;
  printf("long lived tree of depth %d and array of %ld doubles\n", long_depth, array_len);
  PHASE(1);

  /* 3. short-lived trees */
  for (int d = min_depth; d <= n; d += 2) {
    long iters = 2 * tree_size(n) / tree_size(d);
    long stride = iters_per_poll(iters);
    tcheck c = {0, 0, 0};
    for (long i = 0; i < iters; i++) {
      tnode *t = top_down(d, 0);
      walk(t, &c);
      release_tree(t);
      if (i % stride == 0) gcb_poll();
    }
    if (c.nodes != iters * tree_size(d) || c.isum != iters * height_sum(d))
      fail("top-down", d, c.nodes, iters * tree_size(d));
    printf("depth %d\t top-down %ld trees\t check: %ld\n", d, iters, c.nodes);
    PHASE(2);

    c.nodes = c.isum = c.jsum = 0;
    for (long i = 0; i < iters; i++) {
      tnode *t = bottom_up(d);
      walk(t, &c);
      release_tree(t);
      if (i % stride == 0) gcb_poll();
    }
    if (c.nodes != iters * tree_size(d) || c.isum != iters * height_sum(d))
      fail("bottom-up", d, c.nodes, iters * tree_size(d));
    printf("depth %d\t bottom-up %ld trees\t check: %ld\n", d, iters, c.nodes);
    PHASE(3);

    if (d <= n - 4) { /* mixed trees stay small next to the long-lived data */
      long miters = tree_size(n) / tree_size(d);
      stride = iters_per_poll(miters);
      mcheck m = {0, 0, 0};
      for (long i = 0; i < miters; i++) {
        mnode *t = make_mixed(d);
        walk_mixed(t, &m);
        mnode_release(t);
        if (i % stride == 0) gcb_poll();
      }
      if (m.nodes != miters * tree_size(d)) fail("mixed", d, m.nodes, miters * tree_size(d));
      printf("depth %d\t mixed %ld trees\t check: %ld\t payload bytes: %ld\t tags: %016" PRIx64 "\n",
             d, miters, m.nodes, m.bytes, m.tags);
    }
    PHASE(4);

    churn(long_lived, long_depth, churn_depth, churn_count, d);
    gcb_poll();
    printf("depth %d\t churn %ld subtrees of depth %d\n", d, churn_count, churn_depth);
    PHASE(5);
  }

  /* 4. long-lived checks */
  tcheck c = {0, 0, 0};
  walk(long_lived, &c);
  if (c.nodes != tree_size(long_depth) || c.isum != height_sum(long_depth))
    fail("long-lived tree", long_depth, c.nodes, tree_size(long_depth));
  printf("long lived tree of depth %d\t check: %ld\t rounds: %ld\n", long_depth, c.nodes, c.jsum);
  double s = 0.0;
  for (long i = 0; i < array_len; i++) s += array[i];
  printf("long lived array\t check: %.9f\n", s);
  release_tree(long_lived);
  GCB_FREE(array);

  PHASE(1);
  fprintf(stderr, "phases_s stretch=%.3f long_lived=%.3f top_down=%.3f bottom_up=%.3f mixed=%.3f churn=%.3f\n",
          ph[0], ph[1], ph[2], ph[3], ph[4], ph[5]);
  double secs = (double)(gcb_now_ns() - t0) / 1e9;
  gcb_report("gcbench", n, secs);
  return 0;
}
