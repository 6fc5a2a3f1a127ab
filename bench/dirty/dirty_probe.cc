// dirty_probe.so: measures how fast a program dirties the gomem heap, the
// figure that decides whether pre-cleaning (rescanning dirty pages while the
// program runs) can converge. LD_PRELOAD it into a program linked with
// libgomem.so:
//
//   DIRTY_PROBE_MS=10 LD_PRELOAD=.../dirty_probe.so binary_trees_gomem 20
//
// It interposes mmap: every heap commit (gomem maps MAP_FIXED read-write over
// its arena reservation, which drops a registration, see dirty.h) is
// registered with a DirtyTracker and protected at once (fresh zero pages hold
// nothing). A side thread then scans the registered heap every DIRTY_PROBE_MS
// ms; with DIRTY_PROBE_MS=0 it scans once per collection instead (when
// gomem_read_stats shows a new cycle): the pages a sticky-mark minor cycle
// would have to rescan. At exit it prints one summary line to stderr.
// The collector's mark runs stopped-the-world today: rates are per ms of
// program time (the interval minus the pauses in it, from pause_total_ns).
#include <dlfcn.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "gomem/gomem.h"
#include "platform/dirty.h"
#include "platform/mutex.h"
#include "platform/os.h"

using gomem::DirtyTracker;
namespace os = gomem::os;

