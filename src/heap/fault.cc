#include "heap/fault.h"

#include "base/fmt.h"
#include "heap/mspan.h"
#include "platform/os.h"

namespace gomem {

namespace {
const char* fault_name(Fault f) {
  switch (f) {
    case Fault::kDoubleFree:
      return "double free";
    case Fault::kInvalidFree:
      return "free of a pointer gomem never handed out";
    case Fault::kInteriorFree:
      return "free of an interior pointer";
    case Fault::kCorrupt:
      return "corrupted heap metadata";
    case Fault::kOutOfMemory:
      return "out of memory";
    case Fault::kBadAlignment:
      return "invalid alignment";
    case Fault::kCheckFailed:
      return "heap check failed";
  }
  return "fault";
}
}  // namespace

void fatal_fault(Fault f, const void* p, const MSpan* s, const char* detail) {
  StackBuf<512> b;
  b.s("gomem: ").s(fault_name(f)).s(" of ").p(p);
  if (s) {
    uint32_t sc = span_class_size_class(s->spanclass);
    b.s(" (");
    if (s->large)
      b.s("large object of ").u(s->npages).s(" pages");
    else
      b.s("size class ").u(sc).s(", ").u(s->elemsize).s(" bytes");
    b.s(", ").s(span_kind_name(s->kind)).s(" span ").p(reinterpret_cast<void*>(s->base)).s("+").u(s->npages).s("p");
    if (!s->large && s->elemsize) {
      uintptr_t a = reinterpret_cast<uintptr_t>(p);
      if (a >= s->base && a < s->base + s->npages * kPageSize) {
        uintptr_t idx = (a - s->base) / s->elemsize;
        b.s(", object ").u(idx).s(" at ").p(reinterpret_cast<void*>(s->base + idx * s->elemsize));
      }
    }
    b.s(")");
  }
  if (detail) b.s(": ").s(detail);
  b.c('\n');
  os::write_stderr(b.str(), b.len());
  os::abort_process();
}

void fatal(const char* msg) {
  StackBuf<512> b;
  b.s("gomem: fatal error: ").s(msg).c('\n');
  os::write_stderr(b.str(), b.len());
  os::abort_process();
}

void warn(const char* msg) {
  StackBuf<512> b;
  b.s("gomem: warning: ").s(msg).c('\n');
  os::write_stderr(b.str(), b.len());
}

}  // namespace gomem
