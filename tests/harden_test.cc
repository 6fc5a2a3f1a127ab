// Bad input that gets an answer rather than a stop: the environment
// parser's verdicts (platform/env.h), memalign and its kin against glibc
// 2.36's table, and a root range unmapped behind the collector's back
// (trimmed with one warning instead of a fault with the world stopped).
#include <gnu/libc-version.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "gc_test_util.h"
#include "gomem/gomem.h"
#include "platform/env.h"
#include "test_util.h"

using namespace gomem_test;
using gomem::os::EnvSettings;
using gomem::os::parse_env;

// ---------------------------------------------------------------------------
// The environment parser.

TEST(Env, GomemlimitFollowsGosParseByteCount) {
  struct Case {
    const char* v;
    int64_t want;  // -1: rejected
  } cases[] = {
      {"off", INT64_MAX},
      {"0", 0},
      {"1", 1},
      {"123B", 123},
      {"4KiB", 4096},
      {"256MiB", int64_t{256} << 20},
      {"3GiB", int64_t{3} << 30},
      {"8388607TiB", int64_t{8388607} << 40},
      {"9223372036854775807", INT64_MAX},
      {"9223372036854775807B", INT64_MAX},
      {"8388608TiB", -1},   // 2^63
      {"16777216TiB", -1},  // 2^64: wrapped to 0 before
      {"9223372036854775808", -1},
      {"18446744073709551616", -1},
      {"99999999999999999999999KiB", -1},
      {"-1", -1},
      {"-0", 0},  // Go's atoi64 takes it
      {"+1", -1},
      {"1 MiB", -1},
      {"1MB", -1},
      {"1KB", -1},
      {"1kiB", -1},
      {"1PiB", -1},
      {"B", -1},
      {"iB", -1},
      {"KiB", -1},
      {"MiB1", -1},
      {"0x10", -1},
      {"Off", -1},
  };
  for (const Case& c : cases) {
    EnvSettings s;
    const char* why = parse_env("GOMEMLIMIT", c.v, &s);
    if (c.want < 0) {
      EXPECT_NE(why, nullptr) << c.v;
      EXPECT_EQ(s.memory_limit, INT64_MAX) << c.v << ": the default must stay";
    } else {
      EXPECT_EQ(why, nullptr) << c.v;
      EXPECT_EQ(s.memory_limit, c.want) << c.v;
    }
  }
}

TEST(Env, GogcTakesOffAnInt32OrANegativeForOff) {
  struct Case {
    const char* v;
    bool ok;
    int want;
  } cases[] = {
      {"off", true, -1},
      {"100", true, 100},
      {"0", true, 0},
      {"-5", true, -1},
      {"2147483647", true, INT32_MAX},
      {"2147483648", false, 100},
      {"-2147483649", false, 100},
      {"abc", false, 100},
      {"10%", false, 100},
      {" 10", false, 100},
      {"OFF", false, 100},
  };
  for (const Case& c : cases) {
    EnvSettings s;
    EXPECT_EQ(parse_env("GOGC", c.v, &s) == nullptr, c.ok) << c.v;
    EXPECT_EQ(s.gc_percent, c.want) << c.v;
  }
}

TEST(Env, SuspendSignalMustBeCatchableAndNoFault) {
  for (int sig : {SIGUSR1, SIGUSR2, SIGPWR, SIGXCPU, SIGRTMIN, SIGRTMAX}) {
    EnvSettings s;
    EXPECT_EQ(parse_env("GOMEM_SIG_SUSPEND", std::to_string(sig).c_str(), &s), nullptr) << sig;
    EXPECT_EQ(s.sig_suspend, sig);
  }
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT, SIGKILL, SIGSTOP, 0, -1, 32, 33,
                  SIGRTMAX + 1, 100000}) {
    EnvSettings s;
    EXPECT_NE(parse_env("GOMEM_SIG_SUSPEND", std::to_string(sig).c_str(), &s), nullptr) << sig;
    EXPECT_EQ(s.sig_suspend, 0) << sig;
  }
}

TEST(Env, GodebugChecksOnlyItsOwnKeysAndTheLastOneWins) {
  struct Case {
    const char* v;
    bool ok;
    bool gctrace;
  } cases[] = {
      {"gctrace=1", true, true},
      {"gctrace=2", true, true},
      {"gctrace=0", true, false},
      {"scavtrace=1", true, true},
      {"xgctrace=1", true, false},
      {"madvdontneed=1,http2client=0", true, false},
      {"gctrace=1,gctrace=0", true, false},
      {"gctrace=0,scavtrace=1", true, true},
      {"asyncpreemptoff=abc,gctrace=1", true, true},  // Go's keys are Go's
      {",,gctrace=1,", true, true},
      {"gctrace", true, false},
      {"gctrace=", false, false},
      {"gctrace=yes", false, false},
      {"scavtrace=1x", false, false},
  };
  for (const Case& c : cases) {
    EnvSettings s;
    EXPECT_EQ(parse_env("GODEBUG", c.v, &s) == nullptr, c.ok) << c.v;
    EXPECT_EQ(s.gctrace, c.gctrace) << c.v;
  }
}

