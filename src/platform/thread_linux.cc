#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>

#include "platform/thread.h"

namespace gomem {
namespace os {

static_assert(kThreadExitRounds == PTHREAD_DESTRUCTOR_ITERATIONS);

namespace {
pthread_key_t g_exit_key;
std::atomic<void (*)(void*)> g_exit_fn{nullptr};
pthread_once_t g_exit_once = PTHREAD_ONCE_INIT;
bool g_exit_key_ok = false;

void exit_trampoline(void* arg) {
  if (auto fn = g_exit_fn.load(std::memory_order_acquire)) fn(arg);
}

void make_exit_key() { g_exit_key_ok = pthread_key_create(&g_exit_key, exit_trampoline) == 0; }

// Copies bytes (a whole number of words) from src into at most max words.
size_t copy_words(const void* src, size_t bytes, uintptr_t* out, size_t max) {
  size_t n = bytes / sizeof(uintptr_t);
  if (n > max) n = max;
  memcpy(out, src, n * sizeof(uintptr_t));
  return n;
}

#if defined(__aarch64__)
// The 32 128-bit vector registers in a signal frame: the kernel's
// fpsimd_context record (asm/sigcontext.h: magic 0x46508001, then size,
// fpsr, fpcr, vregs[32]), one of the records in uc_mcontext.__reserved,
// always present. nullptr if not found.
const void* aarch64_vregs(const ucontext_t* uc) {
  constexpr uint32_t kFpsimdMagic = 0x46508001;
  constexpr size_t kVregsOffset = 16;
  const unsigned char* p = uc->uc_mcontext.__reserved;
  const unsigned char* end = p + sizeof uc->uc_mcontext.__reserved;
  while (p + 8 <= end) {
    uint32_t magic, size;
    memcpy(&magic, p, 4);
    memcpy(&size, p + 4, 4);
    if (magic == 0 || size < 8 || size > static_cast<size_t>(end - p)) return nullptr;
    if (magic == kFpsimdMagic) return size >= kVregsOffset + 32 * 16 ? p + kVregsOffset : nullptr;
    p += size;
  }
  return nullptr;
}
#endif
}  // namespace

bool set_thread_exit_value(void (*fn)(void*), void* arg) {
  g_exit_fn.store(fn, std::memory_order_release);
  pthread_once(&g_exit_once, make_exit_key);
  if (!g_exit_key_ok) return false;
  return pthread_setspecific(g_exit_key, arg) == 0;
}

void register_atfork(void (*prepare)(), void (*parent)(), void (*child)()) { pthread_atfork(prepare, parent, child); }

bool current_stack_bounds(uintptr_t* lo, uintptr_t* hi) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return false;
  void* addr = nullptr;
  size_t size = 0;
  int r = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (r != 0 || !addr) return false;
  *lo = reinterpret_cast<uintptr_t>(addr);
  *hi = *lo + size;
  return true;
}

namespace {

struct TlsBlock {
  uintptr_t lo, hi, align;
  size_t modid;
};

// The calling thread's TLS blocks (at most kMax; more modules with TLS than
// that are not looked at).
struct TlsBlocks {
  static constexpr int kMax = 64;
  TlsBlock b[kMax];
  int n = 0;
};

int collect_tls_block(struct dl_phdr_info* info, size_t size, void* arg) {
  auto* out = static_cast<TlsBlocks*>(arg);
  if (size < offsetof(struct dl_phdr_info, dlpi_tls_data) + sizeof info->dlpi_tls_data) return 1;  // glibc < 2.25
  if (!info->dlpi_tls_data || out->n == TlsBlocks::kMax) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_TLS || ph.p_memsz == 0) continue;
    uintptr_t lo = reinterpret_cast<uintptr_t>(info->dlpi_tls_data);
    out->b[out->n++] = {lo, lo + ph.p_memsz, ph.p_align ? ph.p_align : 1, info->dlpi_tls_modid};
  }
  return 0;
}

}  // namespace

