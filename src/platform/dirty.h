// Dirty-page tracking: which pages of the heap were written since a moment
// the collector chose. It stands in for a write barrier (C and C++ programs
// have none) so that marking can run beside the program and minor cycles can
// trace only the old pages that changed (docs/design.md, docs/gc.md §8 and
// bench/dirty/README.md).
//
// What the kernel gives (Linux >= 6.7; the ABI is in uffd_abi.h):
//   - userfaultfd write-protection in *asynchronous* mode (UFFD_FEATURE_WP_ASYNC,
//     opened with UFFD_USER_MODE_ONLY: no privilege). A write to a protected
//     page is resolved by the kernel itself: the page loses its protection and
//     so counts as written. No signal, no fault-serving thread.
//   - ioctl(PAGEMAP_SCAN) on /proc/self/pagemap: lists the runs of pages
//     written since they were last protected and, with PM_SCAN_WP_MATCHING,
//     protects them again in the same walk: "get and clear the dirty bits".
//
// States of the tracker:
//   Uninit --init ok--> Tracking --register fails / scan fails / fork_child--> Off(reason)
//   Uninit --init refused (kernel, seccomp, GOMEM_DIRTY=off)--> Off(reason)
//   Off --init ok (e.g. in a fork child)--> Tracking (the ranges it knew are registered again)
//   any --shutdown--> Off (tests)
// Off is permanent for the epoch: the collector must then mark with the world
// stopped (and say so once in gctrace, quoting reason()).
//
// States of a page in a registered range (what scan() reports):
//   never protected since registration (touched or not) -> written (conservative)
//   protected, not written since                        -> clean
//   protected, then written (by any thread)             -> written, until scanned
//   protected, then MADV_DONTNEED'd                     -> written once (conservative)
//   reads never count; an mprotect RO/RW cycle keeps the state.
// Facts measured in tests/dirty_test.cc (kernel 6.18):
//   - A PROT_NONE reservation can be registered; committing it later with
//     mprotect keeps the registration. Committing with mmap(MAP_FIXED) (what
//     LinuxMemOS::commit does) makes a new mapping WITHOUT it: register_range
//     must be called again on the committed piece. A scan of an unregistered
//     page silently reports nothing, so every scan passes PM_SCAN_CHECK_WPASYNC
//     and a missing registration turns the tracker Off instead.
//   - After fork() the child inherits the two descriptors, but they still act
//     on the PARENT's address space (a scan through them would re-protect the
//     parent's pages and steal its dirty bits). fork_child() closes them
//     unused; the child's mappings carry no registration.
//   - Private file mappings (a library's .data) can be registered too (async
//     WP accepts any memory type), so dlopen'ed data can join tracking.
//
// Costs (bench/dirty, kernel 6.18; the 2-core machine was shared, load ~15-20,
// so ranges of medians of 3):
//   first protection of 256 MiB: 1.8-12 ms populated, 1-2 ms untouched (64 MiB: 0.3-0.5 ms);
//   first write to a protected page: 2-6 us (1-1.4 us on a quiet machine);
//   scan: 0.27 ms per GiB with nothing written, + 70-100 ns per written page.
// What binary-trees does with it (bench/dirty/results.txt):
//   - The dirty set IS the allocation stream: every page allocated into is
//     written; between two cycles it writes exactly the bytes it allocated
//     (8 MiB at depth 18, 32 MiB at 20: 50% of heap_inuse) and never the
//     long-lived tree's pages.
//   - Pre-cleaning does not converge there: over 1-10 ms rounds the program
//     dirties 1.5-1.7x more bytes per ms of its time than one marker CPU
//     marks (0.36-0.70 vs 0.21-0.42 MB/ms at depth 18). A concurrent mark must
//     bound its pre-cleaning rounds (2) and make allocation pay: an allocating
//     thread rescans a dirty page per page it starts filling (an assist), so
//     the final stop rescans roots and at most one round's pages.
//   - A sticky-mark minor cycle would skip the whole long-lived heap (the pages
//     never written): so the order the numbers favour is minor cycles first
//     (stop-the-world, one scan per cycle: 0.1-0.4 ms), the concurrent full
//     cycle second.
//   - Re-protecting every written page each cycle costs binary-trees ~30% more
//     CPU (a fault per page allocated into per cycle). Protect only the pages
//     that hold old objects (protect(lo, hi)); pages left unprotected simply
//     keep reporting as written (kReportOnly), which is always safe.
//
// Nothing here allocates: it runs inside the allocator. A scan reads results
// into a fixed page_region buffer on the caller's stack and continues from
// the kernel's walk_end until the range is done.
//
// Synchronisation: register_range, init and fork_child are serialised by
// mu_. Ranges are append-only (arenas are never unmapped): a range's bounds
// are published with release stores, so scan_all, which takes no lock, sees
// each range either before or after a registration, never half of one. scan
// may run on several threads at once; where their ranges overlap, each
// written page is reported to exactly one of them (the kernel reads and
// re-protects a page table under its lock). init and shutdown replace the
// descriptors: they must not run while another thread scans.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/mutex.h"

