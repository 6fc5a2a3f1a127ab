/*
 * random_replace: a fragmented steady state on one thread.
 *
 * A working set of `slots` objects of random size (uniform in
 * minsz..maxsz bytes, default 8..1024: some forty size classes) is filled
 * once; then each of `steps` steps frees the object in a random slot and
 * puts a fresh object of a new random size there. After the first few
 * hundred thousand steps every span of every class holds a random mix of
 * live and free slots, so an allocator's current span keeps running dry
 * after a handful of objects and the frees land all over its spans: the
 * row measures what refilling and freeing into non-current spans cost. The
 * threaded version of this shape, with remote frees, is the larson row.
 *
 * Every object is filled when allocated and verified when freed; the
 * checksum is the sum of the hashes of all objects, the same for every
 * allocator.
 */
#include "common.h"

BENCH_MAIN_DEFS

typedef struct {
  void *p;
  uint64_t tag;
  uint64_t size;
} slot_t;

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"slots", 20000, 20000, "objects in the working set", 0},
      {"steps", 300000, 30000000, "replacements (free a random slot, allocate a new object)", 0},
      {"minsz", 8, 8, "smallest object (bytes)", 0},
      {"maxsz", 1024, 1024, "largest object (bytes)", 0},
      {"seed", 11, 11, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("random_replace", "1 thread: replace random slots of a 20,000-object working set, 8..1024 B",
               ps, np, argc, argv);
  long nslots = bench_get(ps, np, "slots");
  long steps = bench_get(ps, np, "steps");
  long minsz = bench_get(ps, np, "minsz");
  long maxsz = bench_get(ps, np, "maxsz");
  if (nslots < 1 || steps < 0 || minsz < 8 || maxsz < minsz) {
    fprintf(stderr, "random_replace: bad parameters\n");
    return 2;
  }
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));

  slot_t *slots = (slot_t *)malloc(sizeof(slot_t) * (size_t)nslots);
  if (!slots) exit(4);
  uint64_t tag = 1, sum = 0;
  double t0 = bench_now();
  for (long i = 0; i < nslots; i++) {
    slots[i].size = rng_range(&rng, (uint64_t)minsz, (uint64_t)maxsz);
    slots[i].tag = tag++;
    slots[i].p = obj_new(slots[i].size, slots[i].tag);
  }
  for (long i = 0; i < steps; i++) {
    slot_t *s = &slots[rng_below(&rng, (uint64_t)nslots)];
    sum += obj_verify_known(s->p, s->size, s->tag);
    free(s->p);
    s->size = rng_range(&rng, (uint64_t)minsz, (uint64_t)maxsz);
    s->tag = tag++;
    s->p = obj_new(s->size, s->tag);
  }
  for (long i = 0; i < nslots; i++) {
    sum += obj_verify_known(slots[i].p, slots[i].size, slots[i].tag);
    free(slots[i].p);
  }
  double t1 = bench_now();
  free(slots);
  printf("ops=%ld\n", steps);
  return bench_finish(sum, t1 - t0);
}
