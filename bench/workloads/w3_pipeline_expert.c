/*
 * w3_pipeline_expert.c - workload 3 rewritten by hand on the v3 nrta_* API.
 *
 * Same configuration and data flow as w3_pipeline.c: ITERATIONS 400, MODEL_US 1000
 * (A on core 0, B on core 1), HOST_US 200, two sets per model, A's 8 KiB output
 * copied to B's input through the host.
 * Step i: prepare item i while A(i-1) and B(i-2) run; poll A(i-2) (set reuse),
 * write item i on core 0's tensor-op queue and schedule A(i) the moment the write
 * is done; poll A(i-1), read its output (core 0 tensor-op), check, write it to core
 * 1 (after polling B(i-3) for set reuse) and schedule B(i-1) as soon as the write
 * completes; poll B(i-2), read and check its output. Each core's compute unit keeps
 * up to two requests queued; every request has its own status.
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#define ITERATIONS 400
#define MODEL_US 1000
#define HOST_US 200
#define MA 3
#define AA 1
#define MB 7
#define AB 5
#define N 8192
#define CN 64

static nrt_tensor_t *ta[2][2], *tb[2][2];
static nrt_tensor_t *tc;
static nrt_tensor_set_t *sa_in[2], *sa_out[2], *sb_in[2], *sb_out[2];
static uint8_t ha[2][N], hya[2][N], hyb[N], hc[CN];
static nrta_seq_t aseq[2], bseq[2];
static volatile NRT_STATUS ast[2], bst[2];
static int apend[2], bpend[2];

/* One transfer on the tensor-op unit of core lnc, waited for by polling. */
static void xfer(int write, nrt_tensor_t *t, uint8_t *buf, uint32_t lnc) {
    volatile NRT_STATUS st = PENDING_STATUS;
    nrta_seq_t seq = 0;
    if (write)
        OK(nrta_tensor_write(t, buf, 0, N, lnc, 0, (NRT_STATUS *)&st, &seq));
    else
        OK(nrta_tensor_read(buf, t, 0, N, lnc, 0, (NRT_STATUS *)&st, &seq));
    wait_ok(seq, &st, write ? "write" : "read");
}

static void wait_req(int *pend, nrta_seq_t seq, volatile NRT_STATUS *st) {
    if (!*pend) return;
    wait_ok(seq, st, "execution");
    *pend = 0;
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, ITERATIONS);
    bench_init();
    const char *a_in[] = {"a"}, *a_out[] = {"ya"}, *b_in[] = {"xb", "c"}, *b_out[] = {"yb"};
    const size_t n1[] = {N}, b_sizes[] = {N, CN};
    nrt_model_t *ma = load_affine("stage_a", MODEL_US, 0, MA, AA, 1, a_in, n1, 1, a_out, n1);
    nrt_model_t *mb = load_affine("stage_b", MODEL_US, 1, MB, AB, 2, b_in, b_sizes, 1, b_out, n1);
    tc = dev_tensor(1, CN, "c");
    fill_pattern(hc, CN, 77);
    OK(nrt_tensor_write(tc, hc, 0, CN));
    for (int s = 0; s < 2; s++) {
        ta[s][0] = dev_tensor(0, N, "a");
        ta[s][1] = dev_tensor(0, N, "ya");
        tb[s][0] = dev_tensor(1, N, "xb");
        tb[s][1] = dev_tensor(1, N, "yb");
        sa_in[s] = tensor_set(1, a_in, &ta[s][0]);
        sa_out[s] = tensor_set(1, a_out, &ta[s][1]);
        nrt_tensor_t *bi[] = {tb[s][0], tc};
        sb_in[s] = tensor_set(2, b_in, bi);
        sb_out[s] = tensor_set(1, b_out, &tb[s][1]);
    }

    uint64_t t0 = now_us();
    for (long i = 0; i < iterations + 2; i++) {
        if (i < iterations) {
            int s = (int)(i % 2);
            fill_pattern(ha[s], N, (uint32_t)(5 * i));
            host_work_us(HOST_US);
            wait_req(&apend[s], aseq[s], &ast[s]);
            xfer(1, ta[s][0], ha[s], 0);
            ast[s] = PENDING_STATUS;
            OK(nrta_execute_schedule(ma, sa_in[s], sa_out[s], 0, (NRT_STATUS *)&ast[s], &aseq[s]));
            apend[s] = 1;
        }
        if (i >= 1 && i <= iterations) {
            int s = (int)((i - 1) % 2);
            wait_req(&apend[s], aseq[s], &ast[s]);
            xfer(0, ta[s][1], hya[s], 0);
            const uint8_t *src[] = {ha[s]};
            check_affine("stage A output", i - 1, MA, AA, src, n1, 1, hya[s], N);
            wait_req(&bpend[s], bseq[s], &bst[s]);
            xfer(1, tb[s][0], hya[s], 1);
            bst[s] = PENDING_STATUS;
            OK(nrta_execute_schedule(mb, sb_in[s], sb_out[s], 0, (NRT_STATUS *)&bst[s], &bseq[s]));
            bpend[s] = 1;
        }
        if (i >= 2) {
            int s = (int)((i - 2) % 2);
            wait_req(&bpend[s], bseq[s], &bst[s]);
            xfer(0, tb[s][1], hyb, 1);
            const uint8_t *src[] = {hya[s], hc};
            check_affine("stage B output", i - 2, MB, AB, src, b_sizes, 2, hyb, N);
        }
    }
    uint64_t elapsed = now_us() - t0;

    for (int s = 0; s < 2; s++) {
        nrt_destroy_tensor_set(&sa_in[s]);
        nrt_destroy_tensor_set(&sa_out[s]);
        nrt_destroy_tensor_set(&sb_in[s]);
        nrt_destroy_tensor_set(&sb_out[s]);
        for (int k = 0; k < 2; k++) {
            nrt_tensor_free(&ta[s][k]);
            nrt_tensor_free(&tb[s][k]);
        }
    }
    nrt_tensor_free(&tc);
    OK(nrt_unload(ma));
    OK(nrt_unload(mb));
    nrt_close();
    print_result(iterations, elapsed);
    return 0;
}