namespace gomem {

// Called by scan for each run [start, end) of written pages, page aligned.
using DirtyRunFn = void (*)(void* arg, uintptr_t start, uintptr_t end);

class DirtyTracker {
 public:
  static constexpr int kMaxRanges = 256;
  // page_region entries read per ioctl (on the scanning thread's stack).
  static constexpr size_t kScanBatch = 64;

  constexpr DirtyTracker() = default;
  DirtyTracker(const DirtyTracker&) = delete;
  DirtyTracker& operator=(const DirtyTracker&) = delete;

  // Opens a userfaultfd (UFFD_USER_MODE_ONLY) with async write-protection and
  // /proc/self/pagemap, then registers every range already known (after a
  // fork). False, with reason() saying why, if anything is refused or if the
  // environment says GOMEM_DIRTY=off.
  bool init();
  bool tracking() const { return state_.load(std::memory_order_acquire) == kTracking; }
  // Why the tracker is not tracking: "not initialised", "disabled by
  // GOMEM_DIRTY=off", "userfaultfd: EPERM", "PAGEMAP_SCAN: EPERM" (a page not
  // registered), "fork child: ...". Empty while tracking.
  const char* reason() const { return reason_; }

  // Registers [lo, lo+len) for write-protection. The range must be mapped
  // (PROT_NONE is fine) and page aligned. Its pages count as written until
  // the next protect_all or scan covers them. A range adjacent to the last one
  // extends it. False (and Off) if the kernel refuses or the table is full.
  // While Off the range is still recorded (not registered): a later init()
  // registers it with the others.
  bool register_range(uintptr_t lo, size_t len);

  // Starts an epoch: protects every page of every registered range. Writes
  // that complete after it returns are reported by the next scan; a write
  // racing with it on a page may or may not be. The first protection of a
  // range also covers its untouched pages (the kernel fills page tables).
  bool protect_all();
  // The same for the pages of [lo, hi) only (e.g. the spans that hold old
  // objects, leaving the pages being allocated into unprotected: see the
  // costs above for why).
  bool protect(uintptr_t lo, uintptr_t hi);

  // What a scan does to the pages it reports.
  enum Mode { kReprotect, kReportOnly };
  // Calls fn for each run of pages in [lo, hi) written since they were last
  // protected; with kReprotect, protects them again in the same walk (the
  // kernel does both atomically per page), with kReportOnly leaves them
  // written. Returns the number of written pages, or -1 if the kernel
  // refused (a page in [lo, hi) not registered, or the tracker is Off): the
  // tracker is then Off and the caller must treat the whole range as written.
  int64_t scan(uintptr_t lo, uintptr_t hi, DirtyRunFn fn, void* arg, Mode mode = kReprotect);
  // scan over every registered range.
  int64_t scan_all(DirtyRunFn fn, void* arg, Mode mode = kReprotect);

  // In the child after fork(): the inherited descriptors act on the parent's
  // address space; close them without using them and go Off. The child may
  // call init() to start its own tracking of the same ranges.
  void fork_child();

  // Closes the descriptors and unregisters nothing (the kernel drops the
  // registrations with the userfaultfd). For tests.
  void shutdown();

 private:
  enum State : uint32_t { kUninit, kTracking, kOff };
  struct Range {
    std::atomic<uintptr_t> lo{0};  // written once under mu_ before count_ publishes it
    std::atomic<uintptr_t> hi{0};  // grows under mu_ (adjacent registration), release store
  };

  bool register_locked(uintptr_t lo, size_t len);
  int64_t scan_range(uintptr_t lo, uintptr_t hi, DirtyRunFn fn, void* arg, uint64_t flags);
  void go_off(const char* what, int err);
  void go_off_locked(const char* what, int err);
  void close_fds();

  Mutex mu_;                              // serialises init, register_range, fork_child
  std::atomic<uint32_t> state_{kUninit};  // State; written under mu_ (go_off takes it), release
  int uffd_ = -1;                         // userfaultfd; written by init/shutdown under mu_, fork_child
  int pagemap_ = -1;                      // /proc/self/pagemap; as uffd_, read by scans
  std::atomic<int> count_{0};             // published ranges; release store under mu_
  Range ranges_[kMaxRanges];              // [0, count_) valid
  char reason_[96] = "not initialised";   // written under mu_ before state_; read once Off
};

}  // namespace gomem
