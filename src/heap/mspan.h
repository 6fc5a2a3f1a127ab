// MSpan: a run of 8 KiB pages, cut into objects of one size class, or holding
// one large object, or (in the page heap) free.
//
// A span serves one of two allocation disciplines, by kind:
//
//   Manual kinds (manual, uncollectable) have free lists, like mimalloc's
//   pages: `freelist` is popped by malloc, `local_free` takes frees by the
//   owning thread, and `xfree` takes frees from every other thread with one
//   atomic operation. The owner splices local_free and xfree back into
//   freelist when freelist runs dry. A free object holds the link in its
//   first word and the span's `free_key` in its second, which is how a
//   double free is caught on the fast path.
//
//   The link word is read and written only through set_link, link_next and
//   next_checked below. In the hardened build (GOMEM_HARDENED,
//   docs/security.md) it holds next ^ obj ^ link_key, link_key a random
//   value drawn each time the span is cut, and every pop checks that the
//   decoded pointer is null or a slot start of the same span, so that a
//   heap overflow into a free object's first word stops the program with
//   "gomem: heap corruption detected" instead of giving the program memory
//   the attacker chose; a span's free list is then built whole, in random
//   order (build_more).
//   The default build stores next as is (no fast-path cost).
//
//   The free list is built lazily, one 4 KiB OS page of slots at a time,
//   from the top of the span down (mimalloc's page extension): slots below
//   `unbuilt` have never been linked, so a span's memory is touched only as
//   far as its objects are handed out. 100 mallocs of 16..808 B (29 size
//   classes) had 232 KiB of arena resident before (each build wrote every
//   slot), 136 KiB now; each page first touched costs a page fault (~15 us
//   here). The owner builds more only when freelist runs dry and before it
//   reuses local_free or remote frees (take_own_free), which is the order
//   the whole-span free list had. A free of a slot that was never built (a
//   pointer gomem never handed out) is pushed like any free, but leaves the
//   free key in the slot, and the build that reaches the slot finds it
//   there and reports it before the slot could be handed out twice. That
//   needs a key no earlier use of the memory left: each build takes a new
//   one (MHeap::new_free_key).
//
//   Collected kinds (noscan, scan) are Go's: an allocation bitmap searched
//   through the inverted 64-bit window `alloc_cache` starting at
//   `freeindex`, mark bits set by the collector, and `sweepgen` saying
//   whether the span was swept in this cycle (see gc/sweep.h).
//
// Fields are grouped by cache line according to the paths that use them.
// Line 0 holds every field malloc's and free's fast paths touch, so that a
// free into a span its owner has not touched for a while - the common case
// once a program's working set is fragmented, where frees land all over
// the spans - misses on one line of metadata, not two. Line 1 holds the
// geometry and what a span switch reads (links, parked, unbuilt); line 2
// what other threads write (xfree) and the collector's state.
//
// The counts behind it: bench/workloads/random_replace.c (20,000 slots of
// 8..1024 B, one thread, each step one free and one malloc) under
// valgrind --tool=cachegrind --cache-sim=yes --D1=32768,8,64
// --LL=1048576,8,64 (L1d and the 1 MiB L2 of the machine), per step as the
// difference of a 300,000- and a 600,000-step run. With the geometry and
// owner_key on line 0 and the owner's list fields on line 1, gomem missed
// D1 10.03 times per step (8.27 reads, 1.76 writes) and LL 4.52, mimalloc
// 6.07 and 2.95, glibc 6.34 and 3.12, at 475, 450 and 530 instructions
// per step: the instructions do not explain gomem's time there, the
// misses do. Free alone missed 2.72 times (the page map 0.81, line 0 0.98,
// line 1 0.93) against 0.68 for the whole of mimalloc's free. With the fast
// paths' fields on line 0 free misses 1.73 times (page map 0.78, line 0
// 0.92), and with unbuilt beside the links (sharing freeindex's word) a
// switch to a partial span whose own frees refill it no longer reads
// line 2: 9.19 D1 misses per step (7.43 + 1.76), LL 4.54, same
// instructions. bulk_mixed (100,000 objects allocated, then freed, per
// round): 4.34 -> 4.04 D1 misses per operation (mimalloc 2.71, glibc
// 3.67); churn: 5.45 -> 5.25 (4.19, 6.65).
// What is left of the gap on random_replace is structural: the page map
// entry (0.78 per free; mimalloc masks the pointer to find its page), the
// span switches (a switch every ~5 mallocs, each touching the new span's
// lines and, through the intrusive P lists, the lines of up to four
// neighbouring spans: ~1.2 read and 0.7 write misses per step), and 8 KiB
// spans, whose metadata (some 1,700 spans by this heap's size, against
// mimalloc's 200 pages of 64 KiB) the objects' traffic keeps evicting.
// The price: a remote free reads line 0, which the owner writes (mimalloc's
// page has the same sharing), and the collector's mark_candidate reads
// state, kind, base, nelems, freeindex and elemsize on line 1 and magic
// and gcbits on line 0: two lines for a collected span (a manual one is
// rejected on line 1). On bench/gc/binary_trees.c (depth 16, 16-byte
// collected nodes, the same cachegrind) that did not show: 16.51 M D1 and
// 13.63 M LL misses before, 16.50 M and 13.59 M after.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/atomic.h"
#include "base/bits.h"
#include "base/list.h"
#include "heap/sizeclasses.h"
#include "platform/mutex.h"

