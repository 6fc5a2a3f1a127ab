// Dirty-page tracking on Linux: userfaultfd async write-protection and
// PAGEMAP_SCAN. The design, the page states and the measured costs are in
// dirty.h.
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/fmt.h"
#include "platform/dirty.h"
#include "platform/env.h"
#include "platform/os.h"
#include "platform/uffd_abi.h"

namespace gomem {

namespace {

// The errors the kernel gives for these calls, by name (reason() quotes them).
const char* errno_name(int err) {
  static constexpr struct {
    int err;
    const char* name;
  } kNames[] = {{EPERM, "EPERM"},   {EACCES, "EACCES"}, {EINVAL, "EINVAL"}, {ENOSYS, "ENOSYS"}, {EBUSY, "EBUSY"},
                {ENOMEM, "ENOMEM"}, {ENOENT, "ENOENT"}, {ENOTTY, "ENOTTY"}, {EFAULT, "EFAULT"}};
  for (const auto& n : kNames)
    if (n.err == err) return n.name;
  return nullptr;
}

int ioctl_retry(int fd, unsigned long req, void* arg) {
  int r;
  do r = ioctl(fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

// The PAGEMAP_SCAN flags of a scan mode.
uint64_t scan_flags(DirtyTracker::Mode mode) { return mode == DirtyTracker::kReprotect ? uapi::kScanWpMatching : 0; }

}  // namespace

void DirtyTracker::go_off_locked(const char* what, int err) {
  Buf b(reason_, sizeof reason_);
  b.s(what);
  if (err) {
    const char* name = errno_name(err);
    b.s(": ");
    if (name)
      b.s(name);
    else
      b.s("errno ").i(err);
  }
  state_.store(kOff, std::memory_order_release);
}

void DirtyTracker::go_off(const char* what, int err) {
  mu_.lock();
  if (state_.load(std::memory_order_relaxed) == kTracking) go_off_locked(what, err);
  mu_.unlock();
}

void DirtyTracker::close_fds() {
  if (uffd_ >= 0) close(uffd_);
  if (pagemap_ >= 0) close(pagemap_);
  uffd_ = pagemap_ = -1;
}

bool DirtyTracker::init() {
  mu_.lock();
  close_fds();  // a re-init: the old userfaultfd's registrations go with it
  bool ok = false;
  os::EnvSettings env;  // read here, not at initialisation: a test sets it between two inits
  if (const char* v = os::getenv("GOMEM_DIRTY")) os::parse_env("GOMEM_DIRTY", v, &env);
  if (!env.dirty_tracking) {
    go_off_locked("disabled by GOMEM_DIRTY=off", 0);
  } else if ((uffd_ = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | uapi::kUffdUserModeOnly))) <
             0) {
    go_off_locked("userfaultfd", errno);
  } else {
    uffdio_api api = {};
    api.api = UFFD_API;
    api.features = uapi::kFeatureWpAsync | uapi::kFeatureWpUnpopulated;
    if (ioctl_retry(uffd_, UFFDIO_API, &api) < 0) {
      go_off_locked("UFFDIO_API (async write-protect needs Linux >= 6.7)", errno);
    } else if ((pagemap_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0) {
      go_off_locked("open /proc/self/pagemap", errno);
    } else {
      ok = true;
      // Probe PAGEMAP_SCAN on an empty range (a 6.7 kernel without it says ENOTTY).
      uapi::PmScanArg a = {};
      a.size = sizeof a;
      if (ioctl_retry(pagemap_, uapi::kPagemapScan, &a) < 0) {
        go_off_locked("PAGEMAP_SCAN", errno);
        ok = false;
      }
    }
  }
  if (ok) {
    reason_[0] = 0;
    state_.store(kTracking, std::memory_order_release);
    // After a fork (or a re-init) the ranges are known but not registered.
    int n = count_.load(std::memory_order_relaxed);
    for (int i = 0; i < n && ok; i++) {
      uintptr_t lo = ranges_[i].lo.load(std::memory_order_relaxed);
      ok = register_locked(lo, ranges_[i].hi.load(std::memory_order_relaxed) - lo);
    }
  }
  if (!ok) close_fds();
  mu_.unlock();
  return ok;
}

// Registers with the kernel only; the caller publishes the range.
bool DirtyTracker::register_locked(uintptr_t lo, size_t len) {
  uffdio_register r = {};
  r.range.start = lo;
  r.range.len = len;
  r.mode = uapi::kRegisterModeWp;
  if (ioctl_retry(uffd_, UFFDIO_REGISTER, &r) < 0) {
    go_off_locked("UFFDIO_REGISTER", errno);
    return false;
  }
  return true;
}

bool DirtyTracker::register_range(uintptr_t lo, size_t len) {
  mu_.lock();
  bool ok = state_.load(std::memory_order_relaxed) == kTracking && register_locked(lo, len);
  // Recorded even when Off (a fork child before its init): a later init()
  // registers every recorded range, so no committed page escapes tracking.
  int n = count_.load(std::memory_order_relaxed);
  if (n > 0 && ranges_[n - 1].hi.load(std::memory_order_relaxed) == lo) {
    ranges_[n - 1].hi.store(lo + len, std::memory_order_release);
  } else if (n < kMaxRanges) {
    ranges_[n].lo.store(lo, std::memory_order_relaxed);
    ranges_[n].hi.store(lo + len, std::memory_order_relaxed);
    count_.store(n + 1, std::memory_order_release);
  } else {
    if (state_.load(std::memory_order_relaxed) != kOff) go_off_locked("more separate ranges than kMaxRanges", 0);
    ok = false;
  }
  mu_.unlock();
  return ok;
}

// One PAGEMAP_SCAN walk over [lo, hi), continued from walk_end while the
// result buffer fills up. With fn == nullptr: protect only (no results).
// flags: PM_SCAN_* beside PM_SCAN_CHECK_WPASYNC, which every walk sets.
int64_t DirtyTracker::scan_range(uintptr_t lo, uintptr_t hi, DirtyRunFn fn, void* arg, uint64_t flags) {
  uapi::PageRegion vec[kScanBatch];
  int64_t pages = 0;
  while (lo < hi) {
    uapi::PmScanArg a = {};
    a.size = sizeof a;
    a.flags = flags | uapi::kScanCheckWpAsync;
    a.start = lo;
    a.end = hi;
    if (fn) {
      a.vec = reinterpret_cast<uintptr_t>(vec);
      a.vec_len = kScanBatch;
    }
    a.category_mask = uapi::kPageIsWritten;
    a.return_mask = uapi::kPageIsWritten;
    int n = ioctl_retry(pagemap_, uapi::kPagemapScan, &a);
    if (n < 0) {  // pages it re-protected may not have been reported: Off, all written
      go_off("PAGEMAP_SCAN", errno);
      return -1;
    }
    for (int i = 0; i < n; i++) {
      fn(arg, vec[i].start, vec[i].end);
      pages += static_cast<int64_t>((vec[i].end - vec[i].start) / os::kPhysPageSize);
    }
    if (a.walk_end <= lo) {  // no progress: never loop forever on a kernel surprise
      go_off("PAGEMAP_SCAN made no progress", 0);
      return -1;
    }
    lo = a.walk_end;
  }
  return pages;
}

int64_t DirtyTracker::scan(uintptr_t lo, uintptr_t hi, DirtyRunFn fn, void* arg, Mode mode) {
  if (!tracking()) return -1;
  return scan_range(lo, hi, fn, arg, scan_flags(mode));
}

bool DirtyTracker::protect(uintptr_t lo, uintptr_t hi) {
  return tracking() && scan_range(lo, hi, nullptr, nullptr, uapi::kScanWpMatching) >= 0;
}

int64_t DirtyTracker::scan_all(DirtyRunFn fn, void* arg, Mode mode) {
  if (!tracking()) return -1;
  int64_t total = 0;
  int n = count_.load(std::memory_order_acquire);
  for (int i = 0; i < n; i++) {
    int64_t p = scan_range(ranges_[i].lo.load(std::memory_order_relaxed), ranges_[i].hi.load(std::memory_order_acquire),
                           fn, arg, scan_flags(mode));
    if (p < 0) return -1;
    total += p;
  }
  return total;
}

bool DirtyTracker::protect_all() { return scan_all(nullptr, nullptr) >= 0; }

void DirtyTracker::fork_child() {
  mu_.reset();  // a thread that does not exist in the child may have held it
  close_fds();
  if (state_.load(std::memory_order_relaxed) == kTracking) go_off_locked("fork child: not tracking until init()", 0);
}

void DirtyTracker::shutdown() {
  mu_.lock();
  close_fds();
  go_off_locked("shut down", 0);
  mu_.unlock();
}

}  // namespace gomem
