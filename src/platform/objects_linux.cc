// The program's loaded objects (see objects.h).
#include "platform/objects.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace gomem {
namespace os {

namespace {

struct Iter {
  void (*fn)(const LoadedObject&, void*);
  void* arg;
  bool first = true;
  char exe[4096];  // the executable's path, or /proc/self/exe
};

// The GNU build ID in a PT_NOTE segment, or nullptr.
const uint8_t* find_build_id(const ElfW(Phdr) & ph, uintptr_t bias, size_t* len) {
  uintptr_t p = bias + ph.p_vaddr, end = p + ph.p_memsz;
  while (p + sizeof(ElfW(Nhdr)) <= end) {
    auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
    uintptr_t name = p + sizeof *n;
    uintptr_t desc = name + ((n->n_namesz + 3) & ~3u);
    if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(reinterpret_cast<void*>(name), "GNU", 4) == 0) {
      *len = n->n_descsz;
      return reinterpret_cast<const uint8_t*>(desc);
    }
    p = desc + ((n->n_descsz + 3) & ~3u);
  }
  return nullptr;
}

int visit(struct dl_phdr_info* info, size_t, void* arg) {
  auto* it = static_cast<Iter*>(arg);
  bool first = it->first;
  it->first = false;
  LoadedObject o{};
  o.path = first ? it->exe : info->dlpi_name;
  if (!first && (!info->dlpi_name || !*info->dlpi_name)) return 0;  // the vDSO
  o.bias = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && !o.hi) {
      o.lo = o.bias + ph.p_vaddr;
      o.hi = o.lo + ph.p_memsz;
      o.file_offset = ph.p_offset;
    } else if (ph.p_type == PT_NOTE && !o.build_id) {
      o.build_id = find_build_id(ph, o.bias, &o.build_id_len);
    }
  }
  if (o.hi) it->fn(o, it->arg);
  return 0;
}

}  // namespace

void for_each_loaded_object(void (*fn)(const LoadedObject&, void*), void* arg) {
  Iter it{fn, arg, true, {}};
  ssize_t n = readlink("/proc/self/exe", it.exe, sizeof it.exe - 1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof it.exe - 1) n = 0;
  memcpy(it.exe, n ? it.exe : "/proc/self/exe", n ? static_cast<size_t>(n) : sizeof "/proc/self/exe");
  it.exe[n ? n : sizeof "/proc/self/exe" - 1] = 0;
  dl_iterate_phdr(visit, &it);
}

const void* map_file(const char* path, size_t* size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  void* p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > 0)
    p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return nullptr;
  *size = static_cast<size_t>(st.st_size);
  return p;
}

void unmap_file(const void* p, size_t size) { munmap(const_cast<void*>(p), size); }

int create_file(const char* path) { return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); }

void close_fd(int fd) { close(fd); }

}  // namespace os
}  // namespace gomem
