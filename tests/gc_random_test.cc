// The collector against a program that hides pointers everywhere a C/C++
// program does. Eight lanes of worker threads (more threads than cores) grow
// and cut random object graphs at GOGC=10 over thousands of cycles. Each
// worker holds its graphs' roots in every kind of root at once:
//
//   - its stack (a volatile array in its frame),
//   - a global array (its lane's row),
//   - static TLS (a thread_local array),
//   - a manual block registered with gomem_add_roots,
//   - an uncollectable block,
//   - one-past-the-end pointers (in globals and on the stack),
//   - an exchange shared by all lanes (globals under a mutex), which hands
//     graphs from one thread to another.
//
// Workers come and go: each runs a few thousand steps and exits, and a new
// one takes its lane. At exit a pthread-key destructor, created after
// gomem's own key, allocates a chain, collects, checks it and deposits it in
// the exchange. Every fourth worker blocks every signal (pthread_sigmask or
// sigprocmask), as server threads do before sigwait.
//
// Every reference the test holds (each root slot, the exchange, each edge)
// carries the id of the node it must reach, kept beside it by the test (a
// root's in a shadow array, an edge's in the parent node), never read back
// from the node. A node's checksum and payload are functions of its id and
// size, so a reachable node freed and its slot reused by another node, a
// valid-looking one, is caught: the id found is not the one expected.
//
// Checked: every node reached through any root is the one expected, with
// its checksum and payload (so no reachable node was freed and reused); no
// node with a finalizer is finalized while reachable, none twice; a failure
// names the node, the id expected and found, gomem_kind, gomem_gc_base, the
// mode and the cycle count. After the end, the finalizable
// nodes are finalized (exactly once each, all but a conservative few); the
// heap shrinks back. The test bounds itself: a watchdog aborts with a
// message if it has not finished in 5 minutes, so a hang is a failure.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gomem/gomem.h"
#include "test_util.h"

namespace {

constexpr int kLanes = 8;
constexpr int kGenerations = 8;  // workers per lane, one after another
constexpr int kStepsPerWorker = 6000;
constexpr int kSlots = 16;  // slots per kind of root
constexpr int kKids = 3;
constexpr uint32_t kMaxIds = 1u << 22;

// A node: id, size and a payload that is a function of both. Edges only go
// to older nodes and are written once, before the node is published, so
// graphs are immutable and any thread may read them.
struct Node {
  uint64_t id;
  uint64_t sum;
  uint32_t size;  // bytes requested for this node
  uint32_t has_finalizer;
  Node* self;  // points into the node itself (a C++ object often does)
  Node* kid[kKids];
  uint64_t kid_id[kKids];  // the id kid[k] must have
  uint64_t payload[1];     // up to size
};

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x9E3779B97F4A7C15ULL;
  return x ^ (x >> 29);
}

size_t payload_words(uint32_t size) { return (size - offsetof(Node, payload)) / 8; }

std::atomic<uint64_t> g_next_id{1};
std::atomic<uint8_t> g_finalized[kMaxIds];
std::atomic<uint8_t> g_has_fin[kMaxIds];
std::atomic<int> g_bad{0};
std::atomic<int> g_finalized_while_reachable{0};
std::atomic<int> g_finalized_twice{0};

// A reference with the id of the node it must reach.
struct Ref {
  Node* p;
  uint64_t id;
};

void note_bad(const char* what, const Node* n, uint64_t want) {
  if (g_bad.fetch_add(1) >= 10) return;
  const char* mode = getenv("GOMEM_GC");
  fprintf(stderr,
          "gc_random_test: %s: node %p, id expected %llu found %llu (gomem_kind %d, gomem_gc_base %p, size %u), "
          "GOMEM_GC=%s, %u cycles completed\n",
          what, static_cast<const void*>(n), static_cast<unsigned long long>(want),
          static_cast<unsigned long long>(n->id), gomem_kind(n), gomem_gc_base(n), n->size, mode ? mode : "(unset)",
          gomem_gc_count());
}

void finalize(void* obj, void*) {
  auto* n = static_cast<Node*>(obj);
  if (n->id >= kMaxIds || n->sum != mix(n->id)) {
    note_bad("finalizer got a damaged node", n, n->id);
    return;
  }
  if (g_finalized[n->id].fetch_add(1) != 0) g_finalized_twice.fetch_add(1);
}