namespace {

constexpr size_t kPage = 4096;
constexpr int kMaxSamples = 1 << 16;

struct Sample {
  double ms;          // length of the interval
  double mutator_ms;  // minus the collector's pauses in it (the program ran)
  int64_t pages;      // distinct pages written in it
  double scan_ms;     // time the scan took
  bool had_gc;        // a collection ended inside it
  uint64_t inuse;     // heap_inuse at its end (cycle mode)
  uint64_t live;      // gc_heap_live at its end (cycle mode)
};

DirtyTracker g_t;
gomem::Mutex g_mu;  // serialises commits' registration with scans
uint64_t g_registered;
Sample g_samples[kMaxSamples];
int g_n;
std::atomic<bool> g_stop{false};
pthread_t g_thread;
bool g_started;    // the tracker was initialised (first commit)
bool g_thread_ok;  // the side thread runs
void (*g_read_stats)(gomem_stats*);
gomem_stats g_stats;

void count_run(void* arg, uintptr_t s, uintptr_t e) { *static_cast<int64_t*>(arg) += (e - s) / kPage; }

uint32_t num_gc() {
  if (!g_read_stats) return 0;
  g_read_stats(&g_stats);
  return g_stats.num_gc;
}

void* sampler(void*) {
  const char* e = getenv("DIRTY_PROBE_MS");
  int period = e ? atoi(e) : 10;
  uint32_t gc = num_gc();
  uint64_t paused = g_stats.pause_total_ns;
  int64_t t_prev = os::nanotime();
  while (!g_stop.load() && g_n < kMaxSamples) {
    uint32_t gc_now;
    if (period > 0) {
      os::sleep_ns(period * 1000000ll);
      gc_now = num_gc();
    } else {
      do {
        os::sleep_ns(1000000);
        gc_now = num_gc();
      } while (gc_now == gc && !g_stop.load());
    }
    int64_t pages = 0;
    g_mu.lock();
    int64_t t0 = os::nanotime();
    int64_t r = g_t.scan_all(count_run, &pages);
    int64_t t1 = os::nanotime();
    g_mu.unlock();
    if (r < 0) {
      fprintf(stderr, "dirty_probe: tracking lost: %s\n", g_t.reason());
      break;
    }
    double ms = (t1 - t_prev) / 1e6;
    g_samples[g_n++] = {ms,
                        ms - (g_stats.pause_total_ns - paused) / 1e6,
                        pages,
                        (t1 - t0) / 1e6,
                        gc_now != gc,
                        g_stats.heap_inuse,
                        g_stats.gc_heap_live};
    t_prev = t1;
    gc = gc_now;
    paused = g_stats.pause_total_ns;
  }
  return nullptr;
}

double pct(double* v, int n, double p) {
  if (n == 0) return 0;
  std::sort(v, v + n);
  return v[std::min(n - 1, static_cast<int>(p * n))];
}

// The side thread starts once the program runs (not inside mmap: creating a
// thread allocates, which may commit heap memory and come back here).
__attribute__((constructor)) void start() {
  g_read_stats = reinterpret_cast<void (*)(gomem_stats*)>(dlsym(RTLD_DEFAULT, "gomem_read_stats"));
  g_thread_ok = pthread_create(&g_thread, nullptr, sampler, nullptr) == 0;
}

__attribute__((destructor)) void report() {
  if (!g_thread_ok) return;
  g_stop.store(true);
  pthread_join(g_thread, nullptr);
  static double rate[kMaxSamples], scan[kMaxSamples], per[kMaxSamples];
  int m = 0;
  double ms = 0, pages = 0;
  for (int i = 0; i < g_n; i++) {
    scan[i] = g_samples[i].scan_ms;
    per[i] = static_cast<double>(g_samples[i].pages);
    // The mark runs stopped-the-world today: the program writes only outside
    // the pauses. Intervals that were mostly pause say little.
    if (g_samples[i].mutator_ms < 0.3 * g_samples[i].ms) continue;
    rate[m++] = g_samples[i].pages / g_samples[i].mutator_ms;
    ms += g_samples[i].mutator_ms;
    pages += g_samples[i].pages;
  }
  const char* e = getenv("DIRTY_PROBE_MS");
  fprintf(stderr,
          "dirty_probe: period %s ms, %d intervals (%d mostly outside pauses), heap registered %.0f MiB\n"
          "dirty_probe: pages written per ms of program time: mean %.1f, median %.1f, p90 %.1f "
          "(= %.2f MB/ms mean)\n"
          "dirty_probe: pages per interval: median %.0f, p90 %.0f, max %.0f; scan time per interval: median "
          "%.3f ms, max %.3f ms\n",
          e ? e : "10", g_n, m, g_registered / 1048576.0, ms > 0 ? pages / ms : 0, pct(rate, m, 0.5), pct(rate, m, 0.9),
          ms > 0 ? pages / ms * kPage / 1e6 : 0, pct(per, g_n, 0.5), pct(per, g_n, 0.9), pct(per, g_n, 1.0),
          pct(scan, g_n, 0.5), pct(scan, g_n, 1.0));
  if (e && atoi(e) == 0) {
    for (int i = 0; i < g_n; i++)
      fprintf(stderr,
              "dirty_probe: cycle %d: %ld pages written since the last cycle (%.1f MiB), heap_inuse %.1f MiB, live "
              "%.1f MiB\n",
              i + 1, static_cast<long>(g_samples[i].pages), g_samples[i].pages * kPage / 1048576.0,
              g_samples[i].inuse / 1048576.0, g_samples[i].live / 1048576.0);
  }
}

}  // namespace

// A heap commit: registered and protected before gomem hands it out.
extern "C" __attribute__((visibility("default"))) void* mmap(void* addr, size_t len, int prot, int flags, int fd,
                                                             off_t off) {
  void* p = reinterpret_cast<void*>(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
  if (reinterpret_cast<long>(p) < 0 && reinterpret_cast<long>(p) > -4096) {
    errno = -static_cast<int>(reinterpret_cast<long>(p));
    return MAP_FAILED;
  }
  if ((flags & MAP_FIXED) && (flags & MAP_ANONYMOUS) && (prot & PROT_WRITE)) {
    g_mu.lock();
    if (!g_started) {
      g_started = true;
      if (!g_t.init()) fprintf(stderr, "dirty_probe: %s\n", g_t.reason());
    }
    uintptr_t lo = reinterpret_cast<uintptr_t>(p);
    if (g_t.register_range(lo, len)) {
      g_t.protect(lo, lo + len);
      g_registered += len;
    }
    g_mu.unlock();
  }
  return p;
}
