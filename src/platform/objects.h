// The program's loaded objects (the executable and its shared libraries) and
// read-only views of their files: what the heap profile's writer needs to
// name the code addresses it recorded (runtime/pprof.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gomem {
namespace os {

struct LoadedObject {
  const char* path;         // the file (valid during the call)
  uintptr_t bias;           // load address minus link address
  uintptr_t lo, hi;         // the executable segment, [lo, hi)
  uintptr_t file_offset;    // file offset of that segment
  const uint8_t* build_id;  // GNU build ID note in memory, or nullptr
  size_t build_id_len;
};

// Calls fn(object, arg) for every loaded object with an executable segment.
// Runs under the loader's lock (dl_iterate_phdr): fn must not load code.
// Does not allocate.
void for_each_loaded_object(void (*fn)(const LoadedObject&, void*), void* arg);

// Maps the file at path read-only: its bytes and size, or nullptr.
const void* map_file(const char* path, size_t* size);
void unmap_file(const void* p, size_t size);

// Creates or truncates path for writing (mode 0644): a descriptor, or -1.
int create_file(const char* path);
void close_fd(int fd);

}  // namespace os
}  // namespace gomem
