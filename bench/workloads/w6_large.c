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

#define ITERATIONS 100
#define MODEL_US 1500
#define MUL 3
#define ADD 5
#define SIZE (4u << 20)
#define VARIANTS 3

static size_t g_n;
static uint8_t *g_x[VARIANTS], *g_y[VARIANTS], *g_z[VARIANTS], *g_out;

typedef struct {
    nrt_tensor_t *t[3]; /* x y z */
    nrt_tensor_set_t *in, *out;
    long req;
} buf_t;

static buf_t g_buf[2];

static uint8_t *xalloc(size_t n) {
    uint8_t *p = malloc(n);
    if (!p) DIE("out of memory (%zu bytes)", n);
    return p;
}

static void check_outputs(buf_t *b) {
    OK(nrt_tensor_read(b->t[2], g_out, 0, g_n));
    const uint8_t *e = g_z[b->req % VARIANTS];
    if (memcmp(g_out, e, g_n) != 0) {
        size_t j = 0;
        while (g_out[j] == e[j]) j++;
        DIE("output z of request %ld: byte %zu is %u, the model formula gives %u", b->req, j, (unsigned)g_out[j],
            (unsigned)e[j]);
    }
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, ITERATIONS);
    g_n = (size_t)arg_long(argc, argv, 2, SIZE);
    if (g_n == 0) DIE("the tensor size must be > 0");
    for (int v = 0; v < VARIANTS; v++) {
        g_x[v] = xalloc(g_n);
        g_y[v] = xalloc(g_n);
        g_z[v] = xalloc(g_n);
        fill_pattern(g_x[v], g_n, (uint32_t)(2 * v + 1));
        fill_pattern(g_y[v], g_n, (uint32_t)(2 * v + 2));
        /* The formula of bench.h (affine_byte) for two inputs of the output's size. */
        for (size_t j = 0; j < g_n; j++) g_z[v][j] = (uint8_t)(MUL * (uint8_t)(g_x[v][j] + g_y[v][j]) + ADD);
    }
    g_out = xalloc(g_n);
    const uint8_t *probe_in[] = {g_x[0], g_y[0]};
    const size_t probe_sizes[] = {g_n, g_n};
    check_affine("precomputed z", 0, MUL, ADD, probe_in, probe_sizes, 2, g_z[0], g_n < 4096 ? g_n : 4096);
    bench_init(); /* after the host buffers: the report's wall time covers the runtime's part */

    const char *in_names[] = {"x", "y"}, *out_names[] = {"z"};
    const size_t in_sizes[] = {g_n, g_n}, out_sizes[] = {g_n};
    nrt_model_t *model = load_affine("large", MODEL_US, 0, MUL, ADD, 2, in_names, in_sizes, 1, out_names, out_sizes);
    for (int s = 0; s < 2; s++) {
        buf_t *b = &g_buf[s];
        for (int k = 0; k < 2; k++) b->t[k] = dev_tensor(0, g_n, in_names[k]);
        b->t[2] = dev_tensor(0, g_n, out_names[0]);
        b->in = tensor_set(2, in_names, b->t);
        b->out = tensor_set(1, out_names, b->t + 2);
    }

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
    for (int v = 0; v < VARIANTS; v++) {
        free(g_x[v]);
        free(g_y[v]);
        free(g_z[v]);
    }
    free(g_out);
    return 0;
}
