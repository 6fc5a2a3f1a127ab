/* Toggle references, the start callback and the program's root pusher:
 * what bdwgc does at the start of and during every collection. Objects are
 * followed through finalizers (died[id]) and XOR-masked addresses; the
 * toggle-ref callback checks that it is only ever given live objects. */
#include <gc/gc_mark.h>

#include "compat_test.h"

enum { A_STRONG, B_WEAK, C_TO_WEAK, D_DROP, E_REACHABLE, F_TO_STRONG, G_PUSHED, NOBJ };
#define CANARY 0x70661eul

struct obj {
  unsigned long canary;
  int id;
};

static volatile int died[NOBJ];
static volatile int asked[NOBJ]; /* callback calls per object */
static volatile int bad_calls;
static GC_ToggleRefStatus answer[NOBJ];
struct obj* volatile reachable; /* E: a root (read by no one: volatile) */
static volatile int starts;
static void** pushed_holder; /* C library memory: not scanned */
static GC_push_other_roots_proc old_push;

static GC_ToggleRefStatus decide(void* p) {
  struct obj* o = p;
  if (GC_base(p) != p || o->canary != CANARY || o->id < 0 || o->id >= NOBJ) {
    bad_calls++;
    return GC_TOGGLE_REF_DROP;
  }
  asked[o->id]++;
  return answer[o->id];
}

static void on_death(void* p, void* cd) {
  (void)cd;
  struct obj* o = p;
  CHECK(o->canary == CANARY);
  died[o->id]++;
}

static void on_start(void) { starts++; }

static void push_mine(void) {
  if (old_push) old_push();
  GC_push_all(pushed_holder, pushed_holder + 1);
}

static struct obj* make(int id) {
  struct obj* o = GC_MALLOC(sizeof *o);
  o->canary = CANARY;
  o->id = id;
  GC_REGISTER_FINALIZER(o, on_death, NULL, NULL, NULL);
  return o;
}

static void* setup(void* arg) {
  (void)arg;
  CHECK(GC_toggleref_add(make(A_STRONG), 1) == GC_SUCCESS);
  CHECK(GC_toggleref_add(make(B_WEAK), 0) == GC_SUCCESS);
  CHECK(GC_toggleref_add(make(C_TO_WEAK), 1) == GC_SUCCESS);
  CHECK(GC_toggleref_add(make(D_DROP), 1) == GC_SUCCESS);
  reachable = make(E_REACHABLE);
  CHECK(GC_toggleref_add(reachable, 0) == GC_SUCCESS);
  CHECK(GC_toggleref_add(make(F_TO_STRONG), 0) == GC_SUCCESS);
  *pushed_holder = make(G_PUSHED);
  return NULL;
}

static void collect_rounds(int n) {
  for (int i = 0; i < n; i++) {
    clear_stack();
    GC_gcollect();
    GC_invoke_finalizers();
  }
}

int main(void) {
  GC_INIT();
  /* No callback yet: accepted, nothing recorded (bdwgc's rule). */
  CHECK(GC_toggleref_add(GC_MALLOC(16), 1) == GC_SUCCESS);
  CHECK(GC_get_toggleref_func() == NULL);
  GC_set_toggleref_func(decide);
  CHECK(GC_get_toggleref_func() == decide);
  GC_set_start_callback(on_start);
  CHECK(GC_get_start_callback() == on_start);
  pushed_holder = malloc(sizeof(void*));
  old_push = GC_get_push_other_roots();
  GC_set_push_other_roots(push_mine);
  CHECK(GC_get_push_other_roots() == push_mine);

  answer[A_STRONG] = GC_TOGGLE_REF_STRONG;
  answer[B_WEAK] = GC_TOGGLE_REF_WEAK;
  answer[C_TO_WEAK] = GC_TOGGLE_REF_WEAK;
  answer[D_DROP] = GC_TOGGLE_REF_DROP;
  answer[E_REACHABLE] = GC_TOGGLE_REF_WEAK;
  answer[F_TO_STRONG] = GC_TOGGLE_REF_STRONG;
  in_fresh_thread(setup);

  int before = starts;
  collect_rounds(10);
  CHECK(starts >= before + 10); /* every collection starts with the callbacks */
  CHECK(bad_calls == 0);
  CHECK(died[A_STRONG] == 0 && asked[A_STRONG] >= 10);
  CHECK(died[B_WEAK] == 1);
  CHECK(died[C_TO_WEAK] == 1);
  CHECK(died[D_DROP] == 1 && asked[D_DROP] == 1);
  CHECK(died[E_REACHABLE] == 0 && asked[E_REACHABLE] >= 10);
  CHECK(died[F_TO_STRONG] == 0 && asked[F_TO_STRONG] >= 10);
  CHECK(died[G_PUSHED] == 0);
  /* The dead are no longer asked about. */
  int b = asked[B_WEAK], c = asked[C_TO_WEAK];
  collect_rounds(3);
  CHECK(asked[B_WEAK] == b && asked[C_TO_WEAK] == c);

  /* Automatic collections (no GC_gcollect) run the callbacks too. */
  before = asked[A_STRONG];
  GC_word gc_no = GC_get_gc_no();
  for (int i = 0; i < 200000 && GC_get_gc_no() < gc_no + 2; i++) churn(64, 10);
  CHECK(GC_get_gc_no() >= gc_no + 2);
  CHECK(asked[A_STRONG] > before);

  /* Strong to weak, and the root pusher gone: both die. */
  answer[A_STRONG] = GC_TOGGLE_REF_WEAK;
  answer[F_TO_STRONG] = GC_TOGGLE_REF_DROP;
  *pushed_holder = NULL;
  collect_rounds(10);
  CHECK(died[A_STRONG] == 1 && died[F_TO_STRONG] == 1 && died[G_PUSHED] == 1);
  CHECK(died[E_REACHABLE] == 0);
  CHECK(bad_calls == 0);
  GC_set_push_other_roots(old_push);
  printf("test_toggleref: ok\n");
  return 0;
}
