/*
 * w1_training.c - workload 1, legacy: a training loop.
 *
 * Fixed configuration (the defaults below; argv[1] overrides STEPS only):
 *   STEPS       400 steps
 *   MODEL_US    1000 us per execution (core 0)
 *   HOST_US     300 us of host work per step (preparing the batch)
 *   inputs      w (4 KiB weights, written once), x (64 KiB batch, written every step: DMA)
 *   output      loss (16 bytes), read every LOSS_EVERY = 10 steps and checked
 * One input set and one output set, reused every step. A step: prepare the batch on
 * the host, nrt_tensor_write it into x, nrt_execute; every 10th step read the loss.
 */
#define _GNU_SOURCE
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

static uint8_t hw[WN], hx[XN], hl[LN];

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
    OK(nrt_tensor_write(w, hw, 0, WN));

    long checked = 0;
    uint64_t t0 = now_us();
    for (long s = 0; s < steps; s++) {
        fill_pattern(hx, XN, (uint32_t)(100 + s));
        host_work_us(HOST_US);
        OK(nrt_tensor_write(x, hx, 0, XN));
        OK(nrt_execute(model, in, out));
        if ((s + 1) % LOSS_EVERY == 0) {
            OK(nrt_tensor_read(loss, hl, 0, LN));
            const uint8_t *src[] = {hw, hx};
            check_affine("loss", s, MUL, ADD, src, in_sizes, 2, hl, LN);
            checked++;
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
