/*
 * w5_server_expert.c - workload 5 rewritten by hand on the v3 nrta_* API.
 *
 * Same configuration and data flow as w5_server.c: 4 threads (thread t on core
 * t % 2, its own model), 150 requests each, MODEL_US 1000, HOST_US 600, two sets
 * per thread. Each thread runs the loop of w2_double_buffer_expert.c: writes on the
 * tensor-op queues (queue t / 2 of its core, so the two threads of a core use
 * different queues), execution scheduled the moment its writes complete, polling,
 * per-request statuses; with two threads per core, up to four executions are queued
 * on each compute unit.
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
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
    nrta_seq_t eseq;
    volatile NRT_STATUS est;
    int pending;
} buf_t;

typedef struct {
    int id;
    uint32_t vnc, queue;
    nrt_model_t *model;
    buf_t buf[2];
} worker_t;

static worker_t g_w[THREADS];
static long g_iterations;
static const size_t in_sizes[] = {XN, YN}, out_sizes[] = {ZN, WN};
static const char *in_names[] = {"x", "y"}, *out_names[] = {"z", "w"};

static void wait_exec(buf_t *b) {
    if (!b->pending) return;
    wait_ok(b->eseq, &b->est, "execution");
    b->pending = 0;
}

static void check_outputs(worker_t *w, buf_t *b) {
    wait_exec(b);
    volatile NRT_STATUS s0 = PENDING_STATUS, s1 = PENDING_STATUS;
    nrta_seq_t q0 = 0, q1 = 0;
    OK(nrta_tensor_read(b->hz, b->t[2], 0, ZN, w->vnc, w->queue, (NRT_STATUS *)&s0, &q0));
    OK(nrta_tensor_read(b->hw, b->t[3], 0, WN, w->vnc, w->queue, (NRT_STATUS *)&s1, &q1));
    wait_ok(q1, &s1, "read of w"); /* same queue: in order */
    wait_ok(q0, &s0, "read of z");
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
        wait_exec(b);
        volatile NRT_STATUS s0 = PENDING_STATUS, s1 = PENDING_STATUS;
        nrta_seq_t q0 = 0, q1 = 0;
        OK(nrta_tensor_write(b->t[0], b->hx, 0, XN, w->vnc, w->queue, (NRT_STATUS *)&s0, &q0));
        OK(nrta_tensor_write(b->t[1], b->hy, 0, YN, w->vnc, w->queue, (NRT_STATUS *)&s1, &q1));
        wait_ok(q1, &s1, "write of y");
        wait_ok(q0, &s0, "write of x");
        b->est = PENDING_STATUS;
        OK(nrta_execute_schedule(w->model, b->in, b->out, 0, (NRT_STATUS *)&b->est, &b->eseq));
        b->pending = 1;
        if (i > 0) check_outputs(w, &w->buf[(i - 1) % 2]);
    }
    if (g_iterations > 0) check_outputs(w, &w->buf[(g_iterations - 1) % 2]);
    return NULL;
}

int main(int argc, char **argv) {
    g_iterations = arg_long(argc, argv, 1, ITERATIONS);
    bench_init();
    for (int k = 0; k < THREADS; k++) {
        worker_t *w = &g_w[k];
        w->id = k;
        w->vnc = (uint32_t)(k % 2);
        w->queue = (uint32_t)(k / 2);
        w->model = load_affine("server", MODEL_US, (int)w->vnc, MUL, ADD, 2, in_names, in_sizes, 2, out_names,
                               out_sizes);
        for (int s = 0; s < 2; s++) {
            buf_t *b = &w->buf[s];
            for (int j = 0; j < 2; j++) b->t[j] = dev_tensor((int)w->vnc, in_sizes[j], in_names[j]);
            for (int j = 0; j < 2; j++) b->t[2 + j] = dev_tensor((int)w->vnc, out_sizes[j], out_names[j]);
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
