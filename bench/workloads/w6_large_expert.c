/*
 * w6_large_expert.c - workload 6 rewritten by hand on the v3 nrta_* API.
 *
 * Same configuration and data flow as w6_large.c: ITERATIONS 100, MODEL_US 1500,
 * two sets of x (4 MiB) y (4 MiB) -> z (4 MiB), inputs from three precomputed
 * pairs, every output compared with its precomputed formula result (argv[2]
 * overrides the size, as there). Iteration i: poll request i-2 (it used set i%2)
 * and check its status; schedule the writes of x and y on the two tensor-op
 * queues (they run in parallel, and beside execution i-1); the moment both are
 * done schedule execution i (two executions queued on the compute unit, the most
 * two sets allow); then poll request i-1, read z on tensor-op queue 0 and check
 * it. Every request has its own status.
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#include "w6_data.h"

typedef struct {
    nrt_tensor_t *t[3]; /* x y z */
    nrt_tensor_set_t *in, *out;
    long req;
    nrta_seq_t eseq;
    volatile NRT_STATUS est;
    int pending; /* an execution was scheduled and not yet waited for */
} buf_t;

static buf_t g_buf[2];

static void wait_exec(buf_t *b) {
    if (!b->pending) return;
    wait_ok(b->eseq, &b->est, "execution");
    b->pending = 0;
}

static void check_outputs(buf_t *b) {
    wait_exec(b);
    volatile NRT_STATUS s0 = PENDING_STATUS;
    nrta_seq_t q0 = 0;
    OK(nrta_tensor_read(g_out, b->t[2], 0, g_n, 0, 0, (NRT_STATUS *)&s0, &q0));
    wait_ok(q0, &s0, "read of z");
    w6_compare(b->req);
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, ITERATIONS);
    w6_prepare(argc, argv);
    bench_init(); /* after the host buffers: the report's wall time covers the runtime's part */

    nrt_model_t *model;
    W6_SETUP(model, g_buf);

    uint64_t t0 = now_us();
    for (long i = 0; i < iterations; i++) {
        buf_t *b = &g_buf[i % 2];
        b->req = i;
        wait_exec(b); /* request i-2 (already checked) has released the set */
        volatile NRT_STATUS s0 = PENDING_STATUS, s1 = PENDING_STATUS;
        nrta_seq_t q0 = 0, q1 = 0;
        OK(nrta_tensor_write(b->t[0], g_x[i % VARIANTS], 0, g_n, 0, 0, (NRT_STATUS *)&s0, &q0));
        OK(nrta_tensor_write(b->t[1], g_y[i % VARIANTS], 0, g_n, 0, 1, (NRT_STATUS *)&s1, &q1));
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
        wait_exec(&g_buf[s]);
        nrt_destroy_tensor_set(&g_buf[s].in);
        nrt_destroy_tensor_set(&g_buf[s].out);
        for (int k = 0; k < 3; k++) nrt_tensor_free(&g_buf[s].t[k]);
    }
    OK(nrt_unload(model));
    nrt_close();
    print_result(iterations, elapsed);
    w6_release();
    return 0;
}
