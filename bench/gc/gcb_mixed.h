/*
 * gcb_mixed.h: the mixed-size tree node gcbench and gc_threads build (after
 * gcb_common.h, which selects the variant).
 *
 * A node is a scanned object of 32 bytes or more: two child pointers, a
 * pointer-free payload (noscan) or NULL, the payload's length and a tag.
 * Its size follows from its tag (each benchmark has its own table of
 * sizes); a node over 32 bytes ends with a check word, tag * GCB_GOLDEN.
 * The payload's bytes all equal the tag's low byte. One random 64-bit draw
 * x makes a node: tag = x >> 32, and when x & 3 == 0 a payload of
 * 16 << ((x >> 2) % 6) bytes (16..512).
 */
#ifndef GCB_MIXED_H
#define GCB_MIXED_H

#define GCB_GOLDEN 0x9E3779B97F4A7C15ull

typedef struct mnode {
  struct mnode *left, *right;
  unsigned char* payload; /* noscan, plen bytes of tag & 0xff; or NULL */
  uint32_t plen;
  uint32_t tag;
  /* followed by (size - 32) / 8 words; the last one = tag * GCB_GOLDEN */
} mnode;

/* A node of sz bytes made from the draw x, with children l and r. */
static inline mnode* mnode_new(size_t sz, uint64_t x, mnode* l, mnode* r) {
  uint32_t tag = (uint32_t)(x >> 32);
  mnode* n = (mnode*)gcb_alloc(sz);
  n->left = l;
  n->right = r;
  n->tag = tag;
  n->payload = NULL;
  n->plen = 0;
  if (sz > sizeof(mnode)) ((uint64_t*)n)[sz / 8 - 1] = (uint64_t)tag * GCB_GOLDEN;
  if ((x & 3) == 0) {
    uint32_t plen = 16u << ((x >> 2) % 6);
    unsigned char* p = (unsigned char*)gcb_alloc_noscan(plen);
    memset(p, (int)(tag & 0xff), plen);
    n->payload = p;
    n->plen = plen;
  }
  return n;
}

/* Whether node n of sz bytes has its check word and payload bytes intact. */
static inline int mnode_intact(const mnode* n, size_t sz) {
  if (sz > sizeof(mnode) && ((const uint64_t*)n)[sz / 8 - 1] != (uint64_t)n->tag * GCB_GOLDEN) return 0;
  return n->plen == 0 || (n->payload[0] == (n->tag & 0xff) && n->payload[n->plen - 1] == (n->tag & 0xff));
}

/* Frees a tree of nodes and their payloads (malloc variant only). */
static inline void mnode_release(mnode* n) {
#if GCB_EXPLICIT_FREE
  while (n) {
    mnode* r = n->right;
    mnode_release(n->left);
    if (n->payload) GCB_FREE(n->payload);
    GCB_FREE(n);
    n = r;
  }
#else
  (void)n;
#endif
}

#endif /* GCB_MIXED_H */
