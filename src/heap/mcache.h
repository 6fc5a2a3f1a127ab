// MCache: a P's cache of spans (Go's mcache), used without locks or atomic
// read-modify-writes on the fast paths.
//
// A thread takes a P on its first allocation and gives it back at exit
// (runtime/proc.cc); the P's MCache is its allocation context. A few more
// MCaches are shared per-CPU Ps, held by no thread and used under their
// lock, for the size classes a thread has used little (runtime/shared_p.h).
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
//   - alloc[spc]: the current span, popped by malloc (which finds spc for
//     sizes up to 1 KiB in the constant table kDirectClass);
//   - partial[]: spans with free objects (local_free, remote frees, or a
//     fresh free list), taken oldest first when the current span runs dry;
//   - full[]: "parked" spans, which had no free object when they were last
//     current (MSpan::parked; xfree state kParked, so that a remote free
//     notifies the owner).
// A free from another thread never goes into the freeing thread's cache: it
// goes home to its span's xfree list with one CAS, batched per span
// (RemoteBatch). If the span was parked (or the frees empty it), that CAS
// also marks it kNotified and the freeing thread pushes it on the owner's
// notify stack, which the owner drains on its next refill (see "Spans
// emptied by other threads" below). Spans that no P owns live in mcentral
// (see mcentral.h), and the remote free that empties one returns its pages
// to the heap.
//
// The fragmented steady state (bench: random_replace). A program that keeps a working
// set of objects of mixed sizes and replaces them at random leaves every
// span of every class with a few free slots: the current span runs dry
// after a handful of objects, and most frees land in spans that are not
// current. bench/workloads/random_replace.c is that program (20,000 slots of
// 8..1024 B, one thread); callgrind counts the allocator's instructions per
// step (one free + one malloc) as the difference of a 1 M and a 2 M step run:
// mimalloc 74.5, jemalloc 92.7, glibc 161, and gomem 390 before the design
// below. Then every span that ran dry was parked (owner key marked, so that
// every owner free into it took the slow path: checked_span, the lock, an
// unpark), and on the next refill the span freed into last came back as
// current with one or two objects: 0.73 refills per malloc and 0.70 slow
// frees per free, ~490 instructions for each such pair (the lock twice,
// batches flushed, direct[] entries set twice, a park and an unpark).
// The design now:
//
//   1. Refill without the lock first (refill_manual): the current span's
//      local_free becomes its free list, or its remote frees are collected
//      with one CAS. Only owner-private fields change, so no lock is needed:
//      the lock serves fork(), and a fork that cuts this short leaks the
//      moved objects in the child (local_free is cleared before the free
//      list is set), as a cut fast path does. Batches are flushed and the
//      trim request honoured on the locked path, which still runs at least
//      once per span switch.
//   2. Owner frees into a parked span stay on free's fast path (the owner
//      key no longer changes when a span parks). park() sets alloc_bias to
//      nelems - unpark_threshold and subtracts it from alloc_count, so the
//      fast path's existing "count reached 0" test fires at the free that
//      brings the span to unpark_threshold free objects (nelems/3, at most
//      8): only then does the span go back to partial[] (free_mark_reached,
//      under the lock). A span with one or two free objects never becomes
//      current; free stays at 29 instructions (30 since the per-P free
//      counter of the statistics, runtime/stats.cc).
//   3. A span switch calls set_current once (the dry span stays current,
//      parked, until its successor is found), and malloc maps a size to a
//      span class through a constant table, so set_current writes one
//      alloc[] entry instead of a range of direct[] ones (malloc: 17 -> 19
//      instructions).
// Measured the same way after: 110 instructions per step: free 29, malloc
// 18 (before the statistics' per-P free counter added one to free), and 63
// in slow paths (per step: refill_locked 14.7, malloc_slow 9.5,
// park 8.5, next_span 8.1, free_mark_reached 7.6, unpark 7.4,
// refill_manual 4.9, drain_notify 1.7), that is a span switch every 5.8
// mallocs (and the unpark that goes with it) at ~370 instructions, plus
// 0.02 lock-free refills per malloc. The whole program runs 478
// instructions per step against mimalloc's 443 (479 with the counter). The threaded shape (larson,
// 4 threads, a quarter of the frees remote): 323 -> 150 per replacement
// (mimalloc 101, glibc 209).
// Later the same program (20,000/100,000-step difference, the allocator's
// functions only) spent 130 instructions per step in the allocator, 82 of
// them in slow paths, at 0.2 span switches per step: a switch went through four call frames (refill_manual,
// refill_locked, next_span, park) and an unpark through three. Now
// refill_locked's body (switch_span), the partial-list part of next_span,
// park and unpark are inlined, leaving refill_manual one frame (rare
// new spans go out of line to new_span), free's unpark is one frame
// (free_mark_reached_locking), and a switch does not repeat the own-free
// check refill_manual has just made: 113 per step, 65 in slow paths; the
// whole program 501 -> 484 per step (20,000/60,000, as bench/harness.py
// counts; 300,000/600,000: 490 -> 474).
// Instructions are not the whole cost there: per step gomem runs about as
// many as mimalloc but misses the cache more often (the counts, and the
// layout that spares free one miss, are in heap/mspan.h).
// The threshold trades memory for switches: the objects of a parked span
// below it (at most a third of a span) wait for the rest. Steady-state peak
// RSS on this row: 14.2 MB before, 16.0 MB now (mimalloc 14.6, jemalloc
// 16.1); a quarter of a span (at most 4) gave 138 instructions at 15.4 MB,
// half of one 102 at 17.5 MB.
//
// Parked slots before a new span, while threads outnumber CPUs. The
// threshold's memory is per P: bench/workloads/threads1000.c (1,000
// threads each replacing its objects at random) leaves a few freed slots
// in every parked span of every thread, 200 MiB of its heap. So while
// g_ps_outnumber_cpus is set and a new span would grow the heap's
// footprint (MHeap::would_grow: fewer free unreleased pages than the span),
// next_span takes instead the parked span, among the first kReclaimScan
// (8) of the class, that holds the most objects its owner freed
// (reclaim_parked: unpark, then local_free becomes the free list). It
// trades span switches for memory, which one thread need not do: on
// random_replace without the gate (instructions per step, the bench's
// 20,000/60,000-step difference; looking at 1, 2, 4, 8 spans) 494 -> 504,
// 515, 524, 540, and 483 -> 505 in the steady state (300,000/600,000) for
// a peak RSS of 15.5 MB instead of 16.2; so single-threaded programs keep
// the threshold alone. With the gate: threads1000 1,681 -> 1,531 MB VmHWM
// (runtime/shared_p.h has the rest); the threaded rows under callgrind
// (larson: 8 threads, 2 generations of 100,000 operations; random_replace_mt:
// 8 threads, 200,000 replacements each) +0.4 to 2.3 % and +2.0 to 3.0 %
// instructions over two runs, and larson's full run peaks at 85 MB instead
// of 104. Cycling the scanned spans to the back of the list instead found
// more (threads1000 1,519 MB; 1,507 looking at 32) for about as many
// instructions (larson +0.8 %, random_replace_mt +3.5 %; at 32: +1.4 %,
// +4.8 %).
//
// Empty spans go back to the page heap, except for a per-P cache of empty
// spans (up to kEmptyReserveBytes) that any size class with the same page
// count can re-cut: waves of alloc and free, even over many classes in turn,
// then never take the heap lock or touch the page map. A re-cut changes the
// span's geometry in a non-preemptible section, because the collector scans
// uncollectable spans by their geometry with the world stopped. The
// scavenger's trim request (trim()) empties the cache when memory is over
// its goal.
//
// Giving back idle current spans. A current span carries the P's +1, so
// free's fast path never sees it empty: a program that uses each size class
// in turn (bench/workloads/churn.c: 4 MiB of one class, all freed, then the
// next class) leaves every class's current span behind, empty and touched,
// while the next class takes new spans from the heap, which then grows. So
// after every kIdleScanBytes (4 MiB) of new spans from the heap, new_span
// returns every other class's current span that holds no object (only the
// +1 left) to the heap (give_back_idle: ~1,500 instructions, a look at each
// manual class's alloc[] entry). churn's peak RSS: 13.0 -> 10.2 MB (glibc
// 6.3; with the shared-P gate of runtime/shared_p.h, 8.1), for +0.5 % of its
// instructions (callgrind, rounds=4: 716.7 M -> 720.3 M; every 1 MiB: 722.2 M,
// the same RSS). Measured and not kept: the same scan also emptying the
// empty-span cache (no lower peak: the cache only holds spans the heap
// could not use for the growing class anyway) or a smaller cache (256 KiB:
// 8.1 MB without the gate, but +8 % instructions, every reuse then a trip
// through the heap's page bitmaps).
//
// Spans that drain before their turn. A producer whose objects other
// threads free (bench/workloads/xmalloc.c: 4 threads allocate, 4 others
// free) gets each span back on its partial list at the first remote free
// and refills from that list oldest first, so a span is reused before all
// of its objects have come home and never empties: the spans a transient
// once needed stay with the P. xmalloc held ~3 MiB of spans per producer for
// 1.2 MiB of live objects in all. So a span that next_span finds entirely
// free once its remote frees are collected, while more spans of the class
// wait on the list, goes to the empty cache (or the heap) and the next one
// is taken: the list shrinks until spans no longer drain before their
// turn. An empty-cache span reused for its own class keeps its free lists
// (every object is on them, with the span's free key) instead of being
// built again, as a re-cut span is (not in the hardened build, whose
// rebuild draws a new random order). xmalloc's peak RSS 17.0 -> 13.4 MB
// (glibc 10.2). Callgrind runs the threads one after another, in long
// slices, so there spans drain far more often: xmalloc objs=200000 482.1 M
// -> 507.3 M instructions (+5 %, span switches and rebuilds of re-cut spans);
// churn (cached spans reused without a rebuild) 716.7 M -> 708.5 M.
//
// Spans emptied by other threads (bench: server_mt). 16 worker threads
// build requests (small strings, a 1..64 KiB body, a realloc-grown
// response) and hand them to 4 writer threads that free them: every free is
// remote, and at most 256 requests (~13 MiB) are alive. Peak RSS was
// 137 MB (tcmalloc 33), growing ~3.6 MiB per worker (requests=60000
// maxbody=4096: 8, 18, 63, 120 MB for 1, 4, 16, 32 workers). A walk of
// every P during the run found ~4,000 spans (~60 MiB) parked on the
// workers' full lists, nearly all their objects already freed: each was
// kNotified and waiting on its owner's notify stack, which only the owner
// drains, at its next span switch; but a worker spends most of its time
// blocked waiting for work, and a span on the partial list that the
// writers emptied was never noticed at all. Three changes:
//   1. The remote free whose objects are the last allocated ones of a span
//      (xfree's count reaches allocated(), read racily) marks it kNotified
//      even if it was kActive, pushes it if not yet pushed, and calls
//      release_notified on the owner: if the owner's lock is free (try_lock:
//      never waits, never deadlocks, even when the freer holds its own P's
//      lock), the spans of the notify stack that are entirely free and not
//      current leave the P as its own drain would let them go
//      (settle_notified, release_if_free: to its empty cache, within the
//      reserve, or the heap), the others go back on the stack. Owner frees
//      into such a span are impossible (every allocated object is in xfree,
//      and stale reads of alloc_count only err high), and every other change
//      of the P's lists is made under that lock. If the lock is taken the
//      owner is in a slow path, and its drain gives the span up. (At first
//      they went straight to the heap: xmalloc objs=200000 under callgrind
//      then took 37,389 spans from the heap instead of 5,281, 609 M
//      instructions against 508 M before this change; through the empty
//      cache, whose spans reused for their own class keep their free lists,
//      598-608 M over three runs; see the figures below.)
//      A stale alloc_count costs a needless notification, or leaves the span
//      where it was before this change. Since a kActive span can now be
//      notified, release_all moves every span to kReleasing (remote frees
//      only add) before it counts the notifications it must wait for, and
//      keeps it there until mcentral takes it (see "One owner at a time").
//   2. A thread that only frees never reaches a refill, where batches were
//      flushed: it flushes every batch once they hold kRemotePendingMax
//      (256) objects, instead of holding some indefinitely (385-615 per
//      writer before).
//   3. While Ps outnumber CPUs the empty-span reserve is 128 KiB per P, not
//      1 MiB: at 32 workers the reserves held 21 MiB once (1) worked.
// Peak RSS (VmHWM, MB, before -> after, two runs each; the threaded rows
// vary with the load of the shared machine): server_mt 137, 127 -> 43, 47;
// with requests=60000 maxbody=4096 and 1, 4, 16, 32 workers 8.1 -> 6.4,
// 18-20 -> 10-12.5, 63 -> 16-19, 120 -> 26-27. The other rows do not get
// worse: random_replace_mt 107, 197 -> 86, 175; larson 82, 151 -> 76, 94;
// xmalloc 16.8, 17.5 -> 8.3, 10.2; threads1000 1,532 -> 1,532. Only the
// owner's drain giving emptied spans up gave 101 MB on server_mt, with (2) 100: the notify
// stacks of the blocked workers still held most of it. The scavenger's
// goal needs no change: the spans (1) frees no longer count as in use.
// Instructions (callgrind, whole program): larson (8 threads, 2
// generations of 100,000) 990 -> 994 M (+0.4 %), random_replace_mt (8
// threads, 200,000 each) 901 -> 914 M (+1.5 %); the fast paths are
// untouched (malloc 19, free 30). Re-landed on give_back_idle, the
// retirements of next_span and the reuse of cached spans (see "One owner at
// a time"), against the code without (1)-(3): server_mt peak RSS 106, 112
// -> 51, 42 MB; threads1000 1,532 -> 1,532 MB; instructions (callgrind,
// whole program) larson 981.8 -> 983.2 M, random_replace_mt 907.8 -> 911.4
// M, and xmalloc objs=200000 507.7 -> 598-608 M (+18-20 %): under callgrind the
// producers sleep while consumers empty whole spans, which now leave them
// (33,805 spans taken from the heap instead of 5,281) where before they
// stayed, half drained, for the producers to reuse. A larger crowded
// reserve, or releasing emptied spans only from owners that are idle, are
// the next things to measure.
//
// One owner at a time. A span owned by a P is held by exactly one of: the
// P's lists (current, partial, full, the empty cache), its notify stack, or
// (once given up) mcentral or the heap. kNotified is the notify stack's
// claim: from the remote free that sets it to the drain (drain_notify,
// release_notified, release_all) that takes the span off the stack, the
// span may also be current or on a list, but only that drain may give it
// up. So every other give-up first sees kActive: span_emptied, the
// retirements of next_span and trim, and give_back_idle, which skips a
// current span still claimed (a span emptied by remote frees between the
// owner's drain and its pop of the partial list becomes current while
// kNotified); with no object outstanding, no remote free can change that
// state under them (retire_empty and free_owned_span check it). And
// release_all takes every span to kReleasing, where remote frees only add,
// and leaves it there until mcentral's give_up (which checks it) has taken
// it. When (1) above was first merged with give_back_idle and the
// retirements of next_span, SharedPs.FewObjectsManyClassesCrossThreadFrees
// without rseq failed about one run in 200 under load ("freeing a span that
// is not in use", or a hang at thread exit on a circular list): release_all
// put its spans back to kActive just before mcentral took them, so the
// remote free returning a span's last object in that window pushed it on
// the stack of a P that then freed it (or left it in mcentral), and the P's
// next holder drained a span it no longer owned. Checking every span taken
// off a notify stack (kNotified, this P's) found them kFreeing or another
// P's; tests/malloc_test.cc lands that free in the window through a hook,
// and the heap checker checks every P's notify stack.
//
// Thread safety: everything here is private to the thread holding the P,
// except `notify` (pushed by other threads) and `lock`, which the owner
// holds during every slow path that changes the P's lists, so that fork()
// can find them consistent. A shared P (runtime/shared_p.h) has no holder:
// every thread that uses it holds `lock` for all of it, so "owner only"
// below means "under the lock" there.
#pragma once

