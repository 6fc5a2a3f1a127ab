// The parts of the Linux user-space ABI for dirty-page tracking that the
// kernel headers of Debian 12 (6.1) lack: userfaultfd's asynchronous
// write-protection (kernel >= 6.7) and the PAGEMAP_SCAN ioctl on
// /proc/self/pagemap (kernel >= 6.7). Values are those of the kernel's
// include/uapi/linux/userfaultfd.h and include/uapi/linux/fs.h; whether the
// running kernel has them is found out at run time (dirty_linux.cc), never
// assumed from the headers we compiled against.
//
// Only dirty_linux.cc includes this file. The structures live in a namespace
// of their own so that newer system headers, which define `struct
// page_region` and `struct pm_scan_arg` themselves, cannot clash.
#pragma once

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace gomem::uapi {

// userfaultfd(2) flag: only faults raised in user mode; needs no privilege
// whatever vm.unprivileged_userfaultfd says (kernel >= 5.11).
constexpr int kUffdUserModeOnly = 1;

// UFFDIO_API features.
constexpr uint64_t kFeatureWpUnpopulated = 1ull << 13;  // UFFD_FEATURE_WP_UNPOPULATED (>= 6.4)
constexpr uint64_t kFeatureWpAsync = 1ull << 15;        // UFFD_FEATURE_WP_ASYNC (>= 6.7)

// UFFDIO_REGISTER mode and UFFDIO_WRITEPROTECT mode (both in 6.1's header).
constexpr uint64_t kRegisterModeWp = UFFDIO_REGISTER_MODE_WP;
constexpr uint64_t kWriteProtectModeWp = UFFDIO_WRITEPROTECT_MODE_WP;

// PAGEMAP_SCAN categories (page_region.categories and the masks).
constexpr uint64_t kPageIsWpAllowed = 1ull << 0;  // PAGE_IS_WPALLOWED
constexpr uint64_t kPageIsWritten = 1ull << 1;    // PAGE_IS_WRITTEN

// PAGEMAP_SCAN flags.
constexpr uint64_t kScanWpMatching = 1ull << 0;    // PM_SCAN_WP_MATCHING: protect what matched
constexpr uint64_t kScanCheckWpAsync = 1ull << 1;  // PM_SCAN_CHECK_WPASYNC: EPERM on an unregistered page

// struct page_region: a run of pages [start, end) with its categories.
struct PageRegion {
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};

// struct pm_scan_arg. The kernel writes walk_end: where the walk stopped
// (== end when the whole range was walked; less when vec filled up).
struct PmScanArg {
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};
static_assert(sizeof(PmScanArg) == 96 && sizeof(PageRegion) == 24);

// PAGEMAP_SCAN = _IOWR('f', 16, struct pm_scan_arg).
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);

#ifdef UFFD_FEATURE_WP_ASYNC
static_assert(UFFD_FEATURE_WP_ASYNC == kFeatureWpAsync);
#endif
#ifdef UFFD_USER_MODE_ONLY
static_assert(UFFD_USER_MODE_ONLY == kUffdUserModeOnly);
#endif

}  // namespace gomem::uapi
