// Ps: the allocation contexts that threads hold (Go's p, with its mcache).
//
// A thread takes a P on its first allocation and gives it back when it
// exits (a pthread key destructor); P structs are pooled and reused, as Go's
// procresize keeps its allp. A P given back has released every span, so an
// idle P strands no memory. Shared per-CPU Ps, held by no thread, serve the
// size classes a thread has used little (runtime/shared_p.h).
#pragma once

#include "base/compiler.h"
#include "heap/heap.h"
#include "platform/mutex.h"

namespace gomem {

// Set once the calling thread runs its exit destructors: a P taken after
// that is given back right after use (runtime/malloc.cc).
extern GOMEM_TLS bool t_exiting;

// Makes a P and puts it on g_all_p (g_procs.lock held). nullptr if out of
// memory. shared: a shared per-CPU P (runtime/shared_p.h).
MCache* new_p_locked(bool shared);
// Takes a P for the calling thread (initialising the runtime on first use).
// nullptr if out of memory.
MCache* acquire_p();
// Gives the calling thread's P back (its spans go to mcentral).
void release_p();
// After an allocation by an exiting thread.
void release_p_after_exit();
// Makes sure release_p runs when the calling thread exits.
void install_thread_exit_hook();

struct ProcPool {
  Mutex lock;
  MCache* idle = nullptr;  // idle Ps (pool_next); every P is on g_all_p
  int count = 0;           // Ps made (thread Ps and shared Ps)
  int in_use = 0;          // Ps held by threads
  uint64_t released_remote_frees = 0;
};
extern ProcPool g_procs;

uint64_t mcache_inuse_bytes();
uint64_t mcache_sys_bytes();

// Fork handlers (registered at init).
void fork_prepare();
void fork_parent();
void fork_child();

}  // namespace gomem
