// Shared per-CPU Ps for cold size classes (memory bounded by CPUs, not by threads).
//
// A thread's P (runtime/proc.h) owns one span per manual size class it has
// allocated from, and keeps it while the thread lives. A thread that keeps a
// few objects of many sizes therefore holds a mostly empty span of each:
// bench/workloads/threads1000.c (1,000 threads, 2,560 objects each over 40
// sizes) peaks at 1,709 MB (VmHWM) under gomem against glibc's 1,290 MB,
// and part of the difference is those spans (a thread keeping 64 objects
// of 24 B holds a span of 256 32-B slots).
//
// The design: besides the thread Ps there are a few shared Ps, one per CPU
// the process may run on (os::num_cpus(), at most kMaxSharedPs), made on
// first use. A shared P is an ordinary MCache that no thread holds: whoever
// uses it holds its `lock` for the whole allocation, so every field that is
// "owner only" for a thread P is "under the lock" for a shared P. A size
// class is cold for a thread until the thread has allocated
// cold_limit[class] objects of it (GOMEM_SHARED_PS percent of a span's
// objects, 50 by default: see the measurements below); until then its
// thread P has no span of the class (alloc[] is the empty span), so malloc
// of that class always leaves the fast path, and malloc's slow path
// (alloc_small in runtime/malloc.cc) takes the object from the shared P of
// the CPU the thread runs on. After the limit the thread P takes its own
// span as before, and the class never goes back to cold while the thread
// holds the P. So the fast paths are unchanged (19 and 30 instructions in
// tests/fastpath/instructions.txt), a thread that uses a class enough pays
// the shared path only for its first cold_limit objects, and the memory of
// the classes that threads touch lightly is bounded by CPUs x classes spans,
// not threads x classes.
//
// Only while threads outnumber CPUs (g_ps_outnumber_cpus, runtime/proc.cc):
// with no more thread Ps than CPUs, per-thread memory is already bounded by
// CPUs x classes, and a shared P would only add its lock, remote frees and
// a second set of current spans. Single-threaded churn (every class in
// turn) kept 2 MB more peak RSS with the shared P's spans (10.2 -> 8.1 MB,
// glibc 6.3), tiny one more P (2,064 -> 2,028 KB). The test is one relaxed
// load in malloc's slow path.
//
// Which shared P: the CPU number from glibc's rseq area (the kernel keeps
// cpu_id current; glibc 2.35+ registers it and says where through
// __rseq_offset/__rseq_size, checked at run time), else sched_getcpu(),
// else a hash of the thread; the index is that number modulo the count
// (os::current_cpu, platform/os_linux.cc). Correctness never depends on it:
// a thread may move to another CPU between reading the number and taking
// the lock, or two threads may share a CPU number's P; the mutex gives the
// exclusion and the CPU only spreads the contention.
//
// A shared P's spans carry an odd owner key (the P's address | 1), which no
// thread key (the thread pointer, 8-aligned) can equal, so free's fast path
// never takes one of their objects: every free of them, by whichever thread,
// is a remote free (batched, then one CAS on the span's xfree word, waking
// the shared P through its notify stack if the span was parked), and the
// next holder of the shared P's lock collects them. A thread's own P
// flushes those batches only in its refill, which a thread that allocates
// only cold classes never runs, so a cold allocation sends the thread's
// pending batches home first (one uncontended lock when there are any). The rest is the thread
// P's machinery unchanged: mcentral adoption, the empty-span cache, the
// scavenger's trim at the next refill.
//
// The collector and fork() see shared Ps as Ps: they are on g_all_p (so
// statistics sum their counters, the heap checker checks their lists, a
// double-free search looks at their batches), fork_prepare takes their
// locks with every P's, and in the child they stay shared (a thread that
// held one cannot have been inside it: the lock was the parent's) after
// repair_after_fork. They hold no collected spans (only the manual kind is
// shared: uncollectable objects are roots and stay in their thread's P).
//
// Why not per-CPU Ps with restartable sequences (TCMalloc's design, the
// obvious first choice). A P's fast paths change owner-private fields of
// spans (freelist, local_free, alloc_count) and of the P (counts[]) with
// plain loads and stores; under rseq every such store would have to be the
// single committing store of a restartable sequence, on both paths and in
// every slow path that touches the same fields (refill, park, unpark, the
// empty-span cache), and the slow paths would need a fence against the
// per-CPU fast paths (TCMalloc's "CPU fence", a membarrier or a
// stop-the-CPU protocol) to move spans in or out. free's fast path would
// also lose its owner test (a span owned by a CPU, not by the thread): it
// would have to read the CPU number and compare it with the span's, and
// count the object with a commit. Measured: reading the CPU alone
// (os::current_cpu's rseq path in libgomem.so, objdump) is 11 instructions,
// 5 of them the run-time checks and 3 the loads through the GOT; with the
// rseq_cs store that arms the sequence and the per-CPU P lookup, malloc's
// fast path would go from 19 to ~27 and free's from 30 to ~38, past the
// issue's budget of +4 each, before any of the span bookkeeping is moved
// into commits. So the rseq read is used only to choose a shared P, where
// a mutex (not a restart) gives the exclusion; a per-CPU fast path remains
// the next step if the budget allows it.
//
// Measurements (callgrind for instructions, VmHWM for memory; 2 CPUs):
//   - threads1000 (bench/workloads, full preset) peak RSS by GOMEM_SHARED_PS:
//       off 1,709 MB   50: 1,684   100: 1,678   200: 1,653   1000: 1,544
//     glibc 1,290 MB. The gain is small at a half span because this row is
//     not cold: a thread keeps 64 objects per size and replaces as many, so
//     it passes half a span of every class of 48 B and up and takes its own
//     spans. heap_sys at the peak shows where the rest is: 1,624 MiB with
//     sharing off, for 1,282 MiB of objects rounded to their classes (the
//     classes round these 40 sizes up by 5.1 %, glibc by 1.6 % with its
//     header). Setting kUnparkObjectsMax (heap/mcache.h) to 1 instead of 8
//     alone brings heap_sys to 1,416 MiB (VmHWM 1,498 MB): the owner-freed
//     objects that wait in parked spans (up to a third of each span) are the
//     larger part of the excess. Everything shared (1000) with that change:
//     1,350 MiB, VmHWM 1,446 MB = 1.12 x glibc; MSpan records (33 MiB) and
//     thread Ps (14 MiB) are most of what remains, so 1.05 x glibc needs
//     finer size classes or lighter span metadata too.
//   - While threads outnumber CPUs a P reuses its parked spans' freed slots
//     before the heap grows (MCache::reclaim_parked, heap/mcache.h):
//     threads1000 1,681 -> 1,531 MB. Measured and not kept: a higher
//     limit in that state too (10 spans' worth of each class). With it,
//     1,455 MB (heap_sys 1,366 MiB; 3 spans' worth: 1,495; 32: 1,426; every
//     class always cold: 1,416), but the threads that use a class past
//     the limit (most threads of most programs) only pay it later: larson
//     (8 threads, 2 generations of 100,000 operations) +7.8 % instructions
//     (+2.8 % at 3 spans), random_replace_mt (8 threads, 200,000
//     replacements each) +7.4 % (+3.5 %), xmalloc's peak RSS +7 %, and
//     threads1000 itself (100 threads) 292 -> 411 M instructions, where
//     glibc runs 307 M. What stands between 1,455 MB and 1.05 x glibc
//     (1,355 MB) is not spare slots: at the peak the threads ask for
//     1,221 MiB (objects and their pointer arrays), the classes round that
//     up to 1,282 MiB (these 40 sizes by 5.1 %; glibc's headers and
//     16-byte steps by 1.6 %), the span tails that hold no object are 33
//     MiB, MSpan records 32 MiB and the 1,003 Ps 18 MiB (18 KiB each),
//     while glibc's 1,290 MB has almost no spare space. 1.05 x glibc needs
//     finer size classes, longer spans (fewer tails and records) and
//     lazily built per-class P state, besides shared spans for all.
//   - The limit trades the shared path's cost (a mutex and a remote free
//     per object, paid once per thread and class up to the limit) against
//     memory; half a span keeps that cost to the first half span of every
//     class a thread uses, and a thread that has allocated half a span of a
//     class keeps or churns enough of it for its own span (fast paths, no
//     lock) to pay for the memory. tests/shared_p_test.cc: 64 threads
//     keeping one object of each of 24 classes grow heap_sys by 8 MiB with
//     a span per class per thread, by nothing measurable (within the heap's
//     first growth) with shared Ps.
//   - Hot paths (whole program, difference of two runs): random_replace
//     (1 thread, 1 M vs 2 M steps) 480.3 -> 483.4 instructions per step;
//     larson (4 threads, 2 generations, 500 slots, 20,000 vs 40,000 ops)
//     561 -> 544 per replacement (threads interleave differently under
//     callgrind: within its noise). The fast paths stay 19 and 30.
#pragma once

