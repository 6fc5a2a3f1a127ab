#include "heap/mheap.h"

#include <cstring>
#include <new>

#include "heap/fault.h"
#include "heap/preempt.h"

namespace gomem {

namespace {
// Go's arena hints on 64-bit: 0x00c0<<32, then one hint every 1 TiB above.
constexpr uintptr_t kHintBase = uintptr_t{0x00c0} << 32;
constexpr int kNumHints = 0x7f;
}  // namespace

void MHeap::init(MemOS* os, ArenaIndex* index) {
  os_ = os;
  index_ = index;
  spanalloc_.init(os, sizeof(MSpan), 128 * 1024);
  for (uint32_t w = 1; w <= 16; w++) gcbits_[w].init(os, 3 * w * sizeof(uint64_t), 16 * 1024);
  next_hint_ = 0;
  secret = os::random_u64() | 1;
}

// ---------------------------------------------------------------------------
// Metadata records.

MSpan* MHeap::alloc_mspan_locked() {
  void* mem = spanalloc_.alloc();
  if (!mem) return nullptr;
  return new (mem) MSpan();
}

void MHeap::free_mspan_locked(MSpan* s) {
  s->state.store(SpanState::kDead, std::memory_order_release);
  spanalloc_.free(s);
}

uint64_t* MHeap::alloc_gcbits_locked(uint32_t words) { return static_cast<uint64_t*>(gcbits_[words].alloc()); }

void MHeap::free_gcbits_locked(uint64_t* bits, uint32_t words) { gcbits_[words].free(bits); }

uint64_t MHeap::gcbits_sys() const {
  uint64_t n = 0;
  for (uint32_t w = 1; w <= 16; w++) n += gcbits_[w].sys_bytes();
  return n;
}

// ---------------------------------------------------------------------------
// Page bits.

void MHeap::set_page_bits_locked(uint64_t (HeapArena::*bitmap)[kArenaBitmapWords], uintptr_t base, uintptr_t npages,
                                 bool value) {
  while (npages > 0) {
    HeapArena* a = index_->arena_of(base);
    uintptr_t first = (base - a->base) >> kPageShift;
    uintptr_t n = kPagesPerArena - first;
    if (n > npages) n = npages;
    uint64_t* bits = a->*bitmap;
    if (value)
      bits_set_range(bits, first, n);
    else
      bits_clear_range(bits, first, n);
    base += n << kPageShift;
    npages -= n;
  }
}

uintptr_t MHeap::count_page_bits_locked(uint64_t (HeapArena::*bitmap)[kArenaBitmapWords], uintptr_t base,
                                        uintptr_t npages) {
  uintptr_t c = 0;
  while (npages > 0) {
    HeapArena* a = index_->arena_of(base);
    uintptr_t first = (base - a->base) >> kPageShift;
    uintptr_t n = kPagesPerArena - first;
    if (n > npages) n = npages;
    c += bits_count_range(a->*bitmap, first, n);
    base += n << kPageShift;
    npages -= n;
  }
  return c;
}

void ArenaIndex::set_range(uintptr_t addr, uintptr_t npages, MSpan* s) {
  while (npages > 0) {
    HeapArena* a = arena_of(addr);
    uintptr_t first = (addr - a->base) >> kPageShift;
    uintptr_t n = kPagesPerArena - first;
    if (n > npages) n = npages;
    MSpan* v = s ? s : &g_empty_span;
    for (uintptr_t i = 0; i < n; i++) a->spans[first + i].store(v, std::memory_order_release);
    addr += n << kPageShift;
    npages -= n;
  }
}

// ---------------------------------------------------------------------------
// Growth.

bool MHeap::reserve_arenas_locked(uintptr_t ask) {
  uintptr_t bytes = align_up(ask, kArenaBytes);
  uintptr_t r = 0;
  bool contiguous = false;
  if (cur_end_ && os_->reserve(reinterpret_cast<void*>(cur_end_), bytes)) {
    r = cur_end_;
    contiguous = true;
  }
  // Sanitizers keep their shadow memory where Go's hints point.
#if GOMEM_TSAN || defined(__SANITIZE_ADDRESS__)
  next_hint_ = kNumHints;
#endif
  while (!r && next_hint_ < kNumHints) {
    uintptr_t hint = (uintptr_t{static_cast<unsigned>(next_hint_)} << 40) | kHintBase;
    if (os_->reserve(reinterpret_cast<void*>(hint), bytes))
      r = hint;
    else
      next_hint_++;
  }
  if (!r) {
    // Anywhere, aligned to an arena.
    void* p = os_->reserve(nullptr, bytes + kArenaBytes);
    if (!p) return false;
    uintptr_t a = align_up(reinterpret_cast<uintptr_t>(p), kArenaBytes);
    uintptr_t front = a - reinterpret_cast<uintptr_t>(p);
    if (front) os_->release(p, front);
    uintptr_t back = kArenaBytes - front;
    if (back) os_->release(reinterpret_cast<void*>(a + bytes), back);
    r = a;
  }
  // Arena records.
  for (uintptr_t a = r; a < r + bytes; a += kArenaBytes) {
    auto* ha = static_cast<HeapArena*>(os_->alloc_meta(sizeof(HeapArena)));
    if (!ha) return false;
    stats_.meta_sys += sizeof(HeapArena);
    ha->base = a;
    ha->next = nullptr;
    // ha->spans[] stays nullptr until grow_locked commits its pages (arena.h).
    index_->insert(ha);
    if (arenas_tail_)
      arenas_tail_->next = ha;
    else
      arenas_.store(ha, std::memory_order_release);
    arenas_tail_ = ha;
  }
  stats_.reserved += bytes;
  if (contiguous) {
    cur_end_ += bytes;
  } else {
    // The rest of the old reservation stays reserved and unused.
    cur_next_ = r;
    cur_end_ = r + bytes;
  }
  return true;
}

bool MHeap::grow_locked(uintptr_t npages) {
  if (npages > (kMaxAllocBytes >> kPageShift)) return false;
  uintptr_t ask = align_up(npages << kPageShift, kHeapGrowBytes);
  if (cur_end_ - cur_next_ < ask && !reserve_arenas_locked(ask)) return false;
  if (!os_->commit(reinterpret_cast<void*>(cur_next_), ask)) return false;
  if (commit_hook) commit_hook(cur_next_, ask);
  stats_.sys += ask;
  stats_.released += ask;  // fresh pages are not backed until touched
  uintptr_t n = ask >> kPageShift;
  set_page_bits_locked(&HeapArena::released, cur_next_, n, true);
  set_page_bits_locked(&HeapArena::zeroed, cur_next_, n, true);
  index_->set_range(cur_next_, n, nullptr);  // the page map's "nothing" (arena.h)
  uintptr_t base = cur_next_;
  cur_next_ += ask;
  insert_free_run_locked(base, n);
  publish_locked();
  return true;
}

// ---------------------------------------------------------------------------
// Free runs.

void MHeap::insert_free_run_locked(uintptr_t base, uintptr_t npages, int64_t since) {
  int64_t now = since ? since : os::nanotime();
  int64_t merged_since = 0;
  // Merge with the run that ends where this one starts.
  MSpan* left = index_->span_of(base - 1);
  if (left && left->state.load(std::memory_order_relaxed) == SpanState::kFree && left->end() == base) {
    pages_.remove(left);
    index_->set_page(left->end() - kPageSize, nullptr);  // becomes an interior page
    base = left->base;
    npages += left->npages;
    merged_since = left->free_since;
    free_mspan_locked(left);
  }
  // Merge with the run that starts where this one ends.
  uintptr_t end = base + (npages << kPageShift);
  MSpan* right = index_->span_of(end);
  if (right && right->state.load(std::memory_order_relaxed) == SpanState::kFree && right->base == end) {
    pages_.remove(right);
    index_->set_page(right->base, nullptr);
    npages += right->npages;
    if (right->free_since > merged_since) merged_since = right->free_since;
    free_mspan_locked(right);
  }
  MSpan* run = alloc_mspan_locked();
  if (!run) fatal("out of memory for span metadata");
  run->base = base;
  run->npages = npages;
  run->free_since = now > merged_since ? now : merged_since;
  run->state.store(SpanState::kFree, std::memory_order_release);
  index_->set_page(base, run);
  index_->set_page(base + ((npages - 1) << kPageShift), run);
  pages_.insert(run);
}

// ---------------------------------------------------------------------------
// Spans.

void MHeap::init_span_locked(MSpan* s, uintptr_t base, uintptr_t npages, SpanClass spc, bool zeroed) {
  uint32_t sc = span_class_size_class(spc);
  SpanKind kind = span_class_kind(spc);
  s->base = base;
  s->npages = npages;
  s->spanclass = spc;
  s->kind = kind;
  s->large = sc == 0;
  if (s->large) {
    s->prof_bucket = nullptr;  // until the allocator samples it (heap/profile.h)
    s->elemsize = npages << kPageShift;
    s->nelems = 1;
    s->magic = ~uint64_t{0} / s->elemsize + 1;
  } else {
    const SizeClass& info = span_class_info(spc);
    s->elemsize = info.size;
    s->nelems = info.nelems;
    s->magic = info.magic;
  }
  s->base_magic = base * s->magic;
  s->free_key = new_free_key();
  s->needzero = !zeroed;
  if (kind_is_gc(kind)) {
    uint32_t words = s->bitmap_words();
    uint64_t* bits = alloc_gcbits_locked(words);
    if (!bits) fatal("out of memory for mark bitmaps");
    s->gcbits = reinterpret_cast<uintptr_t>(bits);
    s->freeindex = 0;
    s->alloc_cache = ~uint64_t{0};
    s->sweepgen.store(sweepgen.load(std::memory_order_relaxed), std::memory_order_relaxed);
    HeapArena* a = index_->arena_of(base);
    uintptr_t pi = (base - a->base) >> kPageShift;
    a->page_in_use[pi / 64].fetch_or(uint64_t{1} << (pi % 64), std::memory_order_relaxed);
  }
  s->state.store(SpanState::kInUse, std::memory_order_release);
  index_->set_range(base, npages, s);
  set_page_bits_locked(&HeapArena::inuse, base, npages, true);
}

MSpan* MHeap::alloc_span(uintptr_t npages, SpanClass spc, uintptr_t align_pages, uintptr_t lead_pages) {
  if (npages == 0 || npages > (kMaxAllocBytes >> kPageShift)) return nullptr;
  bool grew = false;
  MSpan* s;
  {
    NoPreemptLock l(lock);
    s = alloc_span_locked(npages, spc, align_pages, lead_pages, &grew);
  }
  if (grew && grow_hook) grow_hook();
  return s;
}

MSpan* MHeap::alloc_span_locked(uintptr_t npages, SpanClass spc, uintptr_t align_pages, uintptr_t lead_pages,
                                bool* grew) {
  uintptr_t need = npages + align_pages - 1;
  MSpan* run = pages_.take(need);
  if (!run) {
    if (!grow_locked(need)) return nullptr;
    *grew = true;
    run = pages_.take(need);
    if (!run) return nullptr;
  }
  uintptr_t rbase = run->base;
  uintptr_t rend = run->end();
  index_->set_page(rbase, nullptr);
  index_->set_page(rend - kPageSize, nullptr);
  uintptr_t lead = lead_pages << kPageShift;
  uintptr_t base = align_up(rbase + lead, align_pages << kPageShift) - lead;
  uintptr_t end = base + (npages << kPageShift);
  // Page accounting for the pages taken.
  uintptr_t released = count_page_bits_locked(&HeapArena::released, base, npages);
  uintptr_t zeroed = count_page_bits_locked(&HeapArena::zeroed, base, npages);
  set_page_bits_locked(&HeapArena::released, base, npages, false);
  set_page_bits_locked(&HeapArena::zeroed, base, npages, false);
  stats_.released -= released << kPageShift;
  stats_.inuse += npages << kPageShift;
  // The remainders go back as free runs (their neighbours are in use: the
  // run was maximal, so no merging happens).
  MSpan* s = run;
  s->~MSpan();
  new (s) MSpan();
  if (base > rbase) {
    insert_free_run_locked(rbase, (base - rbase) >> kPageShift);
  }
  if (rend > end) {
    insert_free_run_locked(end, (rend - end) >> kPageShift);
  }
  init_span_locked(s, base, npages, spc, zeroed == npages);
  if (s->large) count_large_alloc_locked(s);
  publish_locked();
  return s;
}

void MHeap::count_large_alloc_locked(MSpan* s) {
  stats_.large_allocs++;
  stats_.large_alloc_bytes += s->bytes();
  stats_.large_live_bytes += s->bytes();
}

void MHeap::free_span(MSpan* s) {
  NoPreemptLock l(lock);
  free_span_locked(s);
}

void MHeap::free_span_locked(MSpan* s) {
  if (s->state.load(std::memory_order_relaxed) != SpanState::kInUse)
    fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s, "freeing a span that is not in use");
  if (s->large) {
    stats_.large_frees++;
    stats_.large_live_bytes -= s->bytes();
  }
  release_span_locked(s);
}