TEST(Env, SmallKnobsTakeTheirRangesOnly) {
  EnvSettings s;
  EXPECT_EQ(parse_env("GOMEM_GC_MARKERS", "4", &s), nullptr);
  EXPECT_EQ(s.markers, 4);
  EXPECT_NE(parse_env("GOMEM_GC_MARKERS", "-1", &s), nullptr);
  EXPECT_NE(parse_env("GOMEM_GC_MARKERS", "1025", &s), nullptr);
  EXPECT_EQ(parse_env("GOMEM_STW_TIMEOUT_MS", "250", &s), nullptr);
  EXPECT_EQ(s.stw_timeout_ms, 250);
  EXPECT_NE(parse_env("GOMEM_STW_TIMEOUT_MS", "-3", &s), nullptr);
  EXPECT_EQ(s.stw_timeout_ms, 250);
  EXPECT_EQ(parse_env("GOMEM_SCAVENGER", "0", &s), nullptr);
  EXPECT_FALSE(s.scavenger);
  EXPECT_NE(parse_env("GOMEM_SCAVENGER", "off", &s), nullptr);
  EXPECT_EQ(parse_env("GOMEM_MADV", "free", &s), nullptr);
  EXPECT_TRUE(s.madv_free);
  EXPECT_EQ(parse_env("GOMEM_MADV", "dontneed", &s), nullptr);
  EXPECT_FALSE(s.madv_free);
  EXPECT_EQ(parse_env("GOMEM_STATS", "1", &s), nullptr);
  EXPECT_TRUE(s.print_stats);
  EXPECT_EQ(s.stats_file, nullptr);
  EXPECT_EQ(parse_env("GOMEM_STATS", "./st.txt", &s), nullptr);  // a file: it has a '/'
  EXPECT_STREQ(s.stats_file, "./st.txt");
  EXPECT_NE(parse_env("GOMEM_STATS", "st.txt", &s), nullptr);  // a mistyped choice, not a file
  EXPECT_STREQ(s.stats_file, "./st.txt");                      // refused: unchanged
  EXPECT_EQ(parse_env("GOMEM_STATS", "0", &s), nullptr);
  EXPECT_FALSE(s.print_stats);
  EXPECT_EQ(s.stats_file, nullptr);
  EXPECT_EQ(parse_env("GOMEM_GC_INTERIOR", "exact", &s), nullptr);
  EXPECT_TRUE(s.interior_exact);
  EXPECT_NE(parse_env("GOMEM_GC_INTERIOR", "EXACT", &s), nullptr);
  EXPECT_EQ(parse_env("GOMEM_DIRTY", "off", &s), nullptr);
  EXPECT_FALSE(s.dirty_tracking);
  EXPECT_NE(parse_env("GOMEM_DIRTY", "0", &s), nullptr);
  EXPECT_FALSE(s.generational);
  EXPECT_EQ(parse_env("GOMEM_GC", "generational", &s), nullptr);
  EXPECT_TRUE(s.generational);
  EXPECT_EQ(parse_env("GOMEM_GC", "stw", &s), nullptr);
  EXPECT_FALSE(s.generational);
  EXPECT_EQ(parse_env("GOMEM_GC", "concurrent", &s), nullptr);
  EXPECT_TRUE(s.concurrent);
  EXPECT_FALSE(s.generational);
  EXPECT_NE(parse_env("GOMEM_GC", "gen", &s), nullptr);
  EXPECT_EQ(parse_env("GOMEM_GC_TRACE_ROOT", "0xc000012340", &s), nullptr);
  EXPECT_EQ(s.trace_root, 0xc000012340u);
  EXPECT_EQ(parse_env("GOMEM_GC_TRACE_ROOT", "C0000AB", &s), nullptr);
  EXPECT_EQ(s.trace_root, 0xc0000abu);
  EXPECT_NE(parse_env("GOMEM_GC_TRACE_ROOT", "0x", &s), nullptr);
  EXPECT_NE(parse_env("GOMEM_GC_TRACE_ROOT", "0", &s), nullptr);
  EXPECT_NE(parse_env("GOMEM_GC_TRACE_ROOT", "12345678901234567", &s), nullptr);  // 17 digits
  EXPECT_NE(parse_env("GOMEM_GC_TRACE_ROOT", "0xc0g0", &s), nullptr);
  EXPECT_EQ(parse_env("GOMEM_SHARED_PS", "0", &s), nullptr);
  EXPECT_EQ(s.shared_ps, 0);
  EXPECT_EQ(parse_env("GOMEM_SHARED_PS", "200", &s), nullptr);
  EXPECT_EQ(s.shared_ps, 200);
  EXPECT_NE(parse_env("GOMEM_SHARED_PS", "1001", &s), nullptr);
  EXPECT_NE(parse_env("GOMEM_SHARED_PS", "off", &s), nullptr);
  EXPECT_EQ(s.shared_ps, 200);
  EXPECT_EQ(parse_env("GOMEM_PROFILE_RATE", "524288", &s), nullptr);
  EXPECT_EQ(s.profile_rate, 524288);
  EXPECT_EQ(parse_env("GOMEM_PROFILE_RATE", "0", &s), nullptr);
  EXPECT_EQ(s.profile_rate, 0);
  EXPECT_NE(parse_env("GOMEM_PROFILE_RATE", "-1", &s), nullptr);
  EXPECT_NE(parse_env("GOMEM_PROFILE_RATE", "512KiB", &s), nullptr);
  EXPECT_NE(parse_env("GOMEM_PROFILE_RATE", "1099511627777", &s), nullptr);  // 2^40 + 1
  EXPECT_EQ(parse_env("GOMEM_HEAP_PROFILE", "/tmp/heap.pb.gz", &s), nullptr);
  EXPECT_STREQ(s.heap_profile, "/tmp/heap.pb.gz");
  EXPECT_EQ(parse_env("GOMEM_HEAP_PROFILE_EVERY_MB", "64", &s), nullptr);
  EXPECT_EQ(s.heap_profile_every_mb, 64);
  EXPECT_NE(parse_env("GOMEM_HEAP_PROFILE_EVERY_MB", "64MB", &s), nullptr);
  // Empty means unset; an unknown name is not gomem's.
  EnvSettings d;
  EXPECT_EQ(parse_env("GOMEMLIMIT", "", &d), nullptr);
  EXPECT_EQ(parse_env("GOMEM_NOT_A_KNOB", "???", &d), nullptr);
  EXPECT_EQ(d.memory_limit, INT64_MAX);
}

