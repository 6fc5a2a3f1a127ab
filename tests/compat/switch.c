/* Built against Debian's bdwgc (its gc.h, its libgc.so.1): says which
 * collector it runs on. Under gomem run --libgc it must be gomem, unchanged. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <gc.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  GC_INIT();
  char* s = GC_MALLOC_ATOMIC(16);
  strcpy(s, "alive");
  GC_gcollect();
  printf("%s %s\n", dlsym(RTLD_DEFAULT, "gomem_gc_alloc") ? "gomem" : "bdwgc", s);
  return 0;
}
