// The heap profile in pprof's format: gomem_write_heap_profile, the
// environment's GOMEM_HEAP_PROFILE dumps, and the profile-rate API.
//
// Format. pprof reads profile.proto, gzip-compressed. The messages used are
// few (Profile, ValueType, Sample, Label, Mapping, Location, Line, Function)
// and their encoding is varints and length-prefixed bytes, so they are
// written by hand here: protobuf-c would be a library dependency and a code
// generator for ~150 lines of encoding. The sample types are Go's for a heap
// profile (alloc_objects, alloc_space, inuse_objects, inuse_space; period
// type space/bytes, period = the rate), every value scaled back from the
// samples by Go's formula (heap/profile.h), and every sample has the label
// kind = gc or manual.
//
// Compression. libgomem.so links libc alone, so it cannot use zlib; the
// gzip stream is written with stored (uncompressed) deflate blocks and the
// CRC-32 computed here: a valid gzip file that pprof and gunzip read, about
// as large as the raw profile (tens of KB for thousands of stacks), and no
// second library or target to install. `gzip -9` recompresses one if size
// matters.
//
// Symbols. The writer names each address itself (pprof would otherwise
// look for the binaries): for every loaded object (dl_iterate_phdr) it maps
// the file read-only and reads its ELF symbol table (.symtab, else
// .dynsym), sorted by address, and gives each function its symbol's name;
// mappings carry the object's path and GNU build ID, has_functions set. The
// leading frames of a stack that lie in gomem (its allocation entry points
// and everything under them, named _ZN5gomem..., gomem_..., malloc, new...)
// are dropped, so a stack starts at the program's call; so are frames in
// libgomem.so itself, by address, for a stripped copy whose inner functions
// have no names.
//
// Memory. Nothing here calls malloc: the encoded profile, the string and
// address tables live in memory mapped for the write and unmapped after.
// The writer reads the bucket list without stopping anyone (buckets are
// published whole; their counters may move while being read).
//
// When. gomem_write_heap_profile(fd) at any time. With GOMEM_HEAP_PROFILE=
// FILE (each %p in it replaced by the process id, for programs that start
// others with the same environment), also at exit (a destructor; not by a
// process that sampled nothing), and to FILE.N (N = 1, 2, ...) on
// SIGUSR2 and, with GOMEM_HEAP_PROFILE_EVERY_MB=M, whenever heap_sys grew M
// MB past the last dump (jemalloc's prof.gdump). The signal handler only
// sets a flag; the dump is written at the next safe point, the end of a
// malloc slow path (after_slow_path: no gomem lock held), so a thread that
// never allocates through a slow path never writes it.
#include <elf.h>
#include <signal.h>

#include <cstring>

#include "base/fmt.h"
#include "gomem/gomem.h"
#include "heap/heap.h"
#include "heap/profile.h"
#include "platform/objects.h"
#include "platform/os.h"
#include "platform/thread.h"
#include "runtime/malloc.h"
#include "runtime/runtime.h"
#include "runtime/symbolize.h"

namespace gomem {

namespace {

// ---------------------------------------------------------------------------
// Memory for the writer: a growable byte buffer in mapped memory.

struct Buf {
  char* p = nullptr;
  size_t n = 0, cap = 0;
  bool failed = false;