bool static_tls_bounds(uintptr_t* lo, uintptr_t* hi) {
  TlsBlocks t;
  dl_iterate_phdr(collect_tls_block, &t);
  // Sort by address (insertion sort: a handful of modules).
  for (int i = 1; i < t.n; i++)
    for (int j = i; j > 0 && t.b[j].lo < t.b[j - 1].lo; j--) {
      TlsBlock x = t.b[j];
      t.b[j] = t.b[j - 1];
      t.b[j - 1] = x;
    }
  int one = 0;
  while (one < t.n && t.b[one].modid != 1) one++;
  if (one == t.n) return false;
  // Neighbours a and b (a below b) are both static if the gap between them
  // is less than the alignment of either (variant II, x86-64, aligns the
  // lower block; variant I, AArch64, the upper one).
  auto packed = [&](int a, int b) {
    uintptr_t align = t.b[a].align > t.b[b].align ? t.b[a].align : t.b[b].align;
    return t.b[b].lo < t.b[a].hi + align;
  };
  int l = one, r = one + 1;
  while (l > 0 && packed(l - 1, l)) l--;
  while (r < t.n && packed(r - 1, r)) r++;
  *lo = t.b[l].lo;
  *hi = t.b[r - 1].hi;
  return true;
}

bool install_signal_handler(int sig, SignalHandler handler) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  // Leave synchronous fault signals deliverable inside the handler.
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  sigdelset(&sa.sa_mask, SIGILL);
  sigdelset(&sa.sa_mask, SIGFPE);
  sigdelset(&sa.sa_mask, SIGABRT);
  return sigaction(sig, &sa, nullptr) == 0;
}

int signal_thread(uintptr_t h, int sig) { return pthread_kill(static_cast<pthread_t>(h), sig); }

int signal_tid(int tid, int sig) {
  long r = syscall(SYS_tgkill, getpid(), tid, sig);
  return r == 0 ? 0 : errno;
}

bool on_alt_stack(uintptr_t sp, uintptr_t* hi) {
  stack_t ss;
  if (sigaltstack(nullptr, &ss) != 0 || (ss.ss_flags & SS_DISABLE)) return false;
  uintptr_t lo = reinterpret_cast<uintptr_t>(ss.ss_sp);
  if (sp < lo || sp >= lo + ss.ss_size) return false;
  *hi = lo + ss.ss_size;
  return true;
}

uintptr_t pthread_handle() { return static_cast<uintptr_t>(pthread_self()); }

// The general-purpose registers, then the vector registers (a compiler may
// keep a pointer in one: GCC on AArch64 parks integers in d8-d15 across
// calls, and both targets move them through vector registers).
size_t ucontext_registers(void* uctx, uintptr_t* out, size_t max, uintptr_t* sp) {
  auto* uc = static_cast<ucontext_t*>(uctx);
  size_t n = 0;
#if defined(__x86_64__)
  for (int i = 0; i < NGREG && n < max; i++) out[n++] = static_cast<uintptr_t>(uc->uc_mcontext.gregs[i]);
  *sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  if (const auto* fp = uc->uc_mcontext.fpregs) n += copy_words(fp->_xmm, sizeof fp->_xmm, out + n, max - n);
#elif defined(__aarch64__)
  for (int i = 0; i < 31 && n < max; i++) out[n++] = uc->uc_mcontext.regs[i];
  *sp = uc->uc_mcontext.sp;
  if (const void* v = aarch64_vregs(uc)) n += copy_words(v, 32 * 16, out + n, max - n);
#else
#error "gomem: ucontext_registers has no port for this architecture"
#endif
  return n;
}