// free_span_locked without the large-object counts (a span leaving the
// guarded cache was counted as freed when it went in).
void MHeap::release_span_locked(MSpan* s) {
  stats_.inuse -= s->bytes();
  if (kind_is_gc(s->kind)) {
    free_gcbits_locked(s->bits_base(), s->bitmap_words());
    s->gcbits = 0;
    HeapArena* a = index_->arena_of(s->base);
    uintptr_t pi = (s->base - a->base) >> kPageShift;
    a->page_in_use[pi / 64].fetch_and(~(uint64_t{1} << (pi % 64)), std::memory_order_relaxed);
  }
  uintptr_t base = s->base;
  uintptr_t npages = s->npages;
  s->state.store(SpanState::kDead, std::memory_order_release);
  index_->set_range(base, npages, nullptr);
  set_page_bits_locked(&HeapArena::inuse, base, npages, false);
  free_mspan_locked(s);
  insert_free_run_locked(base, npages);
  publish_locked();
}

// ---------------------------------------------------------------------------
// Guarded large spans (hardened build; see the essay).

MSpan* MHeap::alloc_guarded_large(uintptr_t npages, uintptr_t align_pages, SpanKind kind) {
  uintptr_t total = npages + 2 * kLargeGuardPages;
  uintptr_t align = align_pages << kPageShift;
  if (total <= kGuardedCacheMaxPages) {
    NoPreemptLock l(lock);
    for (MSpan* s = guarded_cache_.front(); s; s = guarded_cache_.next(s)) {
      if (s->npages != total || (large_object(s) & (align - 1)) != 0) continue;
      uncache_locked(s);
      s->spanclass = make_span_class(0, kind);  // (cached as kManual)
      s->kind = kind;
      s->prof_bucket = nullptr;  // (was free_since)
      s->needzero = true;
      s->alloc_count = 1;
      count_large_alloc_locked(s);
      publish_locked();
      return s;
    }
  }
  MSpan* s = alloc_span(total, make_span_class(0, kind), align_pages, kLargeGuardPages);
  if (!s) return nullptr;
  // Out of kernel mappings (vm.max_map_count), a guard stays accessible.
  uintptr_t guard = kLargeGuardPages << kPageShift;
  os::protect(reinterpret_cast<void*>(s->base), guard, false);
  os::protect(reinterpret_cast<void*>(s->end() - guard), guard, false);
  s->alloc_count = 1;
  return s;
}

