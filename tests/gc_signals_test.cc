// The world-stop signal against programs that block or wait for signals:
// registered threads that block every signal with pthread_sigmask or
// sigprocmask and then sigwait, sigsuspend, ppoll or pselect do not stop
// collections, are stopped and scanned like any other thread, and see the
// masks they set (less the stop signal); a thread that blocks the signal
// behind the interposers' back is named on standard error instead of
// hanging the collection silently; a record whose tid now names another
// thread is dropped.
//
// A collection that hangs must fail the test, not hang it: every scenario
// runs in a forked child that the parent kills after a bound, reading the
// child's standard error as it comes.
#include <errno.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gc/collector.h"
#include "gc_test_util.h"
#include "gomem/gomem.h"

using namespace gomem_test;

namespace {

struct ChildResult {
  bool exited = false;  // false: killed at the bound, or once `done` said so
  int status = 0;       // exit status if it exited
  std::string err;      // everything it wrote to standard error
};

// Runs fn in a forked child (its result is the exit status) with standard
// error captured. The child is killed when done(err) becomes true or after
// bound_s seconds, whichever comes first.
ChildResult run_in_child(std::function<int()> fn, int bound_s, std::function<bool(const std::string&)> done = nullptr) {
  ChildResult r;
  int fds[2];
  if (pipe(fds) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    alarm(static_cast<unsigned>(bound_s + 30));  // the child's own watchdog, if the parent dies
    _exit(fn());
  }
  close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(bound_s);
  bool open = true;
  for (;;) {
    if (open) {
      pollfd p = {fds[0], POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0)
          r.err.append(buf, static_cast<size_t>(n));
        else
          open = false;  // the child closed stderr: it exited
      }
    } else {
      poll(nullptr, 0, 10);
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      r.exited = WIFEXITED(st);
      r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if ((done && done(r.err)) || std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
  }
  close(fds[0]);
  return r;
}

void say(const std::string& s) {
  std::string line = s + "\n";
  if (write(2, line.data(), line.size()) < 0) return;
}

// The collector's stop signal, as gc.cc reads it.
int stop_signal() {
  const char* v = getenv("GOMEM_SIG_SUSPEND");
  return v && atoi(v) > 0 ? atoi(v) : SIGPWR;
}

constexpr size_t kObjQueueFull = 96;

int gettid_() { return static_cast<int>(syscall(SYS_gettid)); }

// Blocks every signal with the system call itself, as a program that
// bypasses libc would: the interposers cannot see it.
void raw_block_all() {
  sigset_t all;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, nullptr, _NSIG / 8);
}

// A registered thread that has blocked the stop signal behind the
// interposers' back and waits on a condition forever; `prepare` runs on it
// after registering. Returns its tid once it is blocked.
int start_unstoppable_thread(std::function<void()> prepare) {
  static std::mutex mu;
  static std::condition_variable cv;
  static int tid = 0;
  std::thread([prepare] {
    gomem_register_thread();
    prepare();
    raw_block_all();
    std::unique_lock<std::mutex> l(mu);
    tid = gettid_();
    cv.notify_all();
    cv.wait(l, [] { return false; });
  }).detach();
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [] { return tid != 0; });
  return tid;
}

}  // namespace

// Before: the collection waited forever without a word.
GC_TEST(GCSignals, AThreadThatBlockedTheSignalBehindTheInterposersIsNamed) {
  int tid = 0;
  ChildResult r = run_in_child(
      [] {
        gomem_gc_collect();
        int t = start_unstoppable_thread([] {});
        say("tid=" + std::to_string(t));
        gomem_gc_collect();  // waits for the thread, and says so
        say("collected");
        return 0;
      },
      60,
      [&](const std::string& err) {
        size_t at = err.find("tid=");
        if (at == std::string::npos) return false;
        tid = atoi(err.c_str() + at + 4);
        return err.find("is blocked", at) != std::string::npos;
      });
  std::string want = "gomem: collection waiting for thread " + std::to_string(tid) + " (pthread 0x";
  EXPECT_NE(r.err.find(want), std::string::npos) << "child's stderr:\n" << r.err;
  std::string sig = "suspend signal " + std::to_string(stop_signal()) + " is blocked (SigBlk: 0x";
  EXPECT_NE(r.err.find(sig), std::string::npos) << "child's stderr:\n" << r.err;
  EXPECT_EQ(r.err.find("collected"), std::string::npos) << "a collection finished without stopping the thread";
}

