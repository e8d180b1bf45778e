/*
 * pt_basic.c - the load/write/execute/read sequence in a program linked with the
 * runtime, built in several link orders by the driver (pitfalls 3 and 4):
 *   -lnrt                        (run with the shim preloaded, or not)
 *   -lnrt_async_shim -lnrt       (the shim linked first: it answers)
 *   -lnrt -lnrt_async_shim       (the shim linked last: bypassed, must warn)
 * Prints which object answers nrt_execute for this program, so the driver can tell
 * which case it is in; every output is checked against the model formula.
 *
 * usage: pt_basic [rounds=3] [slots=4] [latency_us=500]
 */
#define _GNU_SOURCE
#include "pt.h"

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    int slots = argc > 2 ? atoi(argv[2]) : 4;
    unsigned latency = argc > 3 ? (unsigned)atoi(argv[3]) : 500;
    pt_api_t api;
    pt_api_linked(&api);
    char who[PATH_MAX];
    void *exec_addr;
    memcpy(&exec_addr, &api.execute, sizeof exec_addr);
    printf("execute_from: %s\n", pt_object_of(exec_addr, who, sizeof who));
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_workload(&api, slots, rounds, latency);
    api.close();
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}
