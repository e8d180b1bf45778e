/*
 * p8_unrecoverable.c - legacy program 8: the compute unit dies.
 *
 * Run with NRT_SIM_UNRECOVERABLE_AFTER=n: core 0's compute unit dies after its n-th
 * request. The program runs `requests` iterations of write / nrt_execute / read and
 * checks:
 *   - requests before the n-th (indices < n-1) succeed and their outputs are right;
 *   - NRT_EXEC_UNIT_UNRECOVERABLE (101) is returned by some call at or after the
 *     dying request (nrt_execute, or the read of that request's output);
 *   - once it has been seen, every later nrt_execute returns it;
 *   - a read that returns NRT_SUCCESS after a successful nrt_execute gives the
 *     right bytes (no stale data passed off as a result);
 *   - nothing hangs: unload and close return (the harness has a watchdog).
 * The digest covers only the requests before the dying one.
 *
 * usage: p8_unrecoverable [n=4] [requests=10]
 */
#define _GNU_SOURCE
#include "common.h"

#define XN 512
#define YN 512

int main(int argc, char **argv) {
    long n = arg_long(argc, argv, 1, 4);
    long requests = arg_long(argc, argv, 2, 10);
    if (n < 1 || requests <= n) DIE("need 1 <= n < requests");
    print_shim_line();
    init_runtime();

    nrt_model_t *model = NULL;
    load_model("nrt-sim-model 1\nname doomed\nlatency_us 300\ninput x 512\noutput y 512\ncompute affine 5 5\n", 0,
               &model);
    nrt_tensor_t *x = NULL, *y = NULL;
    nrt_tensor_set_t *in = NULL, *out = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, XN, "x", &x));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, YN, "y", &y));
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_allocate_tensor_set(&out));
    CK(nrt_add_tensor_to_tensor_set(in, "x", x));
    CK(nrt_add_tensor_to_tensor_set(out, "y", y));

    static uint8_t hx[XN], hy[YN];
    long first_dead = -1; /* request index at which 101 was first seen */
    const char *first_call = "";
    for (long i = 0; i < requests; i++) {
        fill_pattern(hx, XN, (uint32_t)(77 + i));
        NRT_STATUS w = nrt_tensor_write(x, hx, 0, XN);
        NRT_STATUS e = nrt_execute(model, in, out);
        NRT_STATUS r = nrt_tensor_read(y, hy, 0, YN);
        printf("request %ld: write %d execute %d read %d\n", i, (int)w, (int)e, (int)r);
        if (i < n - 1) {
            if (w != NRT_SUCCESS || e != NRT_SUCCESS || r != NRT_SUCCESS)
                DIE("request %ld, before the dying one (%ld), failed: write %d execute %d read %d", i, n - 1, w, e, r);
            digest_status(gd(), w);
            digest_status(gd(), e);
            digest_status(gd(), r);
            digest_bytes(gd(), hy, YN);
        }
        if (first_dead >= 0 && e != NRT_EXEC_UNIT_UNRECOVERABLE)
            DIE("request %ld: nrt_execute returned %d after the unit was reported dead", i, (int)e);
        if (e == NRT_SUCCESS && r == NRT_SUCCESS) {
            inbuf_t ins = {hx, XN};
            char what[64];
            snprintf(what, sizeof what, "request %ld (read returned NRT_SUCCESS)", i);
            CHECK_AFFINE(what, 5, 5, &ins, 1, hy, YN);
        }
        if (first_dead < 0) {
            if (w == NRT_EXEC_UNIT_UNRECOVERABLE) first_call = "nrt_tensor_write";
            else if (e == NRT_EXEC_UNIT_UNRECOVERABLE) first_call = "nrt_execute";
            else if (r == NRT_EXEC_UNIT_UNRECOVERABLE) first_call = "nrt_tensor_read";
            if (*first_call) first_dead = i;
        }
        /* Nothing else than success or the unit's death is expected. */
        NRT_STATUS all[3] = {w, e, r};
        for (int k = 0; k < 3; k++)
            if (all[k] != NRT_SUCCESS && all[k] != NRT_EXEC_UNIT_UNRECOVERABLE)
                DIE("request %ld: unexpected status %d (%s)", i, (int)all[k], status_name(all[k]));
    }
    if (first_dead < 0) DIE("NRT_EXEC_UNIT_UNRECOVERABLE never surfaced in %ld requests", requests);
    if (first_dead < n - 1) DIE("the unit was reported dead at request %ld, before the %ld-th", first_dead, n);
    printf("first_unrecoverable: request %ld (%s)\n", first_dead, first_call);

    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&x);
    nrt_tensor_free(&y);
    NRT_STATUS u = nrt_unload(model);
    printf("unload: %d\n", (int)u);
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