#include <atomic>
#include <cstdint>

#include "heap/mcentral.h"
#include "heap/mspan.h"
#include "heap/sizeclasses.h"
#include "platform/mutex.h"

namespace gomem {

class MHeap;

// kDirectClass[(size + 15) / 16]: the manual span class of a size up to
// kDirectMax, malloc's shortcut to alloc[].
constexpr uintptr_t kDirectMax = 1024;
constexpr int kDirectEntries = kDirectMax / 16 + 1;
struct DirectClasses {
  SpanClass spc[kDirectEntries];
};
constexpr DirectClasses make_direct_classes() {
  DirectClasses d{};
  for (int i = 0; i < kDirectEntries; i++)
    d.spc[i] = make_span_class(kManualClasses.class_of(i == 0 ? 1 : static_cast<size_t>(i) * 16), SpanKind::kManual);
  return d;
}
inline constexpr DirectClasses kDirectClass = make_direct_classes();
// Empty manual spans a P may keep instead of returning them to the heap.
constexpr uintptr_t kEmptyReserveBytes = 1024 * 1024;
// A P looks for idle current spans (give_back_idle) after taking this many
// bytes of new spans from the heap.
constexpr uintptr_t kIdleScanBytes = 4096 * 1024;
// The same while threads hold more Ps than there are CPUs (see "Spans
// emptied by other threads" above).
constexpr uintptr_t kEmptyReserveCrowded = 128 * 1024;
// Objects batched for one remote span before they are sent.
constexpr uint32_t kRemoteBatchMax = 64;
// Objects a P holds in all its batches before it sends them all home, so
// that a thread that only frees (it never reaches a refill) holds no
// object indefinitely (see "Spans emptied by other threads" above).
constexpr uint32_t kRemotePendingMax = 256;
// Remote spans a P batches for at once (direct-mapped by span address): a
// thread freeing objects of several sizes made elsewhere keeps one batch
// per span instead of sending one object whenever the span changes.
constexpr int kRemoteBatches = 64;  // one bit each in MCache::batch_mask
// A parked span returns to its P's partial list once the owner has freed
// this many of its objects (a third of the span, at most
// kUnparkObjectsMax, at least one; see the essay above).
constexpr uint32_t kUnparkObjectsMax = 8;
// Parked spans reclaim_parked looks at before the heap grows.
constexpr uint32_t kReclaimScan = 8;
constexpr uint32_t unpark_threshold(uint32_t nelems) {
  uint32_t q = nelems / 3;
  return q < 1 ? 1 : q > kUnparkObjectsMax ? kUnparkObjectsMax : q;
}

// Index of a manual span class in the per-P lists.
constexpr int manual_list_index(SpanClass spc) {
  return static_cast<int>(span_class_size_class(spc)) * 2 + (span_class_kind(spc) == SpanKind::kUncollectable ? 1 : 0);
}
constexpr int kManualLists = kMaxClasses * 2;
// MCache::counts: the frees of manual span class spc at spc + this.
constexpr int kFreeCountOffset = 2;
static_assert(static_cast<int>(SpanKind::kManual) + kFreeCountOffset == static_cast<int>(SpanKind::kNoscan) &&
              static_cast<int>(SpanKind::kUncollectable) + kFreeCountOffset == static_cast<int>(SpanKind::kScan));
// Pages of the largest manual small-object span (Go's table: 10).
constexpr uint32_t kMaxSpanPages = 10;
static_assert(
    [] {
      for (int c = 1; c < kManualClasses.count; c++)
        if (kManualClasses.cls[c].npages > kMaxSpanPages) return false;
      return true;
    }(),
    "a manual span longer than the empty-span cache's lists");

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
  MSpan* alloc[kNumSpanClasses];  // span class -> current span
  uintptr_t tkey = 0;             // thread key of the holder (0 while pooled)

