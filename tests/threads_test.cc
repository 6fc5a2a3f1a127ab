// Multi-threaded stress, always with more threads than cores: cross-thread
// frees, producer/consumer, 1,000 short-lived threads, fork while other
// threads allocate. Every block's contents are checked and the heap checker
// runs once the threads are done.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace gomem_test;

namespace {

int nthreads() { return ncpu() * 4 > 8 ? ncpu() * 4 : 8; }

struct Msg {
  void* p;
  size_t n;
  uint64_t seed;
};

// A simple blocking queue (its own nodes come from gomem too).
class Queue {
 public:
  void push(Msg m) {
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(m);
    cv_.notify_one();
  }
  bool pop(Msg* m) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    *m = q_.front();
    q_.pop_front();
    return true;
  }
  bool try_pop(Msg* m) {
    std::lock_guard<std::mutex> l(mu_);
    if (q_.empty()) return false;
    *m = q_.front();
    q_.pop_front();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu_);
    return q_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Msg> q_;
  bool closed_ = false;
};

// A producer: `per` filled blocks of 16..15+spread bytes onto q, waiting
// (yielding) while q holds more than max_queued; the last producer closes q.
void produce(Queue& q, std::atomic<int>& producing, int seed, int per, size_t spread, size_t max_queued) {
  std::mt19937_64 rng(seed);
  for (int k = 0; k < per; k++) {
    size_t n = 16 + rng() % spread;
    Msg m{gomem_malloc(n), n, rng()};
    fill(m.p, m.n, m.seed);
    q.push(m);
    while (q.size() > max_queued) std::this_thread::yield();  // bounded in flight
  }
  if (--producing == 0) q.close();
}

// A consumer: checks and frees every block until q is closed and empty.
void consume(Queue& q, std::atomic<int>& bad, std::atomic<int>& consumed) {
  Msg m;
  while (q.pop(&m)) {
    if (!check(m.p, m.n, m.seed)) bad++;
    gomem_free(m.p);
    consumed++;
  }
}

}  // namespace

TEST(Threads, CrossThreadFreesKeepContents) {
  const int T = nthreads();
  std::vector<Queue> inbox(T);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < T; t++) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      for (int i = 0; i < 60000; i++) {
        size_t n = rng() % 4 == 0 ? rng() % 40000 : rng() % 300;
        Msg m{gomem_malloc(n), n, rng()};
        fill(m.p, m.n, m.seed);
        inbox[rng() % T].push(m);  // often someone else's
        Msg r;
        while (inbox[t].try_pop(&r)) {
          if (!check(r.p, r.n, r.seed)) bad++;
          gomem_free(r.p);
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  for (auto& q : inbox) {
    Msg r;
    while (q.try_pop(&r)) {
      if (!check(r.p, r.n, r.seed)) bad++;
      gomem_free(r.p);
    }
  }
  EXPECT_EQ(bad.load(), 0);
  gomem_check_heap();
  gomem_stats s;
  gomem_read_stats(&s);
  EXPECT_EQ(s.mallocs - s.frees, s.heap_objects);
}

TEST(Threads, ProducerConsumerDoesNotStrandMemory) {
  // Producers only allocate, consumers only free. Frees go home to the
  // producers' spans, so the heap stays near the in-flight volume instead of
  // growing with the total allocated.
  const int P = nthreads() / 2, C = nthreads() / 2;
  const int per = 200000;
  Queue q;
  std::atomic<int> bad{0}, producing{P}, consumed{0};
  gomem_stats before, after;
  gomem_read_stats(&before);
  std::vector<std::thread> ts;
  for (int i = 0; i < P; i++) ts.emplace_back([&, i] { produce(q, producing, i, per, 200, 20000); });
  for (int i = 0; i < C; i++) ts.emplace_back([&] { consume(q, bad, consumed); });
  for (auto& th : ts) th.join();
  gomem_read_stats(&after);
  EXPECT_EQ(bad.load(), 0);
  // Total allocated: P * per * ~120 B = ~100+ MiB; in flight at most ~20000
  // objects (~5 MiB). The heap must not have grown anywhere near the total.
  uint64_t total = after.total_alloc - before.total_alloc;
  EXPECT_GT(total, uint64_t{50} << 20);
  EXPECT_LT(after.heap_sys - before.heap_sys, total / 4) << "memory stranded between producers and consumers";
  gomem_check_heap();
}

TEST(Threads, SpansEmptiedByOtherThreadsLeaveIdleOwners) {
  // Producers allocate objects of many sizes and then sit idle (as a
  // server's workers do between requests); consumers free every object and
  // then sit idle too. The producers never reach a slow path again, so
  // their spans that the consumers emptied must leave them anyway (each
  // through the remote free that empties it), and the consumers, which only
  // free, must not hold objects back in their batches: heap_inuse falls
  // back near where it was, not to the producers' peak.
  const int P = nthreads() / 2, C = nthreads() / 2;
  const int per = 12000;
  Queue q;
  std::atomic<int> bad{0}, producing{P}, consumed{0};
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  auto wait_done = [&] {  // bounded: the main thread sets done within seconds
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(120), [&] { return done; });
  };
  gomem_stats before, during, after;
  gomem_read_stats(&before);
  std::vector<std::thread> ts;
  for (int i = 0; i < P; i++) {
    ts.emplace_back([&, i] {
      produce(q, producing, i, per, 2000, P * per);
      if (!wait_done()) bad++;
    });
  }
  for (int i = 0; i < C; i++) {
    ts.emplace_back([&] {
      consume(q, bad, consumed);
      if (!wait_done()) bad++;
    });
  }
  // Every thread alive and idle once all is consumed (bounded wait).
  for (long spins = 0; consumed.load() < P * per && spins < (1L << 32); spins++) std::this_thread::yield();
  ASSERT_EQ(consumed.load(), P * per);
  gomem_read_stats(&during);
  {
    std::lock_guard<std::mutex> l(mu);
    done = true;
  }
  cv.notify_all();
  for (auto& th : ts) th.join();
  gomem_read_stats(&after);
  EXPECT_EQ(bad.load(), 0);
  // ~48,000 x 1 KiB; before spans left idle owners, ~29 MB of it stayed in
  // use, ~2-3 MB since.
  uint64_t total = after.total_alloc - before.total_alloc;
  uint64_t held = during.heap_inuse > before.heap_inuse ? during.heap_inuse - before.heap_inuse : 0;
  EXPECT_LT(held, total / 5) << "spans emptied by other threads stayed with their idle owners";
  gomem_check_heap();
}

