/*
 * w6_data.h - the data of workload 6 (w6_large.c and its expert rewrite): three
 * precomputed input pairs, their expected outputs, the compare, the model and
 * the two double-buffered sets. Included after bench.h.
 */
#ifndef NRT_BENCH_W6_DATA_H
#define NRT_BENCH_W6_DATA_H

#define ITERATIONS 100
#define MODEL_US 1500
#define MUL 3
#define ADD 5
#define SIZE (4u << 20)
#define VARIANTS 3

static size_t g_n;
static uint8_t *g_x[VARIANTS], *g_y[VARIANTS], *g_z[VARIANTS], *g_out;

static uint8_t *w6_alloc(size_t n) {
    uint8_t *p = malloc(n);
    if (!p) DIE("out of memory (%zu bytes)", n);
    return p;
}

/* The tensor size (argv[2], default SIZE), the host buffers and the expected
 * outputs, before bench_init, so the report's wall time covers the runtime's part. */
static void w6_prepare(int argc, char **argv) {
    g_n = (size_t)arg_long(argc, argv, 2, SIZE);
    if (g_n == 0) DIE("the tensor size must be > 0");
    for (int v = 0; v < VARIANTS; v++) {
        g_x[v] = w6_alloc(g_n);
        g_y[v] = w6_alloc(g_n);
        g_z[v] = w6_alloc(g_n);
        fill_pattern(g_x[v], g_n, (uint32_t)(2 * v + 1));
        fill_pattern(g_y[v], g_n, (uint32_t)(2 * v + 2));
        /* The formula of bench.h (affine_byte) for two inputs of the output's size. */
        for (size_t j = 0; j < g_n; j++) g_z[v][j] = (uint8_t)(MUL * (uint8_t)(g_x[v][j] + g_y[v][j]) + ADD);
    }
    g_out = w6_alloc(g_n);
    const uint8_t *probe_in[] = {g_x[0], g_y[0]};
    const size_t probe_sizes[] = {g_n, g_n};
    check_affine("precomputed z", 0, MUL, ADD, probe_in, probe_sizes, 2, g_z[0], g_n < 4096 ? g_n : 4096);
}

/* g_out, just read, against request req's expected output. */
static void w6_compare(long req) {
    const uint8_t *e = g_z[req % VARIANTS];
    if (memcmp(g_out, e, g_n) != 0) {
        size_t j = 0;
        while (g_out[j] == e[j]) j++;
        DIE("output z of request %ld: byte %zu is %u, the model formula gives %u", req, j, (unsigned)g_out[j],
            (unsigned)e[j]);
    }
}

/* The model, and for each of the two buffers its tensors x y z (t[0..2]) and sets. */
#define W6_SETUP(model, bufs)                                                                                      \
    do {                                                                                                           \
        const char *in_names[] = {"x", "y"}, *out_names[] = {"z"};                                                 \
        const size_t in_sizes[] = {g_n, g_n}, out_sizes[] = {g_n};                                                 \
        model = load_affine("large", MODEL_US, 0, MUL, ADD, 2, in_names, in_sizes, 1, out_names, out_sizes);       \
        for (int s = 0; s < 2; s++) {                                                                              \
            for (int k = 0; k < 2; k++) (bufs)[s].t[k] = dev_tensor(0, g_n, in_names[k]);                          \
            (bufs)[s].t[2] = dev_tensor(0, g_n, out_names[0]);                                                     \
            (bufs)[s].in = tensor_set(2, in_names, (bufs)[s].t);                                                   \
            (bufs)[s].out = tensor_set(1, out_names, (bufs)[s].t + 2);                                             \
        }                                                                                                          \
    } while (0)

static void w6_release(void) {
    for (int v = 0; v < VARIANTS; v++) {
        free(g_x[v]);
        free(g_y[v]);
        free(g_z[v]);
    }
    free(g_out);
}

#endif
