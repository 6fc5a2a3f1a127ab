/*
 * arena_like: the allocation shape of a compiler or interpreter pass.
 *
 * For each of F "functions", allocate a burst of N nodes (N log-uniform in
 * 1,000..20,000) of 16..128 B (multiples of 8, smaller ones more likely:
 * AST/IR nodes). A node of 32 B or more points at two earlier nodes of the
 * same function (its operands: mostly the last few nodes, sometimes any),
 * like use-def edges. The pass then walks the nodes twice, following every
 * operand pointer, and frees them all: in reverse order in even functions,
 * in a random order in odd ones. Every 10th function keeps about 5 % of its
 * nodes (chosen at random) alive until the end of the program, like
 * symbol-table entries or interned types, so the heap fragments slowly: the
 * survivors are scattered over the memory the bursts reuse.
 *
 * A node is word 0: tag, word 1: size, words 2-3: operand pointers (nodes of
 * 32 B or more), and a check word in its last 8 bytes (nodes of 48 B or
 * more); it is verified when freed. The checksum (node hashes and the walks'
 * results) depends only on the parameters. ops= counts mallocs plus frees.
 */
#include "common.h"

BENCH_MAIN_DEFS

typedef struct node {
  uint64_t tag;
  uint64_t size;
  struct node *op[2]; /* present when size >= 32 */
} node_t;

static uint64_t node_check(uint64_t tag, uint64_t size) {
  return tag * 0x9e3779b97f4a7c15ULL ^ size;
}

static node_t *node_new(size_t size, uint64_t tag, node_t **earlier, long n, rng_t *rng) {
  node_t *p = (node_t *)malloc(size);
  if (!p) {
    fprintf(stderr, "malloc(%zu) failed\n", size);
    exit(4);
  }
  p->tag = tag;
  p->size = size;
  if (size >= 32) {
    for (int k = 0; k < 2; k++) {
      long back = rng_below(rng, 4) ? (long)rng_range(rng, 1, 8) : (long)rng_range(rng, 1, 1 << 20);
      p->op[k] = n == 0 ? NULL : earlier[back < n ? n - back : (long)rng_below(rng, (uint64_t)n)];
    }
  }
  if (size >= 48) {
    uint64_t c = node_check(tag, size);
    memcpy((char *)p + size - 8, &c, 8);
  }
  return p;
}

static uint64_t node_free(node_t *p) {
  uint64_t tag = p->tag, size = p->size;
  int bad = size < 16 || size > 128;
  if (!bad && size >= 48) {
    uint64_t c;
    memcpy(&c, (char *)p + size - 8, 8);
    bad = c != node_check(tag, size);
  }
  if (bad) obj_report_corruption(p, (size_t)size, tag, "node");
  free(p);
  return obj_hash(tag, size);
}

/* Sums the tags of every node's operands: reads every node and what it
 * points at, as a pass over the IR would. */
static uint64_t walk(node_t **nodes, long n) {
  uint64_t s = 0;
  for (long i = 0; i < n; i++) {
    node_t *p = nodes[i];
    s += p->tag;
    if (p->size >= 32)
      for (int k = 0; k < 2; k++)
        if (p->op[k]) s ^= p->op[k]->tag * (uint64_t)(k + 3);
  }
  return s;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"funcs", 100, 2000, "functions (bursts of nodes)", 0},
      {"minnodes", 1000, 1000, "fewest nodes of a function", 0},
      {"maxnodes", 20000, 20000, "most nodes of a function", 0},
      {"keepevery", 10, 10, "every k-th function keeps some nodes", 0},
      {"keeppct", 5, 5, "percent of its nodes such a function keeps", 0},
      {"seed", 29, 29, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("arena_like", "compiler pass: bursts of small linked nodes, freed together", ps, np,
               argc, argv);
  const long funcs = bench_get(ps, np, "funcs");
  const long minnodes = bench_get(ps, np, "minnodes");
  const long maxnodes = bench_get(ps, np, "maxnodes");
  const long keepevery = bench_get(ps, np, "keepevery");
  const long keeppct = bench_get(ps, np, "keeppct");
  if (funcs < 1 || minnodes < 1 || maxnodes < minnodes || keepevery < 1 || keeppct < 0 ||
      keeppct > 100) {
    fprintf(stderr, "arena_like: bad parameters\n");
    return 2;
  }
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  node_t **nodes = (node_t **)malloc((size_t)maxnodes * sizeof(node_t *));
  node_t **kept = NULL;
  size_t nkept = 0, capkept = 0;
  uint64_t sum = 0, tag = 1, ops = 0;

  double t0 = bench_now();
  for (long f = 0; f < funcs; f++) {
    long n = (long)rng_logrange(&rng, (uint64_t)minnodes, (uint64_t)maxnodes);
    for (long i = 0; i < n; i++) {
      /* The smaller of two uniform sizes: 16..128 B, small ones dominate. */
      size_t a = rng_range(&rng, 2, 16), b = rng_range(&rng, 2, 16);
      nodes[i] = node_new((a < b ? a : b) * 8, tag++, nodes, i, &rng);
    }
    sum = bench_mix(sum ^ walk(nodes, n));
    sum = bench_mix(sum ^ walk(nodes, n));
    if ((f + 1) % keepevery == 0) { /* keep about keeppct % of them */
      for (long i = 0; i < n; i++) {
        if ((long)rng_below(&rng, 100) >= keeppct) continue;
        if (nkept == capkept) {
          capkept = capkept ? capkept * 2 : 1024;
          kept = (node_t **)realloc(kept, capkept * sizeof(node_t *));
        }
        kept[nkept++] = nodes[i];
        nodes[i] = NULL;
      }
    }
    if (f % 2) /* a random order: Fisher-Yates */
      for (long i = n - 1; i > 0; i--) {
        long j = (long)rng_below(&rng, (uint64_t)i + 1);
        node_t *t = nodes[i];
        nodes[i] = nodes[j];
        nodes[j] = t;
      }
    for (long i = n - 1; i >= 0; i--)
      if (nodes[i]) sum += node_free(nodes[i]), ops++;
    ops += (uint64_t)n;
  }
  for (size_t i = 0; i < nkept; i++) sum += node_free(kept[i]), ops++;
  double t1 = bench_now();
  free(kept);
  free(nodes);
  printf("ops=%llu kept=%zu\n", (unsigned long long)ops, nkept);
  return bench_finish(sum, t1 - t0);
}
