// The collector and registers: an object whose only reference sits in a
// register survives a collection, whichever thread holds it and whichever
// register it is in.
//
// - The collecting thread's own callee-saved registers (x86-64: rbx,
//   r12-r15; AArch64: x19-x28 and d8-d15), held across gomem_gc_collect():
//   the collector spills them itself (os::spill_registers).
// - A thread stopped by the world-stop signal while it spins: its
//   general-purpose and vector registers (both 64-bit halves of xmm8-15 /
//   v8-v15), taken from the signal frame (os::ucontext_registers).
//
// The register traffic is written in assembly, one twin per architecture,
// so that no compiler decides where the pointers live: each routine loads
// XOR-masked addresses, unmasks them only inside the registers under test,
// clears the stack below itself (where dead frames may still hold copies)
// and the scratch registers, and stores the registers back when it is done.
// Test bodies and the spinning threads run on freshly mapped stacks, so no
// stale word can keep an object alive by accident; after each collection,
// garbage of the same size is allocated and overwritten, so a freed object's
// slot is handed out again and the object's contents no longer check.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "gomem/gomem.h"
#include "test_util.h"

using namespace gomem_test;

extern "C" {
// Unmasks masked[0..kCollectorHeld) (XOR mask) into the collector-side
// registers, calls gomem_gc_collect(), and stores those registers to out.
void gomem_test_collect_holding(const uintptr_t* masked, uintptr_t* out, uintptr_t mask);
// Unmasks masked[0..kSpinnerHeld) into registers, adds 1 to *ready and
// spins until *go is not 0; then stores the registers to out.
void gomem_test_spin_holding(const uintptr_t* masked, uintptr_t* out, uintptr_t mask, const int* go, int* ready);
}

namespace {

#if defined(__x86_64__)
constexpr int kCollectorHeld = 5;  // rbx, r12-r15
constexpr int kSpinnerHeld = 21;   // rbx, r12-r15; xmm8-xmm15, both halves
#elif defined(__aarch64__)
constexpr int kCollectorHeld = 18;  // x19-x28, d8-d15
constexpr int kSpinnerHeld = 26;    // x19-x28; v8-v15, both halves
#else
#error "gc_registers_test has no assembly for this architecture"
#endif

#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl gomem_test_collect_holding\n"
    ".type gomem_test_collect_holding,@function\n"
    "gomem_test_collect_holding:\n"
    "  push %rbx\n push %r12\n push %r13\n push %r14\n push %r15\n push %rsi\n"
    "  sub $8, %rsp\n"  // 16-byte alignment at the call
    "  mov 0(%rdi), %rbx\n xor %rdx, %rbx\n"
    "  mov 8(%rdi), %r12\n xor %rdx, %r12\n"
    "  mov 16(%rdi), %r13\n xor %rdx, %r13\n"
    "  mov 24(%rdi), %r14\n xor %rdx, %r14\n"
    "  mov 32(%rdi), %r15\n xor %rdx, %r15\n"
    "  xor %edi, %edi\n xor %edx, %edx\n"
    "  lea -65536(%rsp), %rax\n"
    "1: movq $0, (%rax)\n add $8, %rax\n cmp %rsp, %rax\n jb 1b\n"
    "  xor %eax, %eax\n"
    "  call gomem_gc_collect@PLT\n"
    "  add $8, %rsp\n pop %rsi\n"
    "  mov %rbx, 0(%rsi)\n mov %r12, 8(%rsi)\n mov %r13, 16(%rsi)\n mov %r14, 24(%rsi)\n mov %r15, 32(%rsi)\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbx\n"
    "  ret\n"
    ".size gomem_test_collect_holding, .-gomem_test_collect_holding\n"

