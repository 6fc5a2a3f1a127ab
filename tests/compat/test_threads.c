/* Group 3: threads. GC_pthread_create (through gc.h's redirects) registers
 * the new thread before it runs, its argument alone keeps an object alive,
 * threads registered by hand are scanned, stack bases, blocking calls, and
 * GC_pthread_sigmask keeps the stop signal deliverable. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

#include "compat_test.h"

#define NTHREADS 8

struct work {
  long id;
  char payload[200];
};

static void* worker(void* arg) {
  struct work* w = arg; /* the only pointer to it was the argument */
  for (int i = 0; i < 20000; i++) {
    void** p = GC_MALLOC(64);
    p[0] = w;
    if (i % 5000 == 0) GC_gcollect();
  }
  for (int i = 0; i < 200; i++) CHECK(w->payload[i] == (char)(w->id + i));
  return (void*)w->id;
}

static void* spawn(void* arg) {
  (void)arg;
  pthread_t t[NTHREADS];
  for (long i = 0; i < NTHREADS; i++) {
    struct work* w = GC_MALLOC(sizeof *w);
    w->id = i;
    for (int j = 0; j < 200; j++) w->payload[j] = (char)(i + j);
    CHECK(pthread_create(&t[i], NULL, worker, w) == 0);
    w = NULL;
  }
  clear_stack();
  for (long i = 0; i < NTHREADS; i++) {
    void* r;
    CHECK(pthread_join(t[i], &r) == 0);
    CHECK((long)r == i);
  }
  return NULL;
}

/* A thread the program starts without gc.h's wrapper and registers itself. */
static uintptr_t raw_h;
static volatile int raw_ready, raw_go, raw_done;
static void* raw_thread(void* arg) {
  (void)arg;
  struct GC_stack_base sb;
  CHECK(GC_get_stack_base(&sb) == GC_SUCCESS);
  CHECK(GC_register_my_thread(&sb) == GC_SUCCESS);
  CHECK(GC_thread_is_registered());
  CHECK(GC_register_my_thread(&sb) == GC_DUPLICATE);
  char* held = GC_MALLOC_ATOMIC(128); /* only this stack holds it */
  memset(held, 'r', 128);
  raw_h = hide(held);
  __atomic_store_n(&raw_ready, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 100000 && !__atomic_load_n(&raw_go, __ATOMIC_ACQUIRE); i++) usleep(100);
  for (int i = 0; i < 128; i++) CHECK(held[i] == 'r');
  CHECK(GC_unregister_my_thread() == GC_SUCCESS);
  __atomic_store_n(&raw_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void* stack_base_fn(struct GC_stack_base* sb, void* arg) {
  char here;
  CHECK((char*)sb->mem_base >= &here && (char*)sb->mem_base - &here < (64 << 20));
  return arg;
}

static void* blocking(void* arg) {
  usleep(1000);
  return arg;
}
static void* active(void* arg) { return GC_MALLOC(16) ? arg : NULL; }

/* Blocks every signal, then lets another thread collect. */
static volatile int masked_ready, masked_go;
static void* masked(void* arg) {
  (void)arg;
  sigset_t all, cur;
  sigfillset(&all);
  CHECK(pthread_sigmask(SIG_SETMASK, &all, NULL) == 0); /* GC_pthread_sigmask */
  CHECK(pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0);
  CHECK(!sigismember(&cur, GC_get_suspend_signal()));
  CHECK(sigismember(&cur, SIGUSR1));
  void* mine = GC_MALLOC(32);
  __atomic_store_n(&masked_ready, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 100000 && !__atomic_load_n(&masked_go, __ATOMIC_ACQUIRE); i++) usleep(100);
  CHECK(GC_base(mine) == mine);
  return NULL;
}

int main(void) {
  GC_INIT();
  GC_allow_register_threads();
  in_fresh_thread(spawn);

  pthread_t raw;
  CHECK(GC_pthread_create == GC_pthread_create); /* the wrappers exist */
#undef pthread_create
  CHECK(pthread_create(&raw, NULL, raw_thread, NULL) == 0);
  for (int i = 0; i < 100000 && !__atomic_load_n(&raw_ready, __ATOMIC_ACQUIRE); i++) usleep(100);
  churn(128, 100000);
  GC_gcollect();
  churn(128, 100000);
  __atomic_store_n(&raw_go, 1, __ATOMIC_RELEASE);
  CHECK(GC_pthread_join(raw, NULL) == 0);
  CHECK(raw_done);

  CHECK(GC_call_with_stack_base(stack_base_fn, (void*)42) == (void*)42);
  CHECK(GC_do_blocking(blocking, (void*)7) == (void*)7);
  CHECK(GC_call_with_gc_active(active, (void*)8) == (void*)8);
  struct GC_stack_base sb;
  CHECK(GC_get_stack_base(&sb) == GC_SUCCESS);
  GC_set_stackbottom(NULL, &sb);
  CHECK(GC_get_my_stackbottom(&sb) != NULL);

  pthread_t m;
  CHECK(GC_pthread_create(&m, NULL, masked, NULL) == 0);
  for (int i = 0; i < 100000 && !__atomic_load_n(&masked_ready, __ATOMIC_ACQUIRE); i++) usleep(100);
  for (int i = 0; i < 3; i++) GC_gcollect(); /* must stop the masked thread: no hang */
  __atomic_store_n(&masked_go, 1, __ATOMIC_RELEASE);
  CHECK(GC_pthread_join(m, NULL) == 0);

  pthread_t d;
  CHECK(GC_pthread_create(&d, NULL, blocking, NULL) == 0);
  CHECK(GC_pthread_detach(d) == 0);
  printf("test_threads: ok\n");
  return 0;
}
