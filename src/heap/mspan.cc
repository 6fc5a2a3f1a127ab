#include "heap/mspan.h"

#include "base/fmt.h"
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

// Objects in the largest manual small-object span.
constexpr uint32_t kMaxManualElems = [] {
  uint32_t n = 0;
  for (int c = 1; c < kManualClasses.count; c++)
    if (kManualClasses.cls[c].nelems > n) n = kManualClasses.cls[c].nelems;
  return n;
}();
static_assert(kMaxManualElems <= 1024, "build_freelist's order array is on the stack");

// SplitMix64's output function: spreads one random value over 64 bits.
uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace
#endif

void MSpan::build_freelist(uint64_t random) {
  uintptr_t size = elemsize;
  uint64_t key = free_key;
#if GOMEM_HARDENED
  // Hardened: a new link key, and the slots in a random order (Fisher-Yates
  // inside out, j drawn from the high half of a 64-bit LCG, whose high bits
  // are its good ones), so that the objects malloc hands out next are not
  // the neighbours of the one handed out before.
  link_key = mix64(random);
  link_bytes = limit() - base;
  uint16_t order[kMaxManualElems];
  uint64_t state = mix64(random ^ 0xa0761d6478bd642full);  // not the next span's key
  order[0] = 0;
  for (uint32_t i = 1; i < nelems; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t j = static_cast<uint32_t>(mulhi64(state, uint64_t{i} + 1));  // 0..i
    order[i] = static_cast<uint16_t>(i);
    uint16_t t = order[j];
    order[j] = order[i];
    order[i] = t;
  }
  auto slot = [&](uint32_t i) { return reinterpret_cast<void*>(base + order[i] * size); };
#else
  (void)random;
  auto slot = [&](uint32_t i) { return reinterpret_cast<void*>(base + i * size); };
#endif
  void* obj = slot(0);
  for (uint32_t i = 1; i < nelems; i++) {
    void* next = slot(i);
    set_link(obj, next);
    static_cast<uint64_t*>(obj)[1] = key;
    obj = next;
  }
  set_link(obj, nullptr);
  static_cast<uint64_t*>(obj)[1] = key;
  // The tail past the last slot (a multiple of 16 bytes, so 0 or >= 16).
  uintptr_t tail = limit();
  if (tail + 16 <= end()) reinterpret_cast<uint64_t*>(tail)[1] = key;
  freelist = slot(0);
  local_free = nullptr;
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
  uint32_t n = 0;
  for (void* q = freelist; q && n <= nelems; q = next_checked(q)) n++;
  for (void* q = local_free; q && n <= nelems; q = next_checked(q)) n++;
  return n;
}

void MSpan::splice_chain(void* chain, uint32_t n) {
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
