// out_of_memory: run under LD_PRELOAD=libgomem.so, checks the failure
// contract of a preloaded gomem in a plain C++ program: libgomem.so links
// only libc, so std::bad_alloc is thrown through the program's own C++
// runtime. Exits 0 when every check holds, 1 otherwise.
#include <dlfcn.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

static int failures = 0;
#define CHECK(c)                                                          \
  do {                                                                    \
    if (!(c)) {                                                           \
      std::fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
      failures++;                                                         \
    }                                                                     \
  } while (0)

static int handler_calls = 0;
static void handler() {
  if (++handler_calls == 3) std::set_new_handler(nullptr);  // then new throws
}

int main() {
  Dl_info info{};
  void* m = dlsym(RTLD_DEFAULT, "malloc");
  CHECK(dladdr(m, &info) && info.dli_fname && std::strstr(info.dli_fname, "libgomem"));

  const size_t huge = SIZE_MAX / 2;
  errno = 0;
  void* volatile p = std::malloc(huge);
  CHECK(p == nullptr && errno == ENOMEM);

  bool threw = false;
  try {
    void* volatile q = ::operator new(huge);
    (void)q;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);

  threw = false;
  try {
    void* volatile q = ::operator new[](huge, std::align_val_t{4096});
    (void)q;
  } catch (const std::bad_alloc& e) {
    threw = std::strlen(e.what()) > 0;
  }
  CHECK(threw);

  CHECK(::operator new(huge, std::nothrow) == nullptr);

  // The new-handler gets its chances before new gives up.
  std::set_new_handler(handler);
  threw = false;
  try {
    void* volatile q = ::operator new(huge);
    (void)q;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw && handler_calls == 3);

  // And ordinary allocations still work afterwards.
  int* v = new int[1000]();
  v[999] = 7;
  CHECK(v[999] == 7);
  delete[] v;
  if (failures == 0) std::puts("out_of_memory ok");
  return failures == 0 ? 0 : 1;
}
