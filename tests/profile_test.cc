// Heap profiles (heap/profile.h, runtime/pprof.cc): the sampling is
// statistically right per allocation site, frees and sweeps charge samples
// back, and the file is a gzipped profile.proto that a decoder written here
// (and `go tool pprof`, when installed) reads back.
//
// Built with frame pointers (tests/CMakeLists.txt): the allocating
// functions below must appear in the sampled stacks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gc_test_util.h"
#include "gomem/gomem.h"
#include "heap/heap.h"

using gomem_test::kMask;

namespace {

// ---------------------------------------------------------------------------
// A decoder for what the writer produces: gzip with stored blocks, then the
// protobuf messages the heap profile uses.

uint32_t crc32(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

// The payload of a gzip stream of stored blocks; "" (and a test failure) if
// the stream is not one.
std::string gunzip_stored(const std::string& z) {
  EXPECT_GE(z.size(), 18u);
  if (z.size() < 18 || (uint8_t)z[0] != 0x1f || (uint8_t)z[1] != 0x8b || z[2] != 8 || z[3] != 0) {
    ADD_FAILURE() << "not a gzip header";
    return "";
  }
  size_t i = 10;
  std::string out;
  for (bool final = false; !final;) {
    uint8_t h = z[i++];
    final = h & 1;
    EXPECT_EQ((h >> 1) & 3, 0) << "not a stored block";
    size_t len = (uint8_t)z[i] | (uint8_t)z[i + 1] << 8, nlen = (uint8_t)z[i + 2] | (uint8_t)z[i + 3] << 8;
    EXPECT_EQ(len ^ 0xffff, nlen);
    i += 4;
    out.append(z, i, len);
    i += len;
  }
  uint32_t crc = (uint8_t)z[i] | (uint8_t)z[i + 1] << 8 | (uint8_t)z[i + 2] << 16 | (uint32_t)(uint8_t)z[i + 3] << 24;
  uint32_t isize =
      (uint8_t)z[i + 4] | (uint8_t)z[i + 5] << 8 | (uint8_t)z[i + 6] << 16 | (uint32_t)(uint8_t)z[i + 7] << 24;
  EXPECT_EQ(crc, crc32(out));
  EXPECT_EQ(isize, (uint32_t)out.size());
  EXPECT_EQ(i + 8, z.size());
  return out;
}

struct Field {
  int num;
  uint64_t v;     // varint
  std::string b;  // length-delimited
};

std::vector<Field> fields(const std::string& m) {
  std::vector<Field> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int s = 0; i < m.size(); s += 7) {
      uint8_t c = m[i++];
      v |= uint64_t(c & 0x7f) << s;
      if (!(c & 0x80)) break;
    }
    return v;
  };
  while (i < m.size()) {
    uint64_t key = varint();
    Field f{int(key >> 3), 0, ""};
    if ((key & 7) == 0) {
      f.v = varint();
    } else if ((key & 7) == 2) {
      uint64_t n = varint();
      f.b = m.substr(i, n);
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << (key & 7);
      return out;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<uint64_t> packed(const std::string& b) {
  std::vector<uint64_t> v;
  size_t i = 0;
  while (i < b.size()) {
    uint64_t x = 0;
    for (int s = 0; i < b.size(); s += 7) {
      uint8_t c = b[i++];
      x |= uint64_t(c & 0x7f) << s;
      if (!(c & 0x80)) break;
    }
    v.push_back(x);
  }
  return v;
}

struct Sample {
  std::vector<std::string> funcs;  // innermost first
  int64_t v[4];                    // alloc_objects, alloc_space, inuse_objects, inuse_space
  std::string kind;
};

struct Profile {
  std::vector<std::string> types;
  std::vector<Sample> samples;
  uint64_t period = 0;

  // Sum of value k over the samples whose innermost frame is fn (and kind).
  int64_t flat(const std::string& fn, int k, const std::string& kind) const {
    int64_t s = 0;
    for (const Sample& x : samples)
      if (!x.funcs.empty() && x.funcs[0] == fn && x.kind == kind) s += x.v[k];
    return s;
  }
};

Profile decode(const std::string& gz) {
  std::string raw = gunzip_stored(gz);
  std::vector<std::string> strs;
  std::map<uint64_t, std::string> fname;  // function id -> name
  std::map<uint64_t, uint64_t> loc_func;  // location id -> function id
  std::vector<std::string> sample_msgs, type_msgs;
  for (const Field& f : fields(raw)) {
    if (f.num == 6) strs.push_back(f.b);
    if (f.num == 2) sample_msgs.push_back(f.b);
    if (f.num == 1) type_msgs.push_back(f.b);
    if (f.num == 5) {
      uint64_t id = 0, name = 0;
      for (const Field& g : fields(f.b)) {
        if (g.num == 1) id = g.v;
        if (g.num == 2) name = g.v;
      }
      fname[id] = std::to_string(name);
    }
    if (f.num == 4) {
      uint64_t id = 0, fn = 0;
      for (const Field& g : fields(f.b)) {
        if (g.num == 1) id = g.v;
        if (g.num == 4)
          for (const Field& h : fields(g.b))
            if (h.num == 1) fn = h.v;
      }
      loc_func[id] = fn;
    }
  }
  Profile p;
  EXPECT_FALSE(strs.empty());
  EXPECT_EQ(strs[0], "");
  for (const Field& f : fields(raw))
    if (f.num == 12) p.period = f.v;
  for (const std::string& t : type_msgs)
    for (const Field& g : fields(t))
      if (g.num == 1) p.types.push_back(strs.at(g.v));
  for (const std::string& m : sample_msgs) {
    Sample s{};
    for (const Field& g : fields(m)) {
      if (g.num == 1)
        for (uint64_t loc : packed(g.b)) {
          uint64_t fn = loc_func[loc];
          s.funcs.push_back(fn ? strs.at(std::stoull(fname[fn])) : "?");
        }
      if (g.num == 2) {
        std::vector<uint64_t> v = packed(g.b);
        EXPECT_EQ(v.size(), 4u);
        for (size_t k = 0; k < 4 && k < v.size(); k++) s.v[k] = int64_t(v[k]);
      }
      if (g.num == 3) {
        std::string key, val;
        for (const Field& h : fields(g.b)) {
          if (h.num == 1) key = strs.at(h.v);
          if (h.num == 2) val = strs.at(h.v);
        }
        if (key == "kind") s.kind = val;
      }
    }
    p.samples.push_back(s);
  }
  return p;
}

std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) s.append(buf, size_t(n));
  return s;
}

// Writes the profile to a temporary file: its path.
std::string write_to_file() {
  char path[] = "/tmp/gomem_profile_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(gomem_write_heap_profile(fd), 0);
  close(fd);
  return path;
}

Profile write_and_decode() {
  std::string path = write_to_file();
  int fd = open(path.c_str(), O_RDONLY);
  std::string gz = read_all(fd);
  close(fd);
  unlink(path.c_str());
  return decode(gz);
}

// The bound on the scaled estimate of n objects of `size` bytes at `rate`:
// each is sampled with p = 1 - e^(-size/rate) and counts size/p, so the
// estimate's standard deviation is size * sqrt(n (1 - p) / p). Six of them:
// a false failure once in ~10^9 runs.
double bound(double n, double size, double rate) {
  double p = 1 - std::exp(-size / rate);
  return 6 * size * std::sqrt(n * (1 - p) / p);
}

constexpr uint64_t kRate = 4096;
constexpr size_t kNA = 100000, kSizeA = 64;  // 6.4 MB from prof_alloc_a
constexpr size_t kNB = 40000, kSizeB = 256;  // 10.2 MB from prof_alloc_b

}  // namespace