void clear_vector_registers() {
#if defined(__x86_64__)
  __asm__ __volatile__(
      "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
      "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\tpxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
      "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
      "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15"
      :
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15");
#elif defined(__aarch64__)
  __asm__ __volatile__(
      "movi v0.16b, #0\n\tmovi v1.16b, #0\n\tmovi v2.16b, #0\n\tmovi v3.16b, #0\n\t"
      "movi v4.16b, #0\n\tmovi v5.16b, #0\n\tmovi v6.16b, #0\n\tmovi v7.16b, #0\n\t"
      "mov v8.d[1], xzr\n\tmov v9.d[1], xzr\n\tmov v10.d[1], xzr\n\tmov v11.d[1], xzr\n\t"
      "mov v12.d[1], xzr\n\tmov v13.d[1], xzr\n\tmov v14.d[1], xzr\n\tmov v15.d[1], xzr\n\t"
      "movi v16.16b, #0\n\tmovi v17.16b, #0\n\tmovi v18.16b, #0\n\tmovi v19.16b, #0\n\t"
      "movi v20.16b, #0\n\tmovi v21.16b, #0\n\tmovi v22.16b, #0\n\tmovi v23.16b, #0\n\t"
      "movi v24.16b, #0\n\tmovi v25.16b, #0\n\tmovi v26.16b, #0\n\tmovi v27.16b, #0\n\t"
      "movi v28.16b, #0\n\tmovi v29.16b, #0\n\tmovi v30.16b, #0\n\tmovi v31.16b, #0"
      :
      :
      : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16",
        "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
#else
#error "gomem: clear_vector_registers has no port for this architecture"
#endif
}

GOMEM_NOINLINE void clear_dead_stack() {
  // This frame lies right below the caller's: its array covers the dead
  // frames there. The compiler must not drop the stores to a dying array.
  uintptr_t dead[kDeadStackBytes / sizeof(uintptr_t)];
  for (uintptr_t& w : dead) w = 0;
  __asm__ __volatile__("" : : "r"(dead) : "memory");
#if defined(__x86_64__)
  __asm__ __volatile__(
      "xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\txor %%esi, %%esi\n\txor %%edi, %%edi\n\t"
      "xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"
      :
      :
      : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
#elif defined(__aarch64__)
  __asm__ __volatile__(
      "mov x0, xzr\n\tmov x1, xzr\n\tmov x2, xzr\n\tmov x3, xzr\n\tmov x4, xzr\n\tmov x5, xzr\n\t"
      "mov x6, xzr\n\tmov x7, xzr\n\tmov x8, xzr\n\tmov x9, xzr\n\tmov x10, xzr\n\tmov x11, xzr\n\t"
      "mov x12, xzr\n\tmov x13, xzr\n\tmov x14, xzr\n\tmov x15, xzr\n\tmov x16, xzr\n\tmov x17, xzr"
      :
      :
      : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",
        "x17");
#else
#error "gomem: clear_dead_stack has no port for this architecture"
#endif
}

// The callee-saved registers, stored straight into the caller's array: a
// function that stored them into its own frame (__builtin_unwind_init)
// would lose them when it returns, and a compiler-generated save could come
// after the function's own use of a register had replaced its value.
size_t spill_registers(uintptr_t* out, size_t max) {
#if defined(__x86_64__)
  // rbx, rbp, r12-r15 (SysV: no vector register survives a call).
  if (max < 6) return 0;
  __asm__ __volatile__(
      "movq %%rbx, 0(%0)\n\t"
      "movq %%rbp, 8(%0)\n\t"
      "movq %%r12, 16(%0)\n\t"
      "movq %%r13, 24(%0)\n\t"
      "movq %%r14, 32(%0)\n\t"
      "movq %%r15, 40(%0)\n\t"
      :
      : "r"(out)
      : "memory");
  return 6;
#elif defined(__aarch64__)
  // x19-x28, the frame pointer x29, and d8-d15 (AAPCS64: the low halves of
  // v8-v15 survive a call).
  if (max < 19) return 0;
  __asm__ __volatile__(
      "stp x19, x20, [%0, #0]\n\t"
      "stp x21, x22, [%0, #16]\n\t"
      "stp x23, x24, [%0, #32]\n\t"
      "stp x25, x26, [%0, #48]\n\t"
      "stp x27, x28, [%0, #64]\n\t"
      "str x29, [%0, #80]\n\t"
      "stp d8, d9, [%0, #88]\n\t"
      "stp d10, d11, [%0, #104]\n\t"
      "stp d12, d13, [%0, #120]\n\t"
      "stp d14, d15, [%0, #136]\n\t"
      :
      : "r"(out)
      : "memory");
  return 19;
#else
#error "gomem: spill_registers has no port for this architecture"
#endif
}

int default_suspend_signal() { return SIGPWR; }

void unblock_signal(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

bool start_thread(void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // Block every signal in the helper so the world-stop signals and the
  // program's own signals never land on it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int r = pthread_create(&t, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return r == 0;
}

}  // namespace os
}  // namespace gomem
