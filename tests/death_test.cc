// Bad input stops the program with a message naming the fault, the pointer
// and the size class: double frees (same thread, another thread, large),
// pointers gomem never handed out, interior pointers, realloc of a freed
// block. Each case runs in a child process (GoogleTest death tests).
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "heap/mcache.h"
#include "heap/sizeclasses.h"
#include "runtime/malloc.h"
#include "test_util.h"

namespace {

const char* kDouble = "gomem: double free of 0x[0-9a-f]+ \\(size class [0-9]+, [0-9]+ bytes";
const char* kInvalid = "gomem: free of a pointer gomem never handed out of 0x[0-9a-f]+";
const char* kInterior = "gomem: free of an interior pointer of 0x[0-9a-f]+ \\(size class [0-9]+";

}  // namespace

class Death : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Death, DoubleFreeSameThread) {
  EXPECT_DEATH(
      {
        void* p = gomem_malloc(48);
        gomem_free(p);
        gomem_free(p);
      },
      kDouble);
}

TEST_F(Death, DoubleFreeAfterTheSlotWasReusedAndFreedAgainIsStillCaught) {
  EXPECT_DEATH(
      {
        std::vector<void*> v;
        for (int i = 0; i < 1000; i++) v.push_back(gomem_malloc(100));
        for (void* p : v) gomem_free(p);
        gomem_free(v[500]);
      },
      kDouble);
}

TEST_F(Death, DoubleFreeFromAnotherThread) {
  EXPECT_DEATH(
      {
        void* p = nullptr;
        std::thread([&] { p = gomem_malloc(200); }).join();
        gomem_free(p);
        gomem_free(p);
      },
      kDouble);
}

// The same through the paths the refill work added: a free into a parked
// span (a plain push now), and an object that malloc's lock-free refill
// moved from local_free to the free list.
TEST_F(Death, DoubleFreeIntoAParkedSpan) {
  EXPECT_DEATH(
      {
        std::vector<void*> v;
        for (int i = 0; i < 64; i++) v.push_back(gomem_malloc(512));  // the first spans fill and park
        gomem_free(v[0]);
        gomem_free(v[0]);
      },
      kDouble);
}

TEST_F(Death, DoubleFreeOfAnObjectTheRefillTookBack) {
  EXPECT_DEATH(
      {
        std::vector<void*> v;
        v.push_back(gomem_malloc(256));
        gomem::MSpan* s =
            gomem::t_mcache
                ->alloc[gomem::make_span_class(gomem::kManualClasses.class_of(256), gomem::SpanKind::kManual)];
        while (s->freelist) v.push_back(gomem_malloc(256));
        void* p = v[v.size() - 1];
        void* q = v[v.size() - 2];
        gomem_free(p);
        gomem_free(q);                // local_free: q, p
        void* r = gomem_malloc(256);  // the refill takes both, hands out q
        (void)r;
        gomem_free(p);  // p is on the free list
      },
      kDouble);
}

TEST_F(Death, DoubleFreeOfALargeObject) {
  EXPECT_DEATH(
      {
        void* keep = gomem_malloc(1 << 20);  // keeps the freed run's neighbour in use
        void* p = gomem_malloc(300000);
        gomem_free(p);
        gomem_free(p);
        gomem_free(keep);
      },
      "gomem: double free of 0x[0-9a-f]+");
}

TEST_F(Death, FreeOfAStackPointer) {
  EXPECT_DEATH(
      {
        int x;
        gomem_free(&x);
      },
      kInvalid);
}

TEST_F(Death, FreeOfAGlobal) {
  static char global[64];
  EXPECT_DEATH(gomem_free(global), kInvalid);
}

TEST_F(Death, FreeOfAnInteriorPointer) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(gomem_malloc(64));
        gomem_free(p + 16);
      },
      kInterior);
}

TEST_F(Death, FreeOfAnInteriorPointerOfALargeObject) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(gomem_malloc(100000));
        gomem_free(p + 8192);
      },
      "gomem: free of an interior pointer of 0x[0-9a-f]+ \\(large object");
}

