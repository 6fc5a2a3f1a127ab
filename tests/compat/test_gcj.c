/* gcj-style objects (gc_gcj.h), GC_finalize_all (javaxfc.h) and the time
 * limit: calls Debian's libgc.so.1 exports beyond the nine groups. */
#include <gc/gc_gcj.h>
#include <gc/javaxfc.h>

#include "compat_test.h"

#define WORDS 4
/* A gcj vtable: its second word is a length descriptor (the object's
 * words), which bdwgc uses to mark the object. */
static GC_word vtable[2] = {0, WORDS * sizeof(GC_word)};

static volatile int finalized[3];
static void fin(void* obj, void* cd) {
  (void)obj;
  finalized[(long)cd]++;
}

void* volatile kept; /* a gcj object held by a global */
static uintptr_t dropped_h;

static void* make(void* arg) {
  (void)arg;
  void** o = GC_GCJ_MALLOC(WORDS * sizeof(GC_word), vtable);
  CHECK(o && o[0] == (void*)vtable && GC_base(o) == o);
  void** child = GC_MALLOC(32);
  o[1] = child; /* kept alive through the gcj object */
  GC_REGISTER_FINALIZER(child, fin, (void*)0, NULL, NULL);
  kept = o;
  void** d = GC_gcj_malloc_ignore_off_page(WORDS * sizeof(GC_word), vtable);
  CHECK(d && d[0] == (void*)vtable);
  GC_REGISTER_FINALIZER(d, fin, (void*)1, NULL, NULL);
  dropped_h = hide(d);
  return NULL;
}

/* Registered on a reachable object: GC_finalize_all runs it anyway. */
static void* make_reachable(void* arg) {
  (void)arg;
  void** o = kept;
  GC_REGISTER_FINALIZER(o, fin, (void*)2, NULL, NULL);
  return NULL;
}

int main(void) {
  GC_INIT();
  GC_init_gcj_malloc(1, NULL);
  in_fresh_thread(make);
  CHECK(collect_until(&finalized[1], 20) == 1); /* the dropped gcj object */
  for (int i = 0; i < 5; i++) {
    churn(32, 2000);
    clear_stack();
    GC_gcollect();
    GC_invoke_finalizers();
  }
  CHECK(finalized[0] == 0); /* its child is alive */
  CHECK(((void**)kept)[0] == (void*)vtable);

  in_fresh_thread(make_reachable);
  GC_finalize_all();
  CHECK(finalized[2] == 1); /* reachable, finalized */
  CHECK(finalized[0] == 1); /* so was the child's */
  GC_finalize_all();        /* nothing left to run */
  CHECK(finalized[2] == 1 && finalized[0] == 1);

  struct GC_timeval_s tv = {250, 5};
  GC_set_time_limit_tv(tv);
  CHECK(GC_get_time_limit_tv().tv_ms == 250 && GC_get_time_limit_tv().tv_nsec == 5);
  printf("test_gcj: ok\n");
  return 0;
}
