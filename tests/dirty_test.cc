// Dirty-page tracking (src/platform/dirty.h): the kernel's record of written
// pages, checked against the pages each test writes. Each test has its own
// tracker (its own userfaultfd) and its own mappings. The kernel refusing
// (old kernel, seccomp) skips with the reason; on this project's machines it
// works, so these run.
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "platform/dirty.h"

using gomem::DirtyTracker;

namespace {

constexpr size_t kPage = 4096;

// The written pages a scan reported, as page indexes from `base`.
struct Pages {
  uintptr_t base;
  std::set<size_t> set;
};

void collect(void* arg, uintptr_t start, uintptr_t end) {
  auto* p = static_cast<Pages*>(arg);
  for (uintptr_t a = start; a < end; a += kPage) p->set.insert((a - p->base) / kPage);
}

std::set<size_t> scan(DirtyTracker& t, char* base, size_t pages, int64_t* count = nullptr) {
  Pages p{reinterpret_cast<uintptr_t>(base), {}};
  int64_t n = t.scan(p.base, p.base + pages * kPage, collect, &p);
  EXPECT_GE(n, 0) << t.reason();
  EXPECT_EQ(static_cast<size_t>(n), p.set.size());
  if (count) *count = n;
  return p.set;
}

std::set<size_t> all_pages(size_t n) {
  std::set<size_t> s;
  for (size_t i = 0; i < n; i++) s.insert(i);
  return s;
}

char* map_rw(size_t pages) {
  void* p = mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

// init, or skip with the kernel's reason.
#define INIT_OR_SKIP(t)                                                               \
  do {                                                                                \
    if (!(t).init()) GTEST_SKIP() << "dirty-page tracking refused: " << (t).reason(); \
  } while (0)

}  // namespace

// A tracker per test, and the mappings the test tracks (unmapped at the end).
class Dirty : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!t.init()) GTEST_SKIP() << "dirty-page tracking refused: " << t.reason();
  }
  void TearDown() override {
    t.shutdown();
    for (auto& [p, n] : maps_) munmap(p, n * kPage);
  }
  // n fresh read-write pages, registered, and protected unless told not to.
  char* tracked(size_t n, bool protect = true) {
    char* m = map_rw(n);
    if (!m) return nullptr;
    maps_.emplace_back(m, n);
    uintptr_t lo = reinterpret_cast<uintptr_t>(m);
    if (!t.register_range(lo, n * kPage) || (protect && !t.protect_all())) {
      ADD_FAILURE() << t.reason();
      return nullptr;
    }
    return m;
  }
  DirtyTracker t;

 private:
  std::vector<std::pair<char*, size_t>> maps_;
};

TEST_F(Dirty, WrittenPagesReportedExactlyAndReprotected) {
  constexpr size_t n = 256;
  char* m = tracked(n, false);
  ASSERT_TRUE(m);
  // Never protected: every page counts as written, touched or not.
  m[3 * kPage] = 1;
  EXPECT_EQ(scan(t, m, n), all_pages(n));
  EXPECT_TRUE(scan(t, m, n).empty());
  // A pattern of writes (runs, single pages, the ends) and reads.
  std::set<size_t> want;
  for (size_t i = 0; i < n; i++) {
    if (i % 7 == 0 || (i >= 100 && i < 120) || i == n - 1) {
      m[i * kPage + i % kPage] = static_cast<char>(i);
      want.insert(i);
    } else {
      volatile char c = m[i * kPage];
      (void)c;
    }
  }
  EXPECT_EQ(scan(t, m, n), want);
  EXPECT_TRUE(scan(t, m, n).empty()) << "the scan re-protects what it reports";
  m[50 * kPage] = 2;
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{50});
  // protect_all starts an epoch without reporting.
  m[60 * kPage] = 3;
  ASSERT_TRUE(t.protect_all()) << t.reason();
  EXPECT_TRUE(scan(t, m, n).empty());
}

// Report-only scans leave pages written (and so unprotected: the program's
// next writes to them cost no fault); protect(lo, hi) protects a sub-range.
TEST_F(Dirty, ReportOnlyScanAndProtectOfASubrange) {
  constexpr size_t n = 64;
  char* m = tracked(n);
  ASSERT_TRUE(m);
  uintptr_t lo = reinterpret_cast<uintptr_t>(m);
  m[2 * kPage] = 1;
  m[40 * kPage] = 1;
  Pages p{lo, {}};
  EXPECT_EQ(t.scan(lo, lo + n * kPage, collect, &p, DirtyTracker::kReportOnly), 2);
  EXPECT_EQ(p.set, (std::set<size_t>{2, 40}));
  p.set.clear();
  EXPECT_EQ(t.scan(lo, lo + n * kPage, collect, &p, DirtyTracker::kReportOnly), 2) << "still written";
  ASSERT_TRUE(t.protect(lo + 32 * kPage, lo + n * kPage));  // only the upper half
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{2});
  m[40 * kPage] = 2;
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{40});
}

