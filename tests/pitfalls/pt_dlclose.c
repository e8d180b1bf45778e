/*
 * pt_dlclose.c - pitfall 12: dlopen the shim, use it (its completion thread and
 * thread-locals come to life), nrt_close, dlclose, exit. With -z nodelete the
 * dlclose leaves the library mapped (its thread, thread-locals and atexit handler
 * stay valid); the driver runs this under valgrind. Linked with -lnrt.
 *
 * usage: pt_dlclose <path of libnrt_async_shim.so>
 */
#define _GNU_SOURCE
#include "pt.h"

int main(int argc, char **argv) {
    if (argc < 2) PT_FAIL("usage: %s <libnrt_async_shim.so>", argv[0]);
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) PT_FAIL("dlopen %s: %s", argv[1], dlerror());
    pt_api_t api;
    pt_api_dlsym(&api, h);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_workload(&api, 2, 2, 300);
    printf("shim_executions: %lld\n", pt_shim_stat(h, "executions"));
    api.close();
    if (dlclose(h) != 0) PT_FAIL("dlclose: %s", dlerror());
    void *again = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
    printf("mapped_after_dlclose: %s\n", again ? "yes" : "no");
    printf("ok\n");
    return 0;
}
