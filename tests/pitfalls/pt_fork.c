/*
 * pt_fork.c - pitfall 9: fork() while executions are in flight.
 *
 * The parent submits several executions (20 ms each, so ~80 ms of device work is
 * queued), then forks. The child ends at once, with _exit(0) (nothing runs) or with
 * exit(0) (atexit handlers and destructors run: the shim's must not wait for the
 * parent's requests, which the child's copy of the shim can never see complete), or
 * with "init" it uses the runtime afresh: nrt_init, load, write, execute, read
 * (checked against the formula), free, nrt_close, and exits 0 only if all of it
 * succeeded (on v2 this needs the shim to forget the parent's error trackers).
 * The parent waits for the child with a bound, then reads every output, checked
 * against the formula.
 *
 * usage: pt_fork _exit|exit|init [bound_ms=3000]
 */
#define _GNU_SOURCE
#include "pt.h"

#include <signal.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "";
    int use_exit = strcmp(how, "exit") == 0, use_init = strcmp(how, "init") == 0;
    if (!use_exit && !use_init && strcmp(how, "_exit") != 0) PT_FAIL("usage: %s _exit|exit|init [bound_ms]", argv[0]);
    long bound_ms = argc > 2 ? atol(argv[2]) : 3000;

    pt_api_t api;
    pt_api_linked(&api);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, &api, 4, 20000);
    for (int s = 0; s < job.slots; s++) pt_submit(&job, s, (uint32_t)(s + 11));

    fflush(stdout);
    fflush(stderr);
    uint64_t t0 = pt_now_us();
    pid_t pid = fork();
    if (pid < 0) PT_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        if (use_exit) exit(0);
        if (use_init) {
            PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
            pt_job_t mine;
            pt_setup(&mine, &api, 2, 1000);
            for (int round = 0; round < 3; round++) {
                for (int s = 0; s < mine.slots; s++) pt_submit(&mine, s, (uint32_t)(round * 10 + s + 31));
                for (int s = 0; s < mine.slots; s++) pt_check(&mine, s);
            }
            pt_teardown(&mine);
            api.close();
        }
        _exit(0);
    }
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0) PT_FAIL("waitpid: %s", strerror(errno));
        if (pt_now_us() - t0 > (uint64_t)bound_ms * 1000u) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            PT_FAIL("the child (%s) did not end within %ld ms: it hangs", how, bound_ms);
        }
        pt_sleep_us(1000);
    }
    uint64_t child_us = pt_now_us() - t0;
    if (WIFSIGNALED(status)) PT_FAIL("the child (%s) was killed by signal %d", how, WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        PT_FAIL("the child (%s) exited with status %d", how, WEXITSTATUS(status));
    printf("child_exit_ms: %llu\n", (unsigned long long)(child_us / 1000u));

    for (int s = 0; s < job.slots; s++) pt_check(&job, s);
    /* The parent's shim still works after the fork: another round. */
    for (int s = 0; s < job.slots; s++) pt_submit(&job, s, (uint32_t)(s + 21));
    for (int s = 0; s < job.slots; s++) pt_check(&job, s);
    printf("parent_total_ms: %llu\n", (unsigned long long)((pt_now_us() - t0) / 1000u));
    pt_teardown(&job);
    api.close();
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}
