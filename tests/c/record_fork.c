/*
 * record_fork.c - what NRT_SHIM_RECORD must survive: a thread started before
 * nrt_init that calls the runtime after it, and a fork whose child makes one
 * runtime call of its own (recorded under the child's pid, without a copy of the
 * parent's unwritten records) before exit() runs the exit handlers.
 *
 * usage: record_fork
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_ready;

static void *early_thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&g_lock);
    while (!g_ready) pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
    nrt_tensor_t *t = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_HOST, 0, 64, "early", &t));
    uint8_t buf[64];
    fill_pattern(buf, sizeof buf, 7);
    CK(nrt_tensor_write(t, buf, 0, sizeof buf));
    memset(buf, 0, sizeof buf);
    read_tensor(t, buf, 0, sizeof buf);
    nrt_tensor_free(&t);
    return NULL;
}

int main(void) {
    pthread_t th;
    if (pthread_create(&th, NULL, early_thread, NULL) != 0) DIE("pthread_create");
    init_runtime();
    nrt_tensor_t *t = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_HOST, 0, 128, "main", &t));
    uint8_t buf[128];
    fill_pattern(buf, sizeof buf, 3);
    CK(nrt_tensor_write(t, buf, 0, sizeof buf));
    read_tensor(t, buf, 0, sizeof buf);
    pthread_mutex_lock(&g_lock);
    g_ready = 1;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    pthread_join(th, NULL);

    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        /* The runtime is not the child's (nrt-sim says so, as the runtime does); the
         * call is recorded whatever it returns. */
        (void)nrt_tensor_get_size(t);
        exit(0);
    }
    int st = 0;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) DIE("the child failed: %d", st);
    read_tensor(t, buf, 64, 64);
    nrt_tensor_free(&t);
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
