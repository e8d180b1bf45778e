/*
 * racy.c - a deliberate race for the simulator's hazard oracle, and its fix.
 *
 * usage: racy racy|correct [latency_us=20000]
 *
 * Schedules one execution with nrta_execute_schedule, then reads its output with
 * nrt_tensor_read:
 *   racy:    at once, while the execution is in flight (the oracle must count a
 *            hazard; the bytes read are stale and not checked);
 *   correct: after nrta_is_completed says the request is done (zero hazards).
 * Both then wait for completion, check the request's status, read the output again
 * and check it against the model formula.
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#include <nrt/nrt_async.h>

#define N 4096

static void wait_done(nrta_seq_t seq) {
    uint64_t t0 = now_us();
    for (;;) {
        bool done = false;
        OK(nrta_is_completed(seq, &done));
        if (done) return;
        if (now_us() - t0 > 20000000) DIE("request not complete after 20 s");
        sleep_us(100);
    }
}

int main(int argc, char **argv) {
    const char *mode = arg_str(argc, argv, 1, "correct");
    long lat = arg_long(argc, argv, 2, 20000);
    int racy = strcmp(mode, "racy") == 0;
    if (!racy && strcmp(mode, "correct") != 0) DIE("mode must be racy or correct, not %s", mode);
    print_shim_line();
    init_runtime();

    char text[256];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname racy\nlatency_us %ld\ninput x %d\noutput y %d\ncompute affine 3 1\n",
                          lat, N, N),
               0, &model);
    nrt_tensor_t *x = NULL, *y = NULL;
    nrt_tensor_set_t *in = NULL, *out = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "x", &x));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "y", &y));
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_allocate_tensor_set(&out));
    CK(nrt_add_tensor_to_tensor_set(in, "x", x));
    CK(nrt_add_tensor_to_tensor_set(out, "y", y));

    static uint8_t hx[N], hy[N];
    fill_pattern(hx, N, 7);
    CK(nrt_tensor_write(x, hx, 0, N));

#ifdef NRTA_ABI_V2
    nrta_error_tracker_t *tracker = NULL;
    CK(nrta_error_tracker_create(0, &tracker));
    nrta_seq_t seq = 0;
    CK(nrta_execute_schedule(model, in, out, 0, tracker, &seq));
#else
    NRT_STATUS status = (NRT_STATUS)0x7eadbeef;
    nrta_seq_t seq = 0;
    CK(nrta_execute_schedule(model, in, out, 0, &status, &seq));
#endif

    if (racy) {
        /* The bug: the execution is still running. */
        bool done = true;
        OK(nrta_is_completed(seq, &done));
        CK(nrt_tensor_read(y, hy, 0, N));
        printf("in_flight_at_read: %s\n", done ? "no" : "yes");
    } else {
        wait_done(seq);
        CK(nrt_tensor_read(y, hy, 0, N));
        inbuf_t i1 = {hx, N};
        CHECK_AFFINE("y", 3, 1, &i1, 1, hy, N);
    }

    wait_done(seq);
#ifdef NRTA_ABI_V2
    const nrta_error_t *list = NULL;
    size_t count = 0;
    OK(nrta_error_tracker_get_list(tracker, &list, &count));
    if (count) DIE("the request failed: %llu", (unsigned long long)list[0].error_code);
    nrta_error_tracker_destroy(tracker);
#else
    if (status != NRT_SUCCESS) DIE("the request completed with %d", (int)status);
#endif
    read_tensor(y, hy, 0, N);
    inbuf_t i1 = {hx, N};
    CHECK_AFFINE("y", 3, 1, &i1, 1, hy, N);

    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&x);
    nrt_tensor_free(&y);
    CK(nrt_unload(model));
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
