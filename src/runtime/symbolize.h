// Names for code addresses, from the loaded objects' ELF symbol tables:
// for the heap profile's writer (runtime/pprof.cc) and the guarded pool's
// fault reports (runtime/guarded_report.cc).
//
// For every loaded object (dl_iterate_phdr) the file is mapped read-only the
// first time one of its addresses is named, and its function symbols
// (.symtab, else .dynsym) are copied into a table sorted by address. Nothing
// here calls malloc: the tables live in memory mapped for them and unmapped
// by free_all, so the fault handler can name frames too (it runs on the
// faulting thread, which may be inside malloc). A Symbols is large (the
// objects' paths): callers put it in mapped memory, not on a stack.
#pragma once

#include <cstddef>
#include <cstdint>

#include "platform/objects.h"

namespace gomem {

struct Sym {
  uintptr_t addr, size;
  const char* name;  // in the mapped file
};

struct Object {
  os::LoadedObject o;  // o.path points to `path`
  char path[1024];
  const void* file = nullptr;  // mapped, until free_all
  size_t file_size = 0;
  Sym* syms = nullptr;  // sorted by addr, in mapped memory
  size_t nsyms = 0, syms_bytes = 0;
  bool loaded = false;
  uint64_t mapping_id = 0;  // the profile writer's id for it (0: none yet)
};

struct Symbols {
  static constexpr int kMaxObjects = 512;
  Object objects[kMaxObjects];  // the loaded objects, the executable first
  int nobjects = 0;

  // Lists the loaded objects (no symbols read yet).
  void load();
  // The object whose executable segment holds pc, or nullptr.
  Object* object_of(uintptr_t pc);
  // The function symbol holding code address pc (for a return address:
  // pc - 1) and its object (*ob, nullptr if none); nullptr if unnamed.
  const Sym* symbol(uintptr_t pc, Object** ob);
  // How many leading return addresses of pcs[0..n) lie in gomem (its
  // allocation entry points and everything under them, by name; libgomem.so
  // itself by address); all but the last if all do.
  uint32_t internal_depth(const uintptr_t* pcs, uint32_t n);
  // Unmaps the files and tables.
  void free_all();
};

}  // namespace gomem