extern "C" __attribute__((noinline)) void prof_alloc_a(uintptr_t* out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = reinterpret_cast<uintptr_t>(malloc(kSizeA));
  __asm__ __volatile__("" ::: "memory");
}

extern "C" __attribute__((noinline)) void prof_alloc_b(uintptr_t* out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = reinterpret_cast<uintptr_t>(malloc(kSizeB));
  __asm__ __volatile__("" ::: "memory");
}

extern "C" __attribute__((noinline)) void prof_gc_alloc(uintptr_t* out, size_t n) {
  // 63 bytes and the past-end mode's byte of padding: 64-byte objects.
  for (size_t i = 0; i < n; i++) out[i] = reinterpret_cast<uintptr_t>(gomem_gc_alloc(kSizeA - 1));
  __asm__ __volatile__("" ::: "memory");
}

namespace gomem::prof {
double log_e(double x);
double exp_e(double x);
int walk_frames(uintptr_t fp, uintptr_t sp, uintptr_t* pcs, int max);
}  // namespace gomem::prof

// The library's own ln and exp (it links no libm), which the draws and the
// scaling use, agree with libm's.
TEST(Profile, LogAndExpMatchLibm) {
  for (double x : {1e-16, 1e-9, 0.001, 0.3, 0.7071, 1.0, 1.5, 2.0, 10.0, 12345.678}) {
    EXPECT_NEAR(gomem::prof::log_e(x), std::log(x), 1e-11 * std::fabs(std::log(x)) + 1e-14) << x;
  }
  for (double x : {-700.0, -50.0, -3.3, -1.0, -0.01, 0.0, 0.5, 5.0, 60.0}) {
    EXPECT_NEAR(gomem::prof::exp_e(x), std::exp(x), 1e-12 * std::exp(x)) << x;
  }
}

