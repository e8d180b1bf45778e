/*
 * pt_ctor_user.c - libpt_ctor_user.so, a library whose own constructor uses the
 * runtime (pitfall 5): nrt_init, a load/write/execute/read sequence, nrt_close.
 *
 * The dynamic loader runs a program's dependencies' constructors before those of
 * LD_PRELOADed libraries that do not depend on them, so with the shim preloaded this
 * constructor calls the shim before the shim's own constructor has run: every export
 * must initialise lazily, and the nrt_init wrapper must hide
 * NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS itself before the real nrt_init.
 */
#define _GNU_SOURCE
#include "pt.h"

static int result = -1;
static long long shim_executions = -2;
static char env_before[64] = "?";
static char env_after[64] = "?";

__attribute__((constructor)) static void pt_ctor_user_init(void) {
    const char *v = getenv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS");
    pt_copy(env_before, sizeof env_before, v ? v : "(null)");
    pt_api_t api;
    pt_api_linked(&api);
    NRT_STATUS st = api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", "");
    v = getenv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS");
    pt_copy(env_after, sizeof env_after, v ? v : "(null)");
    if (st != NRT_SUCCESS) {
        result = (int)st;
        return;
    }
    pt_workload(&api, 2, 3, 300); /* prints the digest line; exits 1 on a wrong byte */
    shim_executions = pt_shim_stat(NULL, "executions");
    api.close();
    result = 0;
}

__attribute__((visibility("default"))) int pt_ctor_user_result(void) {
    return result;
}

__attribute__((visibility("default"))) long long pt_ctor_user_shim_executions(void) {
    return shim_executions;
}

__attribute__((visibility("default"))) const char *pt_ctor_user_env(int after) {
    return after ? env_after : env_before;
}