TEST_F(Death, FreeOfASlotNeverHandedOut) {
  // The address just past the last object of a span with a tail.
  EXPECT_DEATH(
      {
        // 48-byte class: 170 objects in 8 KiB leave a 32-byte tail.
        void* p = gomem_malloc(48);
        gomem::MSpan* s = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
        gomem_free(reinterpret_cast<void*>(s->base + uintptr_t{s->nelems} * s->elemsize));
      },
      "gomem: free of a pointer gomem never handed out of 0x[0-9a-f]+ \\(size class");
}

TEST_F(Death, ReallocOfAFreedBlock) {
  EXPECT_DEATH(
      {
        void* p = gomem_malloc(32);
        gomem_free(p);
        void* q = gomem_realloc(p, 64);
        gomem_free(q);
      },
      kDouble);
}

TEST_F(Death, FreeOfAPointerIntoFreedPages) {
  EXPECT_DEATH(
      {
        char* keep = static_cast<char*>(gomem_malloc(1 << 20));
        char* p = static_cast<char*>(gomem_malloc(1 << 20));
        gomem_free(p);
        gomem_free(p + (512 << 10));
        gomem_free(keep);
      },
      "gomem: (double free|free of a pointer gomem never handed out) of 0x[0-9a-f]+");
}

#ifndef GOMEM_SANITIZED
TEST_F(Death, StandardFreeReportsToo) {
  EXPECT_DEATH(
      {
        void* volatile p = malloc(24);
        free(p);
        free(p);
      },
      kDouble);
}
#endif

// Early frees of collected objects (gomem_gc_free, or free() of a collected
// object). The first free only clears the object and notes it in its span;
// the slot is reclaimed by the next sweep. A second free must stop there,
// not clear whatever object took the slot meanwhile.
void* volatile g_keep;

TEST_F(Death, GcFreeTwice) {
  EXPECT_DEATH(
      {
        void* p = gomem_gc_alloc(48);
        gomem_gc_free(p);
        gomem_gc_free(p);
      },
      "gomem: double free of 0x[0-9a-f]+ \\(size class [0-9]+, [0-9]+ bytes, gc-scan span.*freed already");
}

TEST_F(Death, GcFreeTwiceAcrossACollection) {
  // The collection sweeps the slot free (a stale copy of p on the stack
  // marks it, but the early free wins); the second free finds a free slot.
  EXPECT_DEATH(
      {
        g_keep = gomem_gc_alloc_noscan(100);  // keeps the span from going back to the heap
        void* p = gomem_gc_alloc_noscan(100);
        gomem_gc_free(p);
        gomem_gc_collect();
        gomem_gc_free(p);
      },
      "gomem: double free of 0x[0-9a-f]+ \\(size class [0-9]+, [0-9]+ bytes, gc-noscan span.*the slot is free");
}

TEST_F(Death, GcFreeOfASlotNeverHandedOut) {
  EXPECT_DEATH(
      {
        // The first object of a fresh span: its last slot is not handed out.
        void* p = gomem_gc_alloc(1000);
        gomem::MSpan* s = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
        gomem_gc_free(reinterpret_cast<void*>(s->base + uintptr_t{s->nelems - 1} * s->elemsize));
      },
      "gomem: double free of 0x[0-9a-f]+ \\(size class [0-9]+.*the slot is free");
}

TEST_F(Death, GcFreeOfAnInteriorPointer) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(gomem_gc_alloc(64));
        gomem_gc_free(p + 8);
      },
      kInterior);
}

TEST_F(Death, StandardFreeOfACollectedObjectTwice) {
  EXPECT_DEATH(
      {
        void* p = gomem_gc_alloc(24);
        gomem_free(p);
        gomem_free(p);
      },
      kDouble);
}

TEST_F(Death, GcFreeOfALargeObjectTwice) {
  EXPECT_DEATH(
      {
        void* keep = gomem_gc_alloc(1 << 20);  // keeps the freed run's neighbour in use
        void* p = gomem_gc_alloc(300000);
        gomem_gc_free(p);
        gomem_gc_free(p);
        gomem_gc_free(keep);
      },
      "gomem: (double free|free of a pointer gomem never handed out) of 0x[0-9a-f]+");
}