// The stack walk follows a chain of frames whose steps are those of real
// frames (up to 200 KiB here) and stops at a saved frame pointer far above
// its frame: garbage in rbp from code built without frame pointers, which
// used to send the walk up the memory above the stack, a system call per
// 64 KiB (heap/profile.h). The frames are fake, laid out in a buffer on this
// thread's stack, 1 MiB apart in the second chain.
GOMEM_NOINLINE void walk_fake_frames() {
  constexpr size_t kWords = (1 << 20) / sizeof(uintptr_t) + 64;
  static_assert(kWords * sizeof(uintptr_t) < (4 << 20), "fits in_fresh_thread's stack");
  std::vector<uintptr_t> pcs(8);
  auto* buf = static_cast<uintptr_t*>(__builtin_alloca(kWords * sizeof(uintptr_t)));
  auto link = [&](size_t at, size_t next, uintptr_t ret) {
    buf[at] = next ? reinterpret_cast<uintptr_t>(&buf[next]) : 0;
    buf[at + 1] = ret;
  };
  // Steps of 4 KiB and 200 KiB: every frame is walked.
  link(0, 512, 0x1001);
  link(512, 512 + 25600, 0x1002);
  link(512 + 25600, 0, 0x1003);
  int n = gomem::prof::walk_frames(reinterpret_cast<uintptr_t>(buf), reinterpret_cast<uintptr_t>(buf), pcs.data(), 8);
  ASSERT_EQ(n, 3);
  EXPECT_EQ(pcs[0], 0x1001u);
  EXPECT_EQ(pcs[2], 0x1003u);
  // A step of 1 MiB: the walk ends at the frame that saved it.
  link(0, (1 << 20) / sizeof(uintptr_t), 0x2001);
  link((1 << 20) / sizeof(uintptr_t), 0, 0x2002);
  n = gomem::prof::walk_frames(reinterpret_cast<uintptr_t>(buf), reinterpret_cast<uintptr_t>(buf), pcs.data(), 8);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(pcs[0], 0x2001u);
}

TEST(Profile, StackWalkEndsAtAnImplausibleFrame) { gomem_test::in_fresh_thread(walk_fake_frames); }

// Two sites, known amounts: the profile's inuse_space and alloc_space per
// site lie within the statistical bound of the truth, and after half of one
// site's objects are freed, its inuse halves while its alloc stays.
TEST(Profile, ManualSitesWithinBoundsAndFreesChargeBack) {
  gomem_test::in_fresh_thread([] {
    gomem_set_profile_rate(kRate);
    std::vector<uintptr_t> a(kNA), b(kNB);
    prof_alloc_a(a.data(), kNA);
    prof_alloc_b(b.data(), kNB);
    for (size_t i = 0; i < kNA; i += 2) free(reinterpret_cast<void*>(a[i]));
    Profile p = write_and_decode();
    gomem_set_profile_rate(0);
    ASSERT_EQ(p.types, (std::vector<std::string>{"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"}));
    EXPECT_EQ(p.period, kRate);
    double alloc_a = double(kNA * kSizeA), alloc_b = double(kNB * kSizeB);
    EXPECT_NEAR(double(p.flat("prof_alloc_a", 1, "manual")), alloc_a, bound(kNA, kSizeA, kRate));
    EXPECT_NEAR(double(p.flat("prof_alloc_b", 1, "manual")), alloc_b, bound(kNB, kSizeB, kRate));
    EXPECT_NEAR(double(p.flat("prof_alloc_b", 3, "manual")), alloc_b, bound(kNB, kSizeB, kRate));
    // Half of a's objects are live: its inuse estimate counts the sampled
    // ones left, of which there are about half.
    EXPECT_NEAR(double(p.flat("prof_alloc_a", 3, "manual")), alloc_a / 2, bound(kNA, kSizeA, kRate));
    EXPECT_NEAR(double(p.flat("prof_alloc_a", 0, "manual")), double(kNA), bound(kNA, kSizeA, kRate) / kSizeA);
    for (size_t i = 1; i < kNA; i += 2) free(reinterpret_cast<void*>(a[i]));
    for (uintptr_t x : b) free(reinterpret_cast<void*>(x));
  });
  // Everything freed: nothing in use, the allocations still counted.
  Profile q = write_and_decode();
  EXPECT_EQ(q.flat("prof_alloc_a", 3, "manual"), 0);
  EXPECT_EQ(q.flat("prof_alloc_b", 3, "manual"), 0);
  EXPECT_GT(q.flat("prof_alloc_b", 1, "manual"), 0);
}