namespace gomem {

struct MCache;
struct Special;
namespace prof {
struct Bucket;
}

// &c->counts[spc + kFreeCountOffset], the frees of spc (heap/mcache.cc).
OwnerField<uint64_t>* mcache_nfree_slot(MCache* c, SpanClass spc);

enum class SpanState : uint8_t {
  kDead = 0,        // not describing memory (on the MSpan free list)
  kInUse = 1,       // holds objects (small spans) or one large object
  kFree = 2,        // a free page run owned by the page heap
  kScavenging = 3,  // a free run taken out of the index while the scavenger releases it
};

// The remote-free word of a manual span: the head of the list of objects
// freed by other threads (as slot index + 1; 0 = empty), how many there are,
// and the span's ownership state. One 64-bit CAS changes all three.
namespace xfree {
enum State : uint32_t {
  kActive = 0,     // owned by a P that will look at xfree (its current span or on its partial list)
  kParked = 1,     // owned by a P, parked on its full list: the P is not looking
  kNotified = 2,   // was parked, or remote frees emptied it: on (or going to) the P's notify stack
  kCentral = 3,    // owned by nobody, on mcentral's partial list
  kOrphan = 4,     // owned by nobody, full, on no list
  kFreeing = 5,    // entirely free and owned by nobody: the thread that set this frees it
  kReleasing = 6,  // owned by a P giving it up (release_all), until mcentral takes it: remote frees only add
};
// Bits: head 0-15, count 16-31, state 32-39, epoch 40-63. The epoch grows
// whenever the span changes owner (adopted, given up), so a remote freer
// that read "parked by P1" cannot complete its CAS after the span went to
// mcentral and was parked by P2 meanwhile (ABA), and notify the wrong P.
constexpr uint64_t pack(uint32_t head, uint32_t count, uint32_t state, uint32_t epoch) {
  return uint64_t{head} | (uint64_t{count} << 16) | (uint64_t{state & 0xff} << 32) | (uint64_t{epoch} << 40);
}
constexpr uint32_t head(uint64_t v) { return static_cast<uint32_t>(v & 0xffff); }
constexpr uint32_t count(uint64_t v) { return static_cast<uint32_t>((v >> 16) & 0xffff); }
constexpr uint32_t state(uint64_t v) { return static_cast<uint32_t>((v >> 32) & 0xff); }
constexpr uint32_t epoch(uint64_t v) { return static_cast<uint32_t>(v >> 40); }
// The same owner: keep the epoch.
constexpr uint64_t with(uint64_t old, uint32_t head, uint32_t count, uint32_t state) {
  return pack(head, count, state, epoch(old));
}
// A change of owner: a new epoch.
constexpr uint64_t next_epoch(uint64_t old, uint32_t head, uint32_t count, uint32_t state) {
  return pack(head, count, state, (epoch(old) + 1) & 0xffffff);
}
}  // namespace xfree

constexpr uintptr_t kKeyUncollectable = 2;

struct alignas(64) MSpan {
  // ---- Line 0: everything the fast paths read and write (runtime/malloc.h):
  // free's (owner_key, free_key, magic, base_magic, local_free, nfree_slot,
  // alloc_count) and malloc's (freelist, alloc_count). Written by the owner
  // (or, while unowned, under the mcentral lock); owner_key and magic are
  // read by every thread that frees into the span. See the essay above.
  //
  // Manual: thread key of the owner, | kKeyUncollectable for uncollectable
  // spans (so that their frees take the slow path, which clears the block);
  // else 0. Written by the owner (or under mcentral's lock while unowned),
  // read by free's fast path, which matches only the bare thread key.
  std::atomic<uintptr_t> owner_key{0};
  union {
    uint64_t free_key = 0;  // manual: written into word 1 of every free object
    // Collected: the bitmaps in one block of 3 x bitmap_words(), and in the
    // low bit which of the first two is the allocation bitmap (the other is
    // the mark bitmap; the third is freed_bits). Sweeping flips the bit
    // instead of swapping pointers.
    uintptr_t gcbits;
  };
  uint64_t magic = 0;          // ceil(2^64 / elemsize), see SizeClass::magic
  uint64_t base_magic = 0;     // base * magic (mod 2^64): p * magic - base_magic == (p - base) * magic
  void* freelist = nullptr;    // manual: next object malloc hands out
  void* local_free = nullptr;  // manual: objects freed by the owner
  // Manual: the owner P's free counter for this span's class
  // (mcache_nfree_slot, set with the owner), so that free's fast path
  // counts with one add; nullptr while unowned.
  OwnerField<uint64_t>* nfree_slot = nullptr;
  // Objects allocated and not yet returned to the lists (+1 if current),
  // minus alloc_bias: free's fast path leaves for the slow path when the
  // field reaches 0.
  OwnerField<uint32_t> alloc_count;
  // Manual, owner: 0, or for a parked span nelems - unpark_threshold, so that
  // the free that brings the owner's frees into it to the threshold is the
  // one that finds alloc_count at 0 (see mcache.h). allocated() is the count.
  OwnerField<uint32_t> alloc_bias;

