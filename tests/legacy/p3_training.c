/*
 * p3_training.c - legacy program 3: a training-style loop.
 *
 * One input set {w: weights, b: batch} and one output set {nw: new weights,
 * loss}. Every step writes a new batch into the same tensor b (which must wait for
 * the previous step's execution to have read it), executes once, and feeds the new
 * weights back into w: on even steps with nrt_tensor_copy on the device, on odd
 * steps through the host (read nw, write w). Every k steps the loss output is read
 * and checked. At the end the weights are read and checked against the host's own
 * replay of the whole run.
 *
 * usage: p3_training [steps=30] [k=4]
 */
#define _GNU_SOURCE
#include "common.h"

#define MUL 3
#define ADD 1
#define WN 512
#define BN 128
#define LN 16

int main(int argc, char **argv) {
    long steps = arg_long(argc, argv, 1, 30);
    long k = arg_long(argc, argv, 2, 4);
    if (k < 1) DIE("k must be positive");
    print_shim_line();
    init_runtime();

    char text[512];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname train_step\nlatency_us 250\n"
                          "input w %d\ninput b %d\noutput nw %d\noutput loss %d\ncompute affine %d %d\n",
                          WN, BN, WN, LN, MUL, ADD),
               0, &model);

    nrt_tensor_t *w = NULL, *b = NULL, *nw = NULL, *loss = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, WN, "w", &w));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, BN, "b", &b));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, WN, "nw", &nw));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, LN, "loss", &loss));
    nrt_tensor_set_t *in = NULL, *out = NULL;
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_allocate_tensor_set(&out));
    CK(nrt_add_tensor_to_tensor_set(in, "w", w));
    CK(nrt_add_tensor_to_tensor_set(in, "b", b));
    CK(nrt_add_tensor_to_tensor_set(out, "nw", nw));
    CK(nrt_add_tensor_to_tensor_set(out, "loss", loss));

    static uint8_t hw[WN], hb[BN], next_w[WN], hl[LN], want_l[LN], tmp[WN];
    fill_pattern(hw, WN, 12345);
    CK(nrt_tensor_write(w, hw, 0, WN));

    long losses = 0;
    for (long s = 0; s < steps; s++) {
        fill_pattern(hb, BN, (uint32_t)(1000 + s));
        CK(nrt_tensor_write(b, hb, 0, BN));
        CK(nrt_execute(model, in, out));

        /* What this step computes, replayed on the host. */
        inbuf_t ins[2] = {{hw, WN}, {hb, BN}};
        affine_fill(MUL, ADD, ins, 2, next_w, WN);
        affine_fill(MUL, ADD, ins, 2, want_l, LN);

        if (s % 2 == 0) {
            CK(nrt_tensor_copy(nw, 0, w, 0, WN));
        } else {
            read_tensor(nw, tmp, 0, WN);
            CHECK_BYTES("new weights", tmp, next_w, WN);
            CK(nrt_tensor_write(w, tmp, 0, WN));
        }
        memcpy(hw, next_w, WN);

        if ((s + 1) % k == 0) {
            read_tensor(loss, hl, 0, LN);
            CHECK_BYTES("loss", hl, want_l, LN);
            losses++;
        }
    }
    read_tensor(w, tmp, 0, WN);
    CHECK_BYTES("final weights", tmp, hw, WN);

    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&w);
    nrt_tensor_free(&b);
    nrt_tensor_free(&nw);
    nrt_tensor_free(&loss);
    CK(nrt_unload(model));
    nrt_close();
    printf("losses_read: %ld\n", losses);
    print_digest("digest", gd());
    return 0;
}
