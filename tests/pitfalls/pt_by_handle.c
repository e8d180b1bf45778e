/*
 * pt_by_handle.c - pitfall 1: a symbol looked up on the runtime's own handle.
 *
 * dlopen("libnrt.so.1") + dlsym(handle, "nrt_execute") searches that library (and its
 * dependencies) only, so it gets the runtime's function even with the shim preloaded;
 * dlsym(RTLD_DEFAULT, ...) gets the shim's. The program prints which object answered
 * each lookup (dladdr), then runs one execution through each pointer and prints the
 * shim's execution counter after each: the one by handle is invisible to the shim.
 * This documents the limit; it is not something the shim can fix without
 * interposing dlsym.
 */
#define _GNU_SOURCE
#include "pt.h"

int main(void) {
    char who[PATH_MAX];
    void *h = dlopen("libnrt.so.1", RTLD_NOW);
    if (!h) PT_FAIL("dlopen libnrt.so.1: %s", dlerror());
    void *by_handle = dlsym(h, "nrt_execute");
    void *by_default = dlsym(RTLD_DEFAULT, "nrt_execute");
    if (!by_handle || !by_default) PT_FAIL("nrt_execute not found: %p %p", by_handle, by_default);
    printf("by_handle: %s\n", pt_object_of(by_handle, who, sizeof who));
    printf("by_default: %s\n", pt_object_of(by_default, who, sizeof who));

    pt_api_t api;
    pt_api_linked(&api);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, &api, 1, 200);
    pt_submit(&job, 0, 1);
    pt_check(&job, 0);
    printf("shim_executions_after_default: %lld\n", pt_shim_stat(NULL, "executions"));

    pt_api_t raw = api;
    memcpy(&raw.execute, &by_handle, sizeof by_handle);
    job.api = &raw;
    pt_submit(&job, 0, 2); /* the runtime's own, synchronous nrt_execute */
    job.api = &api;
    pt_check(&job, 0);
    printf("shim_executions_after_handle: %lld\n", pt_shim_stat(NULL, "executions"));

    pt_teardown(&job);
    api.close();
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}