    ".globl gomem_test_spin_holding\n"
    ".type gomem_test_spin_holding,@function\n"
    "gomem_test_spin_holding:\n"
    "  push %rbx\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  mov 0(%rdi), %rbx\n xor %rdx, %rbx\n"
    "  mov 8(%rdi), %r12\n xor %rdx, %r12\n"
    "  mov 16(%rdi), %r13\n xor %rdx, %r13\n"
    "  mov 24(%rdi), %r14\n xor %rdx, %r14\n"
    "  mov 32(%rdi), %r15\n xor %rdx, %r15\n"
    // xmm8..xmm15 = {masked[5+2k] ^ mask, masked[6+2k] ^ mask}
    "  .irp k,8,9,10,11,12,13,14,15\n"
    "  mov 40+16*(\\k-8)(%rdi), %rax\n xor %rdx, %rax\n movq %rax, %xmm\\k\n"
    "  mov 48+16*(\\k-8)(%rdi), %rax\n xor %rdx, %rax\n movq %rax, %xmm0\n"
    "  punpcklqdq %xmm0, %xmm\\k\n"
    "  .endr\n"
    "  xor %eax, %eax\n xor %edi, %edi\n xor %edx, %edx\n pxor %xmm0, %xmm0\n"
    "  lea -65536(%rsp), %r9\n"
    "1: movq $0, (%r9)\n add $8, %r9\n cmp %rsp, %r9\n jb 1b\n"
    "  lock incl (%r8)\n"
    "2: pause\n cmpl $0, (%rcx)\n je 2b\n"
    "  mov %rbx, 0(%rsi)\n mov %r12, 8(%rsi)\n mov %r13, 16(%rsi)\n mov %r14, 24(%rsi)\n mov %r15, 32(%rsi)\n"
    "  .irp k,8,9,10,11,12,13,14,15\n"
    "  movq %xmm\\k, 40+16*(\\k-8)(%rsi)\n"
    "  pshufd $0xee, %xmm\\k, %xmm0\n movq %xmm0, 48+16*(\\k-8)(%rsi)\n"
    "  .endr\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbx\n"
    "  ret\n"
    ".size gomem_test_spin_holding, .-gomem_test_spin_holding\n");
