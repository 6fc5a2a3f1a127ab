/*
 * A tiny program: 64 mallocs of 8 sizes (16..296 B), half of them freed,
 * then it reports its anonymous memory (smaps_rollup's "Anonymous", the
 * private pages written so far: gomem's metadata, arena pages and data
 * section, the program's own) and its minor page faults, and whether gomem
 * serves its malloc. tiny_rss.sh runs it with and without gomem.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(void) {
  void* p[64];
  for (int i = 0; i < 64; i++) {
    p[i] = malloc(16 + (size_t)(i % 8) * 40);
    if (!p[i]) return 1;
    memset(p[i], 1, 16);
  }
  for (int i = 0; i < 64; i += 2) free(p[i]);
  long anon = -1;
  FILE* f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) return 77;
  char line[256];
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Anonymous: %ld kB", &anon) == 1) break;
  fclose(f);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("gomem=%d anon_kb=%ld minflt=%ld\n", dlsym(RTLD_DEFAULT, "gomem_malloc") != NULL, anon, ru.ru_minflt);
  for (int i = 1; i < 64; i += 2) free(p[i]);
  return anon < 0 ? 77 : 0;
}
