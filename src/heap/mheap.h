// MHeap: the page heap (Go's mheap). One per process.
//
// It reserves address space in 64 MiB arenas (PROT_NONE, at Go's hint
// addresses so that the heap grows contiguously), commits it 2 MiB at a time
// as the heap grows, and hands out spans: runs of 8 KiB pages. Small-object
// spans go to mcentral and mcache; objects over 32 KiB get a span of their
// own straight from here. A freed span is coalesced with free neighbours
// found through the page map and goes back on the free-run index (PageAlloc).
//
// Free pages stay backed ("retained") until the scavenger gives them back to
// the OS ("released"); two per-page bitmaps in each HeapArena say which pages
// are released and which are known to be zero, which is how a new span knows
// whether it must be cleared.
//
// Locking: `lock` protects the page index, the arenas, the MSpan and bitmap
// allocators and the page-level statistics. It is never held while touching
// object memory (building a free list faults pages in).
#pragma once

#include <atomic>
#include <cstdint>

#include "heap/arena.h"
#include "heap/fixalloc.h"
#include "heap/mcentral.h"
#include "heap/mspan.h"
#include "heap/pagealloc.h"
#include "heap/sizeclasses.h"
#include "platform/mutex.h"
#include "platform/os.h"

namespace gomem {

// The heap grows (commits) in steps of this many bytes: one transparent huge
// page. Go grows by 4 MiB chunks (pallocChunkBytes); half of that keeps a
// small heap's mapped bytes within 15 % of its live bytes where whole chunks
// cost 37 % (16 blocks of 560 KiB: 10 MiB mapped instead of 12 for 8.75 live).
constexpr uintptr_t kHeapGrowBytes = uintptr_t{2} << 20;
// The scavenger releases at most this much per madvise (with the heap lock
// dropped), so allocators never wait long for it.
constexpr uintptr_t kScavengeQuantum = uintptr_t{2} << 20;
// Transparent huge page size: the unit of the scavenger's density rule.
constexpr uintptr_t kHugePageBytes = uintptr_t{2} << 20;
// Largest request the heap accepts (the address space is 47 bits).
constexpr uintptr_t kMaxAllocBytes = uintptr_t{1} << 44;  // 16 TiB: npages fits 31 bits

// Page-level statistics, under the heap lock.
struct HeapPageStats {
  uint64_t sys = 0;       // bytes of arena memory committed
  uint64_t inuse = 0;     // bytes in in-use spans
  uint64_t released = 0;  // bytes of free runs given back to the OS (or never touched)
  uint64_t reserved = 0;  // bytes of address space reserved
  uint64_t meta_sys = 0;  // bytes of HeapArena records
  // Large objects (one per span).
  uint64_t large_allocs = 0;
  uint64_t large_frees = 0;
  uint64_t large_alloc_bytes = 0;  // cumulative bytes requested (span sizes)
  uint64_t large_live_bytes = 0;
  uint64_t scavenged_total = 0;  // cumulative bytes released by the scavenger
};

class MHeap {
 public:
  constexpr MHeap() = default;

  // Sets the platform and the arena index. Called once, before any use.
  void init(MemOS* os, ArenaIndex* index);

  // A span of npages pages for span class spc, aligned to align_pages pages,
  // with its geometry, kind and collector fields set, state kInUse, and every
  // page mapped to it. Manual spans still need build_freelist(). Returns
  // nullptr when the OS refuses memory.
  MSpan* alloc_span(uintptr_t npages, SpanClass spc, uintptr_t align_pages = 1);
  // Returns a span's pages to the free-run index. The span must hold no
  // allocated object.
  void free_span(MSpan* s);
  void free_span_locked(MSpan* s);

  // Large objects: extends span s in place to new_npages pages with the free
  // run right after it, if there is one big enough. True on success.
  bool grow_large_in_place(MSpan* s, uintptr_t new_npages);
  // Large objects: returns the pages past new_npages to the free runs.
  void shrink_large(MSpan* s, uintptr_t new_npages);

  // Gives free pages back to the OS (Go's mgcscavenge): retained pages of
  // free runs that have been free for at least min_age_ns, oldest runs first
  // and, among those, the highest addresses first, up to max_bytes (0 = no
  // limit), in pieces of at most kScavengeQuantum. Unless `force`, pieces
  // inside a huge-page-sized region that is almost all in use are left alone
  // (releasing them would break a transparent huge page; Go's 96.9 % rule).
  // The heap lock is dropped around each madvise. Returns bytes released.
  uint64_t scavenge(uint64_t max_bytes, int64_t min_age_ns, bool force);
  // Retained (backed, counted in RSS) free bytes, in-use bytes, committed
  // bytes and bytes of large objects, cheaply (lock-free loads).
  uint64_t retained_bytes() const { return retained_.load(std::memory_order_relaxed); }
  uint64_t inuse_bytes() const { return inuse_.load(std::memory_order_relaxed); }
  uint64_t sys_bytes() const { return sys_.load(std::memory_order_relaxed); }
  uint64_t large_live_bytes() const { return large_live_.load(std::memory_order_relaxed); }

  // Statistics snapshot.
  HeapPageStats page_stats();
  uint64_t free_bytes_retained();

  // Every arena (read without the lock: the list only grows).
  HeapArena* arenas() const { return arenas_.load(std::memory_order_acquire); }
  ArenaIndex& index() const { return *index_; }
  MemOS& os() const { return *os_; }

