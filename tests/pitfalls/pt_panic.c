/*
 * pt_panic.c - pitfall 11: panics inside the shim's boundaries (the test hook
 * NRT_SHIM_TEST_PANIC=<export name>|completion makes one panic on purpose).
 *
 * usage: pt_panic exports | completion
 *
 * exports:    one round (write, execute, read, nrt_async_shim_wait_all, close), every
 *             status printed, none fatal: the driver checks that the export named
 *             in the hook returned NRT_FAILURE (1), the others NRT_SUCCESS, and that
 *             the process did not abort. (The hook fires on every call of that
 *             export, so nothing after it can use that export.)
 * completion: the completion thread panics once while retiring the first request:
 *             that request must fail (NRT_FAILURE at the read of its output) rather
 *             than leave the reader hanging, and later requests must work.
 */
#define _GNU_SOURCE
#include "pt.h"

static NRT_STATUS wait_all(void) {
    void *p = dlsym(RTLD_DEFAULT, "nrt_async_shim_wait_all");
    if (!p) return (NRT_STATUS)-1;
    NRT_STATUS (*f)(void);
    memcpy(&f, &p, sizeof p);
    return f();
}

static int exports(pt_api_t *api) {
    PT_OK(api->init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, api, 1, 1000);
    uint8_t buf[PT_SIZE];
    for (uint32_t j = 0; j < PT_SIZE; j++) buf[j] = pt_pattern(5, j);
    job.seed[0] = 5;
    printf("st_nrt_tensor_write: %d\n", (int)api->tensor_write(job.in[0], buf, 0, PT_SIZE));
    printf("st_nrt_execute: %d\n", (int)api->execute(job.model, job.ins[0], job.outs[0]));
    printf("st_nrt_tensor_read: %d\n", (int)api->tensor_read(job.out[0], buf, 0, PT_SIZE));
    printf("st_nrt_async_shim_wait_all: %d\n", (int)wait_all());
    pt_teardown(&job);
    api->close();
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}

static int completion(pt_api_t *api) {
    PT_OK(api->init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    pt_job_t job;
    pt_setup(&job, api, 2, 2000);
    pt_submit(&job, 0, 1);
    printf("st_first: %d\n", (int)pt_check_status(&job, 0));
    printf("st_first_again: %d\n", (int)pt_check_status(&job, 0));
    pt_submit(&job, 1, 2);
    pt_submit(&job, 0, 3);
    printf("st_second: %d\n", (int)pt_check_status(&job, 1));
    printf("st_third: %d\n", (int)pt_check_status(&job, 0));
    pt_teardown(&job);
    api->close();
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    pt_api_t api;
    pt_api_linked(&api);
    if (strcmp(mode, "exports") == 0) return exports(&api);
    if (strcmp(mode, "completion") == 0) return completion(&api);
    PT_FAIL("usage: %s exports|completion", argv[0]);
}
