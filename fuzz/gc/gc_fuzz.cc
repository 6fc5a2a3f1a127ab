// Fuzz target: the collected heap. An operation sequence allocates scan and
// noscan objects (plain and aligned) into root slots, links objects to each
// other, drops roots, frees objects early (gomem_gc_free), sets finalizers,
// makes garbage and collects. A model of the object graph says which
// objects are reachable; every reachable object must keep its contents (an
// id tag, its links, a pattern) across collections, and a finalizer must
// only ever run on an object the model no longer reaches, intact.
//
// Roots live in three kinds of holder the collector must scan: this
// program's .bss, a manual block added with gomem_add_roots, and an
// uncollectable block. The model itself lives in glibc's heap (the library
// is linked without the malloc override), which the collector does not see,
// so it keeps nothing alive. Each input ends with its roots cleared, a
// collection and gomem_check_heap.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "gomem/gomem.h"
#include "heap/heap.h"

extern "C" char __start_gomem_meta_bss[] __attribute__((weak));
extern "C" char __stop_gomem_meta_bss[] __attribute__((weak));

namespace {

constexpr int kPerHolder = 8;
constexpr int kRoots = 3 * kPerHolder;
constexpr int kMaxLinks = 4;
constexpr uint64_t kTag = 0x9e3779b97f4a7c15ULL;

void* volatile g_bss_roots[kPerHolder];  // holder 0: data/bss
void** g_added_roots;                    // holder 1: gomem_malloc + gomem_add_roots
void** g_uncollectable;                  // holder 2: gomem_malloc_uncollectable

void*& holder_slot(int r) {
  int h = r / kPerHolder, i = r % kPerHolder;
  if (h == 0) return const_cast<void*&>(g_bss_roots[i]);
  return h == 1 ? g_added_roots[i] : g_uncollectable[i];
}

// An object's layout follows from its size and id alone (the finalizer
// checks it without the model): word 0 = kTag ^ id, then up to kMaxLinks
// link words (scan objects), then a pattern seeded by the id.
int links_of(size_t size, bool scan) {
  if (!scan || size < 16) return 0;
  size_t n = size / 8 - 1;
  return n < kMaxLinks ? static_cast<int>(n) : kMaxLinks;
}
size_t pattern_start(size_t size, bool scan) { return size < 8 ? 0 : 8 * (1 + links_of(size, scan)); }
uint8_t seed_of(uint64_t id) { return static_cast<uint8_t>(id * 37 + 11); }

struct Obj {
  uint64_t* p;
  size_t size;
  bool scan;
  bool finalizer;
  uint64_t id;
  int links[kMaxLinks];  // model indices, -1 = null
};

std::vector<Obj> g_objs;  // the model, indexed by insertion
int g_root[kRoots];       // model index in each root slot, -1 = empty
uint64_t g_next_id = 1;   // unique across inputs (finalizers run late)

// Ids of finalized objects, written by the finalizer thread.
constexpr int kRing = 4096;
std::atomic<uint64_t> g_finalized[kRing];
std::atomic<uint32_t> g_finalized_n{0};

void check_object(const uint64_t* p, size_t size, bool scan, uint64_t id, const char* what) {
  if (size >= 8 && p[0] != (kTag ^ id)) fuzz::fail(what, p, size, id);
  size_t from = pattern_start(size, scan);
  if (size > from) fuzz::expect_pattern(reinterpret_cast<const uint8_t*>(p) + from, size - from, seed_of(id), what);
}

// The finalizer: the object must be intact; its id is recorded. Objects
// smaller than a word carry no tag, so they get no finalizer.
void finalizer(void* obj, void* arg) {
  auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arg));
  auto* p = static_cast<const uint64_t*>(obj);
  if (p[0] != (kTag ^ id)) fuzz::fail("finalizer ran on a damaged object", obj, id, p[0] ^ kTag);
  uint32_t k = g_finalized_n.fetch_add(1, std::memory_order_relaxed);
  g_finalized[k % kRing].store(id, std::memory_order_release);
}

bool was_finalized(uint64_t id) {
  for (auto& f : g_finalized)
    if (f.load(std::memory_order_acquire) == id) return true;
  return false;
}

// Marks what the roots reach through the model's links.
std::vector<bool> reachable() {
  std::vector<bool> seen(g_objs.size());
  std::vector<int> stack;
  for (int r : g_root)
    if (r >= 0 && !seen[r]) seen[r] = true, stack.push_back(r);
  while (!stack.empty()) {
    const Obj& o = g_objs[stack.back()];
    stack.pop_back();
    for (int l = 0; l < links_of(o.size, o.scan); l++) {
      int t = o.links[l];
      if (t >= 0 && !seen[t]) seen[t] = true, stack.push_back(t);
    }
  }
  return seen;
}

void check_reachable() {
  std::vector<bool> seen = reachable();
  for (size_t i = 0; i < g_objs.size(); i++) {
    if (!seen[i]) continue;
    const Obj& o = g_objs[i];
    check_object(o.p, o.size, o.scan, o.id, "reachable object damaged");
    for (int l = 0; l < links_of(o.size, o.scan); l++) {
      const uint64_t* want = o.links[l] >= 0 ? g_objs[o.links[l]].p : nullptr;
      if (o.p[1 + l] != reinterpret_cast<uintptr_t>(want)) fuzz::fail("link word damaged", o.p, l, o.id);
    }
    if (o.finalizer && was_finalized(o.id)) fuzz::fail("finalizer ran on a reachable object", o.p, o.size, o.id);
  }
}