Ref new_node(std::mt19937_64& rng, const Ref* pool, int npool) {
  uint32_t size;
  switch (rng() % 64) {
    case 0:
      size = 33000 + rng() % 40000;
      break;  // large
    case 1:
    case 2:
      size = 2048 + rng() % 8192;
      break;
    default:
      size = sizeof(Node) + rng() % 512;
      break;
  }
  size &= ~7u;
  auto* n = static_cast<Node*>(gomem_gc_alloc(size));
  if (!n) abort();
  uint64_t id = g_next_id.fetch_add(1, std::memory_order_relaxed) % kMaxIds;
  n->id = id;
  n->sum = mix(id);
  n->size = size;
  for (size_t i = 0; i < payload_words(size); i++) n->payload[i] = mix(id + i);
  // A leaf in one of eight gets a finalizer (ignore-self: it points to
  // itself); leaves reach nothing, so Go's ordering rule never delays them.
  if (rng() % 8 == 0) {
    n->self = n;
    n->has_finalizer = 1;
    g_has_fin[id].store(1, std::memory_order_relaxed);
    if (gomem_gc_set_finalizer_ignore_self(n, finalize, nullptr) != 0) note_bad("set_finalizer failed", n, id);
  } else if (npool > 0) {
    // Half an edge per node on average: the reachable graph stays small and
    // garbage is made all the time.
    for (int k = 0; k < kKids; k++)
      if (rng() % 6 == 0) {
        const Ref& r = pool[rng() % npool];
        n->kid[k] = r.p;
        n->kid_id[k] = r.id;
      }
  }
  return Ref{n, id};
}

bool node_ok(const Node* n) {
  if (n->sum != mix(n->id) || n->size < sizeof(Node) || n->size > 80000) return false;
  size_t w = payload_words(n->size);
  for (size_t i = 0; i < w; i += 1 + w / 8)  // a sample, the last word included
    if (n->payload[i] != mix(n->id + i)) return false;
  return n->payload[w - 1] == mix(n->id + w - 1);
}

// Checks up to *budget nodes reachable from n, which must have id want.
void verify(const Node* n, uint64_t want, int depth, int* budget) {
  if (!n || depth > 6 || --*budget < 0) return;
  if (!node_ok(n)) {
    note_bad("reachable node damaged", n, want);
    return;
  }
  if (n->id != want) {
    note_bad("reachable node freed and its slot reused by another node", n, want);
    return;
  }
  if (n->has_finalizer && g_finalized[n->id].load() != 0) g_finalized_while_reachable.fetch_add(1);
  for (int k = 0; k < kKids; k++) verify(n->kid[k], n->kid_id[k], depth + 1, budget);
}

// Roots held in memory the collector must scan, each beside the id its node
// must have (the *_id shadows).
Node* g_global[kLanes][kSlots];
uint64_t g_global_id[kLanes][kSlots];
char* g_end[kLanes][kSlots];  // one past the end of a node
uint32_t g_end_size[kLanes][kSlots];
uint64_t g_end_id[kLanes][kSlots];
thread_local Node* t_tls[kSlots];
thread_local uint64_t t_tls_id[kSlots];

std::mutex g_exchange_mu;
Ref g_exchange[64];

void exchange(std::mt19937_64& rng, Ref* inout) {
  std::lock_guard<std::mutex> l(g_exchange_mu);
  Ref& e = g_exchange[rng() % 64];
  Ref got = e;
  e = *inout;
  *inout = got;
}

// The key destructor of a worker: runs after gomem's own (its key was made
// later), allocates a chain, collects, checks it and hands it on.
pthread_key_t g_key;
void key_destructor(void*) {
  std::mt19937_64 rng(reinterpret_cast<uintptr_t>(&rng));
  Ref chain{nullptr, 0};
  for (int i = 0; i < 3; i++) chain = new_node(rng, &chain, chain.p ? 1 : 0);
  gomem_gc_collect();
  int budget = 8;
  verify(chain.p, chain.id, 0, &budget);
  exchange(rng, &chain);
}

struct Worker {
  int lane;
  uint64_t seed;
};

// The holders a worker keeps, and where each slot lives; each beside the
// ids its nodes must have (plain memory: the collector need not see ids).
struct Holders {
  Node* volatile* stack;  // in worker_main's frame
  uint64_t* stack_id;
  Node** registered;  // manual, added with gomem_add_roots
  uint64_t* registered_id;
  Node** uncollectable;
  uint64_t* uncollectable_id;
};

