// A tiny formatter into a fixed buffer. It never allocates, so it is safe in
// error paths, at exit, in the allocator's own slow paths and in gctrace.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gomem {

class Buf {
 public:
  Buf(char* data, size_t cap) : data_(data), cap_(cap) {
    if (cap_) data_[0] = 0;
  }

  Buf& s(const char* str);
  Buf& c(char ch);
  Buf& u(uint64_t v);  // decimal
  Buf& i(int64_t v);   // signed decimal
  Buf& x(uint64_t v);  // 0x-prefixed hex
  Buf& p(const void* ptr) { return x(reinterpret_cast<uintptr_t>(ptr)); }
  Buf& f(double v, int decimals);  // fixed point
  Buf& pad(size_t width);          // spaces until the line is `width` long
  // Bytes as a human-readable quantity: 123 B, 4.0 KiB, 1.5 MiB, 2.0 GiB.
  Buf& bytes(uint64_t v);

  const char* str() const { return data_; }
  size_t len() const { return len_; }
  void clear() {
    len_ = 0;
    line_start_ = 0;
    if (cap_) data_[0] = 0;
  }

 private:
  char* data_;
  size_t cap_;
  size_t len_ = 0;
  size_t line_start_ = 0;
};

// A buffer on the stack.
template <size_t N>
class StackBuf : public Buf {
 public:
  StackBuf() : Buf(storage_, N) {}

 private:
  char storage_[N];
};

}  // namespace gomem
