/*
 * large: large blocks, 64 KiB .. 32 MiB.
 *
 * A working set of S slots; each iteration replaces a random slot with a new
 * block of log-uniform random size (so 64-128 KiB blocks are as frequent as
 * 16-32 MiB ones), one in eight of them from calloc. The new block is
 * touched: one word written on every 4 KiB page (the program uses the memory
 * it asks for, so the cost of fresh pages from the OS shows). Before a block
 * is freed, every page's word is verified. Calloc'ed blocks are checked to
 * read as zero first. Models buffers, images and arrays in data processing.
 */
#include "common.h"

BENCH_MAIN_DEFS

#define PAGE 4096

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t tag;
} blk_t;

/* The tail word is written unless it would overlap the last page's word. */
static int tail_ok(const blk_t *b) { return (b->size - 8) % PAGE >= 8; }

static void touch(blk_t *b) {
  for (size_t off = 0; off + 8 <= b->size; off += PAGE) {
    uint64_t v = b->tag + off;
    memcpy(b->p + off, &v, 8);
  }
  if (tail_ok(b)) {
    uint64_t v = ~b->tag;
    memcpy(b->p + b->size - 8, &v, 8);
  }
}

static uint64_t check(const blk_t *b) {
  int bad = 0;
  for (size_t off = 0; off + 8 <= b->size; off += PAGE) {
    uint64_t v;
    memcpy(&v, b->p + off, 8);
    bad |= v != b->tag + off;
  }
  if (tail_ok(b)) {
    uint64_t v;
    memcpy(&v, b->p + b->size - 8, 8);
    bad |= v != ~b->tag;
  }
  if (bad) obj_report_corruption(b->p, b->size, b->tag, "large block");
  return obj_hash(b->tag, b->size);
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"iters", 200, 1500, "block replacements", 0},
      {"slots", 8, 8, "blocks in the working set", 0},
      {"minsize", 64 << 10, 64 << 10, "smallest block", 0},
      {"maxsize", 32 << 20, 32 << 20, "largest block (log-uniform sizes)", 0},
      {"seed", 13, 13, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("large", "large blocks 64 KiB..32 MiB, working set, pages touched", ps, np, argc,
               argv);
  long iters = bench_get(ps, np, "iters");
  long slots = bench_get(ps, np, "slots");
  uint64_t minsz = (uint64_t)bench_get(ps, np, "minsize");
  uint64_t maxsz = (uint64_t)bench_get(ps, np, "maxsize");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  if (slots < 1 || minsz < 16 || maxsz < minsz) {
    fprintf(stderr, "large: bad parameters\n");
    return 2;
  }
  blk_t *ws = (blk_t *)calloc((size_t)slots, sizeof(blk_t));
  uint64_t sum = 0, bytes = 0, tag = 1;
  double t0 = bench_now();
  for (long it = 0; it < iters; it++) {
    blk_t *b = &ws[rng_below(&rng, (uint64_t)slots)];
    if (b->p) {
      sum += check(b);
      free(b->p);
    }
    b->size = (size_t)rng_logrange(&rng, minsz, maxsz);
    b->tag = (tag++) << 32;
    if (rng_below(&rng, 8) == 0) {
      b->p = (unsigned char *)calloc(1, b->size);
      if (!b->p) abort();
      /* Sample the zero fill: first, middle and last word of each 64 KiB. */
      int nz = 0;
      for (size_t off = 0; off + 8 <= b->size; off += 65536) {
        uint64_t v;
        memcpy(&v, b->p + off, 8);
        nz |= v != 0;
      }
      uint64_t v;
      memcpy(&v, b->p + b->size - 8, 8);
      nz |= v != 0;
      if (nz) obj_report_corruption(b->p, b->size, b->tag, "calloc not zeroed");
    } else {
      b->p = (unsigned char *)malloc(b->size);
      if (!b->p) abort();
    }
    touch(b);
    bytes += b->size;
  }
  for (long i = 0; i < slots; i++)
    if (ws[i].p) {
      sum += check(&ws[i]);
      free(ws[i].p);
    }
  double t1 = bench_now();
  free(ws);
  printf("bytes=%llu\n", (unsigned long long)bytes);
  return bench_finish(sum, t1 - t0);
}