#elif defined(__aarch64__)
__asm__(
    ".text\n"
    ".globl gomem_test_collect_holding\n"
    ".type gomem_test_collect_holding,%function\n"
    "gomem_test_collect_holding:\n"
    "  stp x29, x30, [sp, #-176]!\n"
    "  mov x29, sp\n"
    "  stp x19, x20, [sp, #16]\n stp x21, x22, [sp, #32]\n stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n stp x27, x28, [sp, #80]\n str x1, [sp, #96]\n"
    "  stp d8, d9, [sp, #112]\n stp d10, d11, [sp, #128]\n stp d12, d13, [sp, #144]\n stp d14, d15, [sp, #160]\n"
    "  ldp x19, x20, [x0, #0]\n ldp x21, x22, [x0, #16]\n ldp x23, x24, [x0, #32]\n"
    "  ldp x25, x26, [x0, #48]\n ldp x27, x28, [x0, #64]\n"
    "  eor x19, x19, x2\n eor x20, x20, x2\n eor x21, x21, x2\n eor x22, x22, x2\n eor x23, x23, x2\n"
    "  eor x24, x24, x2\n eor x25, x25, x2\n eor x26, x26, x2\n eor x27, x27, x2\n eor x28, x28, x2\n"
    // d8..d15 = masked[10..17] ^ mask
    "  .irp k,8,9,10,11,12,13,14,15\n"
    "  ldr x9, [x0, #80+8*(\\k-8)]\n eor x9, x9, x2\n fmov d\\k, x9\n"
    "  .endr\n"
    "  mov x0, xzr\n mov x2, xzr\n mov x9, xzr\n"
    "  mov x10, sp\n sub x11, x10, #16, lsl #12\n"  // 64 KiB below sp
    "1: str xzr, [x11], #8\n cmp x11, x10\n b.lo 1b\n"
    "  bl gomem_gc_collect\n"
    "  ldr x1, [sp, #96]\n"
    "  stp x19, x20, [x1, #0]\n stp x21, x22, [x1, #16]\n stp x23, x24, [x1, #32]\n"
    "  stp x25, x26, [x1, #48]\n stp x27, x28, [x1, #64]\n"
    "  stp d8, d9, [x1, #80]\n stp d10, d11, [x1, #96]\n stp d12, d13, [x1, #112]\n stp d14, d15, [x1, #128]\n"
    "  ldp x19, x20, [sp, #16]\n ldp x21, x22, [sp, #32]\n ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n ldp x27, x28, [sp, #80]\n"
    "  ldp d8, d9, [sp, #112]\n ldp d10, d11, [sp, #128]\n ldp d12, d13, [sp, #144]\n ldp d14, d15, [sp, #160]\n"
    "  ldp x29, x30, [sp], #176\n"
    "  ret\n"
    ".size gomem_test_collect_holding, .-gomem_test_collect_holding\n"

    ".globl gomem_test_spin_holding\n"
    ".type gomem_test_spin_holding,%function\n"
    "gomem_test_spin_holding:\n"
    "  stp x29, x30, [sp, #-160]!\n"
    "  mov x29, sp\n"
    "  stp x19, x20, [sp, #16]\n stp x21, x22, [sp, #32]\n stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n stp x27, x28, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n stp d10, d11, [sp, #112]\n stp d12, d13, [sp, #128]\n stp d14, d15, [sp, #144]\n"
    "  ldp x19, x20, [x0, #0]\n ldp x21, x22, [x0, #16]\n ldp x23, x24, [x0, #32]\n"
    "  ldp x25, x26, [x0, #48]\n ldp x27, x28, [x0, #64]\n"
    "  eor x19, x19, x2\n eor x20, x20, x2\n eor x21, x21, x2\n eor x22, x22, x2\n eor x23, x23, x2\n"
    "  eor x24, x24, x2\n eor x25, x25, x2\n eor x26, x26, x2\n eor x27, x27, x2\n eor x28, x28, x2\n"
    // v8..v15 = {masked[10+2k] ^ mask, masked[11+2k] ^ mask}
    "  .irp k,8,9,10,11,12,13,14,15\n"
    "  ldp x9, x10, [x0, #80+16*(\\k-8)]\n eor x9, x9, x2\n eor x10, x10, x2\n"
    "  fmov d\\k, x9\n mov v\\k\\().d[1], x10\n"
    "  .endr\n"
    "  mov x0, xzr\n mov x2, xzr\n mov x9, xzr\n mov x10, xzr\n"
    "  mov x11, sp\n sub x12, x11, #16, lsl #12\n"
    "1: str xzr, [x12], #8\n cmp x12, x11\n b.lo 1b\n"
    "2: ldaxr w9, [x4]\n add w9, w9, #1\n stlxr w10, w9, [x4]\n cbnz w10, 2b\n"
    "3: yield\n ldar w9, [x3]\n cbz w9, 3b\n"
    "  stp x19, x20, [x1, #0]\n stp x21, x22, [x1, #16]\n stp x23, x24, [x1, #32]\n"
    "  stp x25, x26, [x1, #48]\n stp x27, x28, [x1, #64]\n"
    "  .irp k,8,9,10,11,12,13,14,15\n"
    "  fmov x9, d\\k\n mov x10, v\\k\\().d[1]\n stp x9, x10, [x1, #80+16*(\\k-8)]\n"
    "  .endr\n"
    "  ldp x19, x20, [sp, #16]\n ldp x21, x22, [sp, #32]\n ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n ldp x27, x28, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n ldp d10, d11, [sp, #112]\n ldp d12, d13, [sp, #128]\n ldp d14, d15, [sp, #144]\n"
    "  ldp x29, x30, [sp], #160\n"
    "  ret\n"
    ".size gomem_test_spin_holding, .-gomem_test_spin_holding\n");
#endif

constexpr uintptr_t kMask = 0x5a5a5a5a5a5a5a5aULL;
constexpr size_t kSize = 48;

// Allocates n objects of kSize bytes, filled from seed + i, and returns
// their addresses XOR-masked in masked[0..n).
GOMEM_NOINLINE_TEST void make_masked_objects(uintptr_t* masked, int n, uint64_t seed) {
  for (int i = 0; i < n; i++) {
    void* p = gomem_gc_alloc(kSize);
    fill(p, kSize, seed + static_cast<uint64_t>(i));
    masked[i] = reinterpret_cast<uintptr_t>(p) ^ kMask;
  }
}

// Allocates garbage of the objects' size and overwrites it, so that the
// slots of objects freed by mistake are handed out and clobbered.
GOMEM_NOINLINE_TEST void churn(int count) {
  for (int i = 0; i < count; i++) memset(gomem_gc_alloc(kSize), 0xee, kSize);
}

