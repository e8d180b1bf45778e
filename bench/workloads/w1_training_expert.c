/*
 * w1_training_expert.c - workload 1 rewritten by hand on the v3 nrta_* API.
 *
 * Same configuration and data flow as w1_training.c (one input set, x rewritten
 * every step, loss read every 10 steps): STEPS 400, MODEL_US 1000, HOST_US 300,
 * w 4 KiB, x 64 KiB, loss 16 B.
 * Following the best practices: the batch of step s is prepared while execution
 * s-1 runs; as soon as s-1 completes (polled), the write of x (tensor-op queue 0)
 * and, on loss steps, the read of s-1's loss (tensor-op queue 1) run in parallel,
 * and execution s is scheduled the moment both are done (execution s overwrites the
 * loss). Every request has its own status, checked at completion. With one input
 * set, at most one execution can be queued: x may only be rewritten once the
 * previous execution has consumed it.
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#define STEPS 400
#define MODEL_US 1000
#define HOST_US 300
#define LOSS_EVERY 10
#define MUL 3
#define ADD 7
#define WN 4096
#define XN 65536
#define LN 16

static uint8_t hw[WN], hx[2][XN], hl[LN];

int main(int argc, char **argv) {
    long steps = arg_long(argc, argv, 1, STEPS);
    bench_init();
    const char *in_names[] = {"w", "x"}, *out_names[] = {"loss"};
    const size_t in_sizes[] = {WN, XN}, out_sizes[] = {LN};
    nrt_model_t *model = load_affine("train_step", MODEL_US, 0, MUL, ADD, 2, in_names, in_sizes, 1, out_names,
                                     out_sizes);
    nrt_tensor_t *w = dev_tensor(0, WN, "w"), *x = dev_tensor(0, XN, "x"), *loss = dev_tensor(0, LN, "loss");
    nrt_tensor_t *ins[] = {w, x};
    nrt_tensor_set_t *in = tensor_set(2, in_names, ins), *out = tensor_set(1, out_names, &loss);
    fill_pattern(hw, WN, 1);
    volatile NRT_STATUS wst = PENDING_STATUS;
    nrta_seq_t wseq = 0;
    OK(nrta_tensor_write(w, hw, 0, WN, 0, 0, (NRT_STATUS *)&wst, &wseq));
    wait_ok(wseq, &wst, "write of w");

    volatile NRT_STATUS est = PENDING_STATUS, xst = PENDING_STATUS, lst = PENDING_STATUS;
    nrta_seq_t eseq = 0, xseq = 0, lseq = 0;
    long checked = 0;
    uint64_t t0 = now_us();
    for (long s = 0; s <= steps; s++) {
        /* Host work for step s while execution s-1 runs (hx alternates: the previous
         * batch stays available to check s-1's loss). */
        uint8_t *b = hx[s % 2];
        if (s < steps) {
            fill_pattern(b, XN, (uint32_t)(100 + s));
            host_work_us(HOST_US);
        }
        bool read_loss = false;
        if (s > 0) {
            wait_ok(eseq, &est, "execution");
            if (s % LOSS_EVERY == 0) {
                lst = PENDING_STATUS;
                OK(nrta_tensor_read(hl, loss, 0, LN, 0, 1, (NRT_STATUS *)&lst, &lseq));
                read_loss = true;
            }
        }
        if (s < steps) {
            xst = PENDING_STATUS;
            OK(nrta_tensor_write(x, b, 0, XN, 0, 0, (NRT_STATUS *)&xst, &xseq));
        }
        if (read_loss) {
            wait_ok(lseq, &lst, "read of loss");
            const uint8_t *src[] = {hw, hx[(s - 1) % 2]};
            check_affine("loss", s - 1, MUL, ADD, src, in_sizes, 2, hl, LN);
            checked++;
        }
        if (s < steps) {
            wait_ok(xseq, &xst, "write of x");
            est = PENDING_STATUS;
            OK(nrta_execute_schedule(model, in, out, 0, (NRT_STATUS *)&est, &eseq));
        }
    }
    uint64_t elapsed = now_us() - t0;
    if (checked != steps / LOSS_EVERY) DIE("checked %ld losses", checked);

    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&w);
    nrt_tensor_free(&x);
    nrt_tensor_free(&loss);
    OK(nrt_unload(model));
    nrt_close();
    print_result(steps, elapsed);
    return 0;
}