void MHeap::free_guarded_large(MSpan* s) {
  MSpan* out = nullptr;  // what leaves for the page heap, a chain
  {
    NoPreemptLock l(lock);
    if (s->alloc_count == 0)
      fatal_fault(Fault::kDoubleFree, reinterpret_cast<void*>(large_object(s)), s, "the large object is free");
    s->alloc_count = 0;
    stats_.large_frees++;
    stats_.large_live_bytes -= s->bytes();
    if (s->npages <= kGuardedCacheMaxPages) {
      // No root while cached (the world-stop waits for this section).
      s->spanclass = make_span_class(0, SpanKind::kManual);
      s->kind = SpanKind::kManual;
      s->free_since = os::nanotime();
      guarded_cache_.push_front(s);
      guarded_cache_bytes_ += s->bytes();
      stats_.inuse -= s->bytes();
      // Over a bound: the oldest go.
      while (guarded_cache_.size() > kGuardedCacheSpans || guarded_cache_bytes_ > kGuardedCacheBytes) {
        MSpan* old = guarded_cache_.back();
        uncache_locked(old);
        old->links.next = out;
        out = old;
      }
    } else {
      s->links.next = nullptr;
      out = s;
    }
    publish_locked();
  }
  if (out) release_guarded(out);
}

void MHeap::uncache_locked(MSpan* s) {
  guarded_cache_.remove(s);
  guarded_cache_bytes_ -= s->bytes();
  stats_.inuse += s->bytes();  // until release_span_locked, if it goes
}

