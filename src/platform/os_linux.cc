// Linux implementation of the platform layer.
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "platform/os.h"

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace gomem {

namespace {

bool g_madv_free = false;

class LinuxMemOS final : public MemOS {
 public:
  constexpr LinuxMemOS() = default;

  void* reserve(void* hint, size_t n) override {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (hint) flags |= MAP_FIXED_NOREPLACE;
    void* p = mmap(hint, n, PROT_NONE, flags, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (hint && p != hint) {  // an old kernel ignored MAP_FIXED_NOREPLACE
      munmap(p, n);
      return nullptr;
    }
    return p;
  }

  bool commit(void* p, size_t n) override {
    // MAP_FIXED over our own reservation: the pages become accounted for and
    // readable/writable; they are still not backed until first touched.
    void* q = mmap(p, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return q == p;
  }

  bool decommit(void* p, size_t n) override {
    if (g_madv_free) {
      if (madvise(p, n, MADV_FREE) == 0) return false;
    }
    madvise(p, n, MADV_DONTNEED);
    return true;
  }

  void release(void* p, size_t n) override { munmap(p, n); }

  void* alloc_meta(size_t n) override {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }

  void set_hugepages(void* p, size_t n, bool on) override { madvise(p, n, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE); }
};

constinit LinuxMemOS g_linux_os;

}  // namespace

MemOS& linux_mem_os() { return g_linux_os; }

namespace os {

void set_madv_free(bool on) { g_madv_free = on; }
bool madv_free() { return g_madv_free; }

void write_fd(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
}

void write_stderr(const char* buf, size_t n) { write_fd(2, buf, n); }

void abort_process() { ::abort(); }

int64_t nanotime() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t walltime() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t thread_cputime() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t process_cputime() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char* getenv(const char* name) { return ::getenv(name); }

uint64_t random_u64() {
  uint64_t v = 0;
  if (syscall(SYS_getrandom, &v, sizeof v, GRND_NONBLOCK) != sizeof v) {
    v = static_cast<uint64_t>(nanotime()) * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(getpid());
  }
  return v;
}

int num_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);  // the kernel writes only as many bytes as it has CPUs
  // The raw syscall: sched_getaffinity's glibc wrapper does not allocate
  // either, but this keeps it obvious.
  long r = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
  if (r <= 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

int gettid() { return static_cast<int>(syscall(SYS_gettid)); }

int getpid() { return static_cast<int>(::getpid()); }

void yield() { sched_yield(); }

void sleep_ns(int64_t ns) {
  struct timespec ts = {static_cast<time_t>(ns / 1000000000LL), static_cast<long>(ns % 1000000000LL)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void futex_wait(const volatile uint32_t* addr, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000LL);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000LL);
    tsp = &ts;
  }
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

void futex_wake(const volatile uint32_t* addr, int n) {
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

bool is_mapped(uintptr_t p, size_t n) {
  uintptr_t lo = p & ~uintptr_t{kPhysPageSize - 1};
  uintptr_t hi = (p + n + kPhysPageSize - 1) & ~uintptr_t{kPhysPageSize - 1};
  // mincore fails with ENOMEM if part of the range is not mapped. The
  // result vector is written in small pieces so no buffer is needed.
  unsigned char vec[64];
  for (uintptr_t a = lo; a < hi; a += 64 * kPhysPageSize) {
    uintptr_t len = hi - a < 64 * kPhysPageSize ? hi - a : 64 * kPhysPageSize;
    if (mincore(reinterpret_cast<void*>(a), len, vec) != 0 && errno == ENOMEM) return false;
  }
  return true;
}

namespace {

// readable_prefix where process_vm_readv is refused: mapped pages only.
size_t mapped_prefix(uintptr_t p, size_t n) {
  uintptr_t a = p;
  while (a < p + n) {
    uintptr_t next = (a & ~uintptr_t{kPhysPageSize - 1}) + kPhysPageSize;
    if (!is_mapped(a, 1)) break;
    a = next;
  }
  return a < p + n ? a - p : n;
}

}  // namespace

size_t readable_prefix(uintptr_t p, size_t n) {
  constexpr int kBatch = 256;  // pages probed per system call
  int saved = errno;
  char sink[kBatch];
  struct iovec remote[kBatch];
  uintptr_t end = p + n, a = p;
  size_t result = n;
  while (a < end) {
    int k = 0;
    for (uintptr_t q = a; q < end && k < kBatch; q = (q & ~uintptr_t{kPhysPageSize - 1}) + kPhysPageSize)
      remote[k++] = {reinterpret_cast<void*>(q), 1};
    struct iovec local = {sink, static_cast<size_t>(k)};
    ssize_t got = process_vm_readv(getpid(), &local, 1, remote, static_cast<unsigned long>(k), 0);
    if (got < 0 && errno != EFAULT) {
      result = (a - p) + mapped_prefix(a, end - a);
      break;
    }
    if (got < k) {
      result = reinterpret_cast<uintptr_t>(remote[got < 0 ? 0 : got].iov_base) - p;
      break;
    }
    a = (reinterpret_cast<uintptr_t>(remote[k - 1].iov_base) & ~uintptr_t{kPhysPageSize - 1}) + kPhysPageSize;
  }
  // A byte of each page: leave no stale pointer bits on the collector's
  // stack (the barrier keeps the compiler from dropping the dead store).
  memset(sink, 0, sizeof sink);
  __asm__ __volatile__("" : : "r"(sink) : "memory");
  errno = saved;
  return result;
}

size_t rss_bytes() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  // statm: size resident shared text lib data dt (in pages)
  const char* s = buf;
  while (*s && *s != ' ') s++;
  size_t pages = 0;
  while (*s == ' ') s++;
  while (*s >= '0' && *s <= '9') pages = pages * 10 + static_cast<size_t>(*s++ - '0');
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace os
}  // namespace gomem
