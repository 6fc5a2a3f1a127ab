// gc_cpp.h and gc_allocator.h: collectable classes, cleanup (destructors as
// finalizers), placement, and standard containers.
#include <gc_allocator.h>
#include <gc_cpp.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(c)                                                                 \
  do {                                                                           \
    if (!(c)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)

static volatile int destroyed;
struct Node : public gc_cleanup {
  Node* next = nullptr;
  long v = 0;
  ~Node() { destroyed++; }
};
struct Plain : public gc {
  long a[4];
};

static __attribute__((noinline)) void make_garbage() {
  for (int i = 0; i < 1000; i++) new Node;
}

int main() {
  GC_INIT();
  Plain* p = new Plain;
  CHECK(GC_base(p) == p);
  int* arr = new (UseGC) int[100];
  CHECK(GC_base(arr) != nullptr);
  int* np = new (NoGC) int(5);
  CHECK(*np == 5);
  GC_FREE(np);  // plain delete needs libgccpp (-lgccpp: test_gccpp)
  std::vector<void*, gc_allocator<void*>> v;
  for (int i = 0; i < 10000; i++) v.push_back(GC_MALLOC(16));
  std::vector<int, traceable_allocator<int>> t(100, 1);
  CHECK(t[99] == 1);
  make_garbage();
  for (int i = 0; i < 20 && destroyed < 900; i++) {
    GC_gcollect();
    GC_invoke_finalizers();
  }
  CHECK(destroyed >= 900);
  std::printf("test_cpp: ok\n");
  return 0;
}