// ---------------------------------------------------------------------------
// memalign, aligned_alloc, posix_memalign: glibc 2.36's answers, observed
// on Debian 12 (glibc 2.36-9) with a program that printed them. memalign
// and aligned_alloc agree there (2.38 made aligned_alloc reject alignments
// that are not powers of two).

namespace {

constexpr size_t kHalf = SIZE_MAX / 2 + 1;  // 2^63

struct AlignCase {
  size_t align;
  int memalign_errno;  // 0: succeeds, aligned to align rounded up to a power of two
  int posix_result;    // posix_memalign's return value
};

const AlignCase kAlignTable[] = {
    {0, 0, EINVAL},
    {1, 0, EINVAL},
    {2, 0, EINVAL},
    {3, 0, EINVAL},
    {4, 0, EINVAL},
    {8, 0, 0},
    {12, 0, EINVAL},
    {16, 0, 0},
    {24, 0, EINVAL},
    {32, 0, 0},
    {48, 0, EINVAL},
    {64, 0, 0},
    {100, 0, EINVAL},
    {4096, 0, 0},
    {4097, 0, EINVAL},
    {8200, 0, EINVAL},
    {1u << 20, 0, 0},
    {(1u << 20) + 8, 0, EINVAL},
    {size_t{1} << 45, ENOMEM, ENOMEM},
    {(size_t{1} << 62) + 1, ENOMEM, EINVAL},
    {kHalf, ENOMEM, ENOMEM},
    {kHalf + 1, EINVAL, EINVAL},
    {SIZE_MAX, EINVAL, EINVAL},
};

// The alignment a successful call promises: glibc's malloc alignment up
// to 16, else the next power of two.
size_t promised(size_t align, size_t size) {
  if (align <= 16) return size >= 16 ? 16 : 8;
  size_t a = 32;
  while (a < align) a <<= 1;
  return a;
}

using AlignFn = void* (*)(size_t, size_t);

void check_align_table(const char* what, AlignFn fn, void (*release_fn)(void*)) {
  for (const AlignCase& c : kAlignTable) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{5000}}) {
      errno = 0;
      void* p = fn(c.align, size);
      if (c.memalign_errno) {
        EXPECT_EQ(p, nullptr) << what << "(" << c.align << ", " << size << ")";
        EXPECT_EQ(errno, c.memalign_errno) << what << "(" << c.align << ", " << size << ")";
        continue;
      }
      ASSERT_NE(p, nullptr) << what << "(" << c.align << ", " << size << ") errno " << errno;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % promised(c.align, size), 0u)
          << what << "(" << c.align << ", " << size << ") = " << p;
      memset(p, 0xab, size);
      release_fn(p);
    }
    errno = 0;
    void* p = fn(c.align, SIZE_MAX - 100);  // too large whatever the alignment
    EXPECT_EQ(p, nullptr) << what << "(" << c.align << ", huge)";
  }
}

}  // namespace