// Collected objects: sampled with the gc label, and charged back when the
// sweep frees them.
GC_TEST(Profile, CollectedSamplesChargedBackBySweep) {
  gomem_set_profile_rate(kRate);
  // Kept alive by an uncollectable block (a root) until it is freed; the
  // test's own frames hold only its masked address.
  uintptr_t keep = reinterpret_cast<uintptr_t>(gomem_malloc_uncollectable(kNA * sizeof(uintptr_t))) ^ kMask;
  prof_gc_alloc(static_cast<uintptr_t*>(gomem_test::unmask(keep)), kNA);
  gomem_set_profile_rate(0);
  Profile before = write_and_decode();
  double alloc = double(kNA * kSizeA);
  EXPECT_NEAR(double(before.flat("prof_gc_alloc", 1, "gc")), alloc, bound(kNA, kSizeA, kRate));
  EXPECT_NEAR(double(before.flat("prof_gc_alloc", 3, "gc")), alloc, bound(kNA, kSizeA, kRate));
  free(gomem_test::unmask(keep));
  gomem_test::clear_stack();
  gomem_gc_collect();
  gomem_gc_collect();
  Profile after = write_and_decode();
  EXPECT_EQ(after.flat("prof_gc_alloc", 3, "gc"), 0);
  EXPECT_EQ(after.flat("prof_gc_alloc", 1, "gc"), before.flat("prof_gc_alloc", 1, "gc"));
}

// Turning sampling off while a collected span's window is cut, the first
// slow path being a manual one (which undoes this P's cuts): the collected
// window is whole again, so no slot is skipped. A skipped slot lies below
// freeindex without being allocated: alloc_count falls short of "slots below
// freeindex + allocated slots above it" (the count recount_after_fork makes).
GC_TEST(Profile, TurningSamplingOffMakesCutWindowsWhole) {
  const gomem::SpanClass spc = gomem::make_span_class(gomem::kGCClasses.class_of(64), gomem::SpanKind::kScan);
  for (int round = 0; round < 50; round++) {
    gomem_set_profile_rate(256);  // most windows are cut after a few objects
    for (int i = 0; i < 3; i++) gomem_gc_alloc(63);
    gomem_set_profile_rate(0);
    gomem_free(gomem_malloc(3000 + 16 * round));  // a manual slow path first (a class not used yet)
    for (int i = 0; i < 70; i++) gomem_gc_alloc(63);
    gomem::MSpan* s = gomem::t_mcache->alloc[spc];
    ASSERT_NE(s, &gomem::g_empty_span);
    uint32_t n = s->freeindex;
    for (uint32_t i = s->freeindex; i < s->nelems; i++) n += (s->alloc_bits()[i / 64] >> (i % 64)) & 1;
    ASSERT_EQ(s->alloc_count, n) << "round " << round;
  }
}

// Eight threads (more than cores) allocate while the profile is written:
// every profile decodes.
TEST(Profile, WrittenWhileThreadsAllocate) {
  gomem_set_profile_rate(kRate);
  struct Shared {
    std::atomic<bool> stop{false};
    std::atomic<int> rounds{0};  // finished by all threads
  } sh;
  std::vector<pthread_t> ts(8);
  for (auto& t : ts)
    ASSERT_EQ(pthread_create(
                  &t, nullptr,
                  [](void* arg) -> void* {
                    auto* sh = static_cast<Shared*>(arg);
                    std::vector<uintptr_t> v(1000);
                    for (int round = 0; round < 2000 && !sh->stop.load(); round++) {
                      prof_alloc_b(v.data(), v.size());
                      for (uintptr_t x : v) free(reinterpret_cast<void*>(x));
                      sh->rounds.fetch_add(1);
                    }
                    return nullptr;
                  },
                  &sh),
              0);
  for (int i = 0; i < 5; i++) {
    Profile p = write_and_decode();
    EXPECT_EQ(p.types.size(), 4u);
  }
  // Every thread allocates until stopped (at most 2000 rounds each): on a
  // loaded machine they may not have started yet, so wait for 16 rounds of
  // 1,000 objects (hundreds of samples at kRate) before stopping them.
  while (sh.rounds.load() < 16) sched_yield();
  sh.stop = true;
  for (auto& t : ts) pthread_join(t, nullptr);
  gomem_set_profile_rate(0);
  Profile p = write_and_decode();
  EXPECT_GT(p.flat("prof_alloc_b", 1, "manual"), 0);
  EXPECT_EQ(p.flat("prof_alloc_b", 3, "manual"), 0);
}

