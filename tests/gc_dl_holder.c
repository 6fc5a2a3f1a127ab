/* A library loaded with dlopen by gc_test: a pointer stored in its data
 * must keep a collected object alive. */
void *gomem_test_holder;
void gomem_test_set_holder(void *p) { gomem_test_holder = p; }
void *gomem_test_get_holder(void) { return gomem_test_holder; }
