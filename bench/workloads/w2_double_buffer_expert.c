/*
 * w2_double_buffer_expert.c - workload 2 rewritten by hand on the v3 nrta_* API.
 *
 * Same configuration and data flow as w2_double_buffer.c: ITERATIONS 400, MODEL_US
 * 1000, HOST_US 600, two sets of x (16 KiB) y (256 B) -> z (16 KiB) w (128 B).
 * Iteration i: prepare request i's inputs on the host (while requests i-1 and
 * possibly i-2 run); poll request i-2 (it used set i%2) and check its status;
 * schedule the writes of x and y on the two tensor-op queues; the moment both are
 * done schedule execution i (two executions queued on the compute unit, the most
 * two sets allow); then poll request i-1, read z and w on the two tensor-op queues
 * and check them. Every request has its own status.
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#define ITERATIONS 400
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
    int pending; /* an execution was scheduled and not yet waited for */
} buf_t;

static buf_t g_buf[2];
static const size_t in_sizes[] = {XN, YN};

static void wait_exec(buf_t *b) {
    if (!b->pending) return;
    wait_ok(b->eseq, &b->est, "execution");
    b->pending = 0;
}

static void check_outputs(buf_t *b) {
    wait_exec(b);
    volatile NRT_STATUS s0 = PENDING_STATUS, s1 = PENDING_STATUS;
    nrta_seq_t q0 = 0, q1 = 0;
    OK(nrta_tensor_read(b->hz, b->t[2], 0, ZN, 0, 0, (NRT_STATUS *)&s0, &q0));
    OK(nrta_tensor_read(b->hw, b->t[3], 0, WN, 0, 1, (NRT_STATUS *)&s1, &q1));
    wait_ok(q0, &s0, "read of z");
    wait_ok(q1, &s1, "read of w");
    const uint8_t *src[] = {b->hx, b->hy};
    check_affine("output z", b->req, MUL, ADD, src, in_sizes, 2, b->hz, ZN);
    check_affine("output w", b->req, MUL, ADD, src, in_sizes, 2, b->hw, WN);
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, ITERATIONS);
    bench_init();
    const char *in_names[] = {"x", "y"}, *out_names[] = {"z", "w"};
    const size_t out_sizes[] = {ZN, WN};
    nrt_model_t *model = load_affine("double_buffer", MODEL_US, 0, MUL, ADD, 2, in_names, in_sizes, 2, out_names,
                                     out_sizes);
    for (int s = 0; s < 2; s++) {
        buf_t *b = &g_buf[s];
        for (int k = 0; k < 2; k++) b->t[k] = dev_tensor(0, in_sizes[k], in_names[k]);
        for (int k = 0; k < 2; k++) b->t[2 + k] = dev_tensor(0, out_sizes[k], out_names[k]);
        b->in = tensor_set(2, in_names, b->t);
        b->out = tensor_set(2, out_names, b->t + 2);
    }

    uint64_t t0 = now_us();
    for (long i = 0; i < iterations; i++) {
        buf_t *b = &g_buf[i % 2];
        fill_pattern(b->hx, XN, (uint32_t)(3 * i));
        fill_pattern(b->hy, YN, (uint32_t)(3 * i + 1));
        host_work_us(HOST_US);
        b->req = i;
        wait_exec(b); /* request i-2 (already checked) has released the set */
        volatile NRT_STATUS s0 = PENDING_STATUS, s1 = PENDING_STATUS;
        nrta_seq_t q0 = 0, q1 = 0;
        OK(nrta_tensor_write(b->t[0], b->hx, 0, XN, 0, 0, (NRT_STATUS *)&s0, &q0));
        OK(nrta_tensor_write(b->t[1], b->hy, 0, YN, 0, 1, (NRT_STATUS *)&s1, &q1));
        wait_ok(q0, &s0, "write of x");
        wait_ok(q1, &s1, "write of y");
        b->est = PENDING_STATUS;
        OK(nrta_execute_schedule(model, b->in, b->out, 0, (NRT_STATUS *)&b->est, &b->eseq));
        b->pending = 1;
        if (i > 0) check_outputs(&g_buf[(i - 1) % 2]);
    }
    if (iterations > 0) check_outputs(&g_buf[(iterations - 1) % 2]);
    uint64_t elapsed = now_us() - t0;

    for (int s = 0; s < 2; s++) {
        nrt_destroy_tensor_set(&g_buf[s].in);
        nrt_destroy_tensor_set(&g_buf[s].out);
        for (int k = 0; k < 4; k++) nrt_tensor_free(&g_buf[s].t[k]);
    }
    OK(nrt_unload(model));
    nrt_close();
    print_result(iterations, elapsed);
    return 0;
}