  // ---- Line 1: geometry and list state. The geometry is written when the
  // span is set up (or re-cut, heap/mcache.cc) and read by all; the rest by
  // the owner (or, while unowned, under the mcentral lock; or, for free
  // spans, under the heap lock).
  alignas(64) uintptr_t base = 0;  // address of the first object (= start of the first page)
  uintptr_t elemsize = 0;          // object size (npages * kPageSize for large spans)
  uint32_t npages = 0;             // pages in the span
  uint32_t nelems = 0;             // objects in the span
  union {
    uint32_t freeindex;  // collected: slots below it are allocated; search starts here
    // Manual: slots [0, unbuilt) were never put on a free list (see the
    // essay); 0 once the free list reached the span's base, and in a fresh
    // record (every span starts as one: MHeap::alloc_span_locked), so for
    // large spans. Written by the owner (adopt builds under
    // mcentral's lock, once the owner is set), read racily by find_object.
    // Beside the lists' links, so that taking a partial span does not read
    // line 2 when the span's local_free refills it.
    OwnerField<uint32_t> unbuilt{};
  };
  SpanClass spanclass = 0;  // size class x kind
  SpanKind kind = SpanKind::kManual;
  std::atomic<SpanState> state{SpanState::kDead};  // set to kInUse last when publishing
  std::atomic<MCache*> owner{nullptr};             // manual: the P that owns the span, or nullptr
  ListLinks<MSpan> links;                          // P lists, mcentral lists, page-heap free lists
  bool in_central = false;                         // on mcentral's list (under its lock)
  bool large = false;                              // one object of npages pages
  bool needzero = false;                           // the free memory may be dirty
  bool in_empty_cache = false;                     // manual: on its P's cache of empty spans (any class)
  bool current = false;                            // a P's current span (manual: alloc_count holds +1 for it)
  bool parked = false;                             // manual: on its owner's full list (owner only)
  uint8_t gc_list = 0;                             // collected: which mcentral set holds it (under its lock)