// One root slot and the id its node must have.
struct Slot {
  Node** p;
  uint64_t* id;
  Ref get() const { return Ref{*p, *id}; }
  void set(Ref r) const {
    *p = r.p;
    *id = r.id;
  }
};

Slot pick_slot(std::mt19937_64& rng, int lane, Holders& h) {
  int i = rng() % kSlots;
  switch (rng() % 5) {
    case 0:
      return Slot{const_cast<Node**>(&h.stack[i]), &h.stack_id[i]};
    case 1:
      return Slot{&g_global[lane][i], &g_global_id[lane][i]};
    case 2:
      return Slot{&t_tls[i], &t_tls_id[i]};
    case 3:
      return Slot{&h.registered[i], &h.registered_id[i]};
    default:
      return Slot{&h.uncollectable[i], &h.uncollectable_id[i]};
  }
}

void block_signals(int how) {
  sigset_t all;
  sigfillset(&all);
  if (how == 1)
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
  else
    sigprocmask(SIG_BLOCK, &all, nullptr);
}

// One-past-the-end pointers a worker keeps on its stack, with the sizes that
// lead back to the start and the ids their nodes must have.
struct EndHolders {
  char* volatile* end;
  uint32_t* size;
  uint64_t* id;
};

void verify_all(int lane, Holders& h, const EndHolders& e) {
  for (int i = 0; i < kSlots; i++) {
    int budget = 64;
    verify(h.stack[i], h.stack_id[i], 0, &budget);
    verify(g_global[lane][i], g_global_id[lane][i], 0, &budget);
    verify(t_tls[i], t_tls_id[i], 0, &budget);
    verify(h.registered[i], h.registered_id[i], 0, &budget);
    verify(h.uncollectable[i], h.uncollectable_id[i], 0, &budget);
    if (g_end[lane][i])
      verify(reinterpret_cast<Node*>(g_end[lane][i] - g_end_size[lane][i]), g_end_id[lane][i], 0, &budget);
    if (e.end[i]) verify(reinterpret_cast<Node*>(e.end[i] - e.size[i]), e.id[i], 0, &budget);
  }
}

void* worker_main(void* arg) {
  Worker w = *static_cast<Worker*>(arg);
  delete static_cast<Worker*>(arg);
  std::mt19937_64 rng(w.seed);
  gomem_register_thread();
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
  if (w.seed % 4 == 3) block_signals(1 + static_cast<int>(w.seed / 4 % 2));

  Node* volatile stack[kSlots] = {};
  uint64_t stack_id[kSlots] = {}, registered_id[kSlots] = {}, uncollectable_id[kSlots] = {};
  char* volatile stack_end[kSlots] = {};
  uint32_t stack_end_size[kSlots] = {};
  uint64_t stack_end_id[kSlots] = {};
  EndHolders e{stack_end, stack_end_size, stack_end_id};
  Holders h;
  h.stack = stack;
  h.stack_id = stack_id;
  h.registered_id = registered_id;
  h.uncollectable_id = uncollectable_id;
  h.registered = static_cast<Node**>(gomem_malloc(kSlots * sizeof(Node*)));
  memset(h.registered, 0, kSlots * sizeof(Node*));
  gomem_add_roots(h.registered, h.registered + kSlots);
  h.uncollectable = static_cast<Node**>(gomem_malloc_uncollectable(kSlots * sizeof(Node*)));
  for (int i = 0; i < kSlots; i++) t_tls[i] = nullptr;

  Ref pool[8];
  for (int step = 0; step < kStepsPerWorker; step++) {
    int np = 0;
    for (int k = 0; k < 8; k++) {
      Ref c = pick_slot(rng, w.lane, h).get();
      if (c.p) pool[np++] = c;
    }
    Ref n = new_node(rng, pool, np);
    Node* nn = n.p;
    switch (rng() % 8) {
      case 0: {  // one past the end, in a global or on the stack
        int i = rng() % kSlots;
        if (rng() % 2) {
          g_end_size[w.lane][i] = nn->size;
          g_end_id[w.lane][i] = n.id;
          g_end[w.lane][i] = reinterpret_cast<char*>(nn) + nn->size;
        } else {
          stack_end_size[i] = nn->size;
          stack_end_id[i] = n.id;
          stack_end[i] = reinterpret_cast<char*>(nn) + nn->size;
        }
        break;
      }
      case 1:
        exchange(rng, &n);
        pick_slot(rng, w.lane, h).set(n);
        break;
      case 2:
        pick_slot(rng, w.lane, h).set(Ref{nullptr, 0});  // cut
        break;
      default:
        pick_slot(rng, w.lane, h).set(n);
    }
    nn = nullptr;
    n = Ref{nullptr, 0};
    if (step % 64 == 0) verify_all(w.lane, h, e);
    if (step % 1024 == 0) gomem_gc_collect();
  }
  verify_all(w.lane, h, e);

  // Leave: the lane's globals are left for the next worker of the lane (it
  // checks them); TLS, registered and uncollectable roots go away.
  gomem_remove_roots(h.registered, h.registered + kSlots);
  gomem_free(h.registered);
  gomem_free(h.uncollectable);
  return nullptr;
}

