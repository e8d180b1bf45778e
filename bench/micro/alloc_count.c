/*
 * alloc_count.c - liballoc_count.so: an LD_PRELOAD heap-allocation counter.
 *
 * Interposes malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign
 * (forwarding to glibc's __libc_* entry points, so no dlsym is needed) and, while
 * counting is on, counts each call by the object that made it: the return address
 * of the interposed function (__builtin_return_address(0)) resolved with dladdr.
 * Rust code in the shim allocates through its statically linked std (__rdl_alloc,
 * inside libnrt_async_shim.so), so its allocations count as the shim's.
 *
 * A program switches counting on and off with alloc_count_start() and
 * alloc_count_stop(counts) (found with dlsym(RTLD_DEFAULT, ...)); counts receives
 * {shim, runtime (libnrt), other}.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int g_on;
static uint64_t g_counts[3];
static __thread int t_busy;

static void count(void *caller) {
    if (!__atomic_load_n(&g_on, __ATOMIC_RELAXED) || t_busy) return;
    t_busy = 1;
    int k = 2;
    Dl_info info;
    if (dladdr(caller, &info) && info.dli_fname) {
        if (strstr(info.dli_fname, "libnrt_async_shim"))
            k = 0;
        else if (strstr(info.dli_fname, "libnrt"))
            k = 1;
    }
    __atomic_fetch_add(&g_counts[k], 1, __ATOMIC_RELAXED);
    t_busy = 0;
}

void *malloc(size_t n) {
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b) {
    count(__builtin_return_address(0));
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n) {
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}

void *memalign(size_t al, size_t n) {
    count(__builtin_return_address(0));
    return __libc_memalign(al, n);
}

void *aligned_alloc(size_t al, size_t n) {
    count(__builtin_return_address(0));
    return __libc_memalign(al, n);
}

int posix_memalign(void **out, size_t al, size_t n) {
    count(__builtin_return_address(0));
    if (al < sizeof(void *) || (al & (al - 1)) != 0) return 22; /* EINVAL */
    void *p = __libc_memalign(al, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void alloc_count_start(void) {
    for (int k = 0; k < 3; k++) __atomic_store_n(&g_counts[k], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_on, 1, __ATOMIC_SEQ_CST);
}

void alloc_count_stop(uint64_t *counts) {
    __atomic_store_n(&g_on, 0, __ATOMIC_SEQ_CST);
    for (int k = 0; k < 3; k++) counts[k] = __atomic_load_n(&g_counts[k], __ATOMIC_RELAXED);
}
