// Compiler annotations shared by every layer.
//
// Include rule: src/base/ includes only the C/C++ standard headers and itself.
// Layers above may include it; it includes none of them.
#pragma once

#include <cstddef>
#include <cstdint>

#define GOMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define GOMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)

// Fast paths are forced inline; everything rare lives behind a call to a
// function marked GOMEM_NOINLINE (and usually GOMEM_COLD) so that the fast
// path stays small and its registers are not spilled.
#define GOMEM_INLINE inline __attribute__((always_inline))
#define GOMEM_NOINLINE __attribute__((noinline))
#define GOMEM_COLD __attribute__((cold))
// A function that keeps a frame pointer whatever the build's flags: an
// allocation entry point that calls (not tail-calls) a slow path, so that
// the heap profile's frame-pointer walk (heap/profile.h) gets through it to
// the program. GCC only (clang ignores the optimize attribute; its walks
// lose the caller of such an entry point).
#if defined(__clang__)
#define GOMEM_FRAME_POINTER
#else
#define GOMEM_FRAME_POINTER __attribute__((optimize("no-omit-frame-pointer")))
#endif
#define GOMEM_NORETURN __attribute__((noreturn))
#define GOMEM_EXPORT __attribute__((visibility("default")))
#define GOMEM_HIDDEN __attribute__((visibility("hidden")))

// Thread-local variables used on the fast paths: initial-exec, so that an
// access is one or two instructions and never calls __tls_get_addr (which
// may itself allocate).
#define GOMEM_TLS __thread __attribute__((tls_model("initial-exec")))

// Globals that hold gomem's own metadata live in these sections so that the
// collector can leave them out of the data/bss roots it scans. GOMEM_META is
// for initialised data; GOMEM_META_BSS for large zero-initialised tables,
// which must not take room in the library file, defined between
// GOMEM_META_BSS_BEGIN and _END. With GCC a trailing assembler comment ('#'
// on x86-64, '//' on AArch64) hides the compiler's own section flags,
// leaving @nobits; clang has no such trick (its section attribute makes the
// table file data in a section whose name has no __start_ symbol, so the
// collector scanned it as a root), but its section pragma keeps zeroed data
// @nobits.
#define GOMEM_META __attribute__((section("gomem_meta")))
#if defined(__clang__)
#define GOMEM_META_BSS
#define GOMEM_META_BSS_BEGIN _Pragma("clang section bss = \"gomem_meta_bss\"")
#define GOMEM_META_BSS_END _Pragma("clang section bss = \"\"")
#elif defined(__aarch64__)
#define GOMEM_META_BSS __attribute__((section("gomem_meta_bss,\"aw\",@nobits//")))
#define GOMEM_META_BSS_BEGIN
#define GOMEM_META_BSS_END
#else
#define GOMEM_META_BSS __attribute__((section("gomem_meta_bss,\"aw\",@nobits#")))
#define GOMEM_META_BSS_BEGIN
#define GOMEM_META_BSS_END
#endif

// Compiled with ThreadSanitizer? Owner-private counters that other threads
// read only for statistics are then accessed atomically (see atomic.h).
#if defined(__SANITIZE_THREAD__)
#define GOMEM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOMEM_TSAN 1
#endif
#endif
#ifndef GOMEM_TSAN
#define GOMEM_TSAN 0
#endif

// The hardened build (CMake option GOMEM_HARDENED, docs/security.md):
// free-list links encoded and checked on every pop, fresh spans' free lists
// in random order, guard pages around metadata and large objects.
#ifndef GOMEM_HARDENED
#define GOMEM_HARDENED 0
#endif

// For code whose reads race by design (the collector's conservative scans).
#define GOMEM_NO_TSAN __attribute__((no_sanitize("thread")))

namespace gomem {

// A compiler barrier: keeps the compiler from moving memory accesses across
// it. Used where a signal handler on the same thread must see stores in
// program order.
GOMEM_INLINE void compiler_barrier() { __asm__ __volatile__("" ::: "memory"); }

}  // namespace gomem
