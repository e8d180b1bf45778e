/*
 * p5_host_memory.c - legacy program 5: memory the program touches without the API.
 *
 * Inputs: a (host tensor, written through nrt_tensor_get_va), b (an empty tensor
 * with an attached malloc'd buffer, written directly), c (device tensor, written
 * with nrt_tensor_write). Outputs: o (host tensor, read through its address),
 * p (attached buffer, read directly), q (device tensor, read with nrt_tensor_read).
 * The program reads o and p through their addresses right after nrt_execute
 * returns, and rewrites a and b through their addresses right after that: with
 * the synchronous runtime this is correct, so it must stay correct with the shim.
 *
 * usage: p5_host_memory [iterations=8]
 */
#define _GNU_SOURCE
#include "common.h"

#define MUL 7
#define ADD 3
#define AN 256
#define BN 64
#define CN 40
#define ON 256
#define PN 96
#define QN 128

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 8);
    print_shim_line();
    init_runtime();

    char text[512];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname host_memory\nlatency_us 300\n"
                          "input a %d\ninput b %d\ninput c %d\noutput o %d\noutput p %d\noutput q %d\n"
                          "compute affine %d %d\n",
                          AN, BN, CN, ON, PN, QN, MUL, ADD),
               0, &model);

    nrt_tensor_t *a = NULL, *b = NULL, *c = NULL, *o = NULL, *p = NULL, *q = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_HOST, -1, AN, "a", &a));
    CK(nrt_tensor_allocate_empty("b", &b));
    uint8_t *b_buf = xmalloc(BN);
    CK(nrt_tensor_attach_buffer(b, b_buf, BN));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, CN, "c", &c));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_HOST, -1, ON, "o", &o));
    CK(nrt_tensor_allocate_empty("p", &p));
    uint8_t *p_buf = xmalloc(PN);
    CK(nrt_tensor_attach_buffer(p, p_buf, PN));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, QN, "q", &q));
    uint8_t *a_va = nrt_tensor_get_va(a);
    uint8_t *o_va = nrt_tensor_get_va(o);
    if (!a_va || !o_va) DIE("nrt_tensor_get_va of a host tensor gave NULL");

    nrt_tensor_set_t *in = NULL, *out = NULL;
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_allocate_tensor_set(&out));
    CK(nrt_add_tensor_to_tensor_set(in, "a", a));
    CK(nrt_add_tensor_to_tensor_set(in, "b", b));
    CK(nrt_add_tensor_to_tensor_set(in, "c", c));
    CK(nrt_add_tensor_to_tensor_set(out, "o", o));
    CK(nrt_add_tensor_to_tensor_set(out, "p", p));
    CK(nrt_add_tensor_to_tensor_set(out, "q", q));

    static uint8_t ha[AN], hb[BN], hc[CN], got[ON], pa[AN], pb[BN];
    fill_pattern(ha, AN, 1);
    fill_pattern(hb, BN, 2);
    memcpy(a_va, ha, AN);
    memcpy(b_buf, hb, BN);
    for (long i = 0; i < iterations; i++) {
        fill_pattern(hc, CN, (uint32_t)(30 + i));
        CK(nrt_tensor_write(c, hc, 0, CN));
        CK(nrt_execute(model, in, out));

        /* Straight after nrt_execute: read the outputs through their addresses. */
        memcpy(pa, ha, AN);
        memcpy(pb, hb, BN);
        inbuf_t ins[3] = {{pa, AN}, {pb, BN}, {hc, CN}};
        char what[64];
        snprintf(what, sizeof what, "iteration %ld: o through its address", i);
        CHECK_AFFINE(what, MUL, ADD, ins, 3, o_va, ON);
        digest_bytes(gd(), o_va, ON);
        snprintf(what, sizeof what, "iteration %ld: p's attached buffer", i);
        CHECK_AFFINE(what, MUL, ADD, ins, 3, p_buf, PN);
        digest_bytes(gd(), p_buf, PN);

        /* ... and the next inputs straight into the memory the request read. */
        fill_pattern(ha, AN, (uint32_t)(50 + i));
        fill_pattern(hb, BN, (uint32_t)(70 + i));
        memcpy(a_va, ha, AN);
        memcpy(b_buf, hb, BN);

        read_tensor(q, got, 0, QN);
        snprintf(what, sizeof what, "iteration %ld: q", i);
        CHECK_AFFINE(what, MUL, ADD, ins, 3, got, QN);
        /* The API agrees with the address. */
        read_tensor(o, got, 0, ON);
        CHECK_AFFINE("o through nrt_tensor_read", MUL, ADD, ins, 3, got, ON);
    }

    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&a);
    nrt_tensor_free(&b);
    nrt_tensor_free(&c);
    nrt_tensor_free(&o);
    nrt_tensor_free(&p);
    nrt_tensor_free(&q);
    free(b_buf);
    free(p_buf);
    CK(nrt_unload(model));
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
