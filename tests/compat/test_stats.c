/* Group 7: introspection and statistics. */
#include "compat_test.h"

static char global_buf[64];

int main(void) {
  GC_INIT();
  char* p = GC_MALLOC(100);
  CHECK(GC_base(p) == p);
  CHECK(GC_base(p + 50) == p);
  CHECK(GC_base(global_buf) == NULL);
  int local;
  CHECK(GC_base(&local) == NULL);
  void* m = malloc(32);
  CHECK(GC_base(m) == NULL);
  CHECK(!GC_is_heap_ptr(m));
  free(m);
  CHECK(GC_is_heap_ptr(p));
  CHECK(GC_is_heap_ptr(p + 99));
  CHECK(!GC_is_heap_ptr(global_buf));
  CHECK(GC_size(p) >= 100);
  void* u = GC_MALLOC_UNCOLLECTABLE(50);
  CHECK(GC_base(u) == u && GC_size(u) >= 50);
  CHECK(GC_same_obj(p + 10, p) == p + 10);
  CHECK(GC_is_visible(p) == p);
  char* q = p;
  CHECK(GC_PRE_INCR(q, 3) == p + 3 && q == p + 3);
  CHECK(GC_POST_INCR(q) == p + 3 && q == p + 4);

  size_t heap = GC_get_heap_size();
  CHECK(heap > 0);
  CHECK(GC_get_free_bytes() <= heap);
  size_t total = GC_get_total_bytes();
  churn(1000, 10000);
  CHECK(GC_get_total_bytes() >= total + 10000 * 1000);
  GC_word no = GC_get_gc_no();
  GC_gcollect();
  CHECK(GC_get_gc_no() == no + 1);

  GC_word hs, fb, ub, since, tot;
  GC_get_heap_usage_safe(&hs, &fb, &ub, &since, &tot);
  CHECK(hs > 0 && fb <= hs && tot >= total);
  struct GC_prof_stats_s st;
  CHECK(GC_get_prof_stats(&st, sizeof st) == sizeof st);
  CHECK(st.heapsize_full > 0 && st.gc_no == GC_get_gc_no());
  CHECK(st.obtained_from_os_bytes >= st.heapsize_full / 2);
  printf("test_stats: ok\n");
  return 0;
}
