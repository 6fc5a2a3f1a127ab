/* Group 4: finalizers, with bdwgc's rules: the previous finalizer is
 * returned, finalizers run on the thread that collects or allocates (or
 * only in GC_invoke_finalizers when GC_finalize_on_demand is set, after the
 * notifier), in order, and the ignore-self / no-order variants. */
#include "compat_test.h"

static pthread_t main_thread;
static volatile int finalized[8];
static volatile int wrong_thread;
static int order[8], norder;

static void fin(void* obj, void* cd) {
  long i = (long)cd;
  (void)obj;
  if (!pthread_equal(pthread_self(), main_thread)) wrong_thread = 1;
  finalized[i]++;
  order[norder++] = (int)i;
}
static void other_fin(void* obj, void* cd) {
  (void)obj;
  (void)cd;
}

/* The client data is kept alive by the registration alone (links' and
 * finalizers' records are not where the collector looks; the layer keeps
 * client data where it does). */
#define CD_CANARY 0xcdcdcdcdul
static volatile int cd_checked;
void* volatile cd_owner; /* the object, alive while this holds it */
static void fin_with_cd(void* obj, void* cd) {
  (void)obj;
  CHECK(((unsigned long*)cd)[0] == CD_CANARY && ((unsigned long*)cd)[7] == CD_CANARY);
  cd_checked = 1;
}
static void* make_with_cd(void* arg) {
  (void)arg;
  void* p = GC_MALLOC(64);
  unsigned long* cd = GC_MALLOC(64);
  cd[0] = cd[7] = CD_CANARY;
  GC_REGISTER_FINALIZER(p, fin_with_cd, cd, NULL, NULL);
  cd_owner = p;
  return NULL;
}

static uintptr_t keep_h;
static void* make(void* arg) {
  long what = (long)arg;
  if (what == 0) { /* plain: 0 */
    void* p = GC_MALLOC(64);
    GC_finalization_proc ofn = (GC_finalization_proc)1;
    void* ocd = (void*)1;
    GC_REGISTER_FINALIZER(p, other_fin, (void*)9, &ofn, &ocd);
    CHECK(ofn == NULL && ocd == NULL);
    GC_REGISTER_FINALIZER(p, fin, (void*)0, &ofn, &ocd);
    CHECK(ofn == other_fin && ocd == (void*)9);
  } else if (what == 1) { /* ordered: A(1) -> B(2) */
    void** a = GC_MALLOC(64);
    void** b = GC_MALLOC(64);
    a[0] = b;
    GC_REGISTER_FINALIZER(a, fin, (void*)1, NULL, NULL);
    GC_REGISTER_FINALIZER(b, fin, (void*)2, NULL, NULL);
  } else if (what == 2) { /* ignore-self (3), no-order cycle (4, 5) */
    void** s = GC_MALLOC(64);
    s[0] = s;
    GC_REGISTER_FINALIZER_IGNORE_SELF(s, fin, (void*)3, NULL, NULL);
    void** x = GC_MALLOC(64);
    void** y = GC_MALLOC(64);
    x[0] = y;
    y[0] = x;
    GC_REGISTER_FINALIZER_NO_ORDER(x, fin, (void*)4, NULL, NULL);
    GC_REGISTER_FINALIZER_UNREACHABLE(y, fin, (void*)5, NULL, NULL);
  } else if (what == 3) { /* removed: 6 never runs */
    void* p = GC_MALLOC(64);
    GC_finalization_proc ofn;
    void* ocd;
    GC_REGISTER_FINALIZER(p, fin, (void*)6, NULL, NULL);
    GC_REGISTER_FINALIZER(p, NULL, NULL, &ofn, &ocd);
    CHECK(ofn == fin && ocd == (void*)6);
  } else if (what == 4) { /* on demand: 7 */
    void* p = GC_MALLOC(64);
    GC_REGISTER_FINALIZER(p, fin, (void*)7, NULL, NULL);
  } else { /* kept alive: 6 must not run */
    void* p = GC_MALLOC(64);
    GC_REGISTER_FINALIZER(p, fin, (void*)6, NULL, NULL);
    keep_h = hide(p);
    void** holder = GC_MALLOC_UNCOLLECTABLE(sizeof(void*));
    *holder = p;
    uncollectable_holder = hide(holder); /* the store must not be optimized away */
  }
  return NULL;
}

static void make_in_thread(long what) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, make, (void*)what) == 0);
  CHECK(pthread_join(t, NULL) == 0);
}

static volatile int notified;
static void notifier(void) { notified++; }

int main(void) {
  GC_INIT();
  main_thread = pthread_self();
  CHECK(GC_get_finalize_on_demand() == 0);

  make_in_thread(5);
  make_in_thread(0);
  CHECK(collect_until(&finalized[0], 10) == 1);

  make_in_thread(1);
  /* B dies once A is freed. gomem's finalizer thread is scanned
   * conservatively, and a copy of A left in its stack can hold A one more
   * round: the finalizers of fresh garbage overwrite it. */
  for (int i = 0; i < 40 && !finalized[2]; i++) {
    for (int j = 0; j < 8; j++) GC_REGISTER_FINALIZER_NO_ORDER(GC_MALLOC(16), other_fin, NULL, NULL, NULL);
    collect_until(&finalized[2], 1);
  }
  CHECK(finalized[2] == 1);
  CHECK(finalized[1] == 1);
  /* A's finalizer ran in an earlier round than B's. */
  int ia = -1, ib = -1;
  for (int i = 0; i < norder; i++) {
    if (order[i] == 1) ia = i;
    if (order[i] == 2) ib = i;
  }
  CHECK(ia >= 0 && ib > ia);

  make_in_thread(2);
  CHECK(collect_until(&finalized[3], 20) == 1);
  CHECK(collect_until(&finalized[4], 20) == 1);
  CHECK(collect_until(&finalized[5], 20) == 1);

  /* The object dies after its client data would have, were the client data
   * not kept: garbage reuses the slots in between. */
  in_fresh_thread(make_with_cd);
  for (int i = 0; i < 5; i++) {
    churn(64, 5000);
    clear_stack();
    GC_gcollect();
  }
  CHECK(!cd_checked);
  cd_owner = NULL;
  for (int i = 0; i < 20 && !cd_checked; i++) {
    churn(64, 5000);
    collect_until(&cd_checked, 1);
  }
  CHECK(cd_checked);

  make_in_thread(3);
  for (int i = 0; i < 5; i++) {
    clear_stack();
    GC_gcollect();
  }
  CHECK(finalized[6] == 0);

  /* On demand: nothing runs until GC_invoke_finalizers; the notifier says. */
  GC_set_finalize_on_demand(1);
  GC_set_finalizer_notifier(notifier);
  CHECK(GC_get_finalizer_notifier() == notifier);
  make_in_thread(4);
  for (int i = 0; i < 20 && !GC_should_invoke_finalizers(); i++) {
    clear_stack();
    GC_gcollect();
  }
  CHECK(GC_should_invoke_finalizers());
  CHECK(notified >= 1);
  CHECK(finalized[7] == 0);
  churn(64, 10000); /* allocations do not run them either */
  CHECK(finalized[7] == 0);
  CHECK(GC_invoke_finalizers() >= 1);
  CHECK(finalized[7] == 1);
  CHECK(!GC_should_invoke_finalizers());

  CHECK(!wrong_thread);
  for (int i = 0; i < 8; i++) CHECK(finalized[i] <= 1);
  CHECK(((char*)reveal(keep_h)) != NULL && finalized[6] == 0);
  printf("test_finalize: ok\n");
  return 0;
}