// `go tool pprof -top` reads the file and names the site that holds the
// memory (skipped where Go is not installed).
TEST(Profile, GoToolPprofReadsIt) {
  if (system("command -v go >/dev/null 2>&1") != 0) GTEST_SKIP() << "go is not installed (golang-go)";
  gomem_set_profile_rate(kRate);
  std::vector<uintptr_t> b(kNB);
  prof_alloc_b(b.data(), kNB);
  gomem_set_profile_rate(0);
  std::string path = write_to_file();
  std::string cmd =
      "HOME=/tmp GOCACHE=/tmp/gomem-go-cache GOFLAGS=-mod=mod go tool pprof -top -sample_index=inuse_space " + path +
      " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  EXPECT_EQ(pclose(f), 0) << out;
  unlink(path.c_str());
  // The first row after the header is the site with most inuse_space.
  size_t hdr = out.find("flat%");
  ASSERT_NE(hdr, std::string::npos) << out;
  size_t row = out.find('\n', hdr) + 1;
  EXPECT_NE(out.substr(row, out.find('\n', row) - row).find("prof_alloc_b"), std::string::npos) << out;
  for (uintptr_t x : b) free(reinterpret_cast<void*>(x));
}

// GOMEM_HEAP_PROFILE=FILE: the profile at exit (FILE), on SIGUSR2 (FILE.1,
// written at the next slow path), and per GOMEM_HEAP_PROFILE_EVERY_MB of
// heap growth (FILE.2 on); each decodes and names the program's site.
TEST(Profile, EnvironmentDumpsAtExitSignalAndGrowth) {
  char dir[] = "/tmp/gomem_profile_env_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string file = std::string(dir) + "/heap.pb.gz";
  std::string cmd = "GOMEM_HEAP_PROFILE=" + file + " GOMEM_PROFILE_RATE=4096 GOMEM_HEAP_PROFILE_EVERY_MB=8 " +
                    GOMEM_TEST_PROFILE_HELPER;
  ASSERT_EQ(system(cmd.c_str()), 0);
  auto load = [](const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0) << path << " was not written";
    std::string gz = fd >= 0 ? read_all(fd) : "";
    if (fd >= 0) close(fd);
    unlink(path.c_str());
    return gz;
  };
  Profile at_signal = decode(load(file + ".1"));
  EXPECT_GT(at_signal.flat("env_site", 3, "manual"), 0);
  EXPECT_LT(at_signal.flat("env_site", 3, "manual"), 8 << 20);  // before the 1 MB blocks
  // 24 MB of growth in steps of 8 MB: three dumps at least (FILE.2 on),
  // the last one holding more than the signal's.
  int last = 1;
  while (access((file + "." + std::to_string(last + 1)).c_str(), F_OK) == 0) last++;
  EXPECT_GE(last, 4);
  Profile grown = decode(load(file + "." + std::to_string(last)));
  EXPECT_GT(grown.flat("env_site", 3, "manual"), at_signal.flat("env_site", 3, "manual") + (8 << 20));
  for (int i = 2; i < last; i++) decode(load(file + "." + std::to_string(i)));
  Profile at_exit = decode(load(file));
  // Every 1 MB block is sampled (p = 1 - e^-256): 24 MB at least.
  EXPECT_GE(at_exit.flat("env_site", 3, "manual"), 24 << 20);
  // %p in the name: the process id (a program that starts others with the
  // same environment); the shell is the helper's parent.
  std::string pattern = std::string(dir) + "/heap.%p";
  std::string sh = "GOMEM_HEAP_PROFILE=" + pattern + " GOMEM_PROFILE_RATE=4096 /bin/sh -c '" +
                   GOMEM_TEST_PROFILE_HELPER + " & echo $! > " + dir + "/pid; wait'";
  ASSERT_EQ(system(sh.c_str()), 0);
  int pfd = open((std::string(dir) + "/pid").c_str(), O_RDONLY);
  ASSERT_GE(pfd, 0);
  std::string pid = read_all(pfd);
  close(pfd);
  unlink((std::string(dir) + "/pid").c_str());
  pid = pid.substr(0, pid.find('\n'));
  std::string by_pid = std::string(dir) + "/heap." + pid;
  EXPECT_GE(decode(load(by_pid)).flat("env_site", 3, "manual"), 24 << 20);
  for (int i = 1; i < 16; i++) unlink((by_pid + "." + std::to_string(i)).c_str());
  EXPECT_EQ(rmdir(dir), 0) << "files left in " << dir;
}
