/*
 * w6_large.c - workload 6, legacy: double-buffered inference on large tensors.
 *
 * Fixed configuration (argv[1] overrides ITERATIONS; argv[2], when given, the
 * tensor size in bytes, used only to measure the simulator at other sizes):
 *   ITERATIONS  100
 *   MODEL_US    1500 us per execution (core 0)
 *   HOST_US     0: no host work besides checking
 *   inputs      x (4 MiB), y (4 MiB); output z (4 MiB)
 * Two input sets and two output sets. Iteration i writes request i's inputs
 * (variant i % 3 of three precomputed pairs) into set i%2, calls nrt_execute, and
 * only then reads the output of request i-1 and compares every byte with the
 * model formula's result for its inputs (precomputed before the timed loop, so
 * the check is a memcmp). Each step moves 12 MiB: at the simulator's default
 * 10 GB/s and 20 us a transfer takes 439 us, so a step is 2.82 ms synchronously
 * and 1.5 ms (the model) when transfers overlap executions.
 */
#define _GNU_SOURCE
#include "bench.h"

#include "w6_data.h"

typedef struct {
    nrt_tensor_t *t[3]; /* x y z */
    nrt_tensor_set_t *in, *out;
    long req;
} buf_t;

static buf_t g_buf[2];

static void check_outputs(buf_t *b) {
    OK(nrt_tensor_read(b->t[2], g_out, 0, g_n));
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
        OK(nrt_tensor_write(b->t[0], g_x[i % VARIANTS], 0, g_n));
        OK(nrt_tensor_write(b->t[1], g_y[i % VARIANTS], 0, g_n));
        OK(nrt_execute(model, b->in, b->out));
        if (i > 0) check_outputs(&g_buf[(i - 1) % 2]);
    }
    if (iterations > 0) check_outputs(&g_buf[(iterations - 1) % 2]);
    uint64_t elapsed = now_us() - t0;

    for (int s = 0; s < 2; s++) {
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