// Aborts the process if the test runs longer than its bound.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds bound)
      : t_([this, bound] {
          std::unique_lock<std::mutex> l(mu_);
          if (!cv_.wait_for(l, bound, [this] { return done_; })) {
            fprintf(stderr, "gc_random_test: no progress within %lld s: a hang\n",
                    static_cast<long long>(bound.count()));
            abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    t_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread t_;
};

// Starts a worker on a stack of its own, detached from this frame.
pthread_t start_worker(int lane, uint64_t seed) {
  pthread_t t;
  auto* w = new Worker{lane, seed};
  if (pthread_create(&t, nullptr, worker_main, w) != 0) abort();
  return t;
}

// Drops every root the test holds and collects until the finalizers are
// done; returns how many finalizable nodes were never finalized.
uint64_t drain_finalizers() {
  memset(g_global, 0, sizeof g_global);
  memset(g_end, 0, sizeof g_end);
  {
    std::lock_guard<std::mutex> l(g_exchange_mu);
    memset(g_exchange, 0, sizeof g_exchange);
  }
  for (int i = 0; i < 4; i++) {
    gomem_gc_collect();
    gomem_gc_run_finalizers();
  }
  uint64_t missing = 0;
  for (uint32_t id = 0; id < kMaxIds; id++)
    if (g_has_fin[id].load() && g_finalized[id].load() == 0) missing++;
  return missing;
}

}  // namespace

TEST(GCRandom, EveryKindOfRootAcrossThousandsOfCyclesAtGOGC10) {
  Watchdog dog(std::chrono::seconds(300));
  ASSERT_EQ(pthread_key_create(&g_key, key_destructor), 0);
  int old_gogc = gomem_gc_set_percent(10);
  gomem_stats before;
  gomem_read_stats(&before);

  // Lanes run their generations one after another; each lane's workers
  // overlap with every other lane's.
  std::vector<std::thread> lanes;
  for (int lane = 0; lane < kLanes; lane++) {
    lanes.emplace_back([lane] {
      for (int g = 0; g < kGenerations; g++) {
        pthread_t t = start_worker(lane, static_cast<uint64_t>(lane) * 1000 + g);
        pthread_join(t, nullptr);
      }
    });
  }
  for (auto& t : lanes) t.join();

  gomem_stats mid;
  gomem_read_stats(&mid);
  uint64_t missing = drain_finalizers();
  uint64_t with_fin = 0;
  for (uint32_t id = 0; id < kMaxIds; id++) with_fin += g_has_fin[id].load();
  gomem_stats after;
  gomem_read_stats(&after);
  gomem_gc_set_percent(old_gogc);

  printf("cycles %u, finalizable nodes %llu, not finalized %llu, heap %llu -> %llu bytes\n", mid.num_gc - before.num_gc,
         static_cast<unsigned long long>(with_fin), static_cast<unsigned long long>(missing),
         static_cast<unsigned long long>(mid.gc_heap_alloc), static_cast<unsigned long long>(after.gc_heap_alloc));
  EXPECT_EQ(g_bad.load(), 0) << "reachable nodes were freed and reused";
  EXPECT_EQ(g_finalized_while_reachable.load(), 0);
  EXPECT_EQ(g_finalized_twice.load(), 0);
  EXPECT_GE(mid.num_gc - before.num_gc, 1000u) << "GOGC=10 should have run thousands of cycles";
  EXPECT_GT(with_fin, 1000u);
  // Conservative scanning may keep a few (a stale word on a stack of the
  // test's own threads), never many.
  EXPECT_LE(missing, with_fin / 100) << "unreachable finalizable nodes were not finalized";
  EXPECT_LT(after.gc_heap_alloc, 16u << 20) << "the heap did not shrink once everything was dropped";
}