  // ---- Line 2: cross-thread manual state, then the collector's state.
  alignas(64) std::atomic<uint64_t> xfree{0};  // remote frees + ownership, see namespace xfree
  MSpan* notify_next = nullptr;                // link on the owner's notify stack
#if GOMEM_HARDENED
  union {
    // Collected kinds (Go's mspan field; freeindex is on line 1):
    // ~alloc_bits[freeindex..freeindex+64), bit 0 = freeindex.
    uint64_t alloc_cache = 0;
    // Manual: the key of the link words (see set_link), drawn by
    // build_freelist while the span has no object outside its free list;
    // read by every thread that links an object of the span.
    uintptr_t link_key;
  };
#else
  // Collected kinds (Go's mspan fields; freeindex is on line 1):
  uint64_t alloc_cache = 0;  // ~alloc_bits[freeindex..freeindex+64), bit 0 = freeindex
#endif
  OwnerField<uint64_t> nmalloc;  // alloc_count when a P took it (gc/sweep.cc), by that P
  Special* specials = nullptr;   // finalizers, sorted by offset, under speciallock
  union {
    int64_t free_since = 0;  // page heap: when this free run became free (ns)
    // In-use large spans holding a sampled object (heap/profile.h): its
    // call stack's bucket, else nullptr. Set by the allocating thread before
    // it returns the object (cleared when the span is made large), cleared
    // by the one path that frees the object (prof::charge_free).
    prof::Bucket* prof_bucket;
  };
  std::atomic<uint32_t> sweepgen{0};  // see gc/sweep.h for the states
  Mutex speciallock;
  union {
    // With prof_bucket: elemsize minus the sampled object's recorded size
    // (prof_bytes()), set with prof_bucket.
    uint32_t prof_slack = 0;
#if GOMEM_HARDENED
    // Manual small spans (which never hold a sampled object): limit() -
    // base, for link_target_ok; written with link_key.
    uint32_t link_bytes;
#endif
  };

  // ---- Helpers --------------------------------------------------------------
  // With prof_bucket: the sampled object's recorded size.
  uintptr_t prof_bytes() const { return elemsize - prof_slack; }
  uint32_t allocated() const { return alloc_count + alloc_bias; }
  // The same read from a thread that is not the owner (may be stale).
  uint32_t allocated_racy() const { return alloc_count.read_racy() + alloc_bias.read_racy(); }
  uintptr_t get_owner_key() const { return owner_key.load(std::memory_order_relaxed); }
  // The owner key as free's fast path reads it: a plain load the compiler
  // can fold into the comparison (an atomic one it will not). Word-sized and
  // aligned, so never torn; only ThreadSanitizer builds need the atomic.
  GOMEM_INLINE uintptr_t owner_key_fast() const {
#if GOMEM_TSAN
    return get_owner_key();
#else
    return *reinterpret_cast<const uintptr_t*>(&owner_key);
#endif
  }
  void set_owner_key(uintptr_t k) { owner_key.store(k, std::memory_order_relaxed); }
  MCache* get_owner() const { return owner.load(std::memory_order_relaxed); }
  // Sets the owner (and nfree_slot, for the current spanclass).
  void set_owner(MCache* c) {
    owner.store(c, std::memory_order_relaxed);
    nfree_slot = c ? mcache_nfree_slot(c, spanclass) : nullptr;
  }
  uintptr_t start() const { return base; }
  uintptr_t bytes() const { return uintptr_t{npages} << kPageShift; }
  uintptr_t end() const { return base + bytes(); }
  // Address just past the last object.
  uintptr_t limit() const { return base + uintptr_t{nelems} * elemsize; }

