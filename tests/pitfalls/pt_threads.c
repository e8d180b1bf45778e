/*
 * pt_threads.c - pitfall 8: the completion thread is started lazily, named, with
 * every signal blocked. Linked with -lnrt; run with the shim preloaded.
 *
 * usage: pt_threads lazy | signals
 *
 * lazy:    prints the thread count and whether "nrt-shim-compl" exists at the start
 *          of main, after nrt_init and a load, and after the first nrt_execute; then
 *          that thread's SigBlk and main's.
 * signals: installs a SIGUSR1 handler, then while executions are in flight sends
 *          itself SIGUSR1 (kill(getpid())) many times, each time with SIGUSR1
 *          blocked in main: a process-directed signal then goes to any thread that
 *          does not block it, and only if none accepts it does it stay pending until
 *          main unblocks. Every signal must be handled in main. The simulator's
 *          worker threads (the device, not the shim) are started first, from main
 *          with SIGUSR1 blocked, through the runtime's own functions (looked up on
 *          its handle, so the shim does not see them and starts nothing).
 */
#define _GNU_SOURCE
#include "pt.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

static long main_tid;
static volatile sig_atomic_t in_main;
static volatile sig_atomic_t elsewhere;
static volatile long foreign_tid;

static void on_usr1(int sig) {
    (void)sig;
    long tid = (long)syscall(SYS_gettid);
    if (tid == main_tid) {
        in_main++;
    } else {
        elsewhere++;
        foreign_tid = tid;
    }
}

static void thread_name(long tid, char *out, size_t cap) {
    char path[128];
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
    pt_copy(out, cap, "(gone)");
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(out, (int)cap, f)) out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static void block_usr1(int how) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    int rc = pthread_sigmask(how, &s, NULL);
    if (rc != 0) PT_FAIL("pthread_sigmask: %d", rc);
}

static int lazy(void) {
    pt_api_t api;
    pt_api_linked(&api);
    printf("threads_at_start: %d\n", pt_thread_count());
    printf("compl_at_start: %d\n", pt_find_thread("nrt-shim-compl") != 0);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, &api, 1, 20000);
    printf("compl_before_execute: %d\n", pt_find_thread("nrt-shim-compl") != 0);
    pt_submit(&job, 0, 1);
    long tid = pt_wait_thread("nrt-shim-compl", 2000);
    printf("compl_after_execute: %d\n", tid != 0);
    if (tid) printf("compl_sigblk: %016llx\n", (unsigned long long)pt_task_sigblk(tid));
    printf("main_sigblk: %016llx\n", (unsigned long long)pt_task_sigblk(main_tid));
    pt_check(&job, 0);
    pt_teardown(&job);
    api.close();
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}

static int signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) PT_FAIL("sigaction: %s", strerror(errno));

    pt_api_t api;
    pt_api_linked(&api);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, &api, 4, 3000);

    /* Start the simulator's workers with SIGUSR1 blocked, behind the shim's back. */
    void *h = dlopen("libnrt.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!h) PT_FAIL("dlopen libnrt.so.1 (NOLOAD): %s", dlerror());
    pt_api_t raw;
    pt_api_dlsym(&raw, h);
    raw.init = api.init;
    raw.close = api.close;
    block_usr1(SIG_BLOCK);
    job.api = &raw;
    pt_submit(&job, 0, 7);
    pt_check(&job, 0);
    job.api = &api;
    block_usr1(SIG_UNBLOCK);
    if (pt_find_thread("nrt-shim-compl")) PT_FAIL("the shim's thread runs before any call reached the shim");

    int rounds = 8, per_round = 25, sent = 0;
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < job.slots; s++) pt_submit(&job, s, (uint32_t)(100 * r + s + 1));
        if (r == 0 && !pt_wait_thread("nrt-shim-compl", 2000)) PT_FAIL("no nrt-shim-compl thread after nrt_execute");
        for (int k = 0; k < per_round; k++) {
            sig_atomic_t before = in_main;
            block_usr1(SIG_BLOCK);
            if (kill(getpid(), SIGUSR1) != 0) PT_FAIL("kill: %s", strerror(errno));
            pt_sleep_us(100); /* a thread that accepts SIGUSR1 runs the handler now */
            block_usr1(SIG_UNBLOCK); /* still pending: delivered to main here */
            sent++;
            if (in_main != before + 1) {
                char name[64];
                thread_name(foreign_tid, name, sizeof name);
                PT_FAIL("signal %d was not handled in main (in main %d, elsewhere %d, last in thread %ld \"%s\")", sent,
                        (int)in_main, (int)elsewhere, foreign_tid, name);
            }
        }
        for (int s = 0; s < job.slots; s++) pt_check(&job, s);
    }
    pt_teardown(&job);
    api.close();
    printf("signals_sent: %d\n", sent);
    printf("signals_in_main: %d\n", (int)in_main);
    printf("signals_elsewhere: %d\n", (int)elsewhere);
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    main_tid = (long)syscall(SYS_gettid);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "lazy") == 0) return lazy();
    if (strcmp(mode, "signals") == 0) return signals();
    PT_FAIL("usage: %s lazy|signals", argv[0]);
}
