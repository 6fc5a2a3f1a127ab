// MCache: a P's cache of spans (Go's mcache), used without locks or atomic
// read-modify-writes on the fast paths.
//
// A thread takes a P on its first allocation and gives it back at exit
// (runtime/proc.cc); the P's MCache is its allocation context.
//
// Collected kinds work exactly as in Go: alloc[spc] is the one span of each
// collected span class the P allocates from; when it is full the P returns it
// to mcentral and takes another (refill), and the collector's sweeper owns
// every span that no P holds.
//
// Manual kinds need free(), which Go does not have, and here gomem follows
// mimalloc's free-list sharding: a span is owned by the P that took it, and
// keeps being owned after it fills up, so that the owner's free of an object
// in any of its spans is a plain push on that span's local_free list. A P's
// manual spans are, per size class:
//   - alloc[spc]: the current span, popped by malloc (and pointed to by
//     direct[], the size -> span shortcut for sizes up to 1 KiB);
//   - partial[]: spans with free objects (local_free, remote frees, or a
//     fresh free list), taken in turn when the current span runs dry;
//   - full[]: spans with no free object ("parked", owner_key has its low bit
//     set so the owner's free takes the slow path and moves the span back to
//     partial[]).
// A free from another thread never goes into the freeing thread's cache: it
// goes home to its span's xfree list with one CAS, batched per span
// (RemoteBatch). If the span was parked, that CAS also marks it kNotified
// and the freeing thread pushes it on the owner's notify stack, which the
// owner drains on its next refill. Spans that no P owns live in mcentral
// (see mcentral.h), and the remote free that empties one returns its pages
// to the heap.
//
// Empty spans go back to the page heap, except for a per-P cache of empty
// spans (up to kEmptyReserveBytes) that any size class with the same page
// count can re-cut: waves of alloc and free, even over many classes in turn,
// then never take the heap lock or touch the page map. The scavenger's trim
// request (trim()) empties the cache when memory is over its goal.
//
// Thread safety: everything here is private to the thread holding the P,
// except `notify` (pushed by other threads) and `lock`, which the owner
// holds during every slow path so that fork() can find the P consistent.
#pragma once

#include <atomic>
#include <cstdint>

#include "heap/mcentral.h"
#include "heap/mspan.h"
#include "heap/sizeclasses.h"
#include "platform/mutex.h"

namespace gomem {

class MHeap;

// direct[(size + 15) / 16] for size <= kDirectMax.
constexpr uintptr_t kDirectMax = 1024;
constexpr int kDirectEntries = kDirectMax / 16 + 1;
// Empty manual spans a P may keep instead of returning them to the heap.
constexpr uintptr_t kEmptyReserveBytes = 1024 * 1024;
// Objects batched for one remote span before they are sent.
constexpr uint32_t kRemoteBatchMax = 64;
// Remote spans a P batches for at once (direct-mapped by span address): a
// thread freeing objects of several sizes made elsewhere keeps one batch
// per span instead of sending one object whenever the span changes.
constexpr int kRemoteBatches = 64;  // one bit each in MCache::batch_mask

// Index of a manual span class in the per-P lists.
constexpr int manual_list_index(SpanClass spc) {
  return static_cast<int>(span_class_size_class(spc)) * 2 +
         (span_class_kind(spc) == SpanKind::kUncollectable ? 1 : 0);
}
constexpr int kManualLists = kMaxClasses * 2;
// Pages of the largest manual small-object span (Go's table: 10).
constexpr uint32_t kMaxSpanPages = 10;
static_assert([] {
  for (int c = 1; c < kManualClasses.count; c++)
    if (kManualClasses.cls[c].npages > kMaxSpanPages) return false;
  return true;
}(), "a manual span longer than the empty-span cache's lists");

struct RemoteBatch {
  MSpan* span = nullptr;  // destination span, or nullptr when empty
  void* head = nullptr;   // objects linked through word 0, newest first
  void* tail = nullptr;
  uint32_t n = 0;
  uint32_t head_idx = 0;  // slot index of head
};

inline int remote_batch_slot(const MSpan* s) {
  return static_cast<int>((reinterpret_cast<uintptr_t>(s) >> 6) % kRemoteBatches);
}

struct MCache {
  // ---- Fast-path state (owner only).
  MSpan* direct[kDirectEntries];    // manual size -> current span
  MSpan* alloc[kNumSpanClasses];    // span class -> current span
  uintptr_t tkey = 0;               // thread key of the holder (0 while pooled)

  // ---- Slow-path state (owner only, under `lock`).
  SpanList partial[kManualLists];
  SpanList full[kManualLists];
  SpanList empty[kMaxSpanPages + 1];  // empty manual spans kept for re-use, by page count
  uintptr_t empty_bytes = 0;        // their bytes (at most kEmptyReserveBytes)
  RemoteBatch batch[kRemoteBatches];  // remote frees not yet sent home (see remote_free)
  uint64_t batch_mask = 0;            // bit i: batch[i] is not empty
  uint32_t flush_gen = 0;           // collector: sweepgen when the GC spans were last released
  uint32_t trim_epoch = 0;          // g_trim_epoch when this P last trimmed its lists