  // Index of the object containing p (p inside the span).
  GOMEM_INLINE uintptr_t obj_index(uintptr_t p) const { return mulhi64(p - base, magic); }
  // True if p is the start of a slot (p inside the span).
  GOMEM_INLINE bool is_slot_start(uintptr_t p) const {
#if defined(__x86_64__)
    // The multiply takes magic from memory: the compiler would load it into
    // a register first, one more instruction on free's fast path.
    uint64_t m = p;
    __asm__("imulq %1, %0" : "+r"(m) : "m"(magic) : "cc");
    return m - base_magic < magic;
#else
    return p * magic - base_magic < magic;
#endif
  }
  GOMEM_INLINE uintptr_t obj_addr(uintptr_t idx) const { return base + idx * elemsize; }

  // Manual: starts the span's free list with a new free key: the slots of
  // its last OS page (build_more), and a key in the tail past the last slot
  // so that a free of the tail address is caught too. Every other slot is
  // unbuilt. The hardened build draws link_key from `random`.
  void build_freelist(uint64_t key, uint64_t random);
  // Manual, freelist empty: links the unbuilt slots of the next OS page
  // down (at least one slot), in address order (hardened: every unbuilt
  // slot, in an order drawn from link_key), with the free key in each. False if none was left. A
  // slot that already holds the key was freed without ever being handed
  // out: reported as an invalid free. Called with the owner P's lock or
  // mcentral's held (fork takes both).
  bool build_more();

  // ---- The link word (word 0) of a free object of a manual span.
  // What obj's link word is xor-ed with.
  GOMEM_INLINE uintptr_t link_mask(const void* obj) const {
#if GOMEM_HARDENED
    return reinterpret_cast<uintptr_t>(obj) ^ link_key;
#else
    (void)obj;
    return 0;
#endif
  }
  // Makes `next` the successor of free object obj.
  GOMEM_INLINE void set_link(void* obj, void* next) const {
    *static_cast<uintptr_t*>(obj) = reinterpret_cast<uintptr_t>(next) ^ link_mask(obj);
  }
  // obj's successor, unchecked: for callers that check it themselves.
  GOMEM_INLINE uintptr_t link_next(const void* obj) const {
    return *static_cast<const uintptr_t*>(obj) ^ link_mask(obj);
  }
#if GOMEM_HARDENED
  // True if q may be linked from an object of this span: a slot start in
  // [base, limit()) (null is not; callers test it apart).
  GOMEM_INLINE bool link_target_ok(uintptr_t q) const {
    uintptr_t d = q - base;
    if (d >= link_bytes) return false;
    uint64_t m = d;
#if defined(__x86_64__)
    __asm__("imulq %1, %0" : "+r"(m) : "m"(magic) : "cc");  // see is_slot_start
#else
    m *= magic;
#endif
    return m < magic;
  }
#else
  GOMEM_INLINE bool link_target_ok(uintptr_t) const { return true; }
#endif
  // obj's successor; in the hardened build checked, stopping the program
  // with "gomem: heap corruption detected" if it is neither null nor a slot
  // of this span.
  GOMEM_INLINE void* next_checked(const void* obj) const {
    uintptr_t q = link_next(obj);
    if (GOMEM_HARDENED && q && GOMEM_UNLIKELY(!link_target_ok(q))) corrupt_link(obj, q);
    return reinterpret_cast<void*>(q);
  }
  // malloc's fast path: sets *next to obj's successor and returns true, or
  // in the hardened build returns false if that is null or not a slot of
  // this span (the slow path then pops obj or stops the program).
  GOMEM_INLINE bool next_fast(const void* obj, void** next) const {
    uintptr_t q = link_next(obj);
    *next = reinterpret_cast<void*>(q);
    return !GOMEM_HARDENED || link_target_ok(q);
  }
  // Reports a link word at obj that decodes to q, and aborts.
  GOMEM_NORETURN GOMEM_COLD void corrupt_link(const void* obj, uintptr_t q) const;

