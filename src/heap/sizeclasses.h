// Size classes, generated at compile time by Go's rule (mksizeclasses.go):
//
//   - rounding a request up to its class wastes at most 12.5 %;
//   - each class's span is the smallest number of 8 KiB pages whose leftover
//     tail, after cutting the span into objects, is at most 1/8 of the span;
//   - neighbouring sizes that would get the same pages and the same object
//     count are merged into the larger size;
//   - finally each class grows to the largest size (a multiple of 128) that
//     still fits the same number of objects in the same pages.
//
// Two tables come out of the same generator:
//   - kGCClasses: Go's own table (alignment steps 8 / 16 from 32 B / size/8
//     from 128 B / 256 from 2 KiB), used by the collected heap. A test checks
//     it against Go's published table.
//   - kManualClasses: the manual heap's table. malloc must return 16-byte
//     aligned memory for every request of 16 bytes or more, so its alignment
//     starts at 16 (and a free object needs two words: the free-list link and
//     the double-free key).
//
// Include rule: heap/ includes base/ and platform/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bits.h"

namespace gomem {

constexpr uintptr_t kPageShift = 13;
constexpr uintptr_t kPageSize = uintptr_t{1} << kPageShift;  // 8 KiB, Go's runtime page
constexpr uintptr_t kMaxSmallSize = 32768;                   // larger objects are whole pages
constexpr uintptr_t kSmallSizeDiv = 8;
constexpr uintptr_t kSmallSizeMax = 1024;
constexpr uintptr_t kLargeSizeDiv = 128;
constexpr int kMaxClasses = 72;  // room for either table

struct SizeClass {
  uint32_t size = 0;     // bytes per object
  uint32_t npages = 0;   // pages per span
  uint32_t nelems = 0;   // objects per span
  uint32_t div_mul = 0;  // Go's 32-bit magic, exact for spans up to 80 KiB (Go's table); unused here
  // 64-bit magic ceil(2^64 / size): for an offset n inside a span,
  // mulhi64(n, magic) == n / size, and n * magic < magic exactly when size
  // divides n (Lemire et al., "Faster Remainder by Direct Computation").
  uint64_t magic = 0;
};

// The alignment schedule the generator follows. Go's: start at 8; from 32 B
// align 16; from 128 B align size/8; from 2048 B align 256.
struct SizeClassParams {
  uint32_t min_align;
  uint32_t align16_from;
  uint32_t align_eighth_from;
  uint32_t align256_from;
};

constexpr SizeClassParams kGoParams{8, 32, 128, 2048};
// The manual heap keeps Go's span sizes. Tried: at least 8 objects per span,
// so that a 32 KiB class does not take the span path on every malloc and
// free; the per-P empty-span cache already makes that path cheap, while the
// larger spans tripled the memory a P holds in its current spans (4.6 MiB
// against 1.3 MiB over all classes): churn's peak RSS went from 10.9 to
// 18.6 MiB for no measurable gain in time.
constexpr SizeClassParams kManualParams{16, 16, 128, 2048};

struct SizeClassTable {
  int count = 0;  // classes including the dummy class 0
  SizeClass cls[kMaxClasses] = {};
  // Go's two lookup tables: class for size <= 1024 by (size+7)/8, and for
  // 1024 < size <= 32768 by (size-1024+127)/128.
  uint8_t size_to_class8[kSmallSizeMax / kSmallSizeDiv + 1] = {};
  uint8_t size_to_class128[(kMaxSmallSize - kSmallSizeMax) / kLargeSizeDiv + 1] = {};

