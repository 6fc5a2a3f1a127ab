// Object lookups (find_object: gomem_gc_base, gomem_kind, the finalizer,
// cleanup and weak-pointer calls) racing with the collector.
//
// A lookup reads a collected span's allocation state without a lock: its
// freeindex and its allocation bitmap, which every sweep rewrites (the mark
// bitmap becomes the allocation bitmap, the old one is cleared as the next
// mark bitmap). A lookup that a whole cycle overtakes between those reads (a
// thread descheduled for a few milliseconds on a loaded machine, while the
// collector runs hundreds of cycles a second at GOGC=10) read a cleared
// word and called a live object free. The first test stages that exactly,
// with the lookup's test hook (heap/heap.h: g_find_object_hook); the second
// lets threads that outnumber the cores allocate and look up fresh objects
// of every size while the collector cycles, checking each answer and that
// every object a thread holds keeps its contents.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "heap/heap.h"

using namespace gomem_test;

namespace {

constexpr auto kBound = std::chrono::seconds(300);  // every wait of this file

// Runs a forced collection (which returns with the heap swept) on another
// thread and waits for it, bounded: the calling thread is stopped for it
// wherever it waits.
void collect_on_another_thread() {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    gomem_gc_collect();
    std::lock_guard<std::mutex> l(mu);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, kBound, [&] { return done; })) {
      fprintf(stderr, "gc_lookup_test: the collection did not end within %lld s\n",
              static_cast<long long>(kBound.count()));
      abort();
    }
  }
  t.join();
}

void overtaking_cycle() {
  gomem::g_find_object_hook.store(nullptr, std::memory_order_relaxed);
  collect_on_another_thread();
}

}  // namespace

// The object's span was swept, so it is found through the allocation bitmap
// (freeindex is 0); the lookup reads the bitmap's address, then a cycle runs
// to its end (its sweep clears that bitmap, now the mark bitmap) before the
// lookup reads the word.
GC_TEST(GCLookup, ALookupOvertakenByACycleStillFindsTheLiveObject) {
  NoAutoGC off;
  void* o = make_object(3000, 7);  // size class 3072: nothing else here allocates it
  gomem_gc_collect();
  ASSERT_EQ(gomem_gc_base(o), o);
  gomem::g_find_object_hook.store(overtaking_cycle, std::memory_order_relaxed);
  void* base = gomem_gc_base(o);
  ASSERT_EQ(gomem::g_find_object_hook.load(), nullptr) << "the lookup did not reach its hook";
  EXPECT_EQ(base, o) << "a live object was taken for a free slot";
  gomem::g_find_object_hook.store(overtaking_cycle, std::memory_order_relaxed);
  EXPECT_EQ(gomem_kind(o), GOMEM_KIND_GC_SCAN);
  EXPECT_TRUE(check(o, 3000, 7));
}

namespace {

constexpr int kLanes = 6;  // threads at once: more than the machine's cores
constexpr int kWorkersPerLane = 2;
constexpr int kSteps = 4000;
constexpr int kRing = 32;  // objects each worker holds

struct Obj {
  uint64_t id;
  uint64_t size;
  Obj* self;
  uint64_t sum;  // mix(id); the object's last word holds mix(id + 1)
};

std::atomic<int> g_bad{0};
std::atomic<uint64_t> g_next{1};

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x9E3779B97F4A7C15ULL;
  return x ^ (x >> 29);
}

uint64_t* last_word(Obj* o, size_t size) { return reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(o) + size - 8); }

bool intact(Obj* o, uint64_t id) {
  return o->id == id && o->sum == mix(id) && o->self == o && *last_word(o, o->size) == mix(id + 1);
}

void bad(const char* what, Obj* o) {
  if (g_bad.fetch_add(1) < 10)
    fprintf(stderr, "gc_lookup_test: %s: %p (gomem_kind %d, gomem_gc_base %p)\n", what, static_cast<void*>(o),
            gomem_kind(o), gomem_gc_base(o));
}

void no_op_finalizer(void*, void*) {}

// Sizes of every kind: small (most), a few pages, large.
size_t pick_size(std::mt19937_64& rng) {
  switch (rng() % 16) {
    case 0:
      return (33000 + rng() % 60000) & ~size_t{7};
    case 1:
      return (2048 + rng() % 8192) & ~size_t{7};
    default:
      return (48 + rng() % 600) & ~size_t{7};
  }
}

GOMEM_NOINLINE_TEST void lookup_worker(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Obj* volatile ring[kRing] = {};
  uint64_t ids[kRing] = {};
  for (int step = 0; step < kSteps; step++) {
    size_t size = pick_size(rng);
    bool scan = rng() % 4 != 0;
    auto* o = static_cast<Obj*>(scan ? gomem_gc_alloc(size) : gomem_gc_alloc_noscan(size));
    if (rng() % 8 == 0) sched_yield();  // let cycles run between the allocation and the lookups
    if (gomem_gc_base(o) != o) bad("gomem_gc_base missed a fresh object", o);
    if (gomem_kind(o) != (scan ? GOMEM_KIND_GC_SCAN : GOMEM_KIND_GC_NOSCAN)) bad("gomem_kind missed it", o);
    if (gomem_gc_set_finalizer_ignore_self(o, no_op_finalizer, nullptr) != 0) bad("set_finalizer refused it", o);
    o->id = g_next.fetch_add(1, std::memory_order_relaxed);
    o->size = size;
    o->self = o;
    o->sum = mix(o->id);
    *last_word(o, size) = mix(o->id + 1);
    if (rng() % 4 != 0 && gomem_gc_set_finalizer(o, nullptr, nullptr) != 0) bad("clearing the finalizer failed", o);
    ring[step % kRing] = o;
    ids[step % kRing] = o->id;
    for (int k = 0; k < 4; k++) {
      int j = static_cast<int>(rng() % kRing);
      if (ring[j] && !intact(ring[j], ids[j])) bad("a held object was freed and reused", ring[j]);
    }
  }
}

}  // namespace

TEST(GCLookup, FreshObjectsAreFoundWhileTheCollectorCycles) {
  int old = gomem_gc_set_percent(10);
  uint32_t gc0 = gomem_gc_count();
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::vector<std::thread> lanes;
  for (int lane = 0; lane < kLanes; lane++)
    lanes.emplace_back([&, lane] {
      for (int w = 0; w < kWorkersPerLane; w++) in_fresh_thread([=] { lookup_worker(lane * 100 + w); });
      std::lock_guard<std::mutex> l(mu);
      finished++;
      cv.notify_all();
    });
  {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, kBound, [&] { return finished == kLanes; })) {
      fprintf(stderr, "gc_lookup_test: the workers did not finish within %lld s: a hang\n",
              static_cast<long long>(kBound.count()));
      abort();
    }
  }
  for (auto& t : lanes) t.join();
  uint32_t cycles = gomem_gc_count() - gc0;
  gomem_gc_set_percent(old);
  printf("%d lookups of fresh objects, %u cycles\n", kLanes * kWorkersPerLane * kSteps, cycles);
  EXPECT_EQ(g_bad.load(), 0);
  EXPECT_GE(cycles, 100u) << "GOGC=10 should have run many cycles";
}
