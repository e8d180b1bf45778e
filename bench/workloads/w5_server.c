/*
 * w5_server.c - workload 5, legacy: a server, 4 application threads on 2 shared cores.
 *
 * Fixed configuration (argv[1] overrides ITERATIONS, the count per thread):
 *   THREADS     4; thread t uses core t % 2 (two threads share each core)
 *   ITERATIONS  150 requests per thread (600 in all; "iterations" printed is the total)
 *   MODEL_US    1000 us per execution; each thread loads its own copy of the model
 *   HOST_US     600 us of host work per request
 *   model       x (16 KiB), y (256 B) -> z (16 KiB), w (128 B)
 * Each thread runs its own double-buffered loop of 2 sets (as workload 2): prepare
 * request i, write it into set i%2, nrt_execute, then read and check request i-1.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <pthread.h>

#define THREADS 4
#define ITERATIONS 150
#define MODEL_US 1000
#define HOST_US 600
#define MUL 5
#define ADD 11
#define XN 16384
#define YN 256
#define ZN 16384
#define WN 128

typedef struct {
    nrt_tensor_t *t[4]; /* x y z w */
    nrt_tensor_set_t *in, *out;
    uint8_t hx[XN], hy[YN], hz[ZN], hw[WN];
    long req;
} buf_t;

typedef struct {
    int id;
    nrt_model_t *model;
    buf_t buf[2];
} worker_t;

static worker_t g_w[THREADS];
static long g_iterations;
static const size_t in_sizes[] = {XN, YN}, out_sizes[] = {ZN, WN};
static const char *in_names[] = {"x", "y"}, *out_names[] = {"z", "w"};

static void check_outputs(buf_t *b) {
    OK(nrt_tensor_read(b->t[2], b->hz, 0, ZN));
    OK(nrt_tensor_read(b->t[3], b->hw, 0, WN));
    const uint8_t *src[] = {b->hx, b->hy};
    check_affine("output z", b->req, MUL, ADD, src, in_sizes, 2, b->hz, ZN);
    check_affine("output w", b->req, MUL, ADD, src, in_sizes, 2, b->hw, WN);
}

static void *worker(void *arg) {
    worker_t *w = (worker_t *)arg;
    for (long i = 0; i < g_iterations; i++) {
        buf_t *b = &w->buf[i % 2];
        fill_pattern(b->hx, XN, (uint32_t)(1000 * w->id + 3 * i));
        fill_pattern(b->hy, YN, (uint32_t)(1000 * w->id + 3 * i + 1));
        host_work_us(HOST_US);
        b->req = i;
        OK(nrt_tensor_write(b->t[0], b->hx, 0, XN));
        OK(nrt_tensor_write(b->t[1], b->hy, 0, YN));
        OK(nrt_execute(w->model, b->in, b->out));
        if (i > 0) check_outputs(&w->buf[(i - 1) % 2]);
    }
    if (g_iterations > 0) check_outputs(&w->buf[(g_iterations - 1) % 2]);
    return NULL;
}

int main(int argc, char **argv) {
    g_iterations = arg_long(argc, argv, 1, ITERATIONS);
    bench_init();
    for (int k = 0; k < THREADS; k++) {
        worker_t *w = &g_w[k];
        int vnc = k % 2;
        w->id = k;
        w->model = load_affine("server", MODEL_US, vnc, MUL, ADD, 2, in_names, in_sizes, 2, out_names, out_sizes);
        for (int s = 0; s < 2; s++) {
            buf_t *b = &w->buf[s];
            for (int j = 0; j < 2; j++) b->t[j] = dev_tensor(vnc, in_sizes[j], in_names[j]);
            for (int j = 0; j < 2; j++) b->t[2 + j] = dev_tensor(vnc, out_sizes[j], out_names[j]);
            b->in = tensor_set(2, in_names, b->t);
            b->out = tensor_set(2, out_names, b->t + 2);
        }
    }
    pthread_t th[THREADS];
    uint64_t t0 = now_us();
    for (int k = 0; k < THREADS; k++)
        if (pthread_create(&th[k], NULL, worker, &g_w[k]) != 0) DIE("pthread_create");
    for (int k = 0; k < THREADS; k++) pthread_join(th[k], NULL);
    uint64_t elapsed = now_us() - t0;

    for (int k = 0; k < THREADS; k++) {
        for (int s = 0; s < 2; s++) {
            nrt_destroy_tensor_set(&g_w[k].buf[s].in);
            nrt_destroy_tensor_set(&g_w[k].buf[s].out);
            for (int j = 0; j < 4; j++) nrt_tensor_free(&g_w[k].buf[s].t[j]);
        }
        OK(nrt_unload(g_w[k].model));
    }
    nrt_close();
    print_result(THREADS * g_iterations, elapsed);
    return 0;
}