  bool reserve(size_t more) {
    if (n + more <= cap) return true;
    if (failed) return false;
    size_t c = cap ? cap : 64 * 1024;
    while (c < n + more) c *= 2;
    char* q = static_cast<char*>(linux_mem_os().alloc_meta(c));
    if (!q) return !(failed = true);
    if (p) {
      memcpy(q, p, n);
      linux_mem_os().release(p, cap);
    }
    p = q;
    cap = c;
    return true;
  }
  void put(const void* d, size_t len) {
    if (!reserve(len)) return;
    memcpy(p + n, d, len);
    n += len;
  }
  void byte(uint8_t b) { put(&b, 1); }
  void varint(uint64_t v) {
    uint8_t t[10];
    int i = 0;
    for (; v >= 0x80; v >>= 7) t[i++] = static_cast<uint8_t>(v | 0x80);
    t[i++] = static_cast<uint8_t>(v);
    put(t, static_cast<size_t>(i));
  }
  void free() {
    if (p) linux_mem_os().release(p, cap);
    p = nullptr;
    n = cap = 0;
  }
};

// Protobuf fields.
void field_varint(Buf& b, int field, uint64_t v) {
  b.varint(static_cast<uint64_t>(field) << 3);
  b.varint(v);
}
void field_bytes(Buf& b, int field, const void* d, size_t len) {
  b.varint(static_cast<uint64_t>(field) << 3 | 2);
  b.varint(len);
  b.put(d, len);
}
void field_msg(Buf& b, int field, Buf& m) {
  field_bytes(b, field, m.p, m.n);
  m.n = 0;
}

// An open-addressing map from a nonzero 64-bit key to a 64-bit value.
struct Map {
  uint64_t* slots = nullptr;  // key, value pairs
  size_t cap = 0;             // pairs, a power of two
  size_t used = 0;

  uint64_t* find(uint64_t key, bool insert) {
    if (insert && (used + 1) * 2 > cap && !grow()) return nullptr;
    if (!cap) return nullptr;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull) >> 20 & (cap - 1);; i = (i + 1) & (cap - 1)) {
      if (slots[2 * i] == key) return &slots[2 * i + 1];
      if (slots[2 * i] == 0) {
        if (!insert) return nullptr;
        slots[2 * i] = key;
        used++;
        return &slots[2 * i + 1];
      }
    }
  }
  bool grow() {
    size_t c = cap ? cap * 2 : 1024;
    auto* s = static_cast<uint64_t*>(linux_mem_os().alloc_meta(c * 16));
    if (!s) return false;
    uint64_t* old = slots;
    size_t oc = cap;
    slots = s;
    cap = c;
    used = 0;
    for (size_t i = 0; i < oc; i++)
      if (old[2 * i]) *find(old[2 * i], true) = old[2 * i + 1];
    if (old) linux_mem_os().release(old, oc * 16);
    return true;
  }
  void free() {
    if (slots) linux_mem_os().release(slots, cap * 16);
  }
};

uint64_t hash_bytes(const char* s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ static_cast<uint8_t>(s[i])) * 0x100000001b3ull;
  return h | 1;
}

// ---------------------------------------------------------------------------
// The writer.

struct Writer {
  Buf out, msg, line, strings;  // profile; a message being built; a nested one; the string table
  Map string_ids;               // hash of a string -> its index + 1 (no collision handling needed in practice)
  Map location_ids;             // pc -> location id
  Map function_ids;             // symbol address -> function id
  Symbols syms;                 // the loaded objects, for names
  uint64_t nstrings = 0, nlocations = 0, nfunctions = 0, nmappings = 0;

  uint64_t str(const char* s, size_t n) {
    uint64_t* id = string_ids.find(hash_bytes(s, n), true);
    if (!id) return 0;
    if (*id) return *id - 1;
    *id = ++nstrings;
    field_bytes(strings, 6, s, n);
    return nstrings - 1;
  }
  uint64_t str(const char* s) { return str(s, strlen(s)); }

  uint64_t mapping(Object* ob) {
    if (ob->mapping_id) return ob->mapping_id;
    ob->mapping_id = ++nmappings;
    char hex[2 * 64 + 1];
    size_t nb = ob->o.build_id_len < 64 ? ob->o.build_id_len : 64;
    for (size_t i = 0; i < nb; i++) {
      hex[2 * i] = "0123456789abcdef"[ob->o.build_id[i] >> 4];
      hex[2 * i + 1] = "0123456789abcdef"[ob->o.build_id[i] & 15];
    }
    field_varint(msg, 1, ob->mapping_id);
    field_varint(msg, 2, ob->o.lo);
    field_varint(msg, 3, ob->o.hi);
    field_varint(msg, 4, ob->o.file_offset);
    field_varint(msg, 5, str(ob->o.path));
    if (nb) field_varint(msg, 6, str(hex, 2 * nb));
    field_varint(msg, 7, 1);  // has_functions
    field_msg(out, 3, msg);
    return ob->mapping_id;
  }