  // Manual: true if p is on freelist or local_free (O(nelems)).
  bool lists_contain(void* p) const;
  // Manual: free objects the owner can hand out without remote frees: on
  // freelist, on local_free and unbuilt (O(nelems)).
  uint32_t count_local_free() const;
  // Manual: reports an object of the chain (linked through word 0,
  // null-terminated) that lies below `unbuilt` as an invalid free: it was
  // never handed out, and once on freelist it could be handed out before
  // build_more, which would find no key in it, builds its slot again. For
  // every path that moves freed objects to freelist while slots are
  // unbuilt (take_own_free never does: it builds first).
  void check_built(void* chain) const;
  // Manual: puts the chain of n objects starting at `chain` (linked through
  // word 0, null-terminated) in front of freelist (check_built first).
  void splice_chain(void* chain, uint32_t n);
  // Manual: the object at slot index idx of the xfree encoding (idx + 1).
  void* xfree_obj(uint32_t head) const {
    return head ? reinterpret_cast<void*>(base + uintptr_t{head - 1} * elemsize) : nullptr;
  }

  // Collected: Go's nextFreeFast. Returns the next free object or 0.
  GOMEM_INLINE uintptr_t next_free_fast() {
    if (alloc_cache == 0) return 0;
    unsigned bit = ctz64(alloc_cache);
    uintptr_t result = freeindex + bit;
    if (result >= nelems) return 0;
    uint32_t next = static_cast<uint32_t>(result + 1);
    if ((next & 63) == 0 && next != nelems) return 0;  // window exhausted: slow path refills it
    alloc_cache >>= (bit + 1);
    freeindex = next;
    alloc_count++;
    return base + result * elemsize;
  }
  // Collected: Go's nextFreeIndex. Returns nelems if the span is full.
  uint32_t next_free_index();
  // Collected: loads alloc_cache from alloc_bits at the 64-slot word `word`.
  void refill_alloc_cache(uint32_t word);
  // Collected: alloc_cache as it is at freeindex (after a window was cut
  // short: heap/profile.h). freeindex < nelems.
  void reload_alloc_cache() {
    refill_alloc_cache(freeindex / 64);
    alloc_cache >>= (freeindex % 64);
  }
  // Collected: Go's isFree for object idx (as of the allocator's view).
  bool is_free_slot(uintptr_t idx) const {
    if (idx < freeindex) return false;
    return !bit_test(alloc_bits(), idx);
  }
  uint32_t bitmap_words() const { return (nelems + 63) / 64; }
  // Collected: the allocation bitmap (1 = allocated as of the last sweep)
  // and the mark bitmap (1 = marked this cycle).
  GOMEM_INLINE uint64_t* bits_base() const { return reinterpret_cast<uint64_t*>(gcbits & ~uintptr_t{1}); }
  GOMEM_INLINE uint64_t* alloc_bits() const { return bits_base() + (gcbits & 1) * bitmap_words(); }
  GOMEM_INLINE uint64_t* gcmark_bits() const { return bits_base() + (~gcbits & 1) * bitmap_words(); }
  // Collected: objects freed early (gomem_gc_free) since the span was last
  // swept; the next sweep frees them whatever their mark says. Written by
  // gc_free and cleared by sweep, both under the span's mcentral lock.
  GOMEM_INLINE uint64_t* freed_bits() const { return bits_base() + 2 * bitmap_words(); }
  // Sweep: the mark bitmap becomes the allocation bitmap.
  GOMEM_INLINE void flip_bits() { gcbits ^= 1; }
};

static_assert(sizeof(MSpan) <= 192, "keep MSpan within three cache lines");
static_assert(offsetof(MSpan, alloc_bias) + sizeof(uint32_t) <= 64 && offsetof(MSpan, base) == 64,
              "the fast paths' fields fill line 0 (see the essay)");

// The MSpan that every empty mcache slot points to: its free list is empty
// and its alloc_cache is 0, so a fast path on it always falls to the slow
// path without a null check (Go's emptymspan).
extern MSpan g_empty_span;

}  // namespace gomem
