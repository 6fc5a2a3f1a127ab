/* Group 5: disappearing links, short and long, unregister and move. Links
 * live in pointer-free blocks (the collector does not see them). */
#include "compat_test.h"

static void** cells; /* pointer-free: 8 link slots */
static volatile int resurrected;
static uintptr_t saved_h;

static void resurrect(void* obj, void* cd) {
  (void)cd;
  saved_h = hide(obj);
  void** holder = GC_MALLOC_UNCOLLECTABLE(sizeof(void*));
  *holder = obj;                       /* alive again */
  uncollectable_holder = hide(holder); /* the store must not be optimized away */
  resurrected = 1;
}

static void* setup(void* arg) {
  (void)arg;
  void *a = GC_MALLOC(32), *b = GC_MALLOC(32), *c = GC_MALLOC(32), *d = GC_MALLOC(32);
  cells[0] = a;
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&cells[0], a) == GC_SUCCESS);
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&cells[0], a) == GC_DUPLICATE);
  /* b: short and long link, and a finalizer that resurrects it. */
  cells[1] = b;
  cells[2] = b;
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&cells[1], b) == GC_SUCCESS);
  CHECK(GC_REGISTER_LONG_LINK(&cells[2], b) == GC_SUCCESS);
  GC_REGISTER_FINALIZER(b, resurrect, NULL, NULL, NULL);
  /* c: registered, then unregistered: never cleared. */
  cells[3] = c;
  CHECK(GC_register_disappearing_link(&cells[3]) == GC_SUCCESS);
  CHECK(GC_unregister_disappearing_link(&cells[3]) == 1);
  CHECK(GC_unregister_disappearing_link(&cells[3]) == 0);
  /* d: moved from slot 4 to slot 5. */
  cells[4] = d;
  cells[5] = d;
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&cells[4], d) == GC_SUCCESS);
  CHECK(GC_move_disappearing_link(&cells[4], &cells[5]) == GC_SUCCESS);
  CHECK(GC_move_disappearing_link(&cells[4], &cells[5]) == GC_NOT_FOUND);
  CHECK(GC_move_disappearing_link(&cells[5], &cells[5]) == GC_SUCCESS);
  cells[6] = d;
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK(&cells[6], d) == GC_SUCCESS);
  CHECK(GC_move_disappearing_link(&cells[6], &cells[5]) == GC_DUPLICATE);
  CHECK(GC_unregister_disappearing_link(&cells[6]) == 1);
  /* A long link that is moved. */
  cells[7] = d;
  CHECK(GC_REGISTER_LONG_LINK(&cells[7], d) == GC_SUCCESS);
  CHECK(GC_move_long_link(&cells[7], &cells[7]) == GC_SUCCESS);
  CHECK(GC_unregister_long_link(&cells[7]) == 1);
  cells[7] = NULL;
  return NULL;
}

static void* read_links(void* cd) {
  void** out = cd;
  for (int i = 0; i < 8; i++) out[i] = cells[i];
  return NULL;
}

static int cleared(int i) {
  void* v[8];
  GC_call_with_alloc_lock(read_links, v);
  return v[i] == NULL;
}

int main(void) {
  GC_INIT();
  cells = GC_MALLOC_ATOMIC(8 * sizeof(void*));
  in_fresh_thread(setup);
  CHECK(!cleared(0) && !cleared(1) && !cleared(2));

  int i;
  for (i = 0; i < 20 && !(cleared(0) && cleared(1) && cleared(5)); i++) {
    clear_stack();
    GC_gcollect();
  }
  CHECK(cleared(0));
  CHECK(cleared(1));  /* short link: cleared before finalization */
  CHECK(resurrected); /* b's finalizer ran */
  CHECK(!cleared(2)); /* long link: b lives again */
  CHECK(cells[2] == reveal(saved_h));
  CHECK(!cleared(3)); /* unregistered */
  CHECK(cleared(5));  /* the moved link */
  CHECK(cells[4] != NULL);
  printf("test_links: ok\n");
  return 0;
}
