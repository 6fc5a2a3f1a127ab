// The public calls added for the Boehm GC layer: root callbacks
// (gomem_gc_add_root_fn, gomem_gc_mark_range) and the warning callback
// (gomem_set_warn_fn).
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <string>

#include "gc_test_util.h"

using namespace gomem_test;

namespace {

// Memory the collector does not scan (an anonymous mapping of the test's
// own), holding pointers only the root callback tells it about.
struct Hidden {
  void* slots[4];
};
Hidden* g_named;    // named by the callback
Hidden* g_unnamed;  // named by nobody
std::atomic<int> g_calls;

void name_hidden(void* arg) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  Hidden* h = static_cast<Hidden*>(arg);
  gomem_gc_mark_range(h->slots, h->slots + 4);
}

Hidden* map_hidden() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return static_cast<Hidden*>(p);
}

GOMEM_NOINLINE_TEST void fill_hidden(gomem_weak** w_named, gomem_weak** w_unnamed) {
  for (int i = 0; i < 4; i++) {
    void* p = gomem_gc_alloc_noscan(64);
    memset(p, 'a' + i, 64);
    g_named->slots[i] = p;
  }
  void* q = gomem_gc_alloc_noscan(64);
  g_unnamed->slots[0] = q;
  *w_named = gomem_weak_make(g_named->slots[0]);
  *w_unnamed = gomem_weak_make(q);
}

}  // namespace

GC_TEST(CompatApi, RootCallbackKeepsWhatItNames) {
  g_named = map_hidden();
  g_unnamed = map_hidden();
  ASSERT_EQ(gomem_gc_add_root_fn(name_hidden, g_named), 0);
  ASSERT_EQ(gomem_gc_add_root_fn(nullptr, nullptr), -1);
  // The weak pointers live in an uncollectable block (they must be seen).
  auto** w = static_cast<gomem_weak**>(gomem_malloc_uncollectable(2 * sizeof(gomem_weak*)));
  fill_hidden(&w[0], &w[1]);
  int before = g_calls.load();
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 20000; i++) memset(gomem_gc_alloc_noscan(64), 0xee, 64);
    clear_stack();
    gomem_gc_collect();
  }
  EXPECT_GE(g_calls.load() - before, 3);  // once per collection
  for (int i = 0; i < 4; i++) {
    const char* p = static_cast<const char*>(g_named->slots[i]);
    for (int j = 0; j < 64; j++) ASSERT_EQ(p[j], 'a' + i) << "slot " << i;
  }
  EXPECT_NE(gomem_weak_get(w[0]), nullptr);
  EXPECT_EQ(gomem_weak_get(w[1]), nullptr);  // the control: unnamed, collected
  gomem_free(w);
}

TEST(CompatApiDeathTest, MarkRangeOutsideACallback) {
  char buf[16];
  EXPECT_DEATH(gomem_gc_mark_range(buf, buf + 16),
               "gomem: gomem_gc_mark_range\\(0x[0-9a-f]+, 0x[0-9a-f]+\\) outside a root callback");
}

namespace {
std::string g_warning;
int g_warnings;
void on_warning(const char* msg) {
  g_warnings++;
  g_warning = msg;
}
}  // namespace

GC_TEST(CompatApi, WarningsGoToTheCallback) {
  ASSERT_EQ(gomem_set_warn_fn(on_warning), nullptr);
  volatile size_t huge = size_t{1} << 50;
  void* p = gomem_gc_alloc(huge);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(gomem_set_warn_fn(nullptr), on_warning);
  ASSERT_EQ(g_warnings, 1);
  EXPECT_NE(g_warning.find("gomem: out of memory: collected allocation of"), std::string::npos) << g_warning;
  EXPECT_EQ(g_warning.back(), '\n');
}

namespace {
std::atomic<int> g_starts;
std::atomic<int> g_nested;  // cycle-start calls made while one was running
std::atomic<bool> g_in_start;
uintptr_t g_start_alloc;  // hidden: the last object the callback allocated
void on_cycle_start() {
  if (g_in_start.exchange(true)) g_nested.fetch_add(1);
  g_starts.fetch_add(1, std::memory_order_relaxed);
  // It may allocate, enough to be due for a collection itself: that one
  // does not call it again.
  for (int i = 0; i < 2000; i++) g_start_alloc = reinterpret_cast<uintptr_t>(gomem_gc_alloc(512)) ^ kMask;
  g_in_start.store(false);
}
}  // namespace

GC_TEST(CompatApi, CycleStartCallbackRunsBeforeEveryCollection) {
  ASSERT_EQ(gomem_gc_set_cycle_start_fn(on_cycle_start), nullptr);
  int before = g_starts.load();
  for (int i = 0; i < 3; i++) gomem_gc_collect();
  EXPECT_GE(g_starts.load() - before, 3);
  // Collections the pacer starts call it too.
  before = g_starts.load();
  uint32_t n = gomem_gc_count();
  for (int i = 0; i < 1000000 && gomem_gc_count() < n + 2; i++) memset(gomem_gc_alloc_noscan(256), 0xee, 256);
  ASSERT_GE(gomem_gc_count(), n + 2u);
  EXPECT_GE(g_starts.load() - before, 2);
  EXPECT_EQ(g_nested.load(), 0);
  EXPECT_EQ(gomem_gc_set_cycle_start_fn(nullptr), on_cycle_start);
  before = g_starts.load();
  gomem_gc_collect();
  EXPECT_EQ(g_starts.load(), before);
}
