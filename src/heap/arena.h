// Arenas and the arena index: the O(1) map from any address to its span.
//
// The heap is carved out of 64 MiB arenas (Go's heapArenaBytes on 64-bit
// Linux). Each arena has a HeapArena record, allocated off-heap, holding the
// page -> span map for its 8192 pages and per-page bitmaps. The arena index
// is a flat first level of 2^22 entries covering the 48-bit address space
// (Go's arenas[1][1<<22] on linux/amd64), living in bss and touched only
// where arenas exist.
//
// To spare free() an instruction, a first-level entry does not hold the
// HeapArena address but a pointer biased so that indexing it with the
// address's global page number (p >> 13) lands on the right spans[] entry.
//
// Page map rule: every page of an in-use span maps to that span; the first
// and last page of a free run map to the run's MSpan (for coalescing); every
// other page maps to nothing. So a lookup never returns a stale span.
// "Nothing" is stored as &g_empty_span rather than nullptr, so that free's
// fast path needs no null test: the empty span's owner key matches no thread.
//
// The map is filled with &g_empty_span as the heap commits memory (MHeap's
// grow step, 2 MiB: 2 KiB of map), not when the arena is reserved: filling
// all 8192 entries at once wrote 64 KiB (16 page faults, a fifth of a tiny
// program's extra memory) for a heap that may never pass its first 2 MiB.
// Entries of pages that were reserved but never committed stay nullptr
// (lookups that may meet such an address, like the marker's candidate
// test, check; free of such a pointer, which no allocation ever returned
// and which lies in PROT_NONE memory, faults instead of being reported).
#pragma once

#include <atomic>
#include <cstdint>

#include "base/compiler.h"
#include "heap/mspan.h"
#include "heap/sizeclasses.h"

namespace gomem {

constexpr uintptr_t kArenaShift = 26;
constexpr uintptr_t kArenaBytes = uintptr_t{1} << kArenaShift;  // 64 MiB
constexpr uintptr_t kPagesPerArena = kArenaBytes / kPageSize;   // 8192
constexpr uintptr_t kHeapAddrBits = 48;
constexpr uintptr_t kArenaL1Entries = uintptr_t{1} << (kHeapAddrBits - kArenaShift);
constexpr uintptr_t kArenaBitmapWords = kPagesPerArena / 64;

// The bitmaps (5 KiB) come before the page map, so that a small heap's
// record is two written OS pages (the bitmaps, the map's first 2 KiB), not
// three (the map's start, and bitmaps straddling a page boundary at its end).
struct HeapArena {
  uintptr_t base;   // first byte of the arena
  HeapArena* next;  // all arenas, in creation order (heap lock; read lock-free)
  // Bit per page (heap lock): the page is given back to the OS (not counted
  // in RSS). Fresh pages start released.
  uint64_t released[kArenaBitmapWords];
  // Bit per page (heap lock): the page is known to read as zero.
  uint64_t zeroed[kArenaBitmapWords];
  // Bit per page (heap lock): the page belongs to an in-use span (the
  // scavenger's huge-page density rule counts these).
  uint64_t inuse[kArenaBitmapWords];
  // Bit per page: the first page of an in-use collected span (Go's pageInUse).
  std::atomic<uint64_t> page_in_use[kArenaBitmapWords];
  // Bit per page: the first page of a collected span with a marked object
  // this cycle (Go's pageMarks). Set by markers, cleared at mark start.
  std::atomic<uint64_t> page_marks[kArenaBitmapWords];
  // Page -> span. Written under the heap lock, read without it.
  std::atomic<MSpan*> spans[kPagesPerArena];
};

class ArenaIndex {
 public:
  constexpr ArenaIndex() = default;

  static GOMEM_INLINE uintptr_t l1_index(uintptr_t p) { return (p >> kArenaShift) & (kArenaL1Entries - 1); }

  // The span whose page holds p, or &g_empty_span if there is none, or
  // nullptr if p lies in reserved memory the heap never committed. The fast
  // path of free: one shift + mask + load for the arena, one shift + load
  // for the span.
  GOMEM_INLINE MSpan* span_or_empty(uintptr_t p) const {
    uintptr_t biased = __atomic_load_n(&l1_[l1_index(p)], __ATOMIC_ACQUIRE);
    if (GOMEM_UNLIKELY(biased == 0)) return &g_empty_span;
    return __atomic_load_n(reinterpret_cast<MSpan**>(biased + (p >> kPageShift) * sizeof(void*)), __ATOMIC_RELAXED);
  }
  // The span whose page holds p, or nullptr.
  GOMEM_INLINE MSpan* span_of(uintptr_t p) const {
    MSpan* s = span_or_empty(p);
    return s == &g_empty_span ? nullptr : s;  // (or nullptr already: never committed)
  }
  // Two-step form for callers that already know the arena exists.
  GOMEM_INLINE uintptr_t biased_entry(uintptr_t p) const {
    return __atomic_load_n(&l1_[l1_index(p)], __ATOMIC_ACQUIRE);
  }

  HeapArena* arena_of(uintptr_t p) const {
    uintptr_t biased = __atomic_load_n(&l1_[l1_index(p)], __ATOMIC_ACQUIRE);
    if (!biased) return nullptr;
    uintptr_t first_page = (p & ~(kArenaBytes - 1)) >> kPageShift;
    return reinterpret_cast<HeapArena*>(biased + first_page * sizeof(void*) - offsetof(HeapArena, spans));
  }

  // Publishes arena `a` (covering [a->base, a->base + 64 MiB)).
  void insert(HeapArena* a) {
    uintptr_t first_page = a->base >> kPageShift;
    uintptr_t biased = reinterpret_cast<uintptr_t>(&a->spans[0]) - first_page * sizeof(void*);
    __atomic_store_n(&l1_[l1_index(a->base)], biased, __ATOMIC_RELEASE);
  }

  // Sets the page-map entries for pages [first, first + n) (addresses).
  void set_range(uintptr_t addr, uintptr_t npages, MSpan* s);
  void set_page(uintptr_t addr, MSpan* s) {
    HeapArena* a = arena_of(addr);
    a->spans[(addr >> kPageShift) & (kPagesPerArena - 1)].store(s ? s : &g_empty_span, std::memory_order_release);
  }

 private:
  uintptr_t l1_[kArenaL1Entries] = {};
};

}  // namespace gomem