void set_root(int r, int idx) {
  g_root[r] = idx;
  holder_slot(r) = idx >= 0 ? g_objs[idx].p : nullptr;
}

void op_alloc(fuzz::Reader& r, int slot) {
  uint8_t how = r.u8();
  size_t size = r.size();
  if (size > (size_t{1} << 22)) size %= size_t{1} << 22;
  bool scan = how & 1;
  void* p;
  if (how & 2) {
    size_t align = size_t{1} << (how >> 2) % 14;
    p = gomem_gc_alloc_aligned(align, size, scan);
    if (p && reinterpret_cast<uintptr_t>(p) % align) fuzz::fail("gc_alloc_aligned misaligned", p, align, size);
  } else {
    p = scan ? gomem_gc_alloc(size) : gomem_gc_alloc_noscan(size);
  }
  if (!p) fuzz::fail("collected allocation failed", p, size, how);
  for (size_t i = 0; i < size; i++)
    if (static_cast<uint8_t*>(p)[i]) fuzz::fail("collected memory not zeroed", p, i, size);
  Obj o{static_cast<uint64_t*>(p), size, scan, false, g_next_id++, {-1, -1, -1, -1}};
  if (size >= 8) o.p[0] = kTag ^ o.id;
  size_t from = pattern_start(size, scan);
  if (size > from) fuzz::fill(reinterpret_cast<uint8_t*>(p) + from, size - from, seed_of(o.id));
  g_objs.push_back(o);
  set_root(slot, static_cast<int>(g_objs.size() - 1));
}

// Object a's link l := the object in root slot b (or null).
void op_link(fuzz::Reader& r, int a) {
  int l = r.u8();
  int b = r.u8() % (kRoots + 4);  // a few slots past the roots mean null
  if (g_root[a] < 0) return;
  Obj& o = g_objs[g_root[a]];
  int n = links_of(o.size, o.scan);
  if (n == 0) return;
  l %= n;
  int t = b < kRoots ? g_root[b] : -1;
  o.links[l] = t;
  o.p[1 + l] = reinterpret_cast<uintptr_t>(t >= 0 ? g_objs[t].p : nullptr);
}

// gomem_gc_free of the object in root slot a, when the model says nothing
// else reaches it (the caller's promise) and it has no finalizer.
void op_gc_free(int a) {
  int idx = g_root[a];
  if (idx < 0 || g_objs[idx].finalizer) return;
  for (int r = 0; r < kRoots; r++)
    if (r != a && g_root[r] == idx) return;
  std::vector<bool> seen = reachable();
  for (size_t i = 0; i < g_objs.size(); i++) {
    if (!seen[i]) continue;
    for (int t : g_objs[i].links)
      if (t == idx) return;
  }
  check_reachable();
  void* p = g_objs[idx].p;
  set_root(a, -1);
  gomem_gc_free(p);
}

void op_finalizer(int a) {
  int idx = g_root[a];
  if (idx < 0 || g_objs[idx].size < 8) return;
  Obj& o = g_objs[idx];
  if (gomem_gc_set_finalizer(o.p, finalizer, reinterpret_cast<void*>(static_cast<uintptr_t>(o.id))) != 0)
    fuzz::fail("set_finalizer refused a collected object", o.p, o.size, o.id);
  o.finalizer = true;
}

void churn(fuzz::Reader& r) {
  int n = 1 + r.u8() * 8;
  size_t size = 8 + r.u8() * 4;
  for (int i = 0; i < n; i++) {
    void* p = i % 2 ? gomem_gc_alloc(size) : gomem_gc_alloc_noscan(size);
    memset(p, 0xee, size);
  }
}

void run(fuzz::Reader& r) {
  int collections = 0;
  while (!r.done()) {
    uint8_t op = r.u8();
    int slot = r.u8() % kRoots;
    switch (op % 8) {
      case 0:
      case 1:
        op_alloc(r, slot);
        break;
      case 2:
        op_link(r, slot);
        break;
      case 3:
        set_root(slot, g_root[r.u8() % kRoots]);  // copy a root (or drop one: empty slots copy -1)
        break;
      case 4:
        op_gc_free(slot);
        break;
      case 5:
        op_finalizer(slot);
        break;
      case 6:
        churn(r);
        check_reachable();
        break;
      default:
        if (collections++ < 3) gomem_gc_collect();
        check_reachable();
        break;
    }
  }
  check_reachable();
}

// The 32 MiB arena index must sit in the metadata section the collector
// leaves out of its roots (a clang build once put it in a section of its
// own, scanned every cycle: 10x slower collections here).
void check_metadata_section() {
  auto* p = reinterpret_cast<char*>(&gomem::g_arena_index);
  if (!__start_gomem_meta_bss || p < __start_gomem_meta_bss || p >= __stop_gomem_meta_bss)
    fuzz::fail("the arena index is outside gomem_meta_bss", p, 0, 0);
}

void init() {
  check_metadata_section();
  g_added_roots = static_cast<void**>(gomem_malloc(kPerHolder * sizeof(void*)));
  memset(g_added_roots, 0, kPerHolder * sizeof(void*));
  gomem_add_roots(g_added_roots, g_added_roots + kPerHolder);
  g_uncollectable = static_cast<void**>(gomem_malloc_uncollectable(kPerHolder * sizeof(void*)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = (init(), true);
  (void)once;
  for (int& r : g_root) r = -1;
  fuzz::Reader r(data, size);
  run(r);
  for (int i = 0; i < kRoots; i++) set_root(i, -1);
  g_objs.clear();
  gomem_gc_collect();
  gomem_check_heap();
  return 0;
}
