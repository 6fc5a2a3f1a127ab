// Size classes: the generator reproduces Go's published table when given
// Go's alignment steps, the manual table honours malloc's alignment, and the
// magic divisors are exact for every offset in every span.
#include "heap/sizeclasses.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace gomem;

namespace {

struct GoRow {
  int cls;
  uint32_t size, span_bytes, objects, tail;
};

std::vector<GoRow> read_go_table() {
  std::ifstream in(std::string(GOMEM_TEST_DATA) + "/go-sizeclasses.txt");
  std::vector<GoRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("class", 0) == 0) continue;
    std::istringstream ss(line);
    GoRow r;
    ss >> r.cls >> r.size >> r.span_bytes >> r.objects >> r.tail;
    if (ss) rows.push_back(r);
  }
  return rows;
}

}  // namespace

TEST(SizeClasses, GeneratorReproducesGosPublishedTable) {
  auto rows = read_go_table();
  ASSERT_EQ(rows.size(), 67u) << "reference table missing or truncated";
  ASSERT_EQ(kGCClasses.count, 68);
  for (const GoRow& r : rows) {
    const SizeClass& c = kGCClasses.cls[r.cls];
    EXPECT_EQ(c.size, r.size) << "class " << r.cls;
    EXPECT_EQ(c.npages * kPageSize, r.span_bytes) << "class " << r.cls;
    EXPECT_EQ(c.nelems, r.objects) << "class " << r.cls;
    EXPECT_EQ(c.npages * kPageSize - c.nelems * c.size, r.tail) << "class " << r.cls;
  }
}

TEST(SizeClasses, GoLookupTablesRoundUpToTheSmallestFittingClass) {
  for (size_t size = 1; size <= kMaxSmallSize; size++) {
    uint32_t c = kGCClasses.class_of(size);
    ASSERT_GE(c, 1u);
    ASSERT_GE(kGCClasses.cls[c].size, size) << size;
    if (c > 1) ASSERT_LT(kGCClasses.cls[c - 1].size, size) << size;
  }
}

TEST(SizeClasses, ManualTableHonoursMallocAlignmentAndWasteRules) {
  const SizeClassTable& t = kManualClasses;
  EXPECT_EQ(t.cls[1].size, 16u);
  for (int c = 1; c < t.count; c++) {
    const SizeClass& k = t.cls[c];
    EXPECT_EQ(k.size % 16, 0u) << "class " << c;
    uint32_t span = k.npages * kPageSize;
    EXPECT_LE(span - k.nelems * k.size, span / 8) << "tail waste of class " << c;
    if (c > 1) EXPECT_GT(k.size, t.cls[c - 1].size);
  }
  // Round-up waste, once alignment stops dominating (> 128 B), is never
  // worse than in Go's own table (whose merged classes reach ~18.7 %).
  auto worst = [](const SizeClassTable& tab) {
    double w = 0;
    for (size_t size = 129; size <= kMaxSmallSize; size++) {
      double x = double(tab.cls[tab.class_of(size)].size - size) / double(size);
      if (x > w) w = x;
    }
    return w;
  };
  EXPECT_LE(worst(t), worst(kGCClasses) + 1e-9);
  EXPECT_LT(worst(kGCClasses), 0.19);
  for (size_t size = 1; size <= kMaxSmallSize; size++) {
    uint32_t c = t.class_of(size);
    ASSERT_GE(t.cls[c].size, size) << size;
    if (c > 1) ASSERT_LT(t.cls[c - 1].size, size) << size;
  }
  // Every power of two up to the page is a class, so aligned_alloc of
  // alignment A <= 8 KiB finds a class whose objects are all A-aligned.
  for (uint32_t a = 16; a <= kPageSize; a *= 2) {
    bool found = false;
    for (int c = 1; c < t.count; c++) found |= t.cls[c].size == a;
    EXPECT_TRUE(found) << a;
  }
}

TEST(SizeClasses, MagicDivisorsAreExactForEveryOffsetOfEverySpan) {
  for (const SizeClassTable* t : {&kGCClasses, &kManualClasses}) {
    for (int c = 1; c < t->count; c++) {
      const SizeClass& k = t->cls[c];
      uint64_t span = uint64_t{k.npages} * kPageSize;
      for (uint64_t n = 0; n < span; n++) {
        ASSERT_EQ(mulhi64(n, k.magic), n / k.size) << "class " << c << " offset " << n;
        ASSERT_EQ(n * k.magic < k.magic, n % k.size == 0) << "class " << c << " offset " << n;
        ASSERT_EQ((n * k.div_mul) >> 32, n / k.size) << "class " << c << " offset " << n;
      }
    }
  }
}

TEST(SizeClasses, SpanClassEncoding) {
  for (uint32_t sc = 0; sc < static_cast<uint32_t>(kMaxClasses); sc++) {
    for (SpanKind k : {SpanKind::kManual, SpanKind::kUncollectable, SpanKind::kNoscan, SpanKind::kScan}) {
      SpanClass spc = make_span_class(sc, k);
      ASSERT_LT(spc, kNumSpanClasses);
      EXPECT_EQ(span_class_size_class(spc), sc);
      EXPECT_EQ(span_class_kind(spc), k);
    }
  }
  EXPECT_EQ(&table_for(SpanKind::kScan), &kGCClasses);
  EXPECT_EQ(&table_for(SpanKind::kManual), &kManualClasses);
}
