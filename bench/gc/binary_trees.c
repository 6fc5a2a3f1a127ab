/*
 * binary_trees: the Computer Language Benchmarks Game "binary-trees" program
 * (single-threaded, one allocation per node), written for the gomem GC
 * benchmark. Variants: see gcb_common.h.
 *
 *   binary_trees [N]      N = maximum depth (default 21)
 *
 * Work: a stretch tree of depth N+1 is built, checked and dropped; a tree of
 * depth N stays alive to the end; for d = 4, 6, ..., N, 2^(N-d+4) trees of
 * depth d are built, checked (node count) and dropped. The output is the
 * benchmarks-game output, followed by one RESULT line.
 */
#include "gcb_common.h"

typedef struct node {
  struct node *left, *right;
} node;

static node *bottom_up(int depth) {
  node *n = (node *)gcb_alloc(sizeof(node));
  if (depth > 0) {
    n->left = bottom_up(depth - 1);
    n->right = bottom_up(depth - 1);
  } else {
    n->left = n->right = NULL;
  }
  return n;
}

static long check(const node *n) {
  long c = 1;
  while (n->left) { /* recurse left, iterate right */
    c += 1 + check(n->left);
    n = n->right;
  }
  return c;
}

static void release(node *n) {
#if GCB_EXPLICIT_FREE
  while (n) {
    node *r = n->right;
    if (n->left) release(n->left);
    GCB_FREE(n);
    n = r;
  }
#else
  (void)n;
#endif
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 21;
  const int min_depth = 4;
  int max_depth = n < min_depth + 2 ? min_depth + 2 : n;

  gcb_init();
  uint64_t t0 = gcb_now_ns();

  {
    int stretch = max_depth + 1;
    node *t = bottom_up(stretch);
    printf("stretch tree of depth %d\t check: %ld\n", stretch, check(t));
    release(t);
  }

  node *long_lived = bottom_up(max_depth);

  for (int d = min_depth; d <= max_depth; d += 2) {
    long iters = 1L << (max_depth - d + min_depth);
    /* Harvest ring-buffered pauses ~32 times per depth (256 slots suffice). */
    long stride = iters / 32 > 0 ? iters / 32 : 1;
    long sum = 0;
    for (long i = 0; i < iters; i++) {
      node *t = bottom_up(d);
      sum += check(t);
      release(t);
      if (i % stride == 0) gcb_poll();
    }
    printf("%ld\t trees of depth %d\t check: %ld\n", iters, d, sum);
  }

  printf("long lived tree of depth %d\t check: %ld\n", max_depth, check(long_lived));
  release(long_lived);

  double secs = (double)(gcb_now_ns() - t0) / 1e9;
  gcb_report("binary_trees", max_depth, secs);
  return 0;
}