  // ---- Slow-path state (owner only, under `lock`).
  SpanList partial[kManualLists];
  SpanList full[kManualLists];
  SpanList empty[kMaxSpanPages + 1];  // empty manual spans kept for re-use, by page count
  uintptr_t empty_bytes = 0;          // their bytes (at most kEmptyReserveBytes)
  uintptr_t heap_bytes = 0;           // bytes of spans taken from the heap since give_back_idle last ran
  RemoteBatch batch[kRemoteBatches];  // remote frees not yet sent home (see remote_free)
  uint64_t batch_mask = 0;            // bit i: batch[i] is not empty
  uint32_t batch_objs = 0;            // objects in batch[] (at most kRemotePendingMax)
  uint32_t flush_gen = 0;             // collector: sweepgen when the GC spans were last released
  uint32_t trim_epoch = 0;            // g_trim_epoch when this P last trimmed its lists
  // Objects of each manual size class the holder allocated from the shared
  // Ps since it took this P (runtime/shared_p.h): the class is cold for it
  // until this reaches the class's limit. Owner only; reset by attach.
  uint16_t cold_allocs[kMaxClasses];

  // Statistics kept by the owner, folded into the global totals when the P
  // is released and read racily by gomem_read_stats.
  OwnerField<uint64_t> remote_frees;  // objects this P freed into other P's spans
  // Manual objects handed out and freed by this P's holders, cumulative:
  // summed over every P (runtime/stats.cc), mallocs - frees = live objects,
  // without looking at a span. Never reset (a pooled P keeps them). One
  // array laid out like the span classes, so that a reader takes a size
  // class's four counters in one line and malloc adds to the span class it
  // already holds: counts[spc] for a manual or uncollectable spc counts
  // mallocs (malloc_fast and the slow paths), counts[spc + kFreeCountOffset]
  // (the slots of the collected kinds, which are never allocated from a
  // P's manual lists) frees: the owner's fast path (through
  // MSpan::nfree_slot) and free_slow (the owner's slow frees, this P's
  // remote frees).
  OwnerField<uint64_t> counts[kNumSpanClasses];

