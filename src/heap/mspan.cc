#include "heap/mspan.h"

#include "base/fmt.h"
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

#if GOMEM_HARDENED
namespace {

// Objects in the largest manual small-object span: the hardened build
// links a whole span at once (build_more).
constexpr uint32_t kMaxManualElems = [] {
  uint32_t n = 0;
  for (int c = 1; c < kManualClasses.count; c++)
    if (kManualClasses.cls[c].nelems > n) n = kManualClasses.cls[c].nelems;
  return n;
}();
static_assert(kMaxManualElems <= 1024, "build_more's order array is on the stack");

// SplitMix64's output function: spreads one random value over 64 bits.
uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace
#endif

void MSpan::build_freelist(uint64_t key, uint64_t random) {
  free_key = key;
#if GOMEM_HARDENED
  // Hardened: a new link key, from which build_more also draws each page's
  // order.
  link_key = mix64(random);
  link_bytes = static_cast<uint32_t>(limit() - base);
#else
  (void)random;
#endif
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
#if GOMEM_HARDENED
  // Hardened: the whole span at once, so that the random order spans it
  // (memory is traded for it: the span is touched as it is cut).
  lo = 0;
#endif
  uint32_t n = hi - lo;
  uintptr_t size = elemsize;
  uint64_t key = free_key;
#if GOMEM_HARDENED
  // Hardened: the slots in a random order (Fisher-Yates inside out, j drawn
  // from the high half of a 64-bit LCG, whose high bits are its good ones;
  // seeded from the link key), so that the objects malloc hands out next
  // are not the neighbours of the one handed out before.
  uint16_t order[kMaxManualElems];
  uint64_t state = mix64(link_key ^ (uint64_t{hi} * 0xa0761d6478bd642full));
  order[0] = 0;
  for (uint32_t i = 1; i < n; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t j = static_cast<uint32_t>(mulhi64(state, uint64_t{i} + 1));  // 0..i
    order[i] = static_cast<uint16_t>(i);
    uint16_t t = order[j];
    order[j] = order[i];
    order[i] = t;
  }
  auto slot = [&](uint32_t i) { return reinterpret_cast<uint64_t*>(base + (lo + order[i]) * size); };
#else
  auto slot = [&](uint32_t i) { return reinterpret_cast<uint64_t*>(base + (lo + i) * size); };
#endif
  for (uint32_t i = 0; i < n; i++) {
    uint64_t* w = slot(i);
    // Store before the load: reading a fresh page first would fault it in
    // twice (the zero page, then a copy to write to).
    set_link(w, i + 1 < n ? slot(i + 1) : nullptr);
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
  freelist = slot(0);
  return true;
}

void MSpan::corrupt_link(const void* obj, uintptr_t q) const {
  StackBuf<256> b;
  b.s("gomem: heap corruption detected: free-list link at ")
      .p(obj)
      .s(" in span ")
      .p(reinterpret_cast<void*>(base))
      .s(" (class ")
      .u(span_class_size_class(spanclass))
      .s(") decodes to ")
      .p(reinterpret_cast<void*>(q))
      .c('\n');
  os::write_stderr(b.str(), b.len());
  os::abort_process();
}

bool MSpan::lists_contain(void* p) const {
  uint32_t budget = nelems + 1;
  for (void* q = freelist; q && budget; q = next_checked(q), budget--)
    if (q == p) return true;
  budget = nelems + 1;
  for (void* q = local_free; q && budget; q = next_checked(q), budget--)
    if (q == p) return true;
  return false;
}

uint32_t MSpan::count_local_free() const {
  uint32_t n = unbuilt;
  for (void* q = freelist; q && n <= nelems; q = next_checked(q)) n++;
  for (void* q = local_free; q && n <= nelems; q = next_checked(q)) n++;
  return n;
}

void MSpan::check_built(void* chain) const {
  uint32_t budget = nelems + 1;
  for (void* q = chain; q && budget; q = next_checked(q), budget--)
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
  for (uint32_t i = 1; i < n; i++) tail = next_checked(tail);
  set_link(tail, freelist);
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
