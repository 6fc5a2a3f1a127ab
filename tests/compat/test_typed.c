/* Group 8: typed allocation (conservative on gomem), gc_inline.h and the
 * GC_debug_ calls. */
#include <gc/gc_inline.h>
#include <gc/gc_typed.h>

#include "compat_test.h"

struct typed {
  long number;
  void* ptr;
  long more[6];
};

static uintptr_t holder_h;
static void* build(void* arg) {
  (void)arg;
  GC_word bm[GC_BITMAP_SIZE(struct typed)] = {0};
  GC_set_bit(bm, GC_WORD_OFFSET(struct typed, ptr));
  GC_descr d = GC_make_descriptor(bm, GC_WORD_LEN(struct typed));
  struct typed** holder = GC_MALLOC_UNCOLLECTABLE(sizeof *holder);
  struct typed* t = GC_malloc_explicitly_typed(sizeof *t, d);
  t->ptr = GC_MALLOC_ATOMIC(100);
  memset(t->ptr, 'x', 100);
  *holder = t;
  struct typed* arr = GC_calloc_explicitly_typed(10, sizeof *arr, d);
  CHECK(arr && GC_size(arr) >= 10 * sizeof *arr);
  holder_h = hide(holder);
  return NULL;
}

int main(void) {
  GC_INIT();
  in_fresh_thread(build);
  churn(100, 100000);
  clear_stack();
  GC_gcollect();
  churn(100, 100000);
  struct typed** holder = reveal(holder_h);
  for (int i = 0; i < 100; i++) CHECK(((char*)(*holder)->ptr)[i] == 'x');

  /* gc_inline.h: thread-local free lists filled by GC_generic_malloc_many. */
  void* fl[GC_TINY_FREELISTS] = {0};
  void* r;
  GC_MALLOC_WORDS(r, 3, fl);
  CHECK(r && GC_size(r) >= 3 * sizeof(void*));
  GC_CONS(r, (void*)1, (void*)2, fl);
  CHECK(((void**)r)[0] == (void*)1 && ((void**)r)[1] == (void*)2);
  GC_MALLOC_ATOMIC_WORDS(r, 2, fl);
  CHECK(r);

  /* Debug calls are the plain ones. */
  void* dp = GC_debug_malloc(40, GC_EXTRAS);
  CHECK(dp && GC_base(dp) == dp);
  dp = GC_debug_realloc(dp, 400, GC_EXTRAS);
  CHECK(dp && GC_size(dp) >= 400);
  GC_debug_free(dp);
  CHECK(GC_debug_malloc_atomic(10, GC_EXTRAS) != NULL);
  CHECK(GC_debug_malloc_uncollectable(10, GC_EXTRAS) != NULL);
  CHECK(strcmp(GC_debug_strdup("abc", GC_EXTRAS), "abc") == 0);
  GC_debug_register_finalizer(GC_debug_malloc(8, GC_EXTRAS), NULL, NULL, NULL, NULL);
  printf("test_typed: ok\n");
  return 0;
}