TEST(Threads, AThousandShortLivedThreadsWithSurvivingObjects) {
  std::vector<Msg> survivors;
  std::mutex mu;
  gomem_stats before, after;
  gomem_read_stats(&before);
  for (int wave = 0; wave < 125; wave++) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; t++) {
      ts.emplace_back([&, wave, t] {
        std::mt19937_64 rng(wave * 8 + t);
        std::vector<Msg> mine;
        for (int i = 0; i < 300; i++) {
          size_t n = rng() % 2000;
          Msg m{gomem_malloc(n), n, rng()};
          fill(m.p, m.n, m.seed);
          mine.push_back(m);
        }
        std::lock_guard<std::mutex> l(mu);
        for (size_t i = 0; i < mine.size(); i++) {
          if (i % 10 == 0)
            survivors.push_back(mine[i]);  // outlives its thread
          else
            gomem_free(mine[i].p);
        }
      });
    }
    for (auto& th : ts) th.join();
  }
  gomem_read_stats(&after);
  EXPECT_LE(after.num_p, before.num_p + 16) << "Ps were not reused";
  EXPECT_EQ(after.num_p_in_use, before.num_p_in_use);
  gomem_check_heap();
  for (Msg& m : survivors) {
    ASSERT_TRUE(check(m.p, m.n, m.seed));
    gomem_free(m.p);
  }
  gomem_check_heap();
}

TEST(Threads, ForkWhileOtherThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < nthreads(); t++) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<Msg> mine(256);
      while (!stop.load(std::memory_order_relaxed)) {
        Msg& m = mine[rng() % mine.size()];
        gomem_free(m.p);
        m.n = rng() % 3000;
        m.p = gomem_malloc(m.n);
        m.seed = rng();
        fill(m.p, m.n, m.seed);
      }
      for (Msg& m : mine) gomem_free(m.p);
    });
  }
  for (int i = 0; i < 30; i++) {
    std::vector<void*> mine;
    for (int k = 0; k < 100; k++) mine.push_back(gomem_malloc(k * 10));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: only this thread exists. The heap must be usable and
      // consistent, including memory the other threads had allocated.
      std::vector<void*> ps;
      for (int k = 0; k < 10000; k++) ps.push_back(gomem_malloc(k % 500));
      for (void* p : ps) gomem_free(p);
      for (void* p : mine) gomem_free(p);
#if !defined(__SANITIZE_THREAD__)  // TSan cannot start threads after a multi-threaded fork
      std::thread th([] {
        for (int k = 0; k < 1000; k++) gomem_free(gomem_malloc(k));
      });
      th.join();
#endif
      gomem_check_heap();
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0);
    for (void* p : mine) gomem_free(p);
  }
  stop = true;
  for (auto& th : ts) th.join();
  gomem_check_heap();
}
