/*
 * pt_exit.c - pitfall 10: exit() while work is in flight.
 *
 * usage: pt_exit main | thread
 *
 * main:   submits several executions (5 ms each) and calls exit(0) from main at once:
 *         no read, no nrt_close. The atexit handlers (the shim's, then the runtime's)
 *         run with the completion thread still working.
 * thread: submits one 50 ms execution; main then blocks in nrt_tensor_read of its
 *         output while a second thread calls exit(0). The process must end with
 *         status 0, without a crash and without waiting for main to return.
 */
#define _GNU_SOURCE
#include "pt.h"

#include <pthread.h>

static volatile int reading;

static void *exiter(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&reading, __ATOMIC_ACQUIRE)) pt_sleep_us(100);
    pt_sleep_us(3000); /* main is inside nrt_tensor_read by now */
    printf("exit_from: thread\n");
    fflush(stdout);
    exit(0);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    pt_api_t api;
    pt_api_linked(&api);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    if (strcmp(mode, "main") == 0) {
        pt_setup(&job, &api, 6, 5000);
        for (int s = 0; s < job.slots; s++) pt_submit(&job, s, (uint32_t)(s + 1));
        printf("exit_from: main\n");
        fflush(stdout);
        exit(0);
    }
    if (strcmp(mode, "thread") == 0) {
        pt_setup(&job, &api, 1, 50000);
        pt_submit(&job, 0, 1);
        pthread_t t;
        int rc = pthread_create(&t, NULL, exiter, NULL);
        if (rc != 0) PT_FAIL("pthread_create: %d", rc);
        __atomic_store_n(&reading, 1, __ATOMIC_RELEASE);
        pt_check(&job, 0);
        /* Only the other thread's exit(0) may end the process now. */
        for (;;) pt_sleep_us(1000000);
    }
    PT_FAIL("usage: %s main|thread", argv[0]);
}
