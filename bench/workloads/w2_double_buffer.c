/*
 * w2_double_buffer.c - workload 2, legacy: double-buffered inference.
 *
 * Fixed configuration (argv[1] overrides ITERATIONS only):
 *   ITERATIONS  400
 *   MODEL_US    1000 us per execution (core 0)
 *   HOST_US     600 us of host work per request (preparing its inputs)
 *   inputs      x (16 KiB), y (256 B); outputs z (16 KiB), w (128 B)
 * Two input sets and two output sets. Iteration i prepares request i's inputs,
 * writes them into set i%2, calls nrt_execute, and only then reads the outputs of
 * request i-1 (set (i-1)%2) and checks them against the formula.
 */
#define _GNU_SOURCE
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
} buf_t;

static buf_t g_buf[2];
static const size_t in_sizes[] = {XN, YN};

static void check_outputs(buf_t *b) {
    OK(nrt_tensor_read(b->t[2], b->hz, 0, ZN));
    OK(nrt_tensor_read(b->t[3], b->hw, 0, WN));
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
        OK(nrt_tensor_write(b->t[0], b->hx, 0, XN));
        OK(nrt_tensor_write(b->t[1], b->hy, 0, YN));
        OK(nrt_execute(model, b->in, b->out));
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
