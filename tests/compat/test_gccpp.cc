// libgccpp (-lgccpp -lgc) and gc_cpp.h / gc_allocator.h as bdwgc 8.2's C++
// programs use them: the global operator new as scanned uncollectable
// memory, gc and gc_cleanup classes, placements, arrays, cleanup functions,
// the three allocators. Built against gomem's headers (and, by check.sh,
// against Debian's bdwgc too, then run on both: the expectations are
// bdwgc's). Objects are followed through XOR-masked addresses and
// finalization records, so the test itself holds no reference.
#define GC_THREADS 1
#define GC_ATOMIC_UNCOLLECTABLE 1  // PointerFreeNoGC
#include <gc/gc_allocator.h>
#include <gc/gc_cpp.h>

#include <new>
#include <vector>

#include "compat_test.h"

#ifdef GC_NAMESPACE
using namespace boehmgc;
#endif

enum { N = 512 };
static volatile int died[N];   // died[id]: times id's destructor ran
static volatile int cleanups;  // cleanup functions run

static int count_died(int from, int to) {
  int n = 0;
  for (int i = from; i < to; i++) n += died[i];
  return n;
}

struct Node : public gc_cleanup {
  int id;
  long canary = 0x5eed;
  explicit Node(int i) : id(i) {}
  ~Node() {
    CHECK(canary == 0x5eed);
    died[id]++;
    canary = 0;
  }
};

// gc_cleanup is not the first base: `this` of the gc_cleanup part is not
// the object's base, and the finalizer must still run Multi's destructor.
struct Payload {
  long words[5] = {1, 2, 3, 4, 5};
  virtual ~Payload() {}
};
struct Multi : public Payload, public gc_cleanup {
  int id;
  explicit Multi(int i) : id(i) {}
  ~Multi() { died[id]++; }
};

struct Plain : public gc {
  Node* child;
};

// A plain new object: with libgccpp it is uncollectable and scanned.
struct Holder {
  Node* node;
};

static void cleanup_fn(void* obj, void* data) {
  CHECK(GC_base(obj) == obj);
  CHECK(data == &cleanups);
  cleanups++;
}

static int collect_until_died(int from, int to, int want) {
  for (int i = 0; i < 30 && count_died(from, to) < want; i++) {
    clear_stack();
    GC_gcollect();
    GC_invoke_finalizers();
  }
  return count_died(from, to);
}

static void collect_rounds(int rounds) {
  for (int i = 0; i < rounds; i++) {
    clear_stack();
    GC_gcollect();
    GC_invoke_finalizers();
    churn(32, 2000);
  }
}

// Ids 0..99: unreachable gc_cleanup objects, finalized (destructor once).
// Ids 100..109: Multi objects, unreachable, finalized through the offset.
static __attribute__((noinline)) void make_garbage() {
  for (int i = 0; i < 100; i++) new Node(i);
  for (int i = 100; i < 110; i++) new Multi(i);
}

// Ids 110..119 are held only by a plain new Holder (uncollectable, scanned),
// ids 120..129 by a gc_allocator vector, 130..139 by a traceable_allocator
// buffer, 140..149 by gc_allocator_ignore_off_page, 150..159 by a NoGC
// object, 160..169 by a Plain array (collected, scanned). The uncollectable
// holders are hidden (they keep their nodes alive by themselves); the
// collected ones are in a global (a root).
struct Holders {
  uintptr_t holder[10], trace, nogc;
  std::vector<Node*, gc_allocator<Node*>>* vec;
  std::vector<Node*, gc_allocator_ignore_off_page<Node*>>* vec_iop;
  Plain* plain;
};
static Holders holders;

static __attribute__((noinline)) void make_held() {
  for (int i = 0; i < 10; i++) {
    Holder* h = new Holder;
    h->node = new Node(110 + i);
    holders.holder[i] = hide(h);
  }
  auto* v = new (GC) std::vector<Node*, gc_allocator<Node*>>;
  for (int i = 120; i < 130; i++) v->push_back(new Node(i));
  holders.vec = v;
  traceable_allocator<Node*> ta;
  Node** t = ta.allocate(10);
  for (int i = 0; i < 10; i++) t[i] = new Node(130 + i);
  holders.trace = hide(t);
  auto* w = new (GC) std::vector<Node*, gc_allocator_ignore_off_page<Node*>>;
  for (int i = 140; i < 150; i++) w->push_back(new Node(i));
  holders.vec_iop = w;
  Plain* ng = new (NoGC) Plain[10];
  for (int i = 0; i < 10; i++) ng[i].child = new Node(150 + i);
  holders.nogc = hide(ng);
  Plain* pa = new Plain[10];
  for (int i = 0; i < 10; i++) pa[i].child = new Node(160 + i);
  holders.plain = pa;
}

