// Symbols of loaded objects (see symbolize.h).
#include "runtime/symbolize.h"

#include <elf.h>

#include <cstring>

#include "platform/os.h"

namespace gomem {

namespace {

void sift(Sym* a, size_t i, size_t n) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && a[c + 1].addr > a[c].addr) c++;
    if (a[i].addr >= a[c].addr) return;
    Sym t = a[i];
    a[i] = a[c];
    a[c] = t;
    i = c;
  }
}

void heap_sort(Sym* a, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift(a, i, n);
  for (size_t k = n; k-- > 1;) {
    Sym t = a[0];
    a[0] = a[k];
    a[k] = t;
    sift(a, 0, k);
  }
}

// Reads the function symbols of ob's file (.symtab, else .dynsym) into a
// sorted table. An object whose file cannot be read has none.
void load_symbols(Object* ob) {
  ob->loaded = true;
  ob->file = os::map_file(ob->o.path, &ob->file_size);
  if (!ob->file) return;
  auto* base = static_cast<const char*>(ob->file);
  size_t size = ob->file_size;
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shoff == 0 || eh->e_shoff + uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr) > size)
    return;
  auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  const Elf64_Shdr* tab = nullptr;
  for (int pass = 0; pass < 2 && !tab; pass++)
    for (int i = 0; i < eh->e_shnum; i++)
      if (sh[i].sh_type == (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM) && sh[i].sh_link < eh->e_shnum) tab = &sh[i];
  if (!tab || tab->sh_offset + tab->sh_size > size) return;
  const Elf64_Shdr& str = sh[tab->sh_link];
  if (str.sh_offset + str.sh_size > size) return;
  auto* syms = reinterpret_cast<const Elf64_Sym*>(base + tab->sh_offset);
  size_t n = tab->sh_size / sizeof(Elf64_Sym);
  ob->syms_bytes = (n + 1) * sizeof(Sym);
  ob->syms = static_cast<Sym*>(linux_mem_os().alloc_meta(ob->syms_bytes));
  if (!ob->syms) return;
  for (size_t i = 0; i < n; i++) {
    const Elf64_Sym& y = syms[i];
    if (ELF64_ST_TYPE(y.st_info) != STT_FUNC || y.st_value == 0 || y.st_name >= str.sh_size) continue;
    ob->syms[ob->nsyms++] = Sym{ob->o.bias + y.st_value, y.st_size, base + str.sh_offset + y.st_name};
  }
  heap_sort(ob->syms, ob->nsyms);
}

// The symbol containing pc (or the nearest below it, for symbols without a
// size), or nullptr.
const Sym* lookup(const Object* ob, uintptr_t pc) {
  size_t lo = 0, hi = ob->nsyms;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ob->syms[mid].addr <= pc)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return nullptr;
  const Sym* y = &ob->syms[lo - 1];
  if (y->size && pc >= y->addr + y->size) return nullptr;
  return y;
}

// A frame inside gomem: dropped from the top of a stack.
bool internal_frame(const char* name) {
  static const char* const kPrefixes[] = {"_ZN5gomem", "gomem_", "_Znw", "_Zna", "_ZN12_GLOBAL__N_18new_", nullptr};
  static const char* const kNames[] = {"malloc",         "calloc",        "realloc",  "free",
                                       "posix_memalign", "aligned_alloc", "memalign", "valloc",
                                       "pvalloc",        "reallocarray",  nullptr};
  for (const char* const* p = kPrefixes; *p; p++)
    if (strncmp(name, *p, strlen(*p)) == 0) return true;
  for (const char* const* p = kNames; *p; p++)
    if (strcmp(name, *p) == 0) return true;
  return false;
}

void add_object(const os::LoadedObject& o, void* arg) {
  auto* y = static_cast<Symbols*>(arg);
  if (y->nobjects == Symbols::kMaxObjects || strlen(o.path) >= sizeof y->objects[0].path) return;
  Object& ob = y->objects[y->nobjects++];
  ob.o = o;
  memcpy(ob.path, o.path, strlen(o.path) + 1);
  ob.o.path = ob.path;
}

}  // namespace

void Symbols::load() { os::for_each_loaded_object(add_object, this); }

Object* Symbols::object_of(uintptr_t pc) {
  for (int i = 0; i < nobjects; i++)
    if (pc >= objects[i].o.lo && pc < objects[i].o.hi) return &objects[i];
  return nullptr;
}

const Sym* Symbols::symbol(uintptr_t pc, Object** ob) {
  *ob = object_of(pc);
  if (!*ob) return nullptr;
  if (!(*ob)->loaded) load_symbols(*ob);
  return lookup(*ob, pc);
}

uint32_t Symbols::internal_depth(const uintptr_t* pcs, uint32_t n) {
  // libgomem.so, if gomem is one (in a stripped copy, its inner functions
  // have no names).
  Object* self = object_of(reinterpret_cast<uintptr_t>(&add_object));
  if (self == &objects[0]) self = nullptr;
  uint32_t i = 0;
  for (; i < n; i++) {
    Object* ob;
    const Sym* y = symbol(pcs[i] - 1, &ob);
    if (!ob) break;
    if (ob == self) continue;
    if (!y || !internal_frame(y->name)) break;
  }
  // Keep the last frame if all are gomem's (a stack that never left it).
  return i == n && i ? i - 1 : i;
}

void Symbols::free_all() {
  for (int i = 0; i < nobjects; i++) {
    if (objects[i].file) os::unmap_file(objects[i].file, objects[i].file_size);
    if (objects[i].syms) linux_mem_os().release(objects[i].syms, objects[i].syms_bytes);
  }
}

}  // namespace gomem
