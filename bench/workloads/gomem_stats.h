/*
 * The preloaded gomem's own heap figures, when gomem is the allocator.
 *
 * Workloads stay allocator-neutral: gomem_read_stats is looked up with dlsym
 * at run time, so under any other allocator these helpers report nothing.
 * Only the structure layout comes from gomem's public header.
 */
#ifndef GOMEM_BENCH_GOMEM_STATS_H
#define GOMEM_BENCH_GOMEM_STATS_H

#include <dlfcn.h>

#include "../../include/gomem/gomem.h"

/* Fills *st and returns 1 under gomem; returns 0 under any other allocator. */
static inline int bench_gomem_stats(gomem_stats *st) {
  void (*read)(gomem_stats *) = (void (*)(gomem_stats *))dlsym(RTLD_DEFAULT, "gomem_read_stats");
  if (!read) return 0;
  read(st);
  return 1;
}

#endif /* GOMEM_BENCH_GOMEM_STATS_H */