void MHeap::release_guarded(MSpan* chain) {
  uintptr_t guard = kLargeGuardPages << kPageShift;
  for (MSpan* s = chain; s; s = s->links.next) {
    os::protect(reinterpret_cast<void*>(s->base), guard, true);
    os::protect(reinterpret_cast<void*>(s->end() - guard), guard, true);
  }
  NoPreemptLock l(lock);
  while (chain) {
    MSpan* next = chain->links.next;
    release_span_locked(chain);
    chain = next;
  }
}

void MHeap::flush_guarded_cache(int64_t min_age_ns) {
  MSpan* chain = nullptr;
  {
    NoPreemptLock l(lock);
    int64_t now = os::nanotime();
    // Oldest last: take from the back while old enough.
    while (MSpan* s = guarded_cache_.back()) {
      if (now - s->free_since < min_age_ns) break;
      uncache_locked(s);
      s->links.next = chain;
      chain = s;
    }
  }
  if (chain) release_guarded(chain);
}

bool MHeap::grow_large_in_place(MSpan* s, uintptr_t new_npages) {
  NoPreemptLock l(lock);
  uintptr_t extra = new_npages - s->npages;
  MSpan* next = index_->span_of(s->end());
  if (!next || next->state.load(std::memory_order_relaxed) != SpanState::kFree || next->base != s->end() ||
      next->npages < extra)
    return false;
  pages_.remove(next);
  uintptr_t nbase = next->base;
  uintptr_t nend = next->end();
  index_->set_page(nbase, nullptr);
  index_->set_page(nend - kPageSize, nullptr);
  free_mspan_locked(next);
  uintptr_t released = count_page_bits_locked(&HeapArena::released, nbase, extra);
  set_page_bits_locked(&HeapArena::released, nbase, extra, false);
  set_page_bits_locked(&HeapArena::zeroed, nbase, extra, false);
  stats_.released -= released << kPageShift;
  stats_.inuse += extra << kPageShift;
  stats_.large_alloc_bytes += extra << kPageShift;
  stats_.large_live_bytes += extra << kPageShift;
  uintptr_t rest = nbase + (extra << kPageShift);
  if (rest < nend) insert_free_run_locked(rest, (nend - rest) >> kPageShift);
  index_->set_range(nbase, extra, s);
  set_page_bits_locked(&HeapArena::inuse, nbase, extra, true);
  s->npages = static_cast<uint32_t>(new_npages);
  s->elemsize = new_npages << kPageShift;
  s->magic = ~uint64_t{0} / s->elemsize + 1;
  s->base_magic = s->base * s->magic;
  publish_locked();
  return true;
}

