/* Group 1: initialization, allocation, free, realloc, collection, exported
 * variables. */
#include <errno.h>
#include <gc/gc_mark.h>

#include "compat_test.h"

struct node {
  struct node* next;
  long value;
};

/* The only pointer to a collected list lives in an uncollectable block. */
static uintptr_t holder_h;

static void* build(void* arg) {
  (void)arg;
  struct node** holder = GC_MALLOC_UNCOLLECTABLE(sizeof *holder);
  CHECK(holder && *holder == NULL); /* uncollectable memory is zeroed */
  struct node* head = NULL;
  for (long i = 0; i < 50000; i++) {
    struct node* n = GC_MALLOC(sizeof *n);
    CHECK(n && n->next == NULL && n->value == 0); /* collected memory too */
    n->next = head;
    n->value = i;
    head = n;
  }
  *holder = head;
  holder_h = hide(holder);
  return NULL;
}

static void* check_list(void* arg) {
  (void)arg;
  churn(sizeof(struct node), 200000);
  clear_stack();
  GC_gcollect();
  churn(sizeof(struct node), 200000);
  struct node** holder = reveal(holder_h);
  long expect = 49999, count = 0;
  for (struct node* n = *holder; n; n = n->next, expect--, count++) CHECK(n->value == expect);
  CHECK(count == 50000);
  GC_FREE(holder);
  return NULL;
}

static void* garbage(void* arg) {
  (void)arg;
  /* 2 GiB of garbage in 64 KiB blocks: the heap stays small. */
  for (int i = 0; i < 32768; i++) {
    char* p = GC_MALLOC_ATOMIC(64 * 1024);
    CHECK(p);
    p[0] = 1;
  }
  CHECK(GC_get_heap_size() < (size_t)512 << 20);
  return NULL;
}

int main(void) {
  CHECK(GC_all_interior_pointers == 1);
  CHECK(GC_java_finalization == 1);
  CHECK(GC_dont_gc == 0);
  GC_no_dls = 1; /* accepted */
  GC_INIT();
  CHECK(GC_is_init_called());

  in_fresh_thread(build);
  in_fresh_thread(check_list);
  in_fresh_thread(garbage);

  /* Sizes and kinds. */
  int kind;
  size_t sz;
  void* a = GC_MALLOC_ATOMIC(100);
  CHECK(a && GC_size(a) >= 100);
  kind = GC_get_kind_and_size(a, &sz);
  CHECK(kind == 0 && sz >= 100); /* PTRFREE */
  void* b = GC_realloc(a, 5000);
  CHECK(b && GC_size(b) >= 5000);
  CHECK(GC_get_kind_and_size(b, NULL) == 0); /* realloc keeps the kind */
  void* u = GC_MALLOC_UNCOLLECTABLE(40);
  memset(u, 7, 40);
  void* u2 = GC_realloc(u, 4000);
  CHECK(GC_get_kind_and_size(u2, NULL) == 2); /* UNCOLLECTABLE */
  CHECK(((char*)u2)[39] == 7);
  GC_FREE(u2);
  void* au = GC_MALLOC_ATOMIC_UNCOLLECTABLE(64);
  CHECK(au);
  GC_FREE(au);
  void* n = GC_MALLOC(64);
  memset(n, 3, 64);
  void* n2 = GC_REALLOC(n, 48); /* shrinking to half of GC_size or more stays in place */
  CHECK(n2 == n);
  void* n3 = GC_REALLOC(n2, 100000);
  CHECK(n3 && ((char*)n3)[47] == 3 && GC_get_kind_and_size(n3, NULL) == 1);
  CHECK(GC_REALLOC(n3, 0) == NULL);
  void* z = GC_REALLOC(NULL, 10);
  CHECK(z && GC_size(z) >= 10);
  GC_FREE(NULL);
  CHECK(GC_MALLOC(0) != NULL);

  char* s = GC_STRDUP("hello, gomem");
  CHECK(s && strcmp(s, "hello, gomem") == 0);
  char* s2 = GC_STRNDUP("hello, gomem", 5);
  CHECK(s2 && strcmp(s2, "hello") == 0);
  CHECK(GC_MALLOC_IGNORE_OFF_PAGE(1 << 20) != NULL);
  CHECK(GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(1 << 20) != NULL);

  void* m = GC_memalign(4096, 100);
  CHECK(m && ((uintptr_t)m & 4095) == 0);
  void* pm = NULL;
  CHECK(GC_posix_memalign(&pm, 256, 1000) == 0 && ((uintptr_t)pm & 255) == 0);
  CHECK(GC_posix_memalign(&pm, 3, 1000) == EINVAL);

  /* GC_malloc_many: a list linked through first words. */
  void* list = GC_malloc_many(48);
  int count = 0;
  for (void* p = list; p; p = GC_NEXT(p)) {
    CHECK(GC_size(p) >= 48);
    count++;
  }
  CHECK(count >= 1);

  GC_gcollect();
  printf("test_alloc: ok\n");
  return 0;
}
