/*
 * large_reuse: same-size large blocks freed and reallocated at random.
 *
 * A working set of S blocks of exactly N pages of 8 KiB (malloc(N * 8192));
 * each step frees a random block and allocates a new one of the same size,
 * one word written on every 4 KiB page. Every freed hole is exactly the next
 * request, so an allocator that reuses it needs no more memory than the
 * working set; one that rounds requests up to a size-class boundary above
 * the hole grows its heap instead (gomem's page heap once reached 1.75-
 * 1.85 times the live bytes for N = 70..1023). Under gomem the program also
 * prints heap_sys / live (the heap's mapped bytes over the bytes the program
 * holds) and retained / live (the same without pages released to the OS or
 * never touched); the harness runs it with GOMEM_SCAVENGER=0 so the figures
 * show placement, not the scavenger.
 */
#include "common.h"
#include "gomem_stats.h"

BENCH_MAIN_DEFS

#define PAGE 4096

static void touch(unsigned char *p, size_t size, uint64_t tag) {
  for (size_t off = 0; off + 8 <= size; off += PAGE) {
    uint64_t v = tag + off;
    memcpy(p + off, &v, 8);
  }
}

static uint64_t check(const unsigned char *p, size_t size, uint64_t tag) {
  int bad = 0;
  for (size_t off = 0; off + 8 <= size; off += PAGE) {
    uint64_t v;
    memcpy(&v, p + off, 8);
    bad |= v != tag + off;
  }
  if (bad) obj_report_corruption(p, size, tag, "large block");
  return obj_hash(tag, size);
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"pages", 70, 1001, "block size in 8 KiB pages", 0},
      {"slots", 16, 16, "blocks in the working set", 0},
      {"steps", 200, 2000, "free-and-reallocate steps", 0},
      {"seed", 11, 11, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("large_reuse", "same-size large blocks freed and reallocated at random", ps, np,
               argc, argv);
  size_t size = (size_t)bench_get(ps, np, "pages") * 8192;
  long slots = bench_get(ps, np, "slots");
  long steps = bench_get(ps, np, "steps");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  if (size == 0 || slots < 1) {
    fprintf(stderr, "large_reuse: bad parameters\n");
    return 2;
  }
  unsigned char **blk = (unsigned char **)calloc((size_t)slots, sizeof(*blk));
  uint64_t *tags = (uint64_t *)calloc((size_t)slots, sizeof(*tags));
  uint64_t sum = 0, tag = 1;
  double t0 = bench_now();
  for (long i = 0; i < slots + steps; i++) {
    long k = i < slots ? i : (long)rng_below(&rng, (uint64_t)slots);
    if (blk[k]) {
      sum += check(blk[k], size, tags[k]);
      free(blk[k]);
    }
    blk[k] = (unsigned char *)malloc(size);
    if (!blk[k]) abort();
    tags[k] = (tag++) << 32;
    touch(blk[k], size, tags[k]);
  }
  double t1 = bench_now();
  gomem_stats st;
  if (bench_gomem_stats(&st)) {
    double live = (double)size * (double)slots;
    printf("heap_sys_ratio=%.3f retained_ratio=%.3f\n", (double)st.heap_sys / live,
           (double)(st.heap_sys - st.heap_released) / live);
  }
  for (long k = 0; k < slots; k++) {
    sum += check(blk[k], size, tags[k]);
    free(blk[k]);
  }
  free(blk);
  free(tags);
  printf("ops=%ld\n", slots + steps);
  return bench_finish(sum, t1 - t0);
}
