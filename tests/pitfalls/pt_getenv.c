/*
 * pt_getenv.c - pitfalls 5 and 6: what main() sees of the legacy variable. Not linked
 * with the runtime. With the shim preloaded, its constructor has removed
 * NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS before main() runs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *v = getenv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS");
    printf("legacy_in_main: %s\n", v ? v : "(null)");
    printf("ok\n");
    return 0;
}
