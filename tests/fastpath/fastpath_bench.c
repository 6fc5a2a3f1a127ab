/* malloc/free pairs of one small size in one thread: the fast paths and
 * nothing else once the first span is cached. Run under callgrind by
 * count.sh with two iteration counts; the difference cancels startup. */
#include <stdio.h>
#include <stdlib.h>

void *volatile sink;

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : 32;
  for (long i = 0; i < n; i++) {
    void *p = malloc(size);
    sink = p;
    free(sink);
  }
  return 0;
}