  // Calls fn(span) for every MSpan record ever made (dead ones included);
  // the callee checks span->state. Lock-free.
  template <class F>
  void for_each_span_record(F fn) const {
    spanalloc_.for_each_record([&](void* r) { fn(static_cast<MSpan*>(r)); });
  }

  // Checks the page map and the free-run index (heap lock taken inside).
  // Returns a description of the first problem found, or nullptr.
  const char* check_pages(uintptr_t* bad_addr);

  // Fork support: the child resets the lock (the parent held it across fork).
  Mutex lock;

  // The collector's sweep generation (Go's mheap_.sweepgen): +2 per cycle.
  std::atomic<uint32_t> sweepgen{0};

  // mcentral, one per span class, each on its own cache lines.
  MCentral central[kNumSpanClasses];

  // Whether a span of npages pages would add to the memory the heap keeps
  // from the OS: its free pages that are not released hold fewer bytes.
  // Read without the lock (a hint, never a promise).
  bool would_grow(uintptr_t npages) const {
    return retained_.load(std::memory_order_relaxed) < inuse_.load(std::memory_order_relaxed) + (npages << kPageShift);
  }

  // Metadata for statistics.
  uint64_t mspan_inuse() const { return spanalloc_.inuse_bytes(); }
  uint64_t mspan_sys() const { return spanalloc_.sys_bytes(); }
  uint64_t gcbits_sys() const;

  // A random value mixed into every span's free key.
  uint64_t secret = 0;
  // A free key no span had before (a manual span takes one per free-list
  // build: mspan.h says why it must differ from every earlier key).
  uint64_t new_free_key() {
    return ((key_seq_.fetch_add(1, std::memory_order_relaxed) + 1) * 0x9E3779B97F4A7C15ull) ^ secret;
  }

  // A value for MSpan::build_freelist to draw a span's link key and order
  // from: a Weyl sequence from the secret (build_freelist mixes it).
  uint64_t cut_random() { return secret + cut_seq_.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed); }

  // Called (outside the lock) after the heap grew: the scavenger starts
  // itself and enforces the memory limit from here.
  void (*grow_hook)() = nullptr;
  // Called under the heap lock right after pages [lo, lo+n) were committed
  // (a fresh mapping, so any per-mapping OS state is gone): the collector's
  // generational mode registers them for dirty-page tracking (gc/generational.cc)
  // before any object can live there. Set once at initialisation.
  void (*commit_hook)(uintptr_t lo, uintptr_t n) = nullptr;

 private:
  MSpan* alloc_span_locked(uintptr_t npages, SpanClass spc, uintptr_t align_pages, bool* grew);
  MSpan* alloc_mspan_locked();
  void free_mspan_locked(MSpan* s);
  uint64_t* alloc_gcbits_locked(uint32_t words);
  void free_gcbits_locked(uint64_t* bits, uint32_t words);
  bool grow_locked(uintptr_t npages);
  bool reserve_arenas_locked(uintptr_t bytes);
  // Puts [base, base+npages) on the free-run index as one run, merging with
  // free neighbours. The page bits (released/zeroed) must already be right.
  void insert_free_run_locked(uintptr_t base, uintptr_t npages, int64_t since = 0);
  bool dense_huge_page_locked(uintptr_t addr);
  void set_page_bits_locked(uint64_t (HeapArena::*bitmap)[kArenaBitmapWords], uintptr_t base, uintptr_t npages,
                            bool value);
  uintptr_t count_page_bits_locked(uint64_t (HeapArena::*bitmap)[kArenaBitmapWords], uintptr_t base, uintptr_t npages);
  void init_span_locked(MSpan* s, uintptr_t base, uintptr_t npages, SpanClass spc, bool zeroed);

  MemOS* os_ = nullptr;
  ArenaIndex* index_ = nullptr;
  Mutex scav_lock_;  // one scavenge() at a time
  PageAlloc pages_;
  FixAlloc spanalloc_;
  FixAlloc gcbits_[17];  // index = words per bitmap (1..16); one allocation holds the three bitmaps
  std::atomic<HeapArena*> arenas_{nullptr};
  HeapArena* arenas_tail_ = nullptr;
  uintptr_t cur_next_ = 0;  // next uncommitted byte of the current reservation
  uintptr_t cur_end_ = 0;   // end of the current reservation
  uintptr_t next_hint_ = 0;
  std::atomic<uint64_t> cut_seq_{0};  // cut_random's counter (any thread, relaxed)
  std::atomic<uint64_t> key_seq_{0};  // keys taken so far (new_free_key, any thread)
  void publish_locked() {
    retained_.store(stats_.sys - stats_.released, std::memory_order_relaxed);
    inuse_.store(stats_.inuse, std::memory_order_relaxed);
    sys_.store(stats_.sys, std::memory_order_relaxed);
    large_live_.store(stats_.large_live_bytes, std::memory_order_relaxed);
  }

  HeapPageStats stats_;
  std::atomic<uint64_t> retained_{0};  // stats_.sys - stats_.released, for lock-free readers
  std::atomic<uint64_t> inuse_{0};
  std::atomic<uint64_t> sys_{0};         // stats_.sys
  std::atomic<uint64_t> large_live_{0};  // stats_.large_live_bytes
};

}  // namespace gomem