// Before: the record was trusted because tgkill found a thread with its tid.
GC_TEST(GCSignals, ARecordWhoseTidNowNamesAnotherThreadIsDropped) {
  ChildResult r = run_in_child(
      [] {
        gomem_gc_collect();
        // The record says its thread started at tick 1: the thread that has
        // its tid now (which never answers) is another one.
        start_unstoppable_thread([] { gomem::gc::t_gcthread->start_time = 1; });
        gomem_gc_collect();
        gomem_gc_collect();
        say("collected");
        return 0;
      },
      60);
  EXPECT_TRUE(r.exited && r.status == 0) << "status " << r.status << ", child's stderr:\n" << r.err;
  EXPECT_NE(r.err.find("collected"), std::string::npos) << r.err;
}

// Before: a live thread was taken for gone when /proc has no entry for its
// tid, as in a PID namespace of its own with /proc mounted from the parent's
// namespace (unshare -p without remounting /proc, some sandboxes): gettid()
// names the thread in one namespace, /proc/self/task in the other. A thread
// that did not park within 100 ms was then dropped from the registry while
// it ran (its record freed, its stack no root) and the collection went on.
GC_TEST(GCSignals, ALiveThreadIsNotTakenForGoneWhenProcShowsAnotherPidNamespace) {
  ChildResult r = run_in_child(
      [] {
        if (unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0) return 77;
        pid_t pid = fork();  // pid 1 of the new namespace; /proc stays the parent's
        if (pid < 0) return 77;
        if (pid == 0) {
          prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with its parent, which the test kills
          gomem_gc_collect();
          start_unstoppable_thread([] {});
          say("unstoppable thread started");
          gomem_gc_collect();  // waits for the thread, and says so
          say("collected");
          _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
      },
      60,
      [](const std::string& err) {
        return err.find("still waiting") != std::string::npos || err.find("collected") != std::string::npos;
      });
  if (r.exited && r.status == 77) GTEST_SKIP() << "no user and PID namespaces here";
  EXPECT_NE(r.err.find("unstoppable thread started"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("collected"), std::string::npos) << "a live thread was dropped: " << r.err;
  EXPECT_NE(r.err.find("still waiting"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------------------
// Before the collector is in use, masks go through untouched.

namespace {

// Blocks sig with pthread_sigmask and sigprocmask in turn; true if it was
// blocked each time. Leaves it unblocked.
bool blocks(int sig) {
  sigset_t one, cur;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_BLOCK, &one, nullptr);
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  bool a = sigismember(&cur, sig) == 1;
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  sigprocmask(SIG_BLOCK, &one, nullptr);
  sigprocmask(SIG_SETMASK, nullptr, &cur);
  bool b = sigismember(&cur, sig) == 1;
  sigprocmask(SIG_UNBLOCK, &one, nullptr);
  return a && b;
}

// A process of this binary started with GOMEM_SIGNALS_TEST_FRESH=1 runs
// this before anything else (GoogleTest included) and exits with its result.
int fresh_process_main() {
  int stop = stop_signal();
  if (!blocks(stop)) return say("FAIL: the stop signal was kept unblocked before the collector was in use"), 1;
  gomem_register_thread();
  if (blocks(stop)) return say("FAIL: the stop signal was blocked once the collector was in use"), 1;
  if (!blocks(SIGUSR1)) return say("FAIL: SIGUSR1 was not blocked"), 1;
  return 0;
}

const int g_fresh = getenv("GOMEM_SIGNALS_TEST_FRESH") ? (_exit(fresh_process_main()), 0) : 0;

// A process of this binary started with GOMEM_SIGNALS_TEST_QUEUE_FULL=1 and
// a real-time stop signal (GOMEM_SIG_SUSPEND): while no real-time signal can
// be queued (RLIMIT_SIGPENDING 0: tgkill says EAGAIN), a collection stops
// a thread that holds an object only on its stack. The limit comes back
// after 300 ms, from a thread the collector does not know.
int queue_full_main() {
  gomem_gc_collect();
  std::mutex mu;
  std::condition_variable cv;
  int state = 0;  // 1: the holder holds its object; 2: collected; 3: checked
  bool kept = false;
  std::thread([&] {
    void* volatile keep = gomem_gc_alloc(kObjQueueFull);
    fill(keep, kObjQueueFull, 77);
    std::unique_lock<std::mutex> l(mu);
    state = 1;
    cv.notify_all();
    cv.wait(l, [&] { return state == 2; });
    kept = gomem_gc_base(keep) == keep && check(keep, kObjQueueFull, 77);
    state = 3;
    cv.notify_all();
    cv.wait(l, [] { return false; });  // never leaves (its record may be gone): _exit ends it
  }).detach();
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return state == 1; });
  l.unlock();
  rlimit saved;
  getrlimit(RLIMIT_SIGPENDING, &saved);
  rlimit none = {0, saved.rlim_max};  // the hard limit stays: the soft one can come back
  setrlimit(RLIMIT_SIGPENDING, &none);
  std::thread([saved] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    setrlimit(RLIMIT_SIGPENDING, &saved);
  }).detach();
  gomem_gc_collect();
  churn(kObjQueueFull, 1000);
  gomem_gc_collect();
  l.lock();
  state = 2;
  cv.notify_all();
  cv.wait(l, [&] { return state == 3; });
  if (!kept) say("FAIL: the object held by the thread was freed");
  _exit(kept ? 0 : 1);
}

const int g_queue_full = getenv("GOMEM_SIGNALS_TEST_QUEUE_FULL") ? (_exit(queue_full_main()), 0) : 0;

}  // namespace

// Before: a thread the stop signal could not be queued to (EAGAIN) was taken
// for gone and dropped from the registry: its stack was no root.
GC_TEST(GCSignals, AThreadIsNotDroppedWhenTheStopSignalCannotBeQueued) {
  ChildResult r = run_in_child(
      [] {
        setenv("GOMEM_SIGNALS_TEST_QUEUE_FULL", "1", 1);
        setenv("GOMEM_SIG_SUSPEND", std::to_string(SIGRTMIN + 4).c_str(), 1);
        execl("/proc/self/exe", "gc_signals_test", static_cast<char*>(nullptr));
        return 2;
      },
      60);
  EXPECT_TRUE(r.exited && r.status == 0) << "status " << r.status << ", child's stderr:\n" << r.err;
}

// Before: the stop signal could be blocked with the collector in use.
GC_TEST(GCSignals, MasksPassThroughUntilTheCollectorIsInUse) {
  ChildResult r = run_in_child(
      [] {
        setenv("GOMEM_SIGNALS_TEST_FRESH", "1", 1);
        execl("/proc/self/exe", "gc_signals_test", static_cast<char*>(nullptr));
        return 2;
      },
      60);
  EXPECT_TRUE(r.exited && r.status == 0) << "status " << r.status << ", child's stderr:\n" << r.err;
}

// ---------------------------------------------------------------------------
// Threads that block every signal through libc and wait.

namespace {

constexpr size_t kObj = 1000;

std::atomic<bool> g_stop{false};
std::atomic<int> g_ready{0};
std::atomic<int> g_failures{0};

void fail(const std::string& what) {
  g_failures.fetch_add(1);
  say("FAIL: " + what);
}

bool same_mask(const sigset_t& a, const sigset_t& b) {
  for (int s = 1; s < _NSIG; s++)
    if (sigismember(&a, s) != sigismember(&b, s)) return false;
  return true;
}

sigset_t full_set() {
  sigset_t s;
  sigfillset(&s);
  return s;
}

sigset_t all_but(int sig) {
  sigset_t s = full_set();
  sigdelset(&s, sig);
  return s;
}

// How each waiter blocks and waits. The sigwait family waits for SIGUSR1
// with every signal in its set; the others wait for the stop flag with
// every signal but SIGUSR2 (which has a handler) blocked in their mask.
enum class Wait { kSigwait, kSigwaitinfo, kSigtimedwait, kSigsuspend, kPpoll, kPselect };
constexpr Wait kWaits[] = {Wait::kSigwait,    Wait::kSigwaitinfo, Wait::kSigtimedwait,
                           Wait::kSigsuspend, Wait::kPpoll,       Wait::kPselect};

// Blocks every signal, checking what the masks say: the stop signal stays
// unblocked, the rest as asked, and a saved mask restores exactly.
void block_all_and_check(bool with_sigprocmask, sigset_t* old) {
  int stop = stop_signal();
  sigset_t all = full_set(), cur;
  if (with_sigprocmask ? sigprocmask(SIG_BLOCK, &all, old) != 0 : pthread_sigmask(SIG_BLOCK, &all, old) != 0)
    fail("blocking every signal failed");
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  if (sigismember(old, stop)) fail("a registered thread's old mask holds the stop signal");
  if (sigismember(&cur, stop)) fail("the stop signal was blocked");
  if (!sigismember(&cur, SIGUSR1) || !sigismember(&cur, SIGTERM)) fail("the other signals were not blocked");
  // SIG_SETMASK with the stop signal in the set: the same.
  sigset_t cur2;
  sigprocmask(SIG_SETMASK, &all, nullptr);
  sigprocmask(SIG_SETMASK, nullptr, &cur2);
  if (!same_mask(cur, cur2)) fail("SIG_SETMASK of a full set differs from SIG_BLOCK of it");
}

void restore_and_check(const sigset_t& old) {
  sigset_t cur;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  if (!same_mask(cur, old)) fail("restoring the saved mask did not give it back");
}

void wait_for_signal(Wait how) {
  sigset_t all = full_set(), but_usr2 = all_but(SIGUSR2);
  int sig = 0;
  for (;;) {
    switch (how) {
      case Wait::kSigwait:
        if (sigwait(&all, &sig) != 0) sig = -1;
        break;
      case Wait::kSigwaitinfo:
        sig = sigwaitinfo(&all, nullptr);
        break;
      case Wait::kSigtimedwait: {
        timespec ts = {30, 0};
        sig = sigtimedwait(&all, nullptr, &ts);
        break;
      }
      case Wait::kSigsuspend:
        if (g_stop.load()) return;
        sigsuspend(&but_usr2);
        continue;
      case Wait::kPpoll:
        if (g_stop.load()) return;
        ppoll(nullptr, 0, nullptr, &but_usr2);
        continue;
      case Wait::kPselect:
        if (g_stop.load()) return;
        pselect(0, nullptr, nullptr, nullptr, nullptr, &but_usr2);
        continue;
    }
    if (sig == SIGUSR1) return;
    if (sig == -1 && errno == EINTR) continue;  // a collection stopped the thread
    fail("the wait returned signal " + std::to_string(sig) + " (the stop signal stolen from the collector?)");
    if (sig == -1) return;
  }
}

void waiter(int i) {
  gomem_register_thread();
  // Held only on this thread's stack while it waits: it survives only if
  // the collections stop and scan this thread.
  void* volatile keep = gomem_gc_alloc(kObj);
  fill(keep, kObj, 1000 + i);
  sigset_t old;
  block_all_and_check(i % 2 == 1, &old);
  g_ready.fetch_add(1);
  wait_for_signal(kWaits[i]);
  if (!check(keep, kObj, 1000 + i)) fail("an object held by a waiting thread was freed");
  restore_and_check(old);
  keep = nullptr;
  gomem_unregister_thread();
}

void collector(int rounds) {
  for (int i = 0; i < rounds; i++) {
    for (int j = 0; j < 2000; j++) memset(gomem_gc_alloc(kObj), 0xee, kObj);
    gomem_gc_collect();
  }
}

void on_usr2(int) {}

int block_and_wait_child() {
  struct sigaction sa = {};
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, nullptr);
  gomem_gc_collect();
  constexpr int kWaiters = sizeof kWaits / sizeof kWaits[0];
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; i++) waiters.emplace_back(waiter, i);
  while (g_ready.load() < kWaiters) std::this_thread::yield();  // the parent bounds this child
  gomem_stats before, after;
  gomem_read_stats(&before);
  std::vector<std::thread> collectors;
  for (int i = 0; i < 2; i++) collectors.emplace_back(collector, 10);
  for (auto& t : collectors) t.join();
  gomem_read_stats(&after);
  if (after.num_gc < before.num_gc + 20) fail("fewer collections than asked for");
  say("collections done: " + std::to_string(after.num_gc - before.num_gc));
  g_stop.store(true);
  for (int i = 0; i < kWaiters; i++)
    pthread_kill(waiters[i].native_handle(), kWaits[i] <= Wait::kSigtimedwait ? SIGUSR1 : SIGUSR2);
  for (auto& t : waiters) t.join();
  return g_failures.load() == 0 ? 0 : 1;
}

}  // namespace

// Before: the first collection waited forever for the first waiter.
GC_TEST(GCSignals, ThreadsThatBlockEverySignalAndWaitDoNotStopCollections) {
  ChildResult r = run_in_child(block_and_wait_child, 120);
  EXPECT_TRUE(r.exited && r.status == 0) << "status " << r.status << ", child's stderr:\n" << r.err;
  EXPECT_NE(r.err.find("collections done"), std::string::npos) << r.err;
  std::cout << r.err;
}