// Ids 200..209: held only by pointer-free memory (PointerFreeGC placement,
// gc_allocator<long>): not scanned, so they die.
static uintptr_t pointer_free, pointer_free_vec;
static __attribute__((noinline)) void make_pointer_free_held() {
  Node** p = new (PointerFreeGC) Node*[5];
  for (int i = 0; i < 5; i++) p[i] = new Node(200 + i);
  pointer_free = hide(p);
  auto* v = new (GC) std::vector<long, gc_allocator<long>>;
  for (int i = 205; i < 210; i++) v->push_back((long)(uintptr_t) new Node(i));
  pointer_free_vec = hide(v);
}

// Explicit delete of a gc_cleanup object: the destructor runs once, the
// finalizer is gone.
static __attribute__((noinline)) void delete_explicitly() {
  Node* n = new Node(300);
  delete n;
  CHECK(died[300] == 1);
  Node* m = new (NoGC) Node(301);
  delete m;
  CHECK(died[301] == 1);
}

// new (GC) of a non-class type, arrays, cleanup functions.
static __attribute__((noinline)) void placements() {
  typedef int A[10];
  int* a = new (GC) A;
  CHECK(GC_base(a) == a);
  a[9] = 9;
  int* ints = new (UseGC) int[100];
  CHECK(GC_base(ints) == ints);
  int* one = new (NoGC) int(5);
  CHECK(*one == 5 && GC_base(one) == one);
  delete one;  // libgccpp's global delete: GC_free
  int* plain = new int(7);
  CHECK(GC_base(plain) == plain && GC_is_heap_ptr(plain));
  delete plain;
  int* arr = new int[50];
  CHECK(GC_base(arr) != nullptr);
  delete[] arr;
  char* nogc_ptrfree = new (PointerFreeNoGC) char[64];
  GC_FREE(nogc_ptrfree);
  for (int i = 0; i < 10; i++) ::new (GC, cleanup_fn, (void*)&cleanups) char[64];
  for (int i = 0; i < 10; i++) ::new (UseGC, cleanup_fn, (void*)&cleanups) Plain;
}

static char* volatile sink;  // keeps the compiler from dropping an allocation

struct Thrower : public gc {
  Thrower() { throw 42; }
};

static void* body(void*) {
  make_garbage();
  make_held();
  make_pointer_free_held();
  delete_explicitly();
  placements();

  CHECK(collect_until_died(0, 110, 110) == 110);
  for (int i = 0; i < 110; i++) CHECK(died[i] == 1);
  CHECK(collect_until_died(200, 210, 10) == 10);
  for (int i = 0; i < 30 && cleanups < 20; i++) collect_rounds(1);
  CHECK(cleanups == 20);
  // Many more collections, and garbage that would reuse freed slots: the
  // held ones live on.
  collect_rounds(10);
  CHECK(count_died(110, 170) == 0);
  for (int i = 0; i < 10; i++) {
    CHECK(((Holder*)reveal(holders.holder[i]))->node->id == 110 + i);
    CHECK(((Holder*)reveal(holders.holder[i]))->node->canary == 0x5eed);
  }
  for (int i = 0; i < 10; i++) CHECK((*holders.vec)[i]->id == 120 + i && (*holders.vec)[i]->canary == 0x5eed);
  for (int i = 0; i < 10; i++) CHECK(holders.plain[i].child->id == 160 + i);
  // Dropped holders: what they held dies.
  for (int i = 0; i < 10; i++) delete (Holder*)reveal(holders.holder[i]);
  traceable_allocator<Node*>().deallocate((Node**)reveal(holders.trace), 10);
  delete[](Plain*) reveal(holders.nogc);
  holders = Holders();
  CHECK(collect_until_died(110, 170, 60) == 60);

  try {
    new Thrower;
    CHECK(0);
  } catch (int e) {
    CHECK(e == 42);
  }
  bool threw = false;
  try {
    sink = new (GC) char[(size_t)1 << 60];
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    sink = new char[(size_t)1 << 60];
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  return nullptr;
}

static void quiet(char*, GC_word) {}

int main() {
  GC_INIT();
  GC_set_warn_proc(quiet);  // the failed huge allocations warn
  in_fresh_thread(body);
  printf("test_gccpp: ok\n");
  return 0;
}