  // Heap-profile sampling (heap/profile.h) and the guarded pool's
  // (heap/guarded.h), owner only (and release_all, check, which run while
  // the owner does not allocate). The profile's draws are made for `rate`;
  // when prof::g_rate differs, the next slow path undoes every cut and
  // starts again (prof_reset). next[li] / guarded_next[li] / gc_left[spc]:
  // 0 = no draw. A manual list is cut before the nearer of its two samples.
  struct ProfState {
    uint64_t rate = 0;            // rate of the draws below (0: none made)
    uint64_t next[kManualLists];  // manual: 1 + the counts[] value at the class's sampled malloc
    // manual: 1 + the counts[] value at the class's guarded sample (the
    // pool's rate never changes)
    uint64_t guarded_next[kManualLists];
    void* rest[kManualLists];           // manual: the current span's free list past the objects before it
    uint64_t gc_left[kNumSpanClasses];  // collected: 1 + objects of the class before its sampled one
    // manual: the counts[] value below which a slow path of the class needs
    // no sampler (its nearer sample lies more than a span's objects ahead:
    // no cut to make, none in place); 0 until the draws are made.
    uint64_t horizon[kManualLists];
    uint64_t large_left;  // bytes of large manual objects before the next sampled one (0: no draw)
  } prof{};

