/* Group 6: GC_disable stops automatic and explicit collections (so does
 * GC_dont_gc set directly), roots added and removed, and the tuning calls. */
#include "compat_test.h"

static void** root_area; /* malloc memory: invisible unless added as roots */
static volatile int dead;
static void on_death(void* obj, void* cd) {
  (void)obj;
  (void)cd;
  dead = 1;
}

static void* put_in_root(void* arg) {
  (void)arg;
  void* p = GC_MALLOC(64);
  GC_REGISTER_FINALIZER(p, on_death, NULL, NULL, NULL);
  root_area[3] = p;
  return NULL;
}

int main(void) {
  GC_INIT();
  GC_word before = GC_get_gc_no();
  GC_gcollect();
  CHECK(GC_get_gc_no() > before);

  GC_disable();
  CHECK(GC_is_disabled());
  before = GC_get_gc_no();
  GC_gcollect();
  churn(4096, 100000); /* 400 MB of garbage: no collection either */
  CHECK(GC_get_gc_no() == before);
  GC_enable();
  CHECK(!GC_is_disabled());
  GC_gcollect();
  CHECK(GC_get_gc_no() > before);

  GC_dont_gc = 1; /* old programs write the variable */
  churn(64, 10);
  before = GC_get_gc_no();
  churn(4096, 50000);
  GC_gcollect();
  CHECK(GC_get_gc_no() == before);
  GC_dont_gc = 0;
  churn(64, 10);

  /* Automatic collections off, explicit ones still run. */
  GC_set_disable_automatic_collection(1);
  CHECK(GC_get_disable_automatic_collection());
  before = GC_get_gc_no();
  churn(4096, 50000);
  CHECK(GC_get_gc_no() == before);
  GC_gcollect();
  CHECK(GC_get_gc_no() == before + 1);
  GC_disable(); /* both, then one at a time */
  GC_enable();
  churn(4096, 50000);
  CHECK(GC_get_gc_no() == before + 1);
  GC_set_disable_automatic_collection(0);
  CHECK(!GC_get_disable_automatic_collection());
  churn(4096, 100000);
  CHECK(GC_get_gc_no() > before + 1);

  /* Roots. */
  root_area = malloc(16 * sizeof(void*));
  memset(root_area, 0, 16 * sizeof(void*));
  GC_add_roots(root_area, root_area + 16);
  in_fresh_thread(put_in_root);
  for (int i = 0; i < 5; i++) {
    clear_stack();
    GC_gcollect();
  }
  CHECK(!dead);
  GC_remove_roots(root_area, root_area + 16);
  CHECK(collect_until(&dead, 20));

  dead = 0;
  GC_add_roots(root_area, root_area + 16);
  in_fresh_thread(put_in_root);
  for (int i = 0; i < 3; i++) GC_gcollect();
  CHECK(!dead);
  GC_clear_roots();
  CHECK(collect_until(&dead, 20));

  /* Accepted tuning. */
  GC_set_free_space_divisor(4);
  CHECK(GC_get_free_space_divisor() == 4);
  GC_set_max_heap_size((GC_word)8 << 30);
  GC_set_no_dls(1);
  CHECK(GC_get_no_dls() == 1);
  static char excluded[4096];
  GC_exclude_static_roots(excluded, excluded + sizeof excluded);
  GC_set_all_interior_pointers(1);
  CHECK(GC_get_all_interior_pointers() == 1);
  GC_enable_incremental();
  (void)GC_is_incremental_mode();
  GC_set_max_heap_size(0);
  churn(128, 100000);
  printf("test_control: ok\n");
  return 0;
}
