/*
 * pt_dlopen_thread.c - pitfall 8: the shim dlopen()ed (RTLD_NOW | RTLD_GLOBAL) from a
 * thread other than main, while main waits for it; then used from that thread and
 * from main through dlsym. Nothing the shim does at load time may need the loader
 * lock from another thread, nor start a thread. Linked with -lnrt (the functions the
 * shim does not export come from the runtime).
 *
 * usage: pt_dlopen_thread <path of libnrt_async_shim.so>
 */
#define _GNU_SOURCE
#include "pt.h"

#include <pthread.h>

static const char *shim_path;
static void *shim_handle;
static pt_api_t api;
static int threads_after_dlopen;

static void *opener(void *arg) {
    (void)arg;
    shim_handle = dlopen(shim_path, RTLD_NOW | RTLD_GLOBAL);
    if (!shim_handle) PT_FAIL("dlopen %s: %s", shim_path, dlerror());
    threads_after_dlopen = pt_thread_count(); /* main and this one: the shim started none */
    pt_api_dlsym(&api, shim_handle);
    PT_OK(api.init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_workload(&api, 2, 2, 300);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) PT_FAIL("usage: %s <libnrt_async_shim.so>", argv[0]);
    shim_path = argv[1];
    pthread_t t;
    int rc = pthread_create(&t, NULL, opener, NULL);
    if (rc != 0) PT_FAIL("pthread_create: %d", rc);
    rc = pthread_join(t, NULL);
    if (rc != 0) PT_FAIL("pthread_join: %d", rc);
    printf("threads_after_dlopen: %d\n", threads_after_dlopen);
    char who[PATH_MAX];
    void *exec_addr;
    memcpy(&exec_addr, &api.execute, sizeof exec_addr);
    printf("execute_from: %s\n", pt_object_of(exec_addr, who, sizeof who));
    pt_workload(&api, 2, 2, 300); /* and from main */
    api.close();
    printf("shim_executions: %lld\n", pt_shim_stat(shim_handle, "executions"));
    printf("ok\n");
    return 0;
}
