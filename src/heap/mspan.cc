#include "heap/mspan.h"

#include "heap/fault.h"
#include "platform/os.h"

namespace gomem {

GOMEM_META constinit MSpan g_empty_span;

const char* span_kind_name(SpanKind k) {
  switch (k) {
    case SpanKind::kManual:
      return "manual";
    case SpanKind::kUncollectable:
      return "uncollectable";
    case SpanKind::kNoscan:
      return "gc-noscan";
    case SpanKind::kScan:
      return "gc-scan";
  }
  return "?";
}

void MSpan::build_freelist(uint64_t key) {
  free_key = key;
  // The tail past the last slot (a multiple of 16 bytes, so 0 or >= 16). It
  // lies in the last OS page, which the first build_more touches anyway.
  uintptr_t tail = limit();
  if (tail + 16 <= end()) reinterpret_cast<uint64_t*>(tail)[1] = key;
  freelist = nullptr;
  local_free = nullptr;
  unbuilt = nelems;
  build_more();
}

bool MSpan::build_more() {
  uint32_t hi = unbuilt;
  if (hi == 0) return false;
  // The slots that start in the OS page below obj_addr(hi), or the one slot
  // below it if none does (objects larger than an OS page).
  uintptr_t page = (obj_addr(hi) - 1) & ~uintptr_t{os::kPhysPageSize - 1};
  uint32_t lo = page <= base ? 0 : static_cast<uint32_t>((page - base + elemsize - 1) / elemsize);
  if (lo >= hi) lo = hi - 1;
  uintptr_t size = elemsize;
  uint64_t key = free_key;
  uintptr_t first = obj_addr(lo);
  for (uintptr_t p = first, last = obj_addr(hi - 1); p <= last; p += size) {
    auto* w = reinterpret_cast<uint64_t*>(p);
    // Store before the load: reading a fresh page first would fault it in
    // twice (the zero page, then a copy to write to).
    w[0] = p == last ? 0 : p + size;
    compiler_barrier();
    if (GOMEM_UNLIKELY(w[1] == key)) fatal_fault(Fault::kInvalidFree, w, this, "freed before it was handed out");
    w[1] = key;
  }
  // Callers hold the owner P's lock or mcentral's, so a fork never cuts a
  // build (a cut one would leave keys in slots the child builds again).
  // Still, unbuilt first: a cut between the two stores would leak these
  // slots rather than build them twice.
  unbuilt = lo;
  compiler_barrier();
  freelist = reinterpret_cast<void*>(first);
  return true;
}

bool MSpan::lists_contain(void* p) const {
  uint32_t budget = nelems + 1;
  for (void* q = freelist; q && budget; q = *static_cast<void**>(q), budget--)
    if (q == p) return true;
  budget = nelems + 1;
  for (void* q = local_free; q && budget; q = *static_cast<void**>(q), budget--)
    if (q == p) return true;
  return false;
}

uint32_t MSpan::count_local_free() const {
  uint32_t n = unbuilt;
  for (void* q = freelist; q && n <= nelems; q = *static_cast<void**>(q)) n++;
  for (void* q = local_free; q && n <= nelems; q = *static_cast<void**>(q)) n++;
  return n;
}

void MSpan::check_built(void* chain) const {
  uint32_t budget = nelems + 1;
  for (void* q = chain; q && budget; q = *static_cast<void**>(q), budget--)
    if (obj_index(reinterpret_cast<uintptr_t>(q)) < unbuilt)
      fatal_fault(Fault::kInvalidFree, q, this, "freed before it was handed out");
}

void MSpan::splice_chain(void* chain, uint32_t n) {
  if (unbuilt) check_built(chain);
  if (!freelist) {
    freelist = chain;
    return;
  }
  void* tail = chain;
  for (uint32_t i = 1; i < n; i++) tail = *static_cast<void**>(tail);
  *static_cast<void**>(tail) = freelist;
  freelist = chain;
}

void MSpan::refill_alloc_cache(uint32_t word) { alloc_cache = ~alloc_bits()[word]; }

uint32_t MSpan::next_free_index() {
  uint32_t sfreeindex = freeindex;
  uint32_t snelems = nelems;
  if (sfreeindex == snelems) return sfreeindex;
  uint64_t cache = alloc_cache;
  while (cache == 0) {
    // The window is exhausted: move to the next 64-slot word.
    sfreeindex = (sfreeindex + 64) & ~63u;
    if (sfreeindex >= snelems) {
      freeindex = snelems;
      return snelems;
    }
    refill_alloc_cache(sfreeindex / 64);
    cache = alloc_cache;
  }
  unsigned bit = ctz64(cache);
  uint32_t result = sfreeindex + bit;
  if (result >= snelems) {
    freeindex = snelems;
    return snelems;
  }
  alloc_cache = cache >> (bit + 1);
  sfreeindex = result + 1;
  if ((sfreeindex & 63) == 0 && sfreeindex != snelems) refill_alloc_cache(sfreeindex / 64);
  freeindex = sfreeindex;
  return result;
}

}  // namespace gomem
