/* bdwgc's thread redirects: with GC_THREADS, pthread_create and friends go
 * through the GC_ wrappers (gomem's layer registers the new thread). */
#ifndef GC_PTHREAD_REDIRECTS_H
#define GC_PTHREAD_REDIRECTS_H
#if defined(GC_H) && defined(GC_PTHREADS) && !defined(GC_NO_THREAD_REDIRECTS)
#undef pthread_create
#undef pthread_join
#undef pthread_detach
#undef pthread_cancel
#undef pthread_exit
#undef pthread_sigmask
#undef dlopen
#define pthread_create GC_pthread_create
#define pthread_join GC_pthread_join
#define pthread_detach GC_pthread_detach
#define pthread_cancel GC_pthread_cancel
#define pthread_exit GC_pthread_exit
#define pthread_sigmask GC_pthread_sigmask
#define dlopen GC_dlopen
#endif
#endif
