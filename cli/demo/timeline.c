/*
 * timeline.c - libnrt_demo_timeline.so: the timing interposer `nrt-shim demo` preloads
 * into the runs WITHOUT the shim (sync and the old implicit mode), where the shim's own
 * trace cannot exist. It measures, never simulates:
 *
 *   H <call> <start_us> <end_us>   each nrt_execute / nrt_tensor_read / nrt_tensor_write
 *   C <vnc> <job_id> <at_us>       each completion reported to the legacy callback
 *                                  (implicit mode only; registered after nrt_init)
 *
 * written to $NRT_DEMO_TIMELINE at nrt_close (or exit). Times are microseconds on
 * CLOCK_MONOTONIC since the first call. `nrt-shim demo` turns this into a trace in the
 * shim's format (docs/trace-format.md), inferring device slices (see cli/src/demo.rs).
 * A program that registers its own callback replaces this one: then no C lines.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nrt/nrt.h>
#include <nrt/nrt_experimental.h>

#define MAX_EVENTS (1 << 18)

typedef struct {
    char kind;
    const char *name;
    uint64_t a, b, c;
} ev_t;

static ev_t g_ev[MAX_EVENTS];
static unsigned g_n;
static int g_written;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_t0;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (!g_t0) g_t0 = t;
    return t - g_t0;
}

static void record(char kind, const char *name, uint64_t a, uint64_t b, uint64_t c) {
    pthread_mutex_lock(&g_mu);
    if (g_n < MAX_EVENTS) g_ev[g_n++] = (ev_t){kind, name, a, b, c};
    pthread_mutex_unlock(&g_mu);
}

static void write_out(void) {
    pthread_mutex_lock(&g_mu);
    const char *path = getenv("NRT_DEMO_TIMELINE");
    if (!g_written && path && *path) {
        FILE *f = fopen(path, "w");
        if (f) {
            for (unsigned i = 0; i < g_n; i++) {
                ev_t *e = &g_ev[i];
                if (e->kind == 'H')
                    fprintf(f, "H %s %llu %llu\n", e->name, (unsigned long long)e->a, (unsigned long long)e->b);
                else
                    fprintf(f, "C %llu %llu %llu\n", (unsigned long long)e->a, (unsigned long long)e->b,
                            (unsigned long long)e->c);
            }
            fclose(f);
        }
        g_written = 1;
    }
    pthread_mutex_unlock(&g_mu);
}

#define REAL(fn) ((__typeof__(&fn))dlsym(RTLD_NEXT, #fn))

static void on_complete(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id, NRT_STATUS status) {
    (void)params, (void)model_id, (void)status;
    record('C', NULL, vnc, job_id, now_us());
}

NRT_STATUS nrt_init(nrt_framework_type_t framework, const char *fw_version, const char *fal_version) {
    now_us();
    NRT_STATUS st = REAL(nrt_init)(framework, fw_version, fal_version);
    __typeof__(&nrt_register_async_exec_callback) reg = REAL(nrt_register_async_exec_callback);
    if (st == NRT_SUCCESS && reg) reg(on_complete, NULL);
    static int once;
    if (!once) {
        once = 1;
        atexit(write_out);
    }
    return st;
}

void nrt_close(void) {
    REAL(nrt_close)();
    write_out();
}

NRT_STATUS nrt_execute(nrt_model_t *model, const nrt_tensor_set_t *input_set, nrt_tensor_set_t *output_set) {
    uint64_t t = now_us();
    NRT_STATUS st = REAL(nrt_execute)(model, input_set, output_set);
    record('H', "nrt_execute", t, now_us(), 0);
    return st;
}

NRT_STATUS nrt_tensor_read(const nrt_tensor_t *tensor, void *buf, size_t offset, size_t size) {
    uint64_t t = now_us();
    NRT_STATUS st = REAL(nrt_tensor_read)(tensor, buf, offset, size);
    record('H', "nrt_tensor_read", t, now_us(), 0);
    return st;
}

NRT_STATUS nrt_tensor_write(nrt_tensor_t *tensor, const void *buf, size_t offset, size_t size) {
    uint64_t t = now_us();
    NRT_STATUS st = REAL(nrt_tensor_write)(tensor, buf, offset, size);
    record('H', "nrt_tensor_write", t, now_us(), 0);
    return st;
}
