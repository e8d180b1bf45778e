/*
 * pt_fork_storm.c - pitfall 9, many times: fork() over and over while executions are
 * in flight, each child under a watchdog.
 *
 * The parent keeps every slot's execution in flight (short requests, so the shim's
 * completion thread is busy retiring them, and parked on the shim's locks, at the
 * moment of each fork). Child i, in turn: ends at once with _exit(0); ends with
 * exit(0) (atexit handlers run); or initialises the runtime afresh and does real
 * work: nrt_init, load, write, execute, read (checked against the formula), free,
 * nrt_close. A child that has not ended within the bound hangs: it is killed and
 * counted, and the storm goes on, so one run gives a hang rate. The parent checks
 * every output it reads after each fork.
 *
 * Output: "forks: N", "hangs: H", "child_failures: F", then "ok" if both are zero
 * (exit 1 otherwise).
 *
 * usage: pt_fork_storm FORKS [bound_ms=3000] [latency_us=300]
 */
#define _GNU_SOURCE
#include "pt.h"

#include <signal.h>
#include <sys/wait.h>

/* What child i does: the three cases in turn. */
static void child(const pt_api_t *api, int i) {
    switch (i % 3) {
    case 0:
        _exit(0);
    case 1:
        exit(0);
    default: {
        PT_OK(api->init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
        pt_job_t job;
        pt_setup(&job, api, 2, 50);
        for (int s = 0; s < job.slots; s++) pt_submit(&job, s, (uint32_t)(i * 7 + s + 1));
        for (int s = 0; s < job.slots; s++) pt_check(&job, s);
        pt_teardown(&job);
        api->close();
        _exit(0);
    }
    }
}

int main(int argc, char **argv) {
    if (argc < 2) PT_FAIL("usage: %s FORKS [bound_ms] [latency_us]", argv[0]);
    int forks = atoi(argv[1]);
    long bound_ms = argc > 2 ? atol(argv[2]) : 3000;
    unsigned latency_us = argc > 3 ? (unsigned)atoi(argv[3]) : 300;

    pt_api_t api;
    pt_api_linked(&api);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, &api, 4, latency_us);

    int hangs = 0, failures = 0;
    for (int i = 0; i < forks; i++) {
        for (int s = 0; s < job.slots; s++) pt_submit(&job, s, (uint32_t)(i * 16 + s + 1));
        fflush(stdout);
        fflush(stderr);
        uint64_t t0 = pt_now_us();
        pid_t pid = fork();
        if (pid < 0) PT_FAIL("fork %d: %s", i, strerror(errno));
        if (pid == 0) child(&api, i);
        int status = 0;
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) break;
            if (w < 0) PT_FAIL("waitpid: %s", strerror(errno));
            if (pt_now_us() - t0 > (uint64_t)bound_ms * 1000u) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                fprintf(stderr, "fork %d: the child (case %d) did not end within %ld ms: it hangs\n", i, i % 3,
                        bound_ms);
                hangs++;
                status = 0;
                break;
            }
            pt_sleep_us(200);
        }
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
            fprintf(stderr, "fork %d: the child (case %d) was killed by signal %d\n", i, i % 3, WTERMSIG(status));
            failures++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork %d: the child (case %d) exited with status %d\n", i, i % 3, WEXITSTATUS(status));
            failures++;
        }
        for (int s = 0; s < job.slots; s++) pt_check(&job, s);
    }
    pt_teardown(&job);
    api.close();
    printf("forks: %d\nhangs: %d\nchild_failures: %d\n", forks, hangs, failures);
    pt_print_shim_lines(NULL);
    if (hangs || failures) return 1;
    printf("ok\n");
    return 0;
}
