// The platform layer: every call into the operating system goes through here,
// and this directory is the only place with OS-specific code.
//
// Include rule: platform/ includes base/ and the C library; nothing above it.
//
// Memory follows Go's four states (mem.go):
//   None --reserve--> Reserved --commit--> Ready --decommit--> Prepared
// On Linux, Prepared memory is simply Ready memory whose pages were given back
// with madvise; touching it again faults in zero pages (MADV_DONTNEED) or the
// old contents if the kernel did not reclaim them yet (MADV_FREE).
//
// The page heap takes a MemOS by reference, so a test can run it on a fake
// one (a fixed buffer, injected failures, counted madvise calls).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/compiler.h"

namespace gomem {

class MemOS {
 public:
  // Reserves n bytes of address space (no access), at `hint` if it is free
  // there. Returns nullptr on failure. n and hint are multiples of the OS page.
  virtual void* reserve(void* hint, size_t n) = 0;
  // Makes reserved memory readable and writable. False on failure (no memory).
  virtual bool commit(void* p, size_t n) = 0;
  // Gives the physical pages back; the range stays committed and readable.
  // Returns true if the pages now read as zero.
  virtual bool decommit(void* p, size_t n) = 0;
  // Returns address space to the OS (None).
  virtual void release(void* p, size_t n) = 0;
  // Ready memory for metadata (None -> Ready), zeroed; nullptr on failure.
  virtual void* alloc_meta(size_t n) = 0;
  // Hint: whether transparent huge pages are wanted for this range.
  virtual void set_hugepages(void* p, size_t n, bool on) = 0;

 protected:
  constexpr MemOS() = default;
  ~MemOS() = default;
};

// The real one.
MemOS& linux_mem_os();

namespace os {

constexpr size_t kPhysPageSize = 4096;

// Which madvise the real MemOS uses to give pages back: false = MADV_DONTNEED
// (default), true = MADV_FREE (GOMEM_MADV=free).
void set_madv_free(bool on);
bool madv_free();

// Writes all of buf to standard error, retrying on EINTR; never allocates.
void write_stderr(const char* buf, size_t n);
void write_fd(int fd, const char* buf, size_t n);
GOMEM_NORETURN void abort_process();

// Monotonic and wall clocks, nanoseconds.
int64_t nanotime();
int64_t walltime();
// CPU time used by the calling thread and by the process, nanoseconds.
int64_t thread_cputime();
int64_t process_cputime();

// getenv that is safe before and during libc initialisation.
const char* getenv(const char* name);

// A random 64-bit value (getrandom, or the clock if that fails).
uint64_t random_u64();

// Online CPUs this process may run on.
int num_cpus();

// Kernel thread id of the caller; the process id.
int gettid();
int getpid();
void yield();
void sleep_ns(int64_t ns);

// Futex wait/wake on a 32-bit word (private). wait returns when *addr !=
// expected, on a wake, spuriously, or after timeout_ns (< 0: no timeout).
void futex_wait(const volatile uint32_t* addr, uint32_t expected, int64_t timeout_ns = -1);
void futex_wake(const volatile uint32_t* addr, int n);

// True if every page of [p, p+n) is mapped (mincore).
bool is_mapped(uintptr_t p, size_t n);

// How many bytes of [p, p+n) can be read from p on: n, or less at the first
// page that is unmapped or not readable (PROT_NONE). It reads one byte of
// each page through process_vm_readv, which fails instead of faulting;
// where that call is refused (seccomp), it tells mapped pages only
// (mincore). Never allocates; errno is kept.
size_t readable_prefix(uintptr_t p, size_t n);

// Peak and current resident set size of the process, bytes (from /proc).
size_t rss_bytes();

}  // namespace os
}  // namespace gomem
