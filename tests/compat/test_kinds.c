/* Group 9: custom kinds and mark procedures (Guile's and ECL's use),
 * GC_generic_malloc_many lists, GC_call_with_alloc_lock. On gomem objects of
 * a kind with a mark procedure are scanned conservatively. */
#include <gc/gc_inline.h>
#include <gc/gc_mark.h>

#include "compat_test.h"

static struct GC_ms_entry* mark(GC_word* addr, struct GC_ms_entry* msp, struct GC_ms_entry* lim, GC_word env) {
  (void)env;
  return GC_MARK_AND_PUSH((void*)addr[1], msp, lim, (void**)&addr[1]);
}

static int kind;
static uintptr_t holder_h, list_h;
static void* build(void* arg) {
  (void)arg;
  void*** holder = GC_MALLOC_UNCOLLECTABLE(2 * sizeof(void*));
  void** obj = GC_generic_malloc(4 * sizeof(void*), kind);
  CHECK(obj);
  obj[1] = GC_MALLOC_ATOMIC(64);
  memset(obj[1], 'k', 64);
  holder[0] = obj;
  /* A pointer-free list from GC_generic_malloc_many: only the head is held. */
  void* list = NULL;
  GC_generic_malloc_many(32, GC_I_PTRFREE, &list);
  int n = 0;
  for (void* p = list; p; p = GC_NEXT(p)) {
    memset((char*)p + sizeof(void*), 'L', 32 - sizeof(void*));
    n++;
  }
  CHECK(n >= 1);
  holder[1] = list;
  holder_h = hide(holder);
  list_h = (uintptr_t)n;
  return NULL;
}

static void* locked(void* cd) { return cd; }

int main(void) {
  GC_INIT();
  void** fl = GC_new_free_list();
  CHECK(fl);
  unsigned proc = GC_new_proc(mark);
  kind = (int)GC_new_kind(fl, GC_MAKE_PROC(proc, 0), 0, 1);
  CHECK(kind > 3);
  unsigned atomic_kind = GC_new_kind(GC_new_free_list(), 0 | GC_DS_LENGTH, 0, 1);
  CHECK(atomic_kind > (unsigned)kind);
  CHECK(GC_generic_malloc(16, (int)atomic_kind) != NULL);

  in_fresh_thread(build);
  churn(32, 200000);
  clear_stack();
  GC_gcollect();
  churn(32, 200000);
  void*** holder = reveal(holder_h);
  for (int i = 0; i < 64; i++) CHECK(((char*)holder[0][1])[i] == 'k');
  int n = 0;
  for (void* p = holder[1]; p; p = GC_NEXT(p), n++)
    for (size_t i = sizeof(void*); i < 32; i++) CHECK(((char*)p)[i] == 'L');
  CHECK(n == (int)list_h);

  CHECK(GC_call_with_alloc_lock(locked, (void*)5) == (void*)5);
  printf("test_kinds: ok\n");
  return 0;
}
