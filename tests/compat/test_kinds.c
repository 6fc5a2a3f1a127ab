/* Group 9: custom kinds and mark procedures (Guile's and ECL's use),
 * GC_generic_malloc_many lists, GC_call_with_alloc_lock. On gomem an object
 * of a kind with a mark procedure is scanned conservatively and its
 * procedure runs in every collection while it lives. */
#include <gc/gc_inline.h>
#include <gc/gc_mark.h>

#include "compat_test.h"

/* Objects of `kind`: word 0 points to a malloc'ed (so invisible) array of
 * 4 pointers, which only this procedure knows to mark (as Guile's thread
 * objects know their mmap'ed VM stacks). Word 2 is pushed as a range. */
static struct GC_ms_entry* mark(GC_word* addr, struct GC_ms_entry* msp, struct GC_ms_entry* lim, GC_word env) {
  (void)env;
  void** hidden = (void**)addr[0];
  if (hidden)
    for (int i = 0; i < 4; i++) msp = GC_MARK_AND_PUSH(hidden[i], msp, lim, &hidden[i]);
  if (addr[2]) {
    msp++;
    msp->mse_start = (void*)addr[2];
    msp->mse_descr = (4 * sizeof(void*)) | GC_DS_LENGTH;
  }
  return msp;
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
  void** hidden = malloc(4 * sizeof(void*));
  for (int i = 0; i < 4; i++) {
    hidden[i] = GC_MALLOC_ATOMIC(48);
    memset(hidden[i], 'a' + i, 48);
  }
  obj[0] = hidden;
  void** range = malloc(4 * sizeof(void*)); /* pushed as a length entry */
  for (int i = 0; i < 4; i++) {
    range[i] = GC_MALLOC_ATOMIC(40);
    memset(range[i], 'p' + i, 40);
  }
  obj[2] = range;
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
  /* What only the mark procedure knows of survived. */
  void **hidden = holder[0][0], **range = holder[0][2];
  for (int j = 0; j < 4; j++)
    for (int i = 0; i < 48; i++) CHECK(((char*)hidden[j])[i] == 'a' + j);
  for (int j = 0; j < 4; j++)
    for (int i = 0; i < 40; i++) CHECK(((char*)range[j])[i] == 'p' + j);
  int n = 0;
  for (void* p = holder[1]; p; p = GC_NEXT(p), n++)
    for (size_t i = sizeof(void*); i < 32; i++) CHECK(((char*)p)[i] == 'L');
  CHECK(n == (int)list_h);

  CHECK(GC_call_with_alloc_lock(locked, (void*)5) == (void*)5);
  printf("test_kinds: ok\n");
  return 0;
}