  uint64_t function(const Sym* y, Object* ob) {
    uint64_t* id = function_ids.find(y->addr, true);
    if (!id) return 0;
    if (*id) return *id;
    *id = ++nfunctions;
    uint64_t name = str(y->name);
    field_varint(msg, 1, *id);
    field_varint(msg, 2, name);
    field_varint(msg, 3, name);
    field_varint(msg, 4, str(ob->o.path));
    field_msg(out, 5, msg);
    return *id;
  }

  // The location of return address pc (named by the call, pc - 1).
  uint64_t location(uintptr_t pc) {
    uint64_t* id = location_ids.find(pc, true);
    if (!id) return 0;
    if (*id) return *id;
    uint64_t lid = *id = ++nlocations;
    Object* ob;
    const Sym* y = syms.symbol(pc - 1, &ob);
    uint64_t fid = 0, mid = 0;
    if (ob) {
      mid = mapping(ob);
      if (y) fid = function(y, ob);
    }
    field_varint(msg, 1, lid);
    if (mid) field_varint(msg, 2, mid);
    field_varint(msg, 3, pc - 1);
    if (fid) {
      field_varint(line, 1, fid);
      field_msg(msg, 4, line);
    }
    field_msg(out, 4, msg);
    return lid;
  }

  void value_type(int field, const char* type, const char* unit) {
    field_varint(line, 1, str(type));
    field_varint(line, 2, str(unit));
    field_msg(out, field, line);
  }

  void sample(const prof::Bucket* b, double rate) {
    uint64_t ao = b->alloc_objects.load(std::memory_order_relaxed);
    uint64_t ab = b->alloc_bytes.load(std::memory_order_relaxed);
    uint64_t fo = b->free_objects.load(std::memory_order_relaxed);
    uint64_t fb = b->free_bytes.load(std::memory_order_relaxed);
    if (ao == 0) return;
    if (fo > ao) fo = ao;
    if (fb > ab) fb = ab;
    uint64_t v[4];
    scale(ao, ab, rate, &v[0], &v[1]);
    scale(ao - fo, ab - fb, rate, &v[2], &v[3]);
    uint64_t ids[prof::kMaxDepth];
    uint32_t n = 0;
    for (uint32_t i = syms.internal_depth(b->pcs, b->depth); i < b->depth; i++) ids[n++] = location(b->pcs[i]);
    for (uint32_t i = 0; i < n; i++) line.varint(ids[i]);
    field_msg(msg, 1, line);
    for (uint64_t x : v) line.varint(x);
    field_msg(msg, 2, line);
    field_varint(line, 1, str("kind"));
    field_varint(line, 2, str(b->heap == prof::Heap::kGC ? "gc" : "manual"));
    field_msg(msg, 3, line);
    field_msg(out, 2, msg);
  }

  // Go's scaleHeapSample: each sampled object stands for 1 / (1 - e^(-avg/rate)).
  static void scale(uint64_t count, uint64_t bytes, double rate, uint64_t* c, uint64_t* b) {
    if (count == 0 || bytes == 0 || rate <= 1) {
      *c = count;
      *b = bytes;
      return;
    }
    double avg = static_cast<double>(bytes) / static_cast<double>(count);
    double s = 1 / (1 - prof::exp_e(-avg / rate));
    *c = static_cast<uint64_t>(static_cast<double>(count) * s + 0.5);
    *b = static_cast<uint64_t>(static_cast<double>(bytes) * s + 0.5);
  }

  void free_all() {
    syms.free_all();
    out.free();
    msg.free();
    line.free();
    strings.free();
    string_ids.free();
    location_ids.free();
    function_ids.free();
  }
};

