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

// Runs the helper's `mode` at rate 1 and checks that it died by `sig`, that
// its report matches `line`, and that each of `stacks` ({"allocated",
// function}, {"freed", ...}, {"freed again", ...}) starts at that function
// of the helper (gomem's own frames are left out of a stack).
void expect_report(const std::string& mode, int sig, const std::string& line,
                   std::initializer_list<std::pair<const char*, const char*>> stacks) {
  Outcome r = guarded(mode);
  EXPECT_EQ(r.status, 128 + sig) << r.out;
  EXPECT_TRUE(has(r.out, line)) << r.out;
  for (auto& [what, fn] : stacks)
    EXPECT_TRUE(has(r.out, std::string(what) + " by thread [0-9]+:\n +#0 0x[0-9a-f]+ [^\n]*" + fn)) << what << "\n"
                                                                                                    << r.out;
}

const std::string kHex = "0x[0-9a-f]+";

TEST(Guarded, OffByOneWriteIsReportedAtFree) {
  expect_report("write_into_slack", SIGABRT,
                "gomem: heap-buffer-overflow of " + kHex + " found at its free: the byte at " + kHex +
                    ", 0 bytes after the freed 13-byte object " + kHex + ", was written \\(alignment slack after it\\)",
                {{"allocated", "guarded_site_alloc"}, {"freed", "guarded_site_free"}});
}

TEST(Guarded, WritePastTheSlackFaultsAtOnce) {
  expect_report("write_past_end", SIGSEGV,
                "gomem: heap-buffer-overflow: access at " + kHex + ", 3 bytes after the 13-byte object " + kHex +
                    " \\(offset 16\\)",
                {{"allocated", "guarded_site_alloc"}});
}

TEST(Guarded, OperatorNewOverflowFaults) {
  expect_report("new_past_end", SIGSEGV,
                "gomem: heap-buffer-overflow: access at " + kHex + ", 0 bytes after the 32-byte object",
                {{"allocated", "guarded_site_new"}});
}

TEST(Guarded, WriteBeforeTheObjectIsReportedAtFree) {
  expect_report("write_before", SIGABRT,
                "gomem: heap-buffer-overflow of " + kHex + " found at its free: the byte at " + kHex +
                    ", 1 bytes before the freed 13-byte object " + kHex + ", was written \\(unused bytes before it\\)",
                {{"allocated", "guarded_site_alloc"}, {"freed", "guarded_site_free"}});
}

TEST(Guarded, ReadAfterFreeFaultsWithBothStacks) {
  expect_report("read_after_free", SIGSEGV,
                "gomem: use-after-free: access at " + kHex + ", offset 4 in the freed 13-byte object " + kHex + "\n",
                {{"allocated", "guarded_site_alloc"}, {"freed", "guarded_site_free"}});
}

TEST(Guarded, DoubleFreeIsReported) {
  expect_report(
      "double_free", SIGABRT, "gomem: double free of " + kHex + " \\(a guarded 13-byte object, already freed\\)",
      {{"allocated", "guarded_site_alloc"}, {"freed", "guarded_site_free"}, {"freed again", "guarded_site_free"}});
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
  // (The hardened build installs the fault handler for its large objects'
  // guard pages whatever the rate: docs/security.md.)
  const char* want = GOMEM_HARDENED ? "pool 0 rate 0 handler 1 usable 16\n" : "pool 0 rate 0 handler 0 usable 16\n";
  Outcome r = run("", "unsampled");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, want);
  Outcome zero = run("GOMEM_GUARDED_SAMPLE_RATE=0", "unsampled");
  EXPECT_EQ(zero.out, want);
  // This process was started without the knob: no pool.
  EXPECT_EQ(gomem::guarded::g_bytes, 0u);
}

TEST(Guarded, MalformedRateStops) {
  Outcome r = guarded("unsampled", -1);
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "gomem: GOMEM_GUARDED_SAMPLE_RATE=-1: invalid")) << r.out;
}

}  // namespace