TEST_F(Dirty, PagesWrittenByOtherThreads) {
  constexpr size_t n = 512;
  constexpr int kThreads = 6;  // more threads than cores
  char* m = tracked(n);
  ASSERT_TRUE(m);
  std::vector<std::thread> ts;
  for (int k = 0; k < kThreads; k++)
    ts.emplace_back([m, k] {
      for (size_t i = k; i < n; i += 3 * kThreads) m[i * kPage + 8] = static_cast<char>(k + 1);
    });
  for (auto& th : ts) th.join();
  std::set<size_t> want;
  for (int k = 0; k < kThreads; k++)
    for (size_t i = k; i < n; i += 3 * kThreads) want.insert(i);
  EXPECT_EQ(scan(t, m, n), want);
}

// MADV_DONTNEED (the scavenger's decommit) cannot hide a write: the pages
// given back report as written once, and are tracked exactly afterwards.
TEST_F(Dirty, MadvDontneedPagesReportOnceThenTrackedAgain) {
  constexpr size_t n = 64;
  char* m = tracked(n);
  ASSERT_TRUE(m);
  memset(m, 1, n * kPage);
  ASSERT_TRUE(t.protect_all());
  m[10 * kPage] = 5;  // written, then given back before the scan
  ASSERT_EQ(madvise(m + 8 * kPage, 4 * kPage, MADV_DONTNEED), 0);
  EXPECT_EQ(scan(t, m, n), (std::set<size_t>{8, 9, 10, 11}));
  EXPECT_TRUE(scan(t, m, n).empty());
  EXPECT_EQ(m[10 * kPage], 0) << "MADV_DONTNEED'd pages read as zero";
  EXPECT_TRUE(scan(t, m, n).empty()) << "reading a zero page is no write";
  m[9 * kPage] = 7;
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{9});
  // An mprotect read-only / read-write cycle keeps the tracking.
  ASSERT_EQ(mprotect(m, n * kPage, PROT_READ), 0);
  ASSERT_EQ(mprotect(m, n * kPage, PROT_READ | PROT_WRITE), 0);
  EXPECT_TRUE(scan(t, m, n).empty());
  m[33 * kPage] = 1;
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{33});
}