void MHeap::shrink_large(MSpan* s, uintptr_t new_npages) {
  NoPreemptLock l(lock);
  uintptr_t cut = s->base + (new_npages << kPageShift);
  uintptr_t n = s->npages - new_npages;
  index_->set_range(cut, n, nullptr);
  set_page_bits_locked(&HeapArena::inuse, cut, n, false);
  s->npages = static_cast<uint32_t>(new_npages);
  s->elemsize = new_npages << kPageShift;
  s->magic = ~uint64_t{0} / s->elemsize + 1;
  s->base_magic = s->base * s->magic;
  stats_.inuse -= n << kPageShift;
  stats_.large_live_bytes -= n << kPageShift;
  insert_free_run_locked(cut, n);
  publish_locked();
}

// ---------------------------------------------------------------------------
// Scavenging.

namespace {
struct Candidate {
  int64_t since;
  uintptr_t base;
};
}  // namespace

uint64_t MHeap::scavenge(uint64_t max_bytes, int64_t min_age_ns, bool force) {
  // Gather the runs worth looking at (oldest first, then highest address),
  // into a scratch array off the heap.
  constexpr size_t kMaxCandidates = 8192;
  static Candidate* cand = nullptr;  // (one scavenging at a time: scav_lock_)
  MutexLock sl(scav_lock_);
  // Cached guarded spans old enough go back to the free runs first.
  if (kLargeGuardPages) flush_guarded_cache(force ? 0 : min_age_ns);
  if (!cand) {
    cand = static_cast<Candidate*>(os_->alloc_meta(kMaxCandidates * sizeof(Candidate)));
    if (!cand) return 0;
  }
  uint64_t done = 0;
  int64_t now = os::nanotime();
  for (int round = 0; round < 1000; round++) {
    size_t n = 0;
    {
      NoPreemptLock l(lock);
      pages_.for_each([&](MSpan* run) {
        if (n == kMaxCandidates || now - run->free_since < min_age_ns) return;
        if (count_page_bits_locked(&HeapArena::released, run->base, run->npages) == run->npages) return;
        cand[n++] = Candidate{run->free_since, run->base};
      });
    }
    // Insertion sort is fine for the usual few hundred runs; fall back to a
    // simple O(n log n) heap sort for more.
    auto before = [](const Candidate& a, const Candidate& b) {
      return a.since != b.since ? a.since < b.since : a.base > b.base;
    };
    for (size_t i = 1; i < n; i++) {
      Candidate c = cand[i];
      size_t j = i;
      while (j > 0 && before(c, cand[j - 1])) {
        cand[j] = cand[j - 1];
        j--;
      }
      cand[j] = c;
      if (i > 2048) break;  // long lists: the rest stay in index order
    }
    uint64_t round_start = done;
    for (size_t i = 0; i < n && (max_bytes == 0 || done < max_bytes); i++) {
      uintptr_t base = cand[i].base;
      // Release the run from its top down, a quantum at a time. Each piece is
      // taken out of the index (state kScavenging: neither allocatable nor a
      // merge partner) while the heap lock is dropped for madvise, then put
      // back, merging with its neighbours again.
      while (max_bytes == 0 || done < max_bytes) {
        uintptr_t pbase, pn, lo;
        int64_t since;
        {
          NoPreemptLock l(lock);
          MSpan* run = index_->span_of(base);
          if (!run || run->state.load(std::memory_order_relaxed) != SpanState::kFree || run->base != base) break;
          since = run->free_since;
          lo = run->base;
          uintptr_t rend = run->end();
          // The highest quantum that still has backed pages.
          uintptr_t end = rend;
          while (end > lo) {
            uintptr_t q = end - lo > kScavengeQuantum ? end - kScavengeQuantum : lo;
            uintptr_t np = (end - q) >> kPageShift;
            if (count_page_bits_locked(&HeapArena::released, q, np) < np) break;
            end = q;
          }
          if (end <= lo) break;  // the whole run is released already
          // Down to its highest backed page: a piece shorter than a quantum
          // (the last of a bounded request) must start below released pages,
          // or it would release nothing and be picked again forever.
          while (end > lo && count_page_bits_locked(&HeapArena::released, end - kPageSize, 1) == 1) end -= kPageSize;
          uintptr_t want = kScavengeQuantum;
          if (max_bytes && max_bytes - done < want) want = align_up(max_bytes - done, kPageSize);
          pbase = end - lo > want ? end - want : lo;
          pn = (end - pbase) >> kPageShift;
          if (!force && dense_huge_page_locked(pbase)) break;
          // Take [pbase, end) out of the index; the rest goes back as free runs.
          pages_.remove(run);
          index_->set_page(lo, nullptr);
          index_->set_page(rend - kPageSize, nullptr);
          free_mspan_locked(run);
          if (pbase > lo) insert_free_run_locked(lo, (pbase - lo) >> kPageShift, since);
          if (rend > end) insert_free_run_locked(end, (rend - end) >> kPageShift, since);
          MSpan* piece = alloc_mspan_locked();
          if (!piece) fatal("out of memory for span metadata");
          piece->base = pbase;
          piece->npages = static_cast<uint32_t>(pn);
          piece->state.store(SpanState::kScavenging, std::memory_order_release);
          index_->set_page(pbase, piece);
          index_->set_page(end - kPageSize, piece);
        }
        bool zero = os_->decommit(reinterpret_cast<void*>(pbase), pn << kPageShift);
        {
          NoPreemptLock l(lock);
          MSpan* piece = index_->span_of(pbase);
          uintptr_t newly = pn - count_page_bits_locked(&HeapArena::released, pbase, pn);
          set_page_bits_locked(&HeapArena::released, pbase, pn, true);
          if (zero) set_page_bits_locked(&HeapArena::zeroed, pbase, pn, true);
          stats_.released += newly << kPageShift;
          stats_.scavenged_total += newly << kPageShift;
          done += newly << kPageShift;
          index_->set_page(pbase, nullptr);
          index_->set_page(pbase + ((pn - 1) << kPageShift), nullptr);
          free_mspan_locked(piece);
          insert_free_run_locked(pbase, pn, since);
          publish_locked();
          // Carry on with what is left below the piece: it merged back with
          // it into a run that (unless it merged further left) starts at lo.
          base = lo;
        }
      }
    }
    // A full candidate array may have left runs out: look again while that
    // makes progress.
    if (n < kMaxCandidates || done == round_start || (max_bytes && done >= max_bytes)) break;
  }
  return done;
}

