// MCentral: the spans of one span class that no P holds (Go's mcentral).
//
// Manual kinds: `partial` holds unowned spans that have free objects
// (xfree state kCentral): spans given up by exiting threads, and full
// unowned spans that a remote free made non-full. A P that runs out of
// spans adopts one from here before asking the page heap. Unowned full spans
// (kOrphan) are on no list: the first remote free into one puts it back here,
// and the free that empties an unowned span returns it to the page heap.
//
// Collected kinds: Go's four span sets, partial/full x swept/unswept. The two
// halves swap roles every cycle through sweepgen/2 % 2, so the collector
// never moves spans between lists when a cycle starts (see gc/sweep.h).
//
// One mutex per mcentral, taken once per span handed out or returned, never
// on a per-object path.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/list.h"
#include "heap/mspan.h"
#include "platform/mutex.h"

namespace gomem {

class MHeap;

using SpanList = IntrusiveList<MSpan, &MSpan::links>;

struct alignas(64) MCentral {
  Mutex lock;
  SpanList partial;  // manual: unowned spans with free objects
  // Manual: partial's length, written under the lock, read without it by
  // adopt (see there).
  std::atomic<uint32_t> npartial{0};

  // Collected kinds: index by sweepgen/2 % 2 (swept) and 1 - that (unswept).
  SpanList gc_partial[2];
  SpanList gc_full[2];

  // Manual: takes an unowned span with free objects and makes `owner`
  // (holding thread key tkey) its owner, with the remote frees collected into
  // its free list. nullptr if there is none. An mcentral whose npartial
  // reads 0 is not locked: g_heap lives in bss, and a program that never
  // gives a span up then never writes (commits) the 4 KiB pages holding its
  // mcentrals. A span given up meanwhile is found next time.
  MSpan* adopt(MHeap& h, MCache* owner, uintptr_t tkey);

  // Manual: the owner gives span s up (thread exit). Its local_free must be
  // empty (merged into freelist) and its state kReleasing (no remote free
  // will notify the owner of it any more).
  void give_up(MHeap& h, MSpan* s);

  // Manual: a remote free that changes an unowned span's state (orphan ->
  // central, or the free that empties it), done under the lock so that list
  // membership and state change together.
  void remote_free_locked(MHeap& h, MSpan* s, void* head, void* tail, uint32_t n, uint32_t head_idx);

 private:
  // Puts s on partial / takes it off (under the lock), with in_central and npartial.
  void add_partial(MSpan* s);
  void remove_partial(MSpan* s);
};

}  // namespace gomem