// ---------------------------------------------------------------------------
// gzip with stored blocks (RFC 1951 3.2.4, RFC 1952).

struct Crc32Table {
  uint32_t t[256];
};
constexpr Crc32Table make_crc_table() {
  Crc32Table c{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t x = i;
    for (int k = 0; k < 8; k++) x = x & 1 ? 0xEDB88320u ^ (x >> 1) : x >> 1;
    c.t[i] = x;
  }
  return c;
}
constexpr Crc32Table kCrc = make_crc_table();

bool write_all(int fd, const void* p, size_t n) {
  os::write_fd(fd, static_cast<const char*>(p), n);
  return true;
}

void write_gzip(int fd, const char* p, size_t n) {
  static const uint8_t kHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  write_all(fd, kHeader, sizeof kHeader);
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) crc = kCrc.t[(crc ^ static_cast<uint8_t>(p[i])) & 0xff] ^ (crc >> 8);
  crc ^= 0xffffffffu;
  size_t off = 0;
  do {
    size_t len = n - off < 65535 ? n - off : 65535;
    uint8_t h[5] = {static_cast<uint8_t>(off + len == n), static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8),
                    static_cast<uint8_t>(~len), static_cast<uint8_t>(~len >> 8)};
    write_all(fd, h, sizeof h);
    write_all(fd, p + off, len);
    off += len;
  } while (off < n);
  uint8_t t[8] = {static_cast<uint8_t>(crc),       static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc >> 16),
                  static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(n),        static_cast<uint8_t>(n >> 8),
                  static_cast<uint8_t>(n >> 16),   static_cast<uint8_t>(n >> 24)};
  write_all(fd, t, sizeof t);
}

// Profiles being written (one at a time: the tables are per write).
GOMEM_META constinit Mutex g_write_lock;
GOMEM_META constinit uint64_t g_last_rate = 0;  // last nonzero rate set (under g_write_lock or at init)

int write_profile(int fd) {
  MutexLock l(g_write_lock);
  // The writer is large (objects' tables): in mapped memory, not on the stack.
  auto* w = static_cast<Writer*>(linux_mem_os().alloc_meta(sizeof(Writer)));
  if (!w) return -1;
  new (w) Writer();
  w->str("");
  w->syms.load();
  if (w->syms.nobjects) w->mapping(&w->syms.objects[0]);  // pprof takes the first mapping for the program
  uint64_t rate = prof::rate() ? prof::rate() : g_last_rate ? g_last_rate : prof::kDefaultRate;
  w->value_type(1, "alloc_objects", "count");
  w->value_type(1, "alloc_space", "bytes");
  w->value_type(1, "inuse_objects", "count");
  w->value_type(1, "inuse_space", "bytes");
  for (prof::Bucket* b = prof::all_buckets(); b; b = b->all_next) w->sample(b, static_cast<double>(rate));
  field_varint(w->out, 9, static_cast<uint64_t>(os::walltime()));
  w->value_type(11, "space", "bytes");
  field_varint(w->out, 12, rate);
  field_varint(w->out, 14, w->str("inuse_space"));
  w->out.put(w->strings.p, w->strings.n);
  bool ok = !w->out.failed && !w->strings.failed && !w->msg.failed && !w->line.failed;
  if (ok) write_gzip(fd, w->out.p, w->out.n);
  w->free_all();
  linux_mem_os().release(w, sizeof(Writer));
  return ok ? 0 : -1;
}

// ---------------------------------------------------------------------------
// GOMEM_HEAP_PROFILE.

GOMEM_META constinit const char* g_path = nullptr;              // GOMEM_HEAP_PROFILE (set at init)
GOMEM_META constinit uint64_t g_every_bytes = 0;                // GOMEM_HEAP_PROFILE_EVERY_MB in bytes (set at init)
GOMEM_META constinit std::atomic<uint64_t> g_next_dump_sys{0};  // heap_sys that triggers the next growth dump
GOMEM_META constinit std::atomic<uint32_t> g_dump_seq{0};       // N of the last FILE.N
GOMEM_META constinit std::atomic<uint32_t> g_sigusr2{0};        // set by the handler, taken by the safe point

