// Uses the installed headers and library: the C API, the C++ API, and the
// malloc override (linking libgomem makes it the process's malloc).
#include <gomem/gomem.h>
#include <gomem/gomem.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

struct Node {
  Node* next;
  int value;
};

int main() {
  std::vector<std::string> v;
  for (int i = 0; i < 10000; i++) v.push_back(std::to_string(i) + " strings through the override");
  void* p = malloc(1000);
  if (gomem_usable_size(p) < 1000) return 1;  // malloc is gomem's
  free(p);
  Node* head = nullptr;
  for (int i = 0; i < 100000; i++) head = gomem::gc_new<Node>(Node{head, i});
  gomem::collect();
  long sum = 0;
  for (Node* n = head; n; n = n->next) sum += n->value;
  gomem_stats st = gomem::read_stats();
  std::printf("sum %ld, %u collections, %llu mallocs\n", sum, st.num_gc, static_cast<unsigned long long>(st.mallocs));
  return sum == 4999950000L && st.num_gc >= 1 ? 0 : 1;
}
