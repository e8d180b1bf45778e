/*
 * p2_double_buffer.c - legacy program 2: double-buffered inference.
 *
 * Two input sets and two output sets. Iteration i prepares its inputs on the host
 * (host_us of simulated CPU work), writes them into set i%2, calls nrt_execute,
 * and only then reads the outputs of request i-1 (set (i-1)%2) and checks them
 * against the formula. Under the implicit async mode (2.30 and the variable) every
 * write and read waits for all pending executions; with the shim the read waits for
 * request i-1 only, so request i runs while the host checks i-1 and prepares i+1.
 *
 * usage: p2_double_buffer [iterations=40] [latency_us=300] [host_us=0]
 * Prints "elapsed_us: N" (the loop's wall time) for the timing test.
 */
#define _GNU_SOURCE
#include "common.h"

#define MUL 5
#define ADD 11
#define XN 4096
#define YN 64
#define ZN 4096
#define WN 100

typedef struct {
    nrt_tensor_t *x, *y, *z, *w;
    nrt_tensor_set_t *in, *out;
    uint8_t hx[XN], hy[YN], hz[ZN], hw[WN];
    long req;
} buf_t;

static buf_t g_buf[2];

static void check_outputs(buf_t *b) {
    read_tensor(b->z, b->hz, 0, ZN);
    read_tensor(b->w, b->hw, 0, WN);
    inbuf_t in[2] = {{b->hx, XN}, {b->hy, YN}};
    char what[64];
    snprintf(what, sizeof what, "request %ld output z", b->req);
    CHECK_AFFINE(what, MUL, ADD, in, 2, b->hz, ZN);
    snprintf(what, sizeof what, "request %ld output w", b->req);
    CHECK_AFFINE(what, MUL, ADD, in, 2, b->hw, WN);
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 40);
    long lat = arg_long(argc, argv, 2, 300);
    long host_us = arg_long(argc, argv, 3, 0);
    print_shim_line();
    init_runtime();

    char text[512];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname double_buffer\nlatency_us %ld\n"
                          "input x %d\ninput y %d\noutput z %d\noutput w %d\ncompute affine %d %d\n",
                          lat, XN, YN, ZN, WN, MUL, ADD),
               0, &model);

    for (int s = 0; s < 2; s++) {
        buf_t *b = &g_buf[s];
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, XN, "x", &b->x));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, YN, "y", &b->y));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, ZN, "z", &b->z));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, WN, "w", &b->w));
        CK(nrt_allocate_tensor_set(&b->in));
        CK(nrt_allocate_tensor_set(&b->out));
        CK(nrt_add_tensor_to_tensor_set(b->in, "x", b->x));
        CK(nrt_add_tensor_to_tensor_set(b->in, "y", b->y));
        CK(nrt_add_tensor_to_tensor_set(b->out, "z", b->z));
        CK(nrt_add_tensor_to_tensor_set(b->out, "w", b->w));
    }

    uint64_t t0 = now_us();
    for (long i = 0; i < iterations; i++) {
        buf_t *b = &g_buf[i % 2];
        /* Host-side preparation of request i. */
        fill_pattern(b->hx, XN, (uint32_t)(3 * i));
        fill_pattern(b->hy, YN, (uint32_t)(3 * i + 1));
        if (host_us > 0) sleep_us((uint64_t)host_us);
        b->req = i;
        CK(nrt_tensor_write(b->x, b->hx, 0, XN));
        CK(nrt_tensor_write(b->y, b->hy, 0, YN));
        CK(nrt_execute(model, b->in, b->out));
        if (i > 0) check_outputs(&g_buf[(i - 1) % 2]);
    }
    if (iterations > 0) check_outputs(&g_buf[(iterations - 1) % 2]);
    uint64_t elapsed = now_us() - t0;

    for (int s = 0; s < 2; s++) {
        buf_t *b = &g_buf[s];
        nrt_destroy_tensor_set(&b->in);
        nrt_destroy_tensor_set(&b->out);
        nrt_tensor_free(&b->x);
        nrt_tensor_free(&b->y);
        nrt_tensor_free(&b->z);
        nrt_tensor_free(&b->w);
    }
    CK(nrt_unload(model));
    nrt_close();
    printf("elapsed_us: %llu\n", (unsigned long long)elapsed);
    print_digest("digest", gd());
    return 0;
}
