// dirty_costs: what dirty-page tracking costs (src/platform/dirty.h), on
// anonymous memory of 64 and 256 MiB, each figure the median of 3 rounds:
//   protect    protect_all of a populated range (its first protection)
//   protect0   the same on a registered range never touched (page tables filled)
//   fault      first write to a protected page, per page (minus a plain write)
//   scan0      scan with nothing written, per GiB scanned
//   scanK      scan finding K random written pages, per written page (minus scan0)
// The machine is shared: read the figures as approximate.
//
//   dirty_costs            prints one line per figure
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "platform/dirty.h"
#include "platform/os.h"

using gomem::DirtyTracker;
namespace os = gomem::os;

namespace {

constexpr size_t kPage = 4096;

void count_run(void* arg, uintptr_t s, uintptr_t e) { *static_cast<int64_t*>(arg) += (e - s) / kPage; }

char* map(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  madvise(p, bytes, MADV_NOHUGEPAGE);  // the heap's arenas are 4 KiB-paged by default
  return static_cast<char*>(p);
}

double median3(double a, double b, double c) { return std::max(std::min(a, b), std::min(std::max(a, b), c)); }

struct Round {
  double protect_ms, protect0_ms, fault_ns, scan0_ms_per_gib, scan_ns_per_page;
};

Round one_round(size_t bytes, size_t k) {
  Round r{};
  size_t pages = bytes / kPage;
  DirtyTracker t;
  if (!t.init()) {
    fprintf(stderr, "dirty tracking unavailable: %s\n", t.reason());
    exit(1);
  }
  char* m = map(bytes);
  memset(m, 1, bytes);
  t.register_range(reinterpret_cast<uintptr_t>(m), bytes);
  int64_t t0 = os::nanotime();
  t.protect_all();
  r.protect_ms = (os::nanotime() - t0) / 1e6;

  // First writes to k random protected pages, against writes to the same
  // (now unprotected) pages.
  size_t* idx = static_cast<size_t*>(malloc(k * sizeof(size_t)));
  uint64_t x = os::random_u64() | 1;
  for (size_t i = 0; i < k; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    idx[i] = x % pages;
  }
  t0 = os::nanotime();
  for (size_t i = 0; i < k; i++) m[idx[i] * kPage] = 2;
  int64_t faulting = os::nanotime() - t0;
  t0 = os::nanotime();
  for (size_t i = 0; i < k; i++) m[idx[i] * kPage] = 3;
  int64_t plain = os::nanotime() - t0;
  r.fault_ns = static_cast<double>(faulting - plain) / k;

  int64_t found = 0;
  uintptr_t lo = reinterpret_cast<uintptr_t>(m), hi = lo + bytes;
  t0 = os::nanotime();
  t.scan(lo, hi, count_run, &found);
  int64_t scan_k = os::nanotime() - t0;
  int64_t none = 0;
  t0 = os::nanotime();
  t.scan(lo, hi, count_run, &none);
  int64_t scan_0 = os::nanotime() - t0;
  r.scan0_ms_per_gib = scan_0 / 1e6 * (1024.0 * 1024 * 1024 / bytes);
  r.scan_ns_per_page = found ? static_cast<double>(scan_k - scan_0) / found : 0;
  if (none != 0) fprintf(stderr, "unexpected: %ld pages after re-protection\n", static_cast<long>(none));
  t.shutdown();
  munmap(m, bytes);

  // A registered range never touched: the first protection fills page tables.
  m = map(bytes);
  DirtyTracker t2;
  t2.init();
  t2.register_range(reinterpret_cast<uintptr_t>(m), bytes);
  t0 = os::nanotime();
  t2.protect_all();
  r.protect0_ms = (os::nanotime() - t0) / 1e6;
  t2.shutdown();
  munmap(m, bytes);
  free(idx);
  return r;
}

}  // namespace

int main() {
  for (size_t mib : {64, 256}) {
    size_t k = 4096;
    Round r[3];
    for (auto& x : r) x = one_round(mib << 20, k);
    printf(
        "%4zu MiB: protect (populated) %.1f ms, protect (untouched) %.1f ms, first write %.2f us/page, "
        "scan clean %.2f ms/GiB, scan %.0f ns per written page (%zu random pages)\n",
        mib, median3(r[0].protect_ms, r[1].protect_ms, r[2].protect_ms),
        median3(r[0].protect0_ms, r[1].protect0_ms, r[2].protect0_ms),
        median3(r[0].fault_ns, r[1].fault_ns, r[2].fault_ns) / 1000,
        median3(r[0].scan0_ms_per_gib, r[1].scan0_ms_per_gib, r[2].scan0_ms_per_gib),
        median3(r[0].scan_ns_per_page, r[1].scan_ns_per_page, r[2].scan_ns_per_page), k);
  }
  return 0;
}