// How many of held[0..n) (the objects made from seed) lost their contents.
int count_damaged(const uintptr_t* held, int n, uint64_t seed) {
  int bad = 0;
  for (int i = 0; i < n; i++)
    if (!check(reinterpret_cast<void*>(held[i]), kSize, seed + static_cast<uint64_t>(i))) bad++;
  return bad;
}

// A thread on a freshly mapped (all-zero) stack.
class FreshThread {
 public:
  template <typename F>
  explicit FreshThread(F fn) : fn_(fn) {
    stack_ = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack_, kStack);
    started_ = stack_ != MAP_FAILED && pthread_create(&t_, &attr, run, this) == 0;
    pthread_attr_destroy(&attr);
  }
  bool started() const { return started_; }
  void join() {
    if (started_) pthread_join(t_, nullptr);
    started_ = false;
  }
  ~FreshThread() {
    join();
    if (stack_ != MAP_FAILED) munmap(stack_, kStack);
  }
  FreshThread(const FreshThread&) = delete;
  FreshThread& operator=(const FreshThread&) = delete;

 private:
  static constexpr size_t kStack = 1 << 20;
  static void* run(void* self) {
    static_cast<FreshThread*>(self)->fn_();
    return nullptr;
  }
  std::function<void()> fn_;
  void* stack_ = MAP_FAILED;
  pthread_t t_{};
  bool started_ = false;
};

#define FRESH_TEST(suite, name)           \
  static void suite##_##name##_body();    \
  TEST(suite, name) {                     \
    FreshThread t(suite##_##name##_body); \
    ASSERT_TRUE(t.started());             \
  }                                       \
  static void suite##_##name##_body()

}  // namespace

FRESH_TEST(GCRegisters, TheCollectingThreadsCalleeSavedRegistersAreRoots) {
  uintptr_t masked[kCollectorHeld];
  uintptr_t held[kCollectorHeld];
  for (int round = 0; round < 3; round++) {
    uint64_t seed = 1000 + 100 * static_cast<uint64_t>(round);
    make_masked_objects(masked, kCollectorHeld, seed);
    gomem_test_collect_holding(masked, held, kMask);
    churn(20000);
    EXPECT_EQ(count_damaged(held, kCollectorHeld, seed), 0)
        << "objects held only in the collecting thread's callee-saved registers were freed (round " << round << ")";
  }
}

FRESH_TEST(GCRegisters, AStoppedThreadsRegistersAreRoots) {
  int n = 2 * ncpu();
  if (n < 4) n = 4;
  std::atomic<int> go{0};
  std::atomic<int> ready{0};
  std::vector<std::vector<uintptr_t>> held(n, std::vector<uintptr_t>(kSpinnerHeld));
  std::vector<std::unique_ptr<FreshThread>> threads;
  bool all_started = true;
  for (int i = 0; i < n; i++) {
    threads.push_back(std::make_unique<FreshThread>([&, i] {
      uintptr_t masked[kSpinnerHeld];
      make_masked_objects(masked, kSpinnerHeld, 5000 + 100 * static_cast<uint64_t>(i));
      gomem_test_spin_holding(masked, held[i].data(), kMask, reinterpret_cast<const int*>(&go),
                              reinterpret_cast<int*>(&ready));
    }));
    all_started &= threads.back()->started();
  }
  // Bounded: the spinners only allocate a few objects before they get ready.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (all_started && ready.load() < n && std::chrono::steady_clock::now() < deadline) sched_yield();
  bool all_ready = ready.load() == n;
  if (all_ready) {
    for (int c = 0; c < 3; c++) {
      gomem_gc_collect();
      churn(20000);
    }
  }
  go.store(1);  // before any assertion: a spinner only returns when it sees it
  for (auto& t : threads) t->join();
  ASSERT_TRUE(all_started) << "cannot start a thread";
  ASSERT_TRUE(all_ready) << ready.load() << " of " << n << " spinning threads got ready in 60 s";
  for (int i = 0; i < n; i++)
    EXPECT_EQ(count_damaged(held[i].data(), kSpinnerHeld, 5000 + 100 * static_cast<uint64_t>(i)), 0)
        << "thread " << i << ": objects held only in its registers were freed";
}
