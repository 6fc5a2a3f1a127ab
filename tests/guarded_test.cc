// Sampled guarded allocations (GOMEM_GUARDED_SAMPLE_RATE, heap/guarded.h):
// the knob is read when gomem initialises, so each case runs
// guarded_helper (tests/guarded_helper.cc) with it set, through a shell
// with a time bound, and checks the report and how the program ended.
// With the rate at 1 every manual allocation of 4 KiB or less that finds a
// free slot is guarded, so the helper's object is.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <regex>
#include <string>

#include "heap/guarded.h"

namespace {

struct Outcome {
  std::string out;  // standard output and error
  int status;       // the shell's exit status: 128 + the signal for a program killed by one
};

// The helper in `mode` with the environment `env`, bounded to 120 s.
Outcome run(const std::string& env, const std::string& mode) {
  std::string cmd = "ulimit -c 0; " + env + " timeout 120 " + GOMEM_TEST_GUARDED_HELPER + " " + mode + " 2>&1";
  Outcome r{"", -1};
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  int st = pclose(f);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

Outcome guarded(const std::string& mode, int rate = 1) {
  return run("GOMEM_GUARDED_SAMPLE_RATE=" + std::to_string(rate), mode);
}

bool has(const std::string& out, const std::string& re) { return std::regex_search(out, std::regex(re)); }

const char* kHex = "0x[0-9a-f]+";

TEST(Guarded, OffByOneWriteIsReportedAtFree) {
  Outcome r = guarded("write_into_slack");
  EXPECT_EQ(r.status, 128 + SIGABRT) << r.out;
  EXPECT_TRUE(has(r.out, std::string("gomem: heap-buffer-overflow of ") + kHex + " found at its free: the byte at " +
                             kHex + ", 0 bytes after the freed 13-byte object " + kHex +
                             ", was written \\(alignment slack after it\\)"))
      << r.out;
  EXPECT_TRUE(has(r.out, "allocated by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*guarded_site_alloc")) << r.out;
  EXPECT_TRUE(has(r.out, "freed by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*guarded_site_free")) << r.out;
}

TEST(Guarded, WritePastTheSlackFaultsAtOnce) {
  Outcome r = guarded("write_past_end");
  EXPECT_EQ(r.status, 128 + SIGSEGV) << r.out;
  EXPECT_TRUE(has(r.out, std::string("gomem: heap-buffer-overflow: access at ") + kHex +
                             ", 3 bytes after the 13-byte object " + kHex + " \\(offset 16\\)"))
      << r.out;
  EXPECT_TRUE(has(r.out, "allocated by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*guarded_site_alloc")) << r.out;
}

TEST(Guarded, OperatorNewOverflowFaults) {
  Outcome r = guarded("new_past_end");
  EXPECT_EQ(r.status, 128 + SIGSEGV) << r.out;
  EXPECT_TRUE(has(r.out, "gomem: heap-buffer-overflow: access at 0x[0-9a-f]+, 0 bytes after the 32-byte object"))
      << r.out;
  EXPECT_TRUE(has(r.out, "guarded_site_new")) << r.out;
}

TEST(Guarded, WriteBeforeTheObjectIsReportedAtFree) {
  Outcome r = guarded("write_before");
  EXPECT_EQ(r.status, 128 + SIGABRT) << r.out;
  EXPECT_TRUE(has(r.out,
                  "gomem: heap-buffer-overflow of 0x[0-9a-f]+ found at its free: the byte at 0x[0-9a-f]+, "
                  "1 bytes before the freed 13-byte object 0x[0-9a-f]+, was written \\(unused bytes before it\\)"))
      << r.out;
}

TEST(Guarded, ReadAfterFreeFaultsWithBothStacks) {
  Outcome r = guarded("read_after_free");
  EXPECT_EQ(r.status, 128 + SIGSEGV) << r.out;
  EXPECT_TRUE(has(r.out, std::string("gomem: use-after-free: access at ") + kHex +
                             ", offset 4 in the freed 13-byte object " + kHex + "\n"))
      << r.out;
  EXPECT_TRUE(has(r.out, "allocated by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*guarded_site_alloc")) << r.out;
  EXPECT_TRUE(has(r.out, "freed by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*guarded_site_free")) << r.out;
}

TEST(Guarded, DoubleFreeIsReported) {
  Outcome r = guarded("double_free");
  EXPECT_EQ(r.status, 128 + SIGABRT) << r.out;
  EXPECT_TRUE(has(r.out, "gomem: double free of 0x[0-9a-f]+ \\(a guarded 13-byte object, already freed\\)")) << r.out;
  EXPECT_TRUE(has(r.out, "freed again by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*guarded_site_free")) << r.out;
}

TEST(Guarded, ReallocCallocAlignedAndUsableSize) {
  Outcome r = guarded("api");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("usable 13\nrealloc hello, world usable 100\ncalloc nonzero 0\naligned 1\ncheck 0\n"),
            std::string::npos)
      << r.out;
}

// One allocation in N, per size class and P: 100,000 mallocs at N = 100
// should give ~1,000 (the bound is generous: the draws are uniform on
// [1, 199], so the standard deviation is ~18).
TEST(Guarded, SamplingRateIsRoughlyRight) {
  Outcome r = guarded("count 100000", 100);
  EXPECT_EQ(r.status, 0) << r.out;
  int in = 0, n = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "sampled %d of %d", &in, &n), 2) << r.out;
  EXPECT_GT(in, 700);
  EXPECT_LT(in, 1400);
}

TEST(Guarded, ManyThreadsRunClean) {
  for (int rate : {1, 7}) {
    Outcome r = guarded("threads", rate);
    EXPECT_EQ(r.status, 0) << r.out;
    long sampled = -1;
    long bad = -1;
    int check = 0;
    ASSERT_EQ(sscanf(r.out.c_str(), "threads sampled %ld bad %ld check %d", &sampled, &bad, &check), 3) << r.out;
    EXPECT_GT(sampled, 100) << "rate " << rate;
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(check, 1);
  }
}

TEST(Guarded, UnsampledProgramIsUnchanged) {
  Outcome r = run("", "unsampled");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "pool 0 rate 0 handler 0 usable 16\n");
  Outcome zero = run("GOMEM_GUARDED_SAMPLE_RATE=0", "unsampled");
  EXPECT_EQ(zero.out, "pool 0 rate 0 handler 0 usable 16\n");
  // This process was started without the knob: no pool.
  EXPECT_EQ(gomem::guarded::g_bytes, 0u);
}

TEST(Guarded, MalformedRateStops) {
  Outcome r = guarded("unsampled", -1);
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "gomem: GOMEM_GUARDED_SAMPLE_RATE=-1: invalid")) << r.out;
}

}  // namespace
