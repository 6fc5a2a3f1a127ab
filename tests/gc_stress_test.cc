// The collector under load: random object graphs mutated by 8 threads over
// hundreds of cycles keep every reachable object's checksum, and a program
// that allocates 4 GB in total with 50 MB live keeps its peak RSS under 3x
// the live heap at GOGC=100.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "gomem/gomem.h"
#include "test_util.h"

using namespace gomem_test;

namespace {

// A node: an id, a checksum of the id, four edges, and a payload that is a
// function of the id. Any reuse of a reachable node's memory breaks one of
// them.
struct Node {
  uint64_t id;
  uint64_t sum;
  Node* kid[4];
  uint64_t payload[6];
};

uint64_t node_sum(uint64_t id) { return id * 0x9E3779B97F4A7C15ULL ^ 0xabcdef; }

Node* new_node(uint64_t id) {
  Node* n = static_cast<Node*>(gomem_gc_alloc(sizeof(Node)));
  n->id = id;
  n->sum = node_sum(id);
  for (int i = 0; i < 6; i++) n->payload[i] = id + static_cast<uint64_t>(i);
  return n;
}

bool node_ok(const Node* n) {
  if (n->sum != node_sum(n->id)) return false;
  for (int i = 0; i < 6; i++)
    if (n->payload[i] != n->id + static_cast<uint64_t>(i)) return false;
  return true;
}

// Walks up to `budget` nodes reachable from n; counts broken ones.
int verify(Node* n, int depth, int* budget) {
  if (!n || depth > 8 || --*budget < 0) return 0;
  int bad = node_ok(n) ? 0 : 1;
  for (Node* k : n->kid) bad += verify(k, depth + 1, budget);
  return bad;
}

}  // namespace

TEST(GCStress, RandomGraphsMutatedByEightThreadsKeepTheirChecksums) {
  int old = gomem_gc_set_percent(25);  // more cycles
  std::atomic<int> bad{0};
  std::atomic<uint64_t> next_id{1};
  gomem_stats before, after;
  gomem_read_stats(&before);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t + 100);
      // The roots live in a scanned (collected) array held on this stack.
      Node** roots = static_cast<Node**>(gomem_gc_alloc(64 * sizeof(Node*)));
      for (int i = 0; i < 400000; i++) {
        Node* n = new_node(next_id.fetch_add(1, std::memory_order_relaxed));
        // Edges to other live nodes (shared subgraphs, cycles), sparse
        // enough that the reachable graph stays small: about half an edge
        // per node, so garbage is made all the time.
        for (int k = 0; k < 4; k++) {
          if (rng() % 8) continue;
          Node* r = roots[rng() % 64];
          n->kid[k] = (r && rng() % 2) ? r->kid[rng() % 4] : r;
        }
        roots[rng() % 64] = n;
        if (rng() % 8 == 0) {  // mutate an edge of a reachable node
          Node* r = roots[rng() % 64];
          if (r) r->kid[rng() % 4] = roots[rng() % 64];
        }
        if (i % 4096 == 0) {
          for (int k = 0; k < 64; k++) {
            int budget = 200;
            bad += verify(roots[k], 0, &budget);
          }
        }
        if (t == 0 && i % 50000 == 0) gomem_gc_collect();
      }
      for (int k = 0; k < 64; k++) {
        int budget = 2000;
        bad += verify(roots[k], 0, &budget);
      }
    });
  }
  for (auto& th : ts) th.join();
  gomem_read_stats(&after);
  gomem_gc_set_percent(old);
  EXPECT_EQ(bad.load(), 0) << "reachable nodes were freed or overwritten";
  EXPECT_GE(after.num_gc - before.num_gc, 100u) << "expected hundreds of cycles";
  printf("cycles: %u, max pause %.2f ms\n", after.num_gc - before.num_gc, [&] {
    uint64_t m = 0;
    for (uint64_t p : after.pause_ns) m = p > m ? p : m;
    return static_cast<double>(m) / 1e6;
  }());
  gomem_check_heap();
}

void four_gigabytes_child();

namespace {
size_t peak_rss_bytes() {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  size_t kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb * 1024;
}
}  // namespace

// Runs in a child process so that the peak RSS (ru_maxrss) is this
// workload's alone.
TEST(GCStress, FourGigabytesAllocatedFiftyMegabytesLivePeakRssUnderThreeTimesLive) {
  fflush(stdout);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    four_gigabytes_child();
    fflush(stdout);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  struct rusage ru;
  ASSERT_EQ(wait4(pid, &status, 0, &ru), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed";
  size_t peak = static_cast<size_t>(ru.ru_maxrss) * 1024;
  printf("peak RSS of the workload: %zu MB\n", peak >> 20);
  EXPECT_LT(peak, 3 * (size_t{50} << 20)) << "peak RSS " << (peak >> 20) << " MB with ~50 MB live";
}

void four_gigabytes_child() {
  gomem_gc_set_percent(100);
  constexpr size_t kLive = 50 << 20;
  constexpr size_t kTotal = size_t{4} << 30;
  // A ring of live objects (a scanned array of pointers, itself collected)
  // whose entries are replaced as new objects are allocated: everything
  // replaced is garbage.
  constexpr size_t kObj = 1024;
  constexpr size_t kSlots = kLive / kObj;
  void** ring = static_cast<void**>(gomem_gc_alloc(kSlots * sizeof(void*)));
  std::mt19937_64 rng(1);
  size_t allocated = 0;
  uint64_t sizes[] = {48, 200, 1024, 3000};
  while (allocated < kTotal) {
    size_t n = sizes[rng() % 4];
    void* p = rng() % 2 ? gomem_gc_alloc(n) : gomem_gc_alloc_noscan(n);
    memset(p, 1, 16);
    allocated += n;
    // Live set stays ~50 MB: each slot holds ~1 KiB on average.
    ring[rng() % kSlots] = p;
  }
  gomem_stats st;
  gomem_read_stats(&st);
  size_t peak = peak_rss_bytes();
  printf(
      "allocated %zu MB, live ~%zu MB, %u cycles, peak RSS %zu MB, heap_sys %llu MB, heap_inuse %llu MB, marked %llu "
      "MB\n",
      allocated >> 20, kLive >> 20, st.num_gc, peak >> 20, static_cast<unsigned long long>(st.heap_sys >> 20),
      static_cast<unsigned long long>(st.heap_inuse >> 20), static_cast<unsigned long long>(st.gc_heap_live >> 20));
  EXPECT_GT(st.num_gc, 20u);
  EXPECT_GE(st.gc_heap_live, kLive);
}