  // ---- Shared.
  std::atomic<MSpan*> notify{nullptr};  // parked spans that received remote frees
  Mutex lock;

  // ---- Pool bookkeeping (runtime/proc.cc, under the pool lock).
  MCache* pool_next = nullptr;  // next P in the idle pool
  MCache* all_next = nullptr;   // every P ever made
  int id = 0;
  bool in_use = false;  // held by a thread
  // A shared per-CPU P (runtime/shared_p.h): held by no thread, used by
  // any under `lock`. Set once, before the P is published.
  bool shared = false;

  constexpr MCache() {
    for (auto& a : alloc) a = &g_empty_span;
    for (auto& n : cold_allocs) n = 0;
  }

  // Resets a fresh or pooled P for a new holder.
  void attach(uintptr_t thread_key);

  // Manual allocation slow path: makes alloc[spc] a span with a non-empty
  // free list and returns it, or nullptr if the heap is out of memory.
  MSpan* refill_manual(MHeap& h, SpanClass spc);
  // The same with `lock` held (a shared P's allocation).
  MSpan* refill_locked(MHeap& h, SpanClass spc);

  // The owner frees p into its own span s when the fast path could not: p
  // failed the fast checks (double-free key), or s is uncollectable.
  void owner_free_slow(MHeap& h, MSpan* s, void* p);
  // An owner's free brought s->alloc_count down to 0: s is parked and has
  // unpark_threshold free objects, enough to go back to partial[], or s is
  // empty. Called with `lock` held.
  void free_mark_reached(MHeap& h, MSpan* s);
  // The same for free's fast path (runtime/malloc.h): takes `lock` itself,
  // so that the call costs the fast path's caller one frame only.
  void free_mark_reached_locking(MHeap& h, MSpan* s);

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
  void repair_after_fork(MHeap& h);