void on_sigusr2(int, void*, void*) { g_sigusr2.store(1, std::memory_order_relaxed); }

// GOMEM_HEAP_PROFILE with each %p replaced by the process id, then ".n"
// unless n is 0: the path of a dump.
void dump_path(StackBuf<4096>* b, uint64_t n) {
  for (const char* q = g_path; *q; q++) {
    if (q[0] == '%' && q[1] == 'p') {
      b->u(static_cast<uint64_t>(os::getpid()));
      q++;
    } else {
      b->c(*q);
    }
  }
  if (n) b->c('.').u(n);
}

// Writes the profile to the dump path; false if the file cannot be made.
bool write_dump(bool numbered) {
  StackBuf<4096> b;
  dump_path(&b, numbered ? g_dump_seq.fetch_add(1, std::memory_order_relaxed) + 1 : 0);
  int fd = os::create_file(b.str());
  if (fd < 0) {
    StackBuf<4096> e;
    e.s("gomem: GOMEM_HEAP_PROFILE: cannot create ").s(b.str()).c('\n');
    os::write_stderr(e.str(), e.len());
    return false;
  }
  write_profile(fd);
  os::close_fd(fd);
  return true;
}

// At exit, if anything was sampled: a process that sampled nothing (a
// short-lived helper such as `timeout`, which inherited the environment)
// leaves the file of the process that did.
__attribute__((destructor)) void write_profile_at_exit() {
  if (g_path && prof::all_buckets()) write_dump(false);
}

}  // namespace

GOMEM_META constinit std::atomic<bool> g_prof_dumps{false};

void prof_safe_point() {
  if (!g_write_lock.try_lock()) return;  // another thread is writing one
  g_write_lock.unlock();
  if (g_sigusr2.exchange(0, std::memory_order_relaxed)) write_dump(true);
  if (g_every_bytes) {
    uint64_t sys = g_heap.sys_bytes();
    uint64_t next = g_next_dump_sys.load(std::memory_order_relaxed);
    if (sys >= next && g_next_dump_sys.compare_exchange_strong(next, sys + g_every_bytes, std::memory_order_relaxed))
      write_dump(true);
  }
}

void prof_fork_child() { g_write_lock.reset(); }

void prof_init(const os::EnvSettings& env) {
  if (env.profile_rate >= 0)
    set_profile_rate(static_cast<uint64_t>(env.profile_rate));
  else if (env.heap_profile)
    set_profile_rate(prof::kDefaultRate);
  if (!env.heap_profile) return;
  g_path = env.heap_profile;
  g_every_bytes = static_cast<uint64_t>(env.heap_profile_every_mb) << 20;
  g_next_dump_sys.store(g_heap.sys_bytes() + g_every_bytes, std::memory_order_relaxed);
  os::install_signal_handler(SIGUSR2, on_sigusr2);
  g_prof_dumps.store(true, std::memory_order_relaxed);
}

uint64_t set_profile_rate(uint64_t bytes) {
  if (bytes) {
    MutexLock l(g_write_lock);
    g_last_rate = bytes;
  }
  uint64_t old = prof::rate();
  prof::set_rate(bytes);
  return old;
}

}  // namespace gomem

extern "C" {

GOMEM_EXPORT uint64_t gomem_set_profile_rate(uint64_t bytes) {
  gomem::ensure_init();
  return gomem::set_profile_rate(bytes);
}

GOMEM_EXPORT uint64_t gomem_profile_rate(void) { return gomem::prof::rate(); }

GOMEM_EXPORT int gomem_write_heap_profile(int fd) {
  gomem::ensure_init();
  return gomem::write_profile(fd);
}

}  // extern "C"