  // Statistics kept by the owner, folded into the global totals when the P
  // is released and read racily by gomem_read_stats.
  OwnerField<uint64_t> remote_frees;   // objects this P freed into other P's spans
  // Manual objects handed out and freed by this P's holders, cumulative:
  // summed over every P (runtime/stats.cc), mallocs - frees = live objects,
  // without looking at a span. Never reset (a pooled P keeps them).
  OwnerField<uint64_t> nmalloc_direct[kDirectEntries];  // malloc_fast, by direct[] index
  OwnerField<uint64_t> nmalloc[kManualLists];           // the slow paths, by manual_list_index
  // Frees by manual_list_index: the owner's fast path (through
  // MSpan::nfree_slot) and free_slow (the owner's slow frees, this P's
  // remote frees).
  OwnerField<uint64_t> nfree[kManualLists];

  // ---- Shared.
  std::atomic<MSpan*> notify{nullptr};  // parked spans that received remote frees
  Mutex lock;

  // ---- Pool bookkeeping (runtime/proc.cc, under the pool lock).
  MCache* pool_next = nullptr;  // next P in the idle pool
  MCache* all_next = nullptr;   // every P ever made
  int id = 0;
  bool in_use = false;

  constexpr MCache() {
    for (auto& d : direct) d = &g_empty_span;
    for (auto& a : alloc) a = &g_empty_span;
  }

  // Resets a fresh or pooled P for a new holder.
  void attach(uintptr_t thread_key);

  // Manual allocation slow path: makes alloc[spc] a span with a non-empty
  // free list and returns it, or nullptr if the heap is out of memory.
  MSpan* refill_manual(MHeap& h, SpanClass spc);

  // The owner frees p into its own span s when the fast path could not:
  // s is parked, or p failed the fast checks (double-free key), or s became
  // empty. `pushed` says whether the fast path already pushed p.
  void owner_free_slow(MHeap& h, MSpan* s, void* p);
  void span_emptied(MHeap& h, MSpan* s);

  // A free into a span this P does not own (batched).
  void remote_free(MHeap& h, MSpan* s, void* p, uintptr_t idx);
  // Sends every batch home.
  void flush_batch(MHeap& h);
  void flush_one(MHeap& h, RemoteBatch& b);
  // Forgets the batches (a forked child, for Ps whose threads are gone).
  void drop_batches();

  // Gives every span back (thread exit, or another thread's P in a forked
  // child). The P is empty afterwards. in_child: the threads that could be
  // pushing notifications are gone; do not wait for them.
  void release_all(MHeap& h, bool in_child = false);

  // In a forked child, for the forking thread's own P: a remote freer that
  // vanished with the fork may have left a span kNotified but never pushed.
  void repair_after_fork();

  // Moves spans from the notify stack to partial[]. Returns how many.
  uint32_t drain_notify();

  // Gives back what the P holds without need: brings remote frees home on
  // every partial span and returns the spans that turn out empty (and the
  // empty reserve) to the heap. Run from the slow path when the scavenger
  // asks (g_trim_epoch moved), so memory freed by other threads into this
  // P's spans does not stay stranded while the P keeps running.
  void trim(MHeap& h);

  // Checks the invariants of the P's lists; returns an error string or nullptr.
  const char* check(MSpan** bad) const;

 private:
  void set_current(SpanClass spc, MSpan* s);
  // The owner key this P gives span s (see MSpan::owner_key).
  uintptr_t key_for(const MSpan* s, bool parked) const {
    return tkey | (s->kind == SpanKind::kUncollectable ? kKeyUncollectable : 0) | (parked ? kKeyParked : 0);
  }
  bool parked_here(const MSpan* s) const { return s->get_owner_key() == key_for(s, true); }
  // An empty span of `npages` pages from the cache, re-cut for class spc.
  MSpan* reuse_empty(MHeap& h, SpanClass spc, uint32_t npages);
  void free_empty_cache(MHeap& h);
  bool take_own_free(MSpan* s);  // fills s->freelist from s's own sources
  bool collect_remote(MSpan* s);
  bool park(MSpan* s, int li);
  void unpark(MSpan* s, int li);
  void release_manual_span(MHeap& h, MSpan* s, uint32_t* pending);
};

// Bumped by the scavenger when retained memory is over its goal; each P
// trims itself at its next slow path.
extern std::atomic<uint32_t> g_trim_epoch;

// A free sent to span s from a thread with no P (or flushing a batch):
// pushes the chain head..tail (n objects, head at slot head_idx) with one
// CAS and handles the ownership transitions it causes.
void send_remote_frees(MHeap& h, MSpan* s, void* head, void* tail, uint32_t n, uint32_t head_idx);

}  // namespace gomem