bool MHeap::dense_huge_page_locked(uintptr_t addr) {
  uintptr_t hp = align_down(addr, kHugePageBytes);
  constexpr uintptr_t kPages = kHugePageBytes / kPageSize;
  uintptr_t inuse = count_page_bits_locked(&HeapArena::inuse, hp, kPages);
  // Go skips chunks that were at least 96.875 % (496 / 512) in use.
  return inuse * 32 >= kPages * 31;
}

HeapPageStats MHeap::page_stats() {
  NoPreemptLock l(lock);
  return stats_;
}

uint64_t MHeap::free_bytes_retained() {
  NoPreemptLock l(lock);
  return stats_.sys - stats_.inuse - stats_.released;
}

// ---------------------------------------------------------------------------
// Checking.

const char* MHeap::check_pages(uintptr_t* bad) {
  NoPreemptLock l(lock);
  // A piece the scavenger is releasing (lock dropped for madvise) is neither
  // in use nor in the free index; it still counts as committed free memory.
  uintptr_t inuse_pages = 0, free_pages = 0, released_free = 0, scavenging_pages = 0, scavenging_released = 0;
  const char* err = nullptr;
  for_each_span_record([&](MSpan* s) {
    if (err) return;
    SpanState st = s->state.load(std::memory_order_acquire);
    if (st == SpanState::kInUse) {
      inuse_pages += s->npages;
      for (uintptr_t i = 0; i < s->npages; i++) {
        uintptr_t p = s->base + (i << kPageShift);
        if (index_->span_of(p) != s) {
          *bad = p;
          err = "page of an in-use span does not map to it";
          return;
        }
      }
    } else if (st == SpanState::kScavenging) {
      scavenging_pages += s->npages;
      scavenging_released += count_page_bits_locked(&HeapArena::released, s->base, s->npages);
    } else if (st == SpanState::kFree) {
      free_pages += s->npages;
      released_free += count_page_bits_locked(&HeapArena::released, s->base, s->npages);
      if (index_->span_of(s->base) != s || index_->span_of(s->end() - kPageSize) != s) {
        *bad = s->base;
        err = "free run's first or last page does not map to it";
        return;
      }
      for (uintptr_t i = 1; i + 1 < s->npages; i++) {
        uintptr_t p = s->base + (i << kPageShift);
        if (index_->span_of(p) != nullptr) {
          *bad = p;
          err = "interior page of a free run maps to a span";
          return;
        }
      }
      // Neighbours of a free run are never free (runs are maximal).
      MSpan* r = index_->span_of(s->end());
      if (r && r->state.load(std::memory_order_relaxed) == SpanState::kFree && r->base == s->end()) {
        *bad = s->end();
        err = "two adjacent free runs were not coalesced";
        return;
      }
    }
  });
  if (err) return err;
  for (MSpan* s = guarded_cache_.front(); s; s = guarded_cache_.next(s)) {
    if (s->state.load(std::memory_order_relaxed) != SpanState::kInUse || !s->large || !large_guarded(s) ||
        s->alloc_count != 0) {
      *bad = s->base;
      return "span in the guarded cache is not a free guarded large span";
    }
  }
  if (free_pages != pages_.free_pages()) {
    *bad = 0;
    return "free-run index disagrees with the free runs";
  }
  if ((inuse_pages + free_pages + scavenging_pages) << kPageShift != stats_.sys) {
    *bad = 0;
    return "in-use + free pages != committed pages";
  }
  if ((inuse_pages << kPageShift) - guarded_cache_bytes_ != stats_.inuse) {
    *bad = 0;
    return "in-use page count disagrees with statistics";
  }
  if ((released_free + scavenging_released) << kPageShift != stats_.released) {
    *bad = 0;
    return "released page count disagrees with statistics";
  }
  return nullptr;
}

}  // namespace gomem
