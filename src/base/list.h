// Intrusive doubly-linked lists. The links live in the element (like Go's
// mSpanList), so putting an element on a list never allocates.
#pragma once

#include <cstddef>

#include "base/compiler.h"

namespace gomem {

template <class T>
struct ListLinks {
  T* next = nullptr;
  T* prev = nullptr;
};

// A list of T linked through the member `Links T::*L`. Not synchronised: its
// owner says which lock (or which thread) protects it.
template <class T, ListLinks<T> T::*L>
class IntrusiveList {
 public:
  constexpr IntrusiveList() = default;

  bool empty() const { return head_ == nullptr; }
  size_t size() const { return count_; }
  T* front() const { return head_; }
  T* back() const { return tail_; }
  static T* next(T* x) { return (x->*L).next; }

  void push_front(T* x) {
    (x->*L).prev = nullptr;
    (x->*L).next = head_;
    if (head_)
      (head_->*L).prev = x;
    else
      tail_ = x;
    head_ = x;
    count_++;
  }

  void push_back(T* x) {
    (x->*L).next = nullptr;
    (x->*L).prev = tail_;
    if (tail_)
      (tail_->*L).next = x;
    else
      head_ = x;
    tail_ = x;
    count_++;
  }

  void remove(T* x) {
    T* n = (x->*L).next;
    T* p = (x->*L).prev;
    if (p)
      (p->*L).next = n;
    else
      head_ = n;
    if (n)
      (n->*L).prev = p;
    else
      tail_ = p;
    (x->*L).next = (x->*L).prev = nullptr;
    count_--;
  }

  T* pop_front() {
    T* x = head_;
    if (x) remove(x);
    return x;
  }

  // Forgets every element (after fork, or when the elements are reclaimed
  // wholesale).
  void reset() {
    head_ = tail_ = nullptr;
    count_ = 0;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t count_ = 0;
};

}  // namespace gomem