  // Called by a remote freer whose frees made a span of this P entirely
  // free (and pushed it on the notify stack), on any thread: if `lock` is
  // free, settles the notified spans that are entirely free and not current
  // (they leave the P), and pushes the others back for the holder's drain.
  void release_notified(MHeap& h);

  // Moves spans from the notify stack to partial[], and gives up those
  // that are entirely free (release_if_free). Returns how many.
  uint32_t drain_notify(MHeap& h);

  // Gives back what the P holds without need: brings remote frees home on
  // every partial span and returns the spans that turn out empty (and the
  // empty reserve) to the heap. Run from the slow path when the scavenger
  // asks (g_trim_epoch moved), so memory freed by other threads into this
  // P's spans does not stay stranded while the P keeps running.
  void trim(MHeap& h);

  // Sampling: puts the cut-off tail of class li's free list back on its
  // current span; undoes every cut and forgets the draws (takes prof::g_rate);
  // cuts the current span of spc after the objects before its next sample
  // (the profile's or the guarded pool's, whichever comes first).
  GOMEM_INLINE void prof_restore(int li) {
    if (prof.rest[li]) prof_restore_slow(li);
  }
  void prof_restore_slow(int li);
  // Undoes every cut (manual lists, collected windows) and forgets the
  // collected countdowns; the manual draws stay (release_all).
  void prof_undo_cuts();
  void prof_reset();
  void prof_cut(SpanClass spc);

