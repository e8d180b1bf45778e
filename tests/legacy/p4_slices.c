/*
 * p4_slices.c - legacy program 4: slices that alias one storage.
 *
 * A 2048-byte device tensor `big` and three slices of it: lo = [0,1024),
 * hi = [1024,2048), mid = [768,1280) (overlapping both). Request i reads its input
 * x from lo (even i) or hi (odd i). Right after nrt_execute the program writes:
 *   - new data through the other half (disjoint from what request i reads);
 *   - every 3rd iteration, through mid (overlaps the half request i reads: the
 *     write must not land before the request has read its input);
 *   - every 4th iteration, a few bytes through `big` itself.
 * The outputs of request i-1 are read after submitting request i, half through a
 * slice of the output tensor and half through the tensor itself. Everything is
 * checked against a host shadow of `big`.
 *
 * usage: p4_slices [iterations=16]
 */
#define _GNU_SOURCE
#include "common.h"

#define MUL 7
#define ADD 9
#define BIG 2048
#define HALF 1024
#define KN 16

typedef struct {
    uint8_t x[HALF], k[KN];
} inputs_t;

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 16);
    print_shim_line();
    init_runtime();

    char text[512];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname sliced\nlatency_us 400\n"
                          "input x %d\ninput k %d\noutput y %d\ncompute affine %d %d\n",
                          HALF, KN, HALF, MUL, ADD),
               0, &model);

    nrt_tensor_t *big = NULL, *lo = NULL, *hi = NULL, *mid = NULL, *key = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, BIG, "big", &big));
    CK(nrt_tensor_allocate_slice(big, 0, HALF, "lo", &lo));
    CK(nrt_tensor_allocate_slice(big, HALF, HALF, "hi", &hi));
    CK(nrt_tensor_allocate_slice(big, 768, 512, "mid", &mid));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, KN, "k", &key));
    if (nrt_tensor_get_size(mid) != 512) DIE("slice size is %zu", nrt_tensor_get_size(mid));

    nrt_tensor_t *y[2] = {0}, *ylo[2] = {0};
    nrt_tensor_set_t *in = NULL, *out[2] = {0};
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_add_tensor_to_tensor_set(in, "k", key));
    for (int s = 0; s < 2; s++) {
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, HALF, "y", &y[s]));
        CK(nrt_tensor_allocate_slice(y[s], 0, HALF / 2, "y_lo", &ylo[s]));
        CK(nrt_allocate_tensor_set(&out[s]));
        CK(nrt_add_tensor_to_tensor_set(out[s], "y", y[s]));
    }

    static uint8_t shadow[BIG], data[BIG], got[HALF];
    static inputs_t req_in[2];
    fill_pattern(shadow, BIG, 1);
    CK(nrt_tensor_write(big, shadow, 0, BIG));

    for (long i = 0; i < iterations; i++) {
        int s = (int)(i % 2);
        size_t base = s ? HALF : 0;
        CK(nrt_add_tensor_to_tensor_set(in, "x", s ? hi : lo));
        inputs_t *ri = &req_in[s];
        fill_pattern(ri->k, KN, (uint32_t)(500 + i));
        CK(nrt_tensor_write(key, ri->k, 0, KN));
        memcpy(ri->x, shadow + base, HALF);
        CK(nrt_execute(model, in, out[s]));

        /* The other half: no overlap with what request i reads. */
        size_t other = s ? 0 : HALF;
        fill_pattern(data, HALF, (uint32_t)(700 + i));
        CK(nrt_tensor_write(s ? lo : hi, data, 0, HALF));
        memcpy(shadow + other, data, HALF);
        if (i % 3 == 2) {
            /* Straddles both halves, so overlaps request i's input. */
            fill_pattern(data, 512, (uint32_t)(900 + i));
            CK(nrt_tensor_write(mid, data, 0, 512));
            memcpy(shadow + 768, data, 512);
        }
        if (i % 4 == 3) {
            size_t off = (size_t)(i * 37) % (BIG - 48);
            fill_pattern(data, 48, (uint32_t)(1100 + i));
            CK(nrt_tensor_write(big, data, off, 48));
            memcpy(shadow + off, data, 48);
        }

        if (i > 0) {
            int p = 1 - s;
            inbuf_t ins[2] = {{req_in[p].x, HALF}, {req_in[p].k, KN}};
            read_tensor(ylo[p], got, 0, HALF / 2);
            read_tensor(y[p], got + HALF / 2, HALF / 2, HALF / 2);
            char what[64];
            snprintf(what, sizeof what, "request %ld output", i - 1);
            CHECK_AFFINE(what, MUL, ADD, ins, 2, got, HALF);
        }
    }
    if (iterations > 0) {
        int p = (int)((iterations - 1) % 2);
        inbuf_t ins[2] = {{req_in[p].x, HALF}, {req_in[p].k, KN}};
        read_tensor(y[p], got, 0, HALF);
        CHECK_AFFINE("last request's output", MUL, ADD, ins, 2, got, HALF);
    }
    read_tensor(big, data, 0, BIG);
    CHECK_BYTES("big", data, shadow, BIG);
    read_tensor(mid, data, 0, 512);
    CHECK_BYTES("mid", data, shadow + 768, 512);

    nrt_destroy_tensor_set(&in);
    for (int s = 0; s < 2; s++) {
        nrt_destroy_tensor_set(&out[s]);
        nrt_tensor_free(&ylo[s]);
        nrt_tensor_free(&y[s]);
    }
    nrt_tensor_free(&mid);
    nrt_tensor_free(&hi);
    nrt_tensor_free(&lo);
    nrt_tensor_free(&big);
    nrt_tensor_free(&key);
    CK(nrt_unload(model));
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