TEST(Align, GomemAlignedAllocFollowsGlibc236) {
  check_align_table("gomem_aligned_alloc", gomem_aligned_alloc, gomem_free);
}

#ifndef GOMEM_SANITIZED
TEST(Align, DropInMemalignAndAlignedAllocFollowGlibc236) {
  check_align_table(
      "memalign", [](size_t a, size_t n) { return memalign(a, n); }, free);
  check_align_table(
      "aligned_alloc", [](size_t a, size_t n) { return aligned_alloc(a, n); }, free);
}

TEST(Align, DropInPosixMemalignFollowsGlibc236) {
  for (const AlignCase& c : kAlignTable) {
    void* p = reinterpret_cast<void*>(1);
    errno = 12345;
    int r = posix_memalign(&p, c.align, 100);
    EXPECT_EQ(r, c.posix_result) << "posix_memalign(" << c.align << ", 100)";
    EXPECT_EQ(errno, 12345) << "posix_memalign reports through its result, not errno";
    if (r == 0) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % c.align, 0u);
      free(p);
    } else {
      EXPECT_EQ(p, reinterpret_cast<void*>(1)) << "posix_memalign must not touch *out on failure";
    }
  }
}
#endif

// ---------------------------------------------------------------------------
// A root range unmapped or protected without gomem_remove_roots (the
// collector does not run under the sanitizers).

#ifndef GOMEM_SANITIZED
namespace {

constexpr size_t kPage = 4096;

// Counts the lines of fd's text that contain `needle`, and copies the text
// to standard error (for the death test's regex).
int count_and_echo(int fd, const char* needle) {
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) n = 0;
  buf[n] = 0;
  if (write(2, buf, static_cast<size_t>(n)) < 0) return -1;
  int count = 0;
  for (const char* p = buf; (p = strstr(p, needle)); p++) count++;
  return count;
}

// In the child: three pages registered as roots, each holding a collected
// object; the middle page is made unreadable; two collections. Exits 0 if the
// collections warned exactly once and kept both other objects intact.
GOMEM_NOINLINE_TEST void unmapped_root_child() {
  auto* area =
      static_cast<uintptr_t*>(mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (area == MAP_FAILED) _exit(2);
  gomem_add_roots(area, area + 3 * kPage / sizeof(uintptr_t));
  uintptr_t* slot[3];
  for (int i = 0; i < 3; i++) {
    slot[i] = area + i * kPage / sizeof(uintptr_t) + 5;
    *slot[i] = make_masked(256, 40 + i) ^ kMask;
  }
  // Protected rather than unmapped: the collector's own mappings would fill
  // a hole of one page before the snapshot looks at it.
  mprotect(area + kPage / sizeof(uintptr_t), kPage, PROT_NONE);
  int fds[2];
  if (pipe(fds) != 0) _exit(2);
  int saved = dup(2);
  dup2(fds[1], 2);
  for (int i = 0; i < 2; i++) {
    collect_clean();
    churn(256, 20000);
  }
  dup2(saved, 2);
  close(fds[1]);
  int warnings = count_and_echo(fds[0], "is no longer mapped readable");
  bool kept = check(reinterpret_cast<void*>(*slot[0]), 256, 40) && check(reinterpret_cast<void*>(*slot[2]), 256, 42);
  _exit(warnings == 1 && kept ? 0 : 3);
}

}  // namespace

GC_TEST(Roots, RangeMadeUnreadableLaterIsTrimmedWithOneWarning) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(unmapped_root_child(), ::testing::ExitedWithCode(0),
              "gomem: warning: root range \\[0x[0-9a-f]+, 0x[0-9a-f]+\\) is no longer mapped readable from "
              "0x[0-9a-f]+000: its unreadable pages are dropped");
}
#endif
