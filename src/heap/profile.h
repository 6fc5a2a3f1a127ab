// Sampled heap profiling: which allocation sites hold the memory (docs/profiling.md).
//
// What is sampled. Like Go (runtime.MemProfileRate) and tcmalloc, bytes are
// sampled as a Poisson process: every allocated byte starts a sample with
// probability 1/rate, so an allocation of `size` bytes is sampled with
// probability 1 - exp(-size/rate), independently of every other. The rate
// is g_rate (GOMEM_PROFILE_RATE or gomem_set_profile_rate; Go's default
// 512 KiB when profiling is on; 0 = off, the default). The writer scales a
// site's sampled counts back by Go's formula (runtime/pprof's
// scaleHeapSample): count and bytes times 1 / (1 - exp(-avg/rate)), avg the
// site's average sampled object size.
//
// Where the test sits: nowhere on the fast paths. Go and tcmalloc count
// bytes down on every allocation; gomem's malloc pops a free list and its
// collected allocation an alloc_cache bit, and neither knows the size of
// what it hands out in bytes. So the countdown is kept per P and per span
// class, in objects (the draw divided by the class's size), and the fast path
// is made to stop at the sampled object instead of asking: when a slow path
// leaves a span current, it cuts the span's supply after the objects that
// come before the next sample (manual: the free list is cut after them and
// its tail kept in MCache::prof.rest; collected: the alloc_cache window is
// truncated, the bitmap still says the rest is free). The fast path then
// runs dry exactly at the sampled allocation, and malloc_slow or
// gc::alloc_small, which already test for an empty list, find the sample due
// (runtime/malloc.cc, gc/gcalloc.cc). Splitting the byte stream by span
// class and running one exponential countdown on each keeps it a Poisson
// process of the same rate (the process is memoryless), so the statistics
// are Go's. With profiling off (rate 0, never set) the slow paths test two
// zero words (g_active, which also says whether the guarded pool of
// heap/guarded.h samples, and the P's rate) and the fast paths are
// untouched (tests/fastpath). With it on, a manual slow path compares the
// class's count with MCache::prof.horizon, the count from which its sample
// lies within a span's objects, and skips the sampler below it. A P keeps
// its manual countdowns when its thread exits (release_all undoes the cuts
// only), so a program of short-lived threads does not draw every class
// again for each thread.
//
// Cost, callgrind, whole programs, off -> on at Go's rate (524288):
// random_replace steps=3000000 (a slow path every fifth malloc) 1477.4 M ->
// 1490.0 M instructions (1.0085; 1.0111 before the horizon and the kept
// draws; malloc and free alone, inclusive, 1.035 against 1.045), mstress
// quick (thread churn, 2 % large objects) 11300.5 M -> 11448.5 M (1.0131;
// 1.0190 before those and the large countdown below; malloc and free
// alone 1.047 against 1.070).
// What is left in mstress's +148 M: the samples themselves (a one-object
// span made and freed for each of the 30,000 sampled small objects, ~50 M
// of page-heap work; the stack walk 8 M; record 6 M), the horizon test on
// each of 6 M slow paths (~4 instructions, ~25 M), the sampler's
// bookkeeping (alloc_small_profiled and prof_cut, ~25 M), the draws (a
// logarithm each, ~7 M).
//
// A cut is undone when the P's rate changes (prof_reset: every manual list
// and every collected window of the P), when the P is released, and by the
// heap check; a fork() that interrupts a cut or its undo leaks the objects
// in between in the child, never lists them twice (MCache::prof_restore).
//
// Large allocations are slow paths anyway. A large manual object is counted
// down in bytes per P (MCache::prof.large_left, Go's nextSample): sampled if
// the bytes left to the sample fall inside it, a fresh draw after each
// sample, which by memorylessness is the probability 1 - e^(-size/rate) of a
// fresh draw per allocation without a logarithm each (runtime/malloc.cc). A
// large collected object, and one allocated by a thread without a P, takes
// a fresh draw.
//
// The per-object record (tcmalloc's way): a sampled object gets a span of
// its own. A sampled small object is served by a one-object large span of
// the same kind (its class's size recorded, as Go records the class size),
// a sampled large object is its span already, and MSpan::prof_bucket points
// to the site's bucket with MSpan::prof_bytes() the recorded size. Every path
// that frees a large span (free, realloc, gomem_gc_free, the sweep of an
// unmarked large object) already looks at the span, so charge_free finds
// the record there: no address map to keep in step with the heap, and no
// change to the small-object free path. Costs: a sampled small object takes
// a page (at Go's rate, one page per 512 KiB allocated: ~1.6 % of the
// sampled heap; heap_alloc and the size-class figures count it as large).
//
// The stacks: the sampling thread walks frame pointers from its own frame,
// at most kMaxDepth frames, each frame address checked to lie above the last
// one, at most 256 KiB above it, and inside the calling thread's stack as
// far as it was found readable (pages checked as the walk first needs them,
// os::readable_prefix: a system call per 64 KiB, about one per thread), so
// a program built without frame pointers gives short or odd stacks, never a
// fault. (Without the 256 KiB bound, garbage in rbp, such as 0x10400000004a0
// in mstress, sent the check up the memory above the stack to 64 MiB: ~27
// system calls per thread, most of profiling's cost on mstress;
// docs/profiling.md.) gomem's slow paths and the stack walker are built with
// frame pointers (the fast paths tail-call them, so the walk starts at the
// caller of malloc); the frames inside gomem are dropped when the profile is
// written, by symbol.
// Buckets live in a hash table of metadata memory taken from the OS in
// chunks (never malloc; never freed); a bucket is made under g_lock and
// never removed, its counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/compiler.h"
#include "heap/mspan.h"

