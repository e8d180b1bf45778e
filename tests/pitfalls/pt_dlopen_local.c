/*
 * pt_dlopen_local.c - pitfall 2: the runtime loaded RTLD_LOCAL.
 *
 * Not linked with -lnrt. dlopen()s the plugin libpt_worker.so (argv[1]) with
 * RTLD_LOCAL, which pulls libnrt.so.1 in as its private dependency, and runs the
 * plugin's load/write/execute/read sequence. With the shim preloaded, the plugin's
 * calls bind to the shim, which must find the runtime without RTLD_NEXT.
 *
 * usage: pt_dlopen_local <path of libpt_worker.so> [rounds=3]
 */
#define _GNU_SOURCE
#include "pt.h"

int main(int argc, char **argv) {
    if (argc < 2) PT_FAIL("usage: %s <libpt_worker.so> [rounds]", argv[0]);
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) PT_FAIL("dlopen %s: %s", argv[1], dlerror());
    /* The runtime must not be in the global scope (else this tests nothing):
     * nrt_get_total_vnc_count is the runtime's alone (the shim does not export it). */
    printf("runtime_global: %s\n", dlsym(RTLD_DEFAULT, "nrt_get_total_vnc_count") ? "yes" : "no");
    int (*run)(int);
    void *p = dlsym(h, "pt_worker_run");
    if (!p) PT_FAIL("dlsym pt_worker_run: %s", dlerror());
    memcpy(&run, &p, sizeof p);
    int rc = run(rounds);
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return rc;
}
