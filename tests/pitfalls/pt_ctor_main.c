/*
 * pt_ctor_main.c - the program around libpt_ctor_user.so (linked -lpt_ctor_user
 * -lnrt): everything happened in the library's constructor; main() reports it.
 */
#define _GNU_SOURCE
#include "pt.h"

int pt_ctor_user_result(void);
long long pt_ctor_user_shim_executions(void);
const char *pt_ctor_user_env(int after);

int main(void) {
    printf("ctor_result: %d\n", pt_ctor_user_result());
    printf("ctor_shim_executions: %lld\n", pt_ctor_user_shim_executions());
    printf("ctor_env_before_init: %s\n", pt_ctor_user_env(0));
    printf("ctor_env_after_init: %s\n", pt_ctor_user_env(1));
    const char *v = getenv("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS");
    printf("legacy_in_main: %s\n", v ? v : "(null)");
    printf("shim: %s\n", pt_shim_active() ? "yes" : "no");
    printf("ok\n");
    return pt_ctor_user_result() == 0 ? 0 : 1;
}