namespace gomem {
namespace prof {

constexpr int kMaxDepth = 64;
constexpr uint64_t kDefaultRate = 512 * 1024;  // Go's MemProfileRate

// The heap a sample came from (the profile's `kind` label).
enum class Heap : uint8_t { kManual = 0, kGC = 1 };

// One call stack of one heap. Fields other than the counters are written
// once under g_lock before the bucket is published (release store on the
// list head); the counters are relaxed atomics, added to by samplers and
// freers, read by the writer.
struct Bucket {
  Bucket* chain;     // next in the hash chain (under g_lock)
  Bucket* all_next;  // next in the list of every bucket (read by the writer)
  uint64_t hash;
  uint32_t depth;
  Heap heap;
  std::atomic<uint64_t> alloc_objects, alloc_bytes, free_objects, free_bytes;
  uintptr_t pcs[];  // depth return addresses, innermost first
};

// Bytes per sample, 0 = off. Written by set_rate, read by every slow path.
extern std::atomic<uint64_t> g_rate;
GOMEM_INLINE uint64_t rate() { return g_rate.load(std::memory_order_relaxed); }
void set_rate(uint64_t bytes);

// g_rate, with bit 0 set while the guarded pool samples too (heap/guarded.h,
// which shares the countdown and the cuts): the one word a manual slow
// path loads to learn that no sampler is on. Written by set_rate and
// set_guarded (once, at initialisation).
extern std::atomic<uint64_t> g_active;
GOMEM_INLINE uint64_t active() { return g_active.load(std::memory_order_relaxed); }
void set_guarded();

// Every bucket made so far (newest first), for the writer.
Bucket* all_buckets();

// 64 random bits (splitmix64 over a shared counter, seeded from the OS on
// first use; one atomic add).
uint64_t next_random();

// The return addresses of the caller's frames, innermost first (this
// function's own caller included), at most max: frame addresses must grow,
// be aligned and lie in the readable part of the calling thread's stack
// above sp. Never faults; a frame without a frame pointer ends the walk or
// skips callers.
GOMEM_NOINLINE int walk_stack(uintptr_t* pcs, int max);
// The walk from frame fp of the calling thread's stack (sp at or below it):
// the return addresses of fp and its callers; a saved frame pointer more
// than 256 KiB above its frame (garbage in a frame built without frame
// pointers) ends it.
int walk_frames(uintptr_t fp, uintptr_t sp, uintptr_t* pcs, int max);

// A fresh exponential draw with mean `rate`, in bytes (at least 1).
uint64_t draw_bytes(uint64_t rate);
// For a fresh draw: how many objects of `size` bytes come before the
// sampled one (Go's test: an object is sampled when size >= what is left).
GOMEM_INLINE uint64_t objects_before_sample(uint64_t rate, uintptr_t size) {
  uint64_t r = draw_bytes(rate);
  return r <= size ? 0 : (r - 1) / size;
}
// A large allocation of `size` bytes: sampled or not (a fresh draw).
GOMEM_INLINE bool sample_large(uint64_t rate, uintptr_t size) { return draw_bytes(rate) <= size; }

// Records a sampled object of `bytes` bytes in large span s: walks the
// caller's stack, finds or makes its bucket, counts the allocation and
// points s at it. Without memory for a bucket the sample is dropped.
GOMEM_NOINLINE void record(MSpan* s, uintptr_t bytes, Heap heap);

// The sampled object of span s is freed: counts the free in its bucket.
void charge_free_slow(MSpan* s);
GOMEM_INLINE void charge_free(MSpan* s) {
  if (GOMEM_UNLIKELY(s->prof_bucket != nullptr)) charge_free_slow(s);
}

// fork(): the bucket lock is held across it (a leaf lock: nothing is
// taken under it), so the child's table is whole.
void fork_prepare();
void fork_parent();
void fork_child();

// ln and exp (libgomem links no libm): for the draws and the writer's scaling.
double log_e(double x);
double exp_e(double x);

}  // namespace prof
}  // namespace gomem
