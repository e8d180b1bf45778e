/*
 * pt_noruntime.c - pitfall 3, the worst case: the shim dlopen()ed into a process with
 * no runtime anywhere, told (NRT_SHIM_LIBNRT) that the runtime is the shim itself.
 * Every candidate it finds is its own code: it must refuse them all and return an
 * NRT error, never call itself (unbounded recursion) nor a NULL pointer. Not linked
 * with -lnrt.
 *
 * usage: pt_noruntime <path of libnrt_async_shim.so>
 */
#define _GNU_SOURCE
#include "pt.h"

int main(int argc, char **argv) {
    if (argc < 2) PT_FAIL("usage: %s <libnrt_async_shim.so>", argv[0]);
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (!h) PT_FAIL("dlopen %s: %s", argv[1], dlerror());
    __typeof__(&nrt_init) init;
    __typeof__(&nrt_execute) execute;
    __typeof__(&nrt_close) close_fn;
    void *p = pt_sym(h, "nrt_init");
    memcpy(&init, &p, sizeof p);
    p = pt_sym(h, "nrt_execute");
    memcpy(&execute, &p, sizeof p);
    p = pt_sym(h, "nrt_close");
    memcpy(&close_fn, &p, sizeof p);
    printf("st_init: %d\n", (int)init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    int dummy = 0;
    printf("st_execute: %d\n", (int)execute((nrt_model_t *)&dummy, &dummy, &dummy));
    close_fn();
    printf("ok\n");
    return 0;
}