  constexpr uint32_t class_of(size_t size) const {
    if (size <= kSmallSizeMax - 8) return size_to_class8[div_round_up(size, kSmallSizeDiv)];
    return size_to_class128[div_round_up(size - kSmallSizeMax, kLargeSizeDiv)];
  }
};

constexpr SizeClassTable make_size_classes(SizeClassParams p) {
  SizeClassTable t;
  t.count = 1;  // class 0: large objects
  uint32_t align = p.min_align;
  for (uint32_t size = p.min_align; size <= kMaxSmallSize; size += align) {
    if (is_pow2(size)) {
      if (size >= p.align256_from)
        align = 256;
      else if (size >= p.align_eighth_from)
        align = size / 8;
      else if (size >= p.align16_from)
        align = align < 16 ? 16 : align;
    }
    // The smallest span whose tail is at most 1/8 of it.
    uint32_t allocsize = kPageSize;
    while (allocsize % size > allocsize / 8) allocsize += kPageSize;
    uint32_t npages = allocsize / kPageSize;
    SizeClass& prev = t.cls[t.count - 1];
    if (t.count > 1 && npages == prev.npages && allocsize / size == allocsize / prev.size) {
      prev.size = size;  // same pages, same count: keep only the larger size
      continue;
    }
    t.cls[t.count].size = size;
    t.cls[t.count].npages = npages;
    t.count++;
  }
  // Grow each class to the largest size with the same count in the same
  // pages, keeping kLargeSizeDiv alignment so that size_to_class128 works.
  for (int i = 1; i < t.count; i++) {
    SizeClass& c = t.cls[i];
    uint32_t psize = c.npages * kPageSize;
    uint32_t new_size = (psize / (psize / c.size)) & ~(kLargeSizeDiv - 1);
    if (new_size > c.size) c.size = new_size;
  }
  for (int i = 1; i < t.count; i++) {
    SizeClass& c = t.cls[i];
    c.nelems = c.npages * kPageSize / c.size;
    c.div_mul = static_cast<uint32_t>(~uint32_t{0} / c.size + 1);
    c.magic = ~uint64_t{0} / c.size + 1;
  }
  // Lookup tables.
  uint32_t nextsize = 0;
  for (int c = 1; c < t.count; c++) {
    for (; nextsize < kSmallSizeMax && nextsize <= t.cls[c].size; nextsize += kSmallSizeDiv)
      t.size_to_class8[nextsize / kSmallSizeDiv] = static_cast<uint8_t>(c);
    if (nextsize >= kSmallSizeMax) {
      for (; nextsize <= kMaxSmallSize && nextsize <= t.cls[c].size; nextsize += kLargeSizeDiv)
        t.size_to_class128[(nextsize - kSmallSizeMax) / kLargeSizeDiv] = static_cast<uint8_t>(c);
    }
  }
  // Index 128 of the 8-byte table (size 1024) is reached through class_of
  // only for sizes up to 1016; fill it for completeness.
  t.size_to_class8[kSmallSizeMax / kSmallSizeDiv] = t.size_to_class128[0];
  return t;
}

inline constexpr SizeClassTable kGCClasses = make_size_classes(kGoParams);
inline constexpr SizeClassTable kManualClasses = make_size_classes(kManualParams);

static_assert(kGCClasses.count == 68, "Go's table has 68 classes (67 real + class 0)");
static_assert(kGCClasses.cls[kGCClasses.count - 1].size == kMaxSmallSize);
static_assert(kManualClasses.cls[kManualClasses.count - 1].size == kMaxSmallSize);
static_assert(kManualClasses.count <= kMaxClasses && kManualClasses.count <= 68,
              "by_size in gomem_stats has 68 entries");

// Every manual class is a multiple of 16, so every manual object is 16-byte
// aligned (spans start on page boundaries).
constexpr bool manual_classes_aligned() {
  for (int i = 1; i < kManualClasses.count; i++)
    if (kManualClasses.cls[i].size % 16 != 0) return false;
  return true;
}
static_assert(manual_classes_aligned());

// ---------------------------------------------------------------------------
// Span classes: size class x kind, Go's spanClass widened from 2 kinds to 4.
// Class 0 of each kind is the large-object span class.
// ---------------------------------------------------------------------------
enum class SpanKind : uint8_t {
  kManual = 0,         // malloc / new: never scanned, freed by free()
  kUncollectable = 1,  // manual memory that the collector scans as a root
  kNoscan = 2,         // collected, never scanned
  kScan = 3,           // collected, scanned conservatively
};

using SpanClass = uint16_t;
constexpr int kNumKinds = 4;
constexpr int kNumSpanClasses = kMaxClasses * kNumKinds;

constexpr SpanClass make_span_class(uint32_t sizeclass, SpanKind kind) {
  return static_cast<SpanClass>(sizeclass * kNumKinds + static_cast<uint32_t>(kind));
}
constexpr uint32_t span_class_size_class(SpanClass sc) { return sc / kNumKinds; }
constexpr SpanKind span_class_kind(SpanClass sc) { return static_cast<SpanKind>(sc % kNumKinds); }
constexpr bool kind_is_gc(SpanKind k) { return k == SpanKind::kNoscan || k == SpanKind::kScan; }
constexpr const SizeClassTable& table_for(SpanKind k) { return kind_is_gc(k) ? kGCClasses : kManualClasses; }
constexpr const SizeClass& span_class_info(SpanClass sc) {
  return table_for(span_class_kind(sc)).cls[span_class_size_class(sc)];
}
const char* span_kind_name(SpanKind k);

}  // namespace gomem
