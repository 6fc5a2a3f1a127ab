// A MemOS for tests: real memory underneath, with injected failures and
// counters, so the page heap can be driven into corners (out of memory,
// address space exhausted) and its calls to the OS observed.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>

#include "platform/os.h"

class FakeOS final : public gomem::MemOS {
 public:
  size_t commit_budget = SIZE_MAX;  // bytes that commit() may still grant
  bool fail_reserve = false;
  std::atomic<size_t> committed{0}, decommitted{0}, decommit_calls{0}, reserved{0};

  void* reserve(void* hint, size_t n) override {
    if (fail_reserve) return nullptr;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (hint) flags |= MAP_FIXED_NOREPLACE;
    void* p = mmap(hint, n, PROT_NONE, flags, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (hint && p != hint) {
      munmap(p, n);
      return nullptr;
    }
    reserved += n;
    return p;
  }
  bool commit(void* p, size_t n) override {
    if (n > commit_budget) return false;
    commit_budget -= n;
    committed += n;
    return mprotect(p, n, PROT_READ | PROT_WRITE) == 0;
  }
  bool decommit(void* p, size_t n) override {
    decommit_calls++;
    decommitted += n;
    madvise(p, n, MADV_DONTNEED);
    return true;
  }
  void release(void* p, size_t n) override { munmap(p, n); }
  void* alloc_meta(size_t n) override {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void set_hugepages(void*, size_t, bool) override {}
};
