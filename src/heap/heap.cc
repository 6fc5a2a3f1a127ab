#include "heap/heap.h"

namespace gomem {

GOMEM_META_BSS_BEGIN
GOMEM_META_BSS constinit ArenaIndex g_arena_index;
GOMEM_META_BSS_END
GOMEM_META constinit MHeap g_heap;
GOMEM_META constinit MCache g_empty_mcache;
GOMEM_TLS MCache* t_mcache = &g_empty_mcache;
GOMEM_META constinit MCache* g_all_p = nullptr;

}  // namespace gomem
