/*
 * A mutex-protected inbox of objects that another thread is to free: the
 * cross-thread frees of larson and random_replace_mt. Senders push batches;
 * the owner takes the whole array out under the lock and frees the objects
 * outside it.
 */
#ifndef GOMEM_BENCH_INBOX_H
#define GOMEM_BENCH_INBOX_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct inbox {
  pthread_mutex_t mu;
  void **items;
  size_t n, cap;
  char pad[64];
} inbox_t;

static inline void inbox_push(inbox_t *ib, void **items, int n) {
  pthread_mutex_lock(&ib->mu);
  if (ib->n + (size_t)n > ib->cap) {
    size_t cap = ib->cap ? ib->cap * 2 : 256;
    while (cap < ib->n + (size_t)n) cap *= 2;
    void **p = (void **)realloc(ib->items, cap * sizeof(void *));
    if (!p) abort();
    ib->items = p;
    ib->cap = cap;
  }
  memcpy(ib->items + ib->n, items, (size_t)n * sizeof(void *));
  ib->n += (size_t)n;
  pthread_mutex_unlock(&ib->mu);
}

/* Empties the inbox: returns its array (the caller frees it) and its count. */
static inline void **inbox_take(inbox_t *ib, size_t *n) {
  pthread_mutex_lock(&ib->mu);
  void **items = ib->items;
  *n = ib->n;
  ib->items = NULL;
  ib->n = ib->cap = 0;
  pthread_mutex_unlock(&ib->mu);
  return items;
}

#endif /* GOMEM_BENCH_INBOX_H */