#include <atomic>
#include <cstdint>

#include "heap/mcache.h"
#include "heap/sizeclasses.h"

namespace gomem {

// At most this many shared Ps, whatever the CPU count.
constexpr int kMaxSharedPs = 64;
// The low bit of a shared P's owner key (see above).
constexpr uintptr_t kSharedKeyBit = 1;

struct SharedPs {
  // Set by shared_ps_init (initialisation, under the init lock) and read
  // only afterwards.
  int n = 0;  // shared Ps (0: GOMEM_SHARED_PS=0)
  // Per manual size class: how many objects a thread allocates from the
  // shared Ps before its P takes a span of the class.
  uint16_t cold_limit[kMaxClasses] = {};
  int cpus = 1;  // os::num_cpus(), which runtime/proc.cc compares g_procs.in_use with
  // The shared P of each index, made on first use under g_procs.lock and
  // published with a release store; never freed.
  std::atomic<MCache*> p[kMaxSharedPs] = {};
};
extern SharedPs g_shared_ps;

// Sets the count and the limits from GOMEM_SHARED_PS (percent of a span).
void shared_ps_init(int percent);

// Whether the holder of c, which has no span of manual span class spc,
// takes its next object of spc from a shared P.
GOMEM_INLINE bool class_is_cold(const MCache* c, SpanClass spc) {
  uint32_t sc = span_class_size_class(spc);
  return span_class_kind(spc) == SpanKind::kManual && c->cold_allocs[sc] < g_shared_ps.cold_limit[sc] &&
         g_ps_outnumber_cpus.load(std::memory_order_relaxed);
}

// The shared P for the calling thread's CPU (made if needed), or nullptr if
// sharing is off or there is no memory for it.
MCache* shared_p_here();

}  // namespace gomem
