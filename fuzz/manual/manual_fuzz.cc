// Fuzz target: the manual heap (gomem_malloc, free, realloc, calloc,
// aligned_alloc, usable_size) driven by an operation sequence over a few
// slots. Every live block carries a pattern the interpreter checks before
// it frees, reallocates or leaves the block; gomem_check_heap walks the heap
// after every input. The library is linked without the malloc override, so
// libFuzzer itself allocates with glibc and only the interpreter's blocks
// are gomem's.
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "fuzz_util.h"
#include "gomem/gomem.h"

namespace {

constexpr int kSlots = 32;

struct Slot {
  uint8_t* p = nullptr;
  size_t len = 0;  // bytes that hold the pattern (the request, or the usable size once written)
  uint8_t seed = 0;
};

Slot g_slots[kSlots];

void check(const Slot& s, const char* what) {
  if (s.p) fuzz::expect_pattern(s.p, s.len, s.seed, what);
}

void release(Slot& s) {
  check(s, "block damaged before free");
  gomem_free(s.p);
  s = Slot{};
}

void put(Slot& s, void* p, size_t len, uint8_t seed) {
  s.p = static_cast<uint8_t*>(p);
  s.len = len;
  s.seed = seed;
  fuzz::fill(p, len, seed);
}

// NULL is the answer only for a request the heap cannot hold.
void expect_block(void* p, size_t size, const char* what) {
  if (!p && size < (size_t{1} << 40)) fuzz::fail(what, p, size, 0);
  if (!p && errno != ENOMEM) fuzz::fail("NULL without ENOMEM", p, size, errno);
  if (p && gomem_usable_size(p) < size) fuzz::fail("usable size below the request", p, size, gomem_usable_size(p));
}

// glibc 2.36's alignment rule (include/gomem/gomem.h).
size_t promised_alignment(size_t align, size_t size) {
  if (align <= 16) return size >= 16 ? 16 : 8;
  size_t a = 32;
  while (a < align) a <<= 1;
  return a;
}

void op_aligned(fuzz::Reader& r, Slot& s, uint8_t seed) {
  static const size_t kAligns[] = {0, 1, 3, 8, 16, 24, 32, 48, 64, 100, 256, 4096, 4097, 8192, 65536, 1 << 20};
  size_t align = kAligns[r.u8() % (sizeof kAligns / sizeof kAligns[0])];
  size_t size = r.size();
  errno = 0;
  void* p = gomem_aligned_alloc(align, size);
  expect_block(p, size, "aligned_alloc failed");
  if (p && reinterpret_cast<uintptr_t>(p) % promised_alignment(align, size) != 0)
    fuzz::fail("aligned_alloc misaligned", p, align, size);
  if (p) put(s, p, size, seed);
}

void op_realloc(fuzz::Reader& r, Slot& s, uint8_t seed) {
  size_t size = r.size();
  check(s, "block damaged before realloc");
  errno = 0;
  void* q = gomem_realloc(s.p, size);
  if (!q) {
    if (size == 0 && s.p) {  // glibc's rule: freed
      s = Slot{};
      return;
    }
    expect_block(q, size, "realloc failed");
    check(s, "realloc failed and damaged the block");
    return;
  }
  expect_block(q, size, "realloc");
  size_t kept = s.len < size ? s.len : size;
  if (s.p) fuzz::expect_pattern(q, kept, s.seed, "realloc lost contents");
  uint8_t old = s.p ? s.seed : seed;
  s.p = static_cast<uint8_t*>(q);
  s.seed = old;
  fuzz::fill(q, size, old, kept);
  s.len = size;
}

void op_calloc(fuzz::Reader& r, Slot& s, uint8_t seed) {
  size_t n = r.u8() % 64;
  size_t size = r.size() / (n ? n : 1);
  errno = 0;
  void* p = gomem_calloc(n, size);
  expect_block(p, n * size, "calloc failed");
  if (!p) return;
  for (size_t i = 0; i < n * size; i++)
    if (static_cast<uint8_t*>(p)[i]) fuzz::fail("calloc memory not zero", p, i, n * size);
  put(s, p, n * size, seed);
}

void run(fuzz::Reader& r) {
  uint8_t seed = 1;
  while (!r.done()) {
    uint8_t op = r.u8();
    Slot& s = g_slots[r.u8() % kSlots];
    seed++;
    switch (op % 8) {
      case 0: {
        if (s.p) release(s);
        size_t size = r.size();
        errno = 0;
        void* p = gomem_malloc(size);
        expect_block(p, size, "malloc failed");
        if (p) put(s, p, size, seed);
        break;
      }
      case 1:
        if (s.p) release(s);
        break;
      case 2:
        op_realloc(r, s, seed);
        break;
      case 3:
        if (s.p) release(s);
        op_calloc(r, s, seed);
        break;
      case 4:
        if (s.p) release(s);
        op_aligned(r, s, seed);
        break;
      case 5:  // the whole usable size is the program's
        if (s.p) {
          check(s, "block damaged");
          size_t u = gomem_usable_size(s.p);
          fuzz::fill(s.p, u, s.seed, s.len);
          s.len = u;
        }
        break;
      case 6:
        check(s, "block damaged");
        break;
      default:
        for (Slot& t : g_slots) check(t, "block damaged");
        gomem_check_heap();
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  run(r);
  for (Slot& s : g_slots)
    if (s.p) release(s);
  gomem_check_heap();
  return 0;
}