// The heap reserves arenas PROT_NONE and commits them in pieces.
TEST_F(Dirty, ProtNoneReservationCommittedByMprotectStaysRegistered) {
  constexpr size_t n = 128;
  void* r = mmap(nullptr, n * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(r, MAP_FAILED);
  char* m = static_cast<char*>(r);
  ASSERT_TRUE(t.register_range(reinterpret_cast<uintptr_t>(m), n * kPage)) << t.reason();
  ASSERT_TRUE(t.protect_all()) << t.reason();
  ASSERT_EQ(mprotect(m + 32 * kPage, 32 * kPage, PROT_READ | PROT_WRITE), 0);
  m[40 * kPage] = 1;
  m[63 * kPage] = 1;
  EXPECT_EQ(scan(t, m, n), (std::set<size_t>{40, 63}));
  EXPECT_TRUE(t.tracking());
  munmap(m, n * kPage);
}

// LinuxMemOS::commit maps MAP_FIXED over the reservation: a new mapping,
// without the registration. A scan must not then report "nothing written":
// it fails and the tracker goes Off; registering the piece again mends it.
TEST(DirtyCommit, ByMmapFixedDropsRegistrationAndScanSaysSo) {
  constexpr size_t n = 128;
  void* r = mmap(nullptr, n * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(r, MAP_FAILED);
  char* m = static_cast<char*>(r);
  char* piece = m + 32 * kPage;
  {
    DirtyTracker t;
    INIT_OR_SKIP(t);
    ASSERT_TRUE(t.register_range(reinterpret_cast<uintptr_t>(m), n * kPage));
    ASSERT_TRUE(t.protect_all());
    ASSERT_EQ(mmap(piece, 16 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), piece);
    piece[0] = 1;
    Pages p{reinterpret_cast<uintptr_t>(m), {}};
    EXPECT_EQ(t.scan(p.base, p.base + n * kPage, collect, &p), -1);
    EXPECT_FALSE(t.tracking());
    EXPECT_STREQ(t.reason(), "PAGEMAP_SCAN: EPERM");
    EXPECT_EQ(t.scan(p.base, p.base + n * kPage, collect, &p), -1) << "Off stays Off";
    t.shutdown();  // closing the userfaultfd drops its registrations
  }
  DirtyTracker t;
  INIT_OR_SKIP(t);
  ASSERT_TRUE(t.register_range(reinterpret_cast<uintptr_t>(piece), 16 * kPage)) << t.reason();
  ASSERT_TRUE(t.protect_all());
  piece[5 * kPage] = 1;
  EXPECT_EQ(scan(t, piece, 16), std::set<size_t>{5});
  t.shutdown();
  munmap(m, n * kPage);
}

// More written runs than one ioctl's result buffer holds: the scan continues
// from the kernel's walk_end and loses none.
TEST_F(Dirty, HugeRangeScannedInPieces) {
  constexpr size_t n = 16384;  // 64 MiB
  char* m = tracked(n, false);
  ASSERT_TRUE(m);
  int64_t count = 0;
  EXPECT_EQ(scan(t, m, n, &count).size(), n);
  std::set<size_t> want;
  for (size_t i = 1; i < n; i += 2 + (i % 3)) {  // separate runs: >> kScanBatch regions
    m[i * kPage] = 1;
    want.insert(i);
  }
  ASSERT_GT(want.size(), 10 * DirtyTracker::kScanBatch);
  EXPECT_EQ(scan(t, m, n, &count), want);
  EXPECT_EQ(static_cast<size_t>(count), want.size());
  EXPECT_TRUE(scan(t, m, n).empty());
}

// A library's .data is a private file mapping: async write-protection takes it.
static char g_data[3 * kPage] __attribute__((aligned(kPage))) = {1};

TEST_F(Dirty, DataSegmentCanJoinTracking) {
  ASSERT_TRUE(t.register_range(reinterpret_cast<uintptr_t>(g_data), sizeof g_data)) << t.reason();
  ASSERT_TRUE(t.protect_all());
  g_data[kPage + 17] = 2;
  EXPECT_EQ(scan(t, g_data, 3), std::set<size_t>{1});
}

// The child inherits the descriptors, which still act on the parent's address
// space; fork_child drops them, and init starts the child's own tracking.
// The parent's written pages are not stolen by anything the child does.
TEST_F(Dirty, ForkChildIsNotTrackingUntilInit) {
  constexpr size_t n = 32;
  char* m = tracked(n);
  ASSERT_TRUE(m);
  m[4 * kPage] = 1;  // the parent's write, to be reported to the parent only
  pid_t pid = fork();
  if (pid == 0) {
    alarm(60);  // watchdog
    t.fork_child();
    if (t.tracking()) _exit(10);
    if (strncmp(t.reason(), "fork child", 10) != 0) _exit(11);
    if (t.scan(reinterpret_cast<uintptr_t>(m), reinterpret_cast<uintptr_t>(m) + n * kPage, collect, nullptr) != -1)
      _exit(12);
    if (!t.init()) _exit(13);
    if (!t.protect_all()) _exit(14);
    m[7 * kPage] = 1;
    Pages p{reinterpret_cast<uintptr_t>(m), {}};
    if (t.scan(p.base, p.base + n * kPage, collect, &p) != 1 || p.set != std::set<size_t>{7}) _exit(15);
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  pid_t w = 0;
  for (int i = 0; i < 6000 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++) usleep(10000);  // <= 60 s
  if (w == 0) kill(pid, SIGKILL), waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "child step failed (10 tracking, 11 reason, 12 scan, 13 init, 14 protect, 15 report)";
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{4});
}

TEST(DirtyOff, ForcedOffGivesCleanReason) {
  ASSERT_EQ(setenv("GOMEM_DIRTY", "off", 1), 0);
  DirtyTracker t;
  bool ok = t.init();
  unsetenv("GOMEM_DIRTY");
  EXPECT_FALSE(ok);
  EXPECT_FALSE(t.tracking());
  EXPECT_STREQ(t.reason(), "disabled by GOMEM_DIRTY=off");
  char page[64];
  EXPECT_FALSE(t.register_range(reinterpret_cast<uintptr_t>(page), kPage));
  EXPECT_EQ(t.scan(0, kPage, collect, nullptr), -1);
  EXPECT_FALSE(t.protect_all());
  EXPECT_STREQ(t.reason(), "disabled by GOMEM_DIRTY=off") << "the first reason stays";
}

TEST(DirtyOff, NotInitialisedIsOff) {
  DirtyTracker t;
  EXPECT_FALSE(t.tracking());
  EXPECT_STREQ(t.reason(), "not initialised");
  EXPECT_EQ(t.scan(0, kPage, collect, nullptr), -1);
}

// The kernel's own writes count: read() copying into a protected page (the
// generational collector's minor cycles rely on it: a pointer received from
// a pipe or a socket into an old object). With async write-protection the
// kernel resolves its own fault (UFFD_USER_MODE_ONLY does not make the copy
// fail with EFAULT) and the page reports written.
TEST_F(Dirty, KernelWritesByReadAreRecorded) {
  constexpr size_t n = 8;
  char* m = tracked(n);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(scan(t, m, n).empty());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const char msg[16] = "from the kernel";
  ASSERT_EQ(write(fds[1], msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  ASSERT_EQ(read(fds[0], m + 5 * kPage + 100, sizeof msg), static_cast<ssize_t>(sizeof msg)) << strerror(errno);
  EXPECT_EQ(memcmp(m + 5 * kPage + 100, msg, sizeof msg), 0);
  EXPECT_EQ(scan(t, m, n), std::set<size_t>{5});
  // A read spanning two pages marks both.
  ASSERT_EQ(write(fds[1], msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  ASSERT_EQ(read(fds[0], m + 3 * kPage - 8, sizeof msg), static_cast<ssize_t>(sizeof msg)) << strerror(errno);
  EXPECT_EQ(scan(t, m, n), (std::set<size_t>{2, 3}));
  close(fds[0]);
  close(fds[1]);
}
