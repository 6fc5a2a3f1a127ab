#include "base/fmt.h"

namespace gomem {

Buf& Buf::c(char ch) {
  if (len_ + 1 < cap_) {
    data_[len_++] = ch;
    data_[len_] = 0;
    if (ch == '\n') line_start_ = len_;
  }
  return *this;
}

Buf& Buf::s(const char* str) {
  if (!str) str = "(null)";
  while (*str) c(*str++);
  return *this;
}

Buf& Buf::u(uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) c(tmp[--n]);
  return *this;
}

Buf& Buf::i(int64_t v) {
  if (v < 0) {
    c('-');
    return u(static_cast<uint64_t>(0) - static_cast<uint64_t>(v));
  }
  return u(static_cast<uint64_t>(v));
}

Buf& Buf::x(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = digits[v & 15];
    v >>= 4;
  } while (v);
  s("0x");
  while (n) c(tmp[--n]);
  return *this;
}

Buf& Buf::f(double v, int decimals) {
  if (v != v) return s("NaN");
  if (v < 0) {
    c('-');
    v = -v;
  }
  uint64_t scale = 1;
  for (int k = 0; k < decimals; k++) scale *= 10;
  if (v > 1e18) return s("inf");
  uint64_t whole = static_cast<uint64_t>(v);
  uint64_t frac = static_cast<uint64_t>((v - static_cast<double>(whole)) * static_cast<double>(scale) + 0.5);
  if (frac >= scale) {
    whole++;
    frac -= scale;
  }
  u(whole);
  if (decimals > 0) {
    c('.');
    char tmp[24];
    for (int k = decimals - 1; k >= 0; k--) {
      tmp[k] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    for (int k = 0; k < decimals; k++) c(tmp[k]);
  }
  return *this;
}

Buf& Buf::pad(size_t width) {
  while (len_ - line_start_ < width && len_ + 1 < cap_) c(' ');
  return *this;
}

Buf& Buf::bytes(uint64_t v) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (v < 1024) return u(v).s(" B");
  double d = static_cast<double>(v) / 1024.0;
  int k = 0;
  while (d >= 1024.0 && k < 3) {
    d /= 1024.0;
    k++;
  }
  return f(d, 1).c(' ').s(units[k]);
}

}  // namespace gomem
