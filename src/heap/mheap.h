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
// Guarded large objects (hardened build, docs/security.md). A manual or
// uncollectable large object's span is [guard page][object pages][guard
// page], both guards no-access, so that a linear overflow out of the
// object, an underflow below it, and an overflow into it out of whatever
// lies below, all fault at once. (Collected large objects have none: the
// collector takes them at their span's base.) The offset of the object in
// its span needs no field (MSpan has no room): every manual or
// uncollectable large span of the hardened build has it, so it follows
// from the kind and the large flag (large_object below). A guard
// at the end of each span alone would not do: underflow would then fault
// only where the span below happens to be a guarded large one, and below a
// large object there are small spans, collected spans and free runs as
// often, none of which ends in a guard. Two guards per object cost 16 KiB
// of address space (no resident memory beyond what a guard page held when
// it was protected) and, made and unmade each time, four mprotect calls
// per object: mstress spent most of its time there (and in the mapping
// splits they cause). So a freed guarded span goes to a cache with its
// guards in place (Scudo's secondary cache, hardened_malloc's reuse of
// guarded regions), and a request for a span of exactly its size and
// alignment takes it back with no system call at all. The cache holds
// spans of objects up to 1 MiB (beyond that, the object's own page faults
// cost more than the four calls), 128 spans and 8 MiB at most (mstress's
// threads free ~150 large objects (8 x ~18) in a burst as they end: a bound of
// 32 spans left 102,762 of its 469,886 mprotect calls, these 6,237);
// it evicts its oldest spans when over a bound, and the scavenger empties
// it of spans cached for longer than its age threshold (all of them when
// forced: gomem_free_os_memory, the memory limit), so that their
// pages can be released like any free run. A cached span stays kInUse and
// mapped to its pages, with alloc_count 0 (a live one has 1): free and
// realloc report a double free of its old pointer, find_object sees no
// object there. A cached span is kManual, whatever it held: an
// uncollectable one's old words are no root for the collector (which
// scans the uncollectable spans in use). Its bytes count as idle
// (heap_idle: backed, free to no one else), not in use; inuse_bytes() and
// would_grow() say so too.
//
// Locking: `lock` protects the page index, the arenas, the MSpan and bitmap
// allocators, the guarded cache and the page-level statistics. It is never
// held while touching object memory (building a free list faults pages in)
// nor across mprotect.
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

// Guard pages at each end of a manual or uncollectable large object's span,
// hardened build.
constexpr uintptr_t kLargeGuardPages = GOMEM_HARDENED ? 1 : 0;
// The guarded cache: at most this many spans and bytes, each span of at
// most this many pages (a 1 MiB object and its guards).
constexpr size_t kGuardedCacheSpans = 128;
constexpr uint64_t kGuardedCacheBytes = uint64_t{8} << 20;
constexpr uintptr_t kGuardedCacheMaxPages = ((uintptr_t{1} << 20) >> kPageShift) + 2 * kLargeGuardPages;

// Whether large span s is guarded: manual and uncollectable ones in the
// hardened build (the collector scans an uncollectable one's object only,
// large_object to its end); collected ones are not (docs/security.md says
// why: the collector takes their object at the span's base).
GOMEM_INLINE bool large_guarded(const MSpan* s) { return kLargeGuardPages != 0 && !kind_is_gc(s->kind); }
// The object of large span s, and its size (the span minus its guards).
GOMEM_INLINE uintptr_t large_object(const MSpan* s) {
  return s->base + (large_guarded(s) ? kLargeGuardPages << kPageShift : 0);
}
GOMEM_INLINE uintptr_t large_object_bytes(const MSpan* s) {
  return s->bytes() - (large_guarded(s) ? 2 * kLargeGuardPages << kPageShift : 0);
}

// Page-level statistics, under the heap lock.
struct HeapPageStats {
  uint64_t sys = 0;       // bytes of arena memory committed
  uint64_t inuse = 0;     // bytes in in-use spans, minus the guarded cache's
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

  // A span of npages pages for span class spc, whose page lead_pages is
  // aligned to align_pages pages, with its geometry, kind and collector
  // fields set, state kInUse, and every page mapped to it. Manual spans still
  // need build_freelist(). Returns nullptr when the OS refuses memory.
  MSpan* alloc_span(uintptr_t npages, SpanClass spc, uintptr_t align_pages = 1, uintptr_t lead_pages = 0);
  // Returns a span's pages to the free-run index. The span must hold no
  // allocated object.
  void free_span(MSpan* s);
  void free_span_locked(MSpan* s);

  // Hardened build: a guarded manual large span (see the essay) for an
  // object of npages pages aligned to align_pages pages: a cached one of
  // exactly that size if one is aligned so, else a new one whose guards are
  // protected here. Counted as a large allocation; nullptr when the OS
  // refuses memory.
  MSpan* alloc_guarded_large(uintptr_t npages, uintptr_t align_pages, SpanKind kind);
  // Frees guarded large span s (its object is freed): onto the cache, or
  // back to the page heap with its guards unprotected. A span already cached
  // (a double free racing with the first) is reported.
  void free_guarded_large(MSpan* s);

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
  MSpan* alloc_span_locked(uintptr_t npages, SpanClass spc, uintptr_t align_pages, uintptr_t lead_pages, bool* grew);
  void count_large_alloc_locked(MSpan* s);
  void release_span_locked(MSpan* s);
  // Spans leaving the guarded cache (a chain through links.next): their
  // guards unprotected, then back to the page heap. Without the lock.
  void release_guarded(MSpan* chain);
  // Empties the guarded cache of spans cached at least min_age_ns ago.
  void flush_guarded_cache(int64_t min_age_ns);
  void uncache_locked(MSpan* s);
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
  // Hardened build: freed guarded large spans, guards in place, most
  // recently cached first (free_since: when), under the lock.
  IntrusiveList<MSpan, &MSpan::links> guarded_cache_;
  uint64_t guarded_cache_bytes_ = 0;  // bytes of its spans, under the lock
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
