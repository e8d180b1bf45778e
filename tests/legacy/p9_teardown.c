/*
 * p9_teardown.c - legacy program 9: freeing, unloading and closing with work in
 * flight. With the synchronous runtime nothing is in flight when nrt_execute
 * returns, so all of this is legal; with the shim the work is still running and the
 * shim must defer or wait (run under valgrind by the harness: no invalid access).
 *
 *   A: execute, then change and destroy the tensor sets at once; the output read
 *      afterwards must be the result of the sets as they were at nrt_execute.
 *   B: execute, then free the inputs and outputs and destroy the sets at once
 *      (several rounds, new tensors each time).
 *   C: execute, then nrt_unload at once; then free the tensors.
 *   D: load again, execute three times, then nrt_close at once (tensors never freed).
 *
 * usage: p9_teardown [rounds=4]
 */
#define _GNU_SOURCE
#include "common.h"

#define N 2048

static const char *MODEL = "nrt-sim-model 1\nname teardown\nlatency_us 2000\ninput x 2048\noutput y 2048\n"
                           "compute affine 2 1\n";

typedef struct {
    nrt_tensor_t *x, *y;
    nrt_tensor_set_t *in, *out;
} io_t;

static void make_io(io_t *io, const uint8_t *data) {
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "x", &io->x));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "y", &io->y));
    CK(nrt_allocate_tensor_set(&io->in));
    CK(nrt_allocate_tensor_set(&io->out));
    CK(nrt_add_tensor_to_tensor_set(io->in, "x", io->x));
    CK(nrt_add_tensor_to_tensor_set(io->out, "y", io->y));
    CK(nrt_tensor_write(io->x, data, 0, N));
}

int main(int argc, char **argv) {
    long rounds = arg_long(argc, argv, 1, 4);
    print_shim_line();
    init_runtime();
    nrt_model_t *model = NULL;
    load_model(MODEL, 0, &model);
    static uint8_t hx[N], hy[N], other[N];

    /* A: the sets change right after nrt_execute; the request keeps what it was given. */
    io_t a;
    fill_pattern(hx, N, 1);
    make_io(&a, hx);
    nrt_tensor_t *decoy_in = NULL, *decoy_out = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "decoy_in", &decoy_in));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "decoy_out", &decoy_out));
    fill_pattern(other, N, 2);
    CK(nrt_tensor_write(decoy_in, other, 0, N));
    CK(nrt_tensor_write(decoy_out, other, 0, N));
    CK(nrt_execute(model, a.in, a.out));
    CK(nrt_add_tensor_to_tensor_set(a.in, "x", decoy_in));
    CK(nrt_add_tensor_to_tensor_set(a.out, "y", decoy_out));
    nrt_destroy_tensor_set(&a.in);
    nrt_destroy_tensor_set(&a.out);
    read_tensor(a.y, hy, 0, N);
    inbuf_t ins = {hx, N};
    CHECK_AFFINE("A: output after the sets were changed and destroyed", 2, 1, &ins, 1, hy, N);
    read_tensor(decoy_out, hy, 0, N);
    CHECK_BYTES("A: a tensor added to the output set after nrt_execute", hy, other, N);
    nrt_tensor_free(&a.x);
    nrt_tensor_free(&a.y);
    nrt_tensor_free(&decoy_in);
    nrt_tensor_free(&decoy_out);

    /* B: free everything the request uses, right after nrt_execute. */
    for (long r = 0; r < rounds; r++) {
        io_t b;
        fill_pattern(hx, N, (uint32_t)(10 + r));
        make_io(&b, hx);
        CK(nrt_execute(model, b.in, b.out));
        nrt_tensor_free(&b.x);
        nrt_tensor_free(&b.y);
        if (b.x || b.y) DIE("nrt_tensor_free did not clear the caller's pointer");
        nrt_destroy_tensor_set(&b.in);
        nrt_destroy_tensor_set(&b.out);
    }
    /* Something still works after all that. */
    io_t b2;
    fill_pattern(hx, N, 20);
    make_io(&b2, hx);
    CK(nrt_execute(model, b2.in, b2.out));
    read_tensor(b2.y, hy, 0, N);
    CHECK_AFFINE("B: after the frees", 2, 1, &ins, 1, hy, N);

    /* C: unload right after nrt_execute, then free the tensors. */
    CK(nrt_execute(model, b2.in, b2.out));
    CK(nrt_unload(model));
    model = NULL;
    nrt_destroy_tensor_set(&b2.in);
    nrt_destroy_tensor_set(&b2.out);
    nrt_tensor_free(&b2.x);
    nrt_tensor_free(&b2.y);

    /* D: load again, queue some work, close at once. */
    load_model(MODEL, 0, &model);
    io_t d;
    fill_pattern(hx, N, 30);
    make_io(&d, hx);
    for (int i = 0; i < 3; i++) CK(nrt_execute(model, d.in, d.out));
    nrt_close();

    printf("rounds: %ld\n", rounds);
    print_digest("digest", gd());
    return 0;
}
