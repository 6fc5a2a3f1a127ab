/*
 * fragmentation: how much memory does the allocator keep after a mixed
 * working set is thinned out, and can it reuse it for different sizes?
 *
 * 1. Allocate N objects of mixed sizes (60 % 16..128 B, 25 % 129 B..1 KiB,
 *    14 % 1..16 KiB, 1 % 16..128 KiB, log-uniform within each band) and write
 *    every byte (so the memory is resident).
 * 2. Each cycle: free free_pct % of the live objects, chosen at random (the
 *    survivors pin most pages), read RSS; then allocate objects again until
 *    the live bytes are back where they were, drawing sizes from the same
 *    bands scaled by (2 + cycle) / 2, so the new objects do not fit the old
 *    holes exactly.
 * Prints, parseably:
 *   rss_peak_kb=  VmHWM at the end (the high-water mark of the whole run)
 *   rss_final_kb= VmRSS at the end, live set still allocated
 *   rss_after_free_kb= VmRSS right after the last free phase
 *   live_peak_kb= / live_final_kb= bytes the program itself holds
 * An allocator that reuses freed memory well has rss_final close to
 * rss_peak close to live_peak; one that returns memory keeps
 * rss_after_free low.
 */
#include "common.h"

BENCH_MAIN_DEFS

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t tag;
} obj_t;

static size_t pick(rng_t *r, int cycle) {
  uint64_t k = rng_below(r, 100);
  size_t s;
  if (k < 60) s = (size_t)rng_logrange(r, 16, 128);
  else if (k < 85) s = (size_t)rng_logrange(r, 129, 1024);
  else if (k < 99) s = (size_t)rng_logrange(r, 1025, 16384);
  else s = (size_t)rng_logrange(r, 16385, 131072);
  return s * (size_t)(2 + cycle) / 2;
}

static void fill(obj_t *o) {
  memset(o->p, (int)(o->tag & 0xff), o->size);
  obj_fill(o->p, o->size, o->tag);
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"objects", 20000, 250000, "objects in the initial working set", 0},
      {"cycles", 2, 2, "free/reallocate cycles", 0},
      {"free_pct", 90, 90, "percent of live objects freed per cycle", 0},
      {"seed", 19, 19, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("fragmentation", "mixed working set, free 90% at random, allocate other sizes", ps,
               np, argc, argv);
  long n = bench_get(ps, np, "objects");
  long cycles = bench_get(ps, np, "cycles");
  long free_pct = bench_get(ps, np, "free_pct");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  if (n < 1 || free_pct < 0 || free_pct > 100) {
    fprintf(stderr, "fragmentation: bad parameters\n");
    return 2;
  }

  size_t cap = (size_t)n;
  obj_t *objs = (obj_t *)malloc(sizeof(obj_t) * cap);
  size_t count = 0;
  uint64_t live = 0, live_peak = 0, tag = 1, sum = 0;
  long rss_after_free = -1;
  double t0 = bench_now();

  for (long i = 0; i < n; i++) {
    obj_t *o = &objs[count++];
    o->size = pick(&rng, 0);
    o->tag = tag++;
    o->p = (unsigned char *)malloc(o->size);
    if (!o->p) exit(4);
    fill(o);
    live += o->size;
  }
  live_peak = live;
  uint64_t target = live;

  for (long c = 1; c <= cycles; c++) {
    /* Free free_pct % at random: shuffle, free a prefix, compact. */
    for (size_t i = count - 1; i > 0; i--) {
      size_t j = (size_t)rng_below(&rng, (uint64_t)i + 1);
      obj_t t = objs[i];
      objs[i] = objs[j];
      objs[j] = t;
    }
    size_t nfree = (size_t)((uint64_t)count * (uint64_t)free_pct / 100);
    for (size_t i = 0; i < nfree; i++) {
      sum += obj_verify_known(objs[i].p, objs[i].size, objs[i].tag);
      free(objs[i].p);
      live -= objs[i].size;
    }
    memmove(objs, objs + nfree, (count - nfree) * sizeof(obj_t));
    count -= nfree;
    rss_after_free = bench_status_kb("VmRSS");

    /* Allocate again, other sizes, until the live bytes are back. */
    while (live < target) {
      if (count == cap) {
        cap *= 2;
        objs = (obj_t *)realloc(objs, sizeof(obj_t) * cap);
        if (!objs) exit(4);
      }
      obj_t *o = &objs[count++];
      o->size = pick(&rng, (int)c);
      o->tag = tag++;
      o->p = (unsigned char *)malloc(o->size);
      if (!o->p) exit(4);
      fill(o);
      live += o->size;
    }
    if (live > live_peak) live_peak = live;
  }
  long rss_final = bench_status_kb("VmRSS");
  long rss_peak = bench_status_kb("VmHWM");
  uint64_t live_final = live;
  for (size_t i = 0; i < count; i++) {
    sum += obj_verify_known(objs[i].p, objs[i].size, objs[i].tag);
    free(objs[i].p);
  }
  double t1 = bench_now();
  free(objs);
  printf("rss_peak_kb=%ld rss_final_kb=%ld rss_after_free_kb=%ld live_peak_kb=%llu "
         "live_final_kb=%llu\n",
         rss_peak, rss_final, rss_after_free, (unsigned long long)(live_peak >> 10),
         (unsigned long long)(live_final >> 10));
  return bench_finish(sum, t1 - t0);
}