  // Checks the invariants of the P's lists; returns an error string or nullptr.
  const char* check(MSpan** bad) const;

 private:
  // A span of class spc with free objects that this P owns (not yet
  // current), from its lists, mcentral, its empty cache or the heap.
  MSpan* next_span(MHeap& h, SpanClass spc, int li);
  // refill_locked's body; own_tried: refill_manual found no object of the
  // current span's own (take_own_free failed, and trim and build_more were
  // not due), so that only remote frees (seen by park) can have come since.
  MSpan* switch_span(MHeap& h, SpanClass spc, bool own_tried);
  // next_span's part once the P's partial list is exhausted: mcentral, the
  // empty cache, a parked span (reclaim_parked) or a new span of the heap.
  GOMEM_NOINLINE MSpan* new_span(MHeap& h, SpanClass spc, int li);
  void set_current(SpanClass spc, MSpan* s);
  void span_emptied(MHeap& h, MSpan* s);
  // Puts empty span s, on none of the P's lists, in the empty cache or
  // returns it to the heap.
  void retire_empty(MHeap& h, MSpan* s);
  // s came off the notify stack: unparks it, takes it back to kActive, and
  // gives it up if it is entirely free (release_if_free).
  void settle_notified(MHeap& h, MSpan* s);
  // If no object of s is allocated (all came back as remote frees) and it
  // is not current, span_emptied.
  void release_if_free(MHeap& h, MSpan* s);
  // The owner key this P gives span s (see MSpan::owner_key).
  uintptr_t key_for_class(SpanClass spc) const {
    return tkey | (span_class_kind(spc) == SpanKind::kUncollectable ? kKeyUncollectable : 0);
  }
  uintptr_t key_for(const MSpan* s) const { return key_for_class(s->spanclass); }
  // An empty span of `npages` pages from the cache, re-cut for class spc
  // unless it was of that class already (*same_class).
  MSpan* reuse_empty(MHeap& h, SpanClass spc, uint32_t npages, bool* same_class);
  // Instead of a new span: the parked span of list li, among the first
  // kReclaimScan, that holds the most objects its owner freed, made ready
  // to allocate from (see "Parked slots" above). nullptr if none has any.
  MSpan* reclaim_parked(int li);
  void free_empty_cache(MHeap& h);
  // Returns every current span of a manual class other than keep that
  // holds no object to the heap (see "Giving back idle current spans").
  void give_back_idle(MHeap& h, SpanClass keep);
  // Returns span s, owned by this P, on no list and holding no object, to the heap.
  void free_owned_span(MHeap& h, MSpan* s);
  bool take_own_free(MSpan* s);  // fills s->freelist from s's own sources
  bool collect_remote(MSpan* s);
  bool park(MSpan* s, int li);
  void unpark(MSpan* s, int li);
  void release_manual_span(MHeap& h, MSpan* s);
};

// Bumped by the scavenger when retained memory is over its goal; each P
// trims itself at its next slow path.
extern std::atomic<uint32_t> g_trim_epoch;

// Set while threads hold more Ps than the process has CPUs (runtime/proc.cc,
// under the pool lock; read relaxed by slow paths): Ps then spend some
// instructions to keep memory bounded (see the essay above).
extern std::atomic<bool> g_ps_outnumber_cpus;

// Tests only: called in the middle of re-cutting an empty span for another
// class (tests/gc_test.cc stops the world there).
extern void (*g_recut_test_hook)(MSpan*);
// Tests only: called by release_all just before it gives owned span s up
// to mcentral (tests/malloc_test.cc frees the span's last object there).
extern void (*g_release_test_hook)(MSpan*);

// A free sent to span s from a thread with no P (or flushing a batch):
// pushes the chain head..tail (n objects, head at slot head_idx) with one
// CAS and handles the ownership transitions it causes.
void send_remote_frees(MHeap& h, MSpan* s, void* head, void* tail, uint32_t n, uint32_t head_idx);

}  // namespace gomem
