/*
 * pt_worker.c - libpt_worker.so, a "plugin" linked against the runtime (-lnrt), the
 * way a Python extension or a framework plugin is. pt_dlopen_local.c opens it
 * RTLD_LOCAL, so libnrt.so.1 is in no global scope and dlsym(RTLD_NEXT) from a
 * preloaded shim finds nothing (pitfall 2): the shim must fall back on the handle of
 * the already-loaded libnrt.so.1.
 */
#define _GNU_SOURCE
#include "pt.h"

/* Runs the load/write/execute/read sequence; prints which object answers this
 * library's nrt_execute. Returns 0 (any failure exits 1). */
__attribute__((visibility("default"))) int pt_worker_run(int rounds) {
    pt_api_t api;
    pt_api_linked(&api);
    char who[PATH_MAX];
    void *exec_addr;
    memcpy(&exec_addr, &api.execute, sizeof exec_addr);
    printf("worker_execute_from: %s\n", pt_object_of(exec_addr, who, sizeof who));
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_workload(&api, 4, rounds, 500);
    api.close();
    return 0;
}
