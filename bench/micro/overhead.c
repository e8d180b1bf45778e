/*
 * overhead.c - per-call cost of the legacy calls, for nrt-bench overhead / scale / alloc.
 *
 * Run with NRT_SIM_LATENCY_SCALE=0 (an instant device: every device op takes no
 * simulated time but still goes through the simulator's worker threads), with or
 * without the shim preloaded.
 *
 * usage: overhead MODE CALLS [LIVE_TENSORS=0] [THREADS=1] [WINDOW=4]
 *   exec      CALLS x nrt_execute (legacy; through the shim when it is preloaded),
 *             then one nrt_tensor_read of the output (waits for the last request)
 *   nrta      CALLS x nrta_execute_schedule called directly, WINDOW requests in
 *             flight, the oldest polled (nrta_is_completed) when the window is full,
 *             every status checked: what the shim does for a legacy caller
 *   nrta_efd  as nrta but waiting with nrta_event_register_seq_id_completion and a
 *             blocking read of an eventfd (deterministic instruction counts under
 *             callgrind, where polling would spin a data-dependent number of times)
 *   read      CALLS x nrt_tensor_read of 64 bytes of a tensor with nothing pending
 *   busy      the non-waiting path: in batches of 32, one long request (model "long",
 *             LONG_US of device time, writing its own output) and then 32 timed
 *             nrt_execute calls of the tiny model queued behind it, none of which
 *             has to wait (run with a window and queue depth above 33); each
 *             batch is drained untimed by a read of the output. ns_per_call is
 *             the timed calls' mean
 *   busy_nrta the same with nrta_execute_schedule called directly (every status
 *             checked after the drain): what the shim's non-waiting call costs more
 *   steady    warm-up, then CALLS x (nrt_tensor_write_batch of the input, nrt_execute,
 *             nrt_tensor_read and nrt_tensor_read_batch of its output) between
 *             alloc_count_start/stop when liballoc_count.so is preloaded;
 *             prints "allocs: shim runtime other", then the same counts for
 *             allocating one tensor and one set ("control:", a positive control)
 * LIVE_TENSORS extra 64-byte device tensors stay allocated during the loop; THREADS
 * threads run the loop at once (thread t on core t % 2, its own model and sets).
 * Prints "calls: CALLS" (per thread) and "ns_per_call: X" (the mean over threads of
 * each thread's loop time / CALLS).
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#include <nrt/nrt_experimental.h>

#include <dlfcn.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NB 64
#define MAXW 64
/* The busy modes: requests per batch, and the long request's device time. */
#define BATCH 32
#define LONG_US 5000

typedef struct {
    int id;
    nrt_model_t *model, *long_model;
    nrt_tensor_t *x, *y, *z;
    nrt_tensor_set_t *in, *out, *outz;
    uint64_t ns;
    /* Set by a loop that times only part of its work (the busy modes). */
    bool timed_inside;
} ctx_t;

static const char *g_mode;
static long g_calls, g_window;

static void exec_loop(ctx_t *c) {
    uint8_t buf[NB];
    for (long i = 0; i < g_calls; i++) OK(nrt_execute(c->model, c->in, c->out));
    OK(nrt_tensor_read(c->y, buf, 0, NB));
}

static void nrta_loop(ctx_t *c, int efd_wait) {
    nrta_seq_t seq[MAXW];
    volatile NRT_STATUS st[MAXW];
    int efd = -1;
    if (efd_wait) {
        efd = eventfd(0, EFD_CLOEXEC);
        if (efd < 0) DIE("eventfd");
    }
    long oldest = 0;
    for (long i = 0; i <= g_calls; i++) {
        while (oldest < i && (i - oldest >= g_window || i == g_calls)) {
            int k = (int)(oldest % g_window);
            if (efd_wait) {
                OK(nrta_event_register_seq_id_completion(seq[k], efd));
                uint64_t v;
                if (read(efd, &v, sizeof v) != (ssize_t)sizeof v) DIE("read(eventfd)");
                if (st[k] != NRT_SUCCESS) DIE("execution status %d", (int)st[k]);
            } else {
                for (;;) {
                    bool done = false;
                    OK(nrta_is_completed(seq[k], &done));
                    if (done) break;
                }
                if (st[k] != NRT_SUCCESS) DIE("execution status %d", (int)st[k]);
            }
            oldest++;
        }
        if (i == g_calls) break;
        int k = (int)(i % g_window);
        st[k] = PENDING_STATUS;
        OK(nrta_execute_schedule(c->model, c->in, c->out, 0, (NRT_STATUS *)&st[k], &seq[k]));
    }
    if (efd >= 0) close(efd);
}

static void busy_loop(ctx_t *c, int direct) {
    uint8_t buf[NB];
    nrta_seq_t seq[BATCH], long_seq;
    volatile NRT_STATUS st[BATCH], long_st;
    uint64_t timed = 0;
    for (long done = 0; done < g_calls;) {
        long k = g_calls - done < BATCH ? g_calls - done : BATCH;
        if (direct) {
            long_st = PENDING_STATUS;
            OK(nrta_execute_schedule(c->long_model, c->in, c->outz, 0, (NRT_STATUS *)&long_st, &long_seq));
        } else {
            OK(nrt_execute(c->long_model, c->in, c->outz));
        }
        uint64_t t0 = now_ns();
        if (direct) {
            for (long i = 0; i < k; i++) {
                st[i] = PENDING_STATUS;
                OK(nrta_execute_schedule(c->model, c->in, c->out, 0, (NRT_STATUS *)&st[i], &seq[i]));
            }
        } else {
            for (long i = 0; i < k; i++) OK(nrt_execute(c->model, c->in, c->out));
        }
        timed += now_ns() - t0;
        if (direct) {
            for (;;) {
                bool fin = false;
                OK(nrta_is_completed(seq[k - 1], &fin));
                if (fin) break;
                usleep(100);
            }
            if (long_st != NRT_SUCCESS) DIE("long execution status %d", (int)long_st);
            for (long i = 0; i < k; i++)
                if (st[i] != NRT_SUCCESS) DIE("execution status %d", (int)st[i]);
        } else {
            OK(nrt_tensor_read(c->y, buf, 0, NB));
        }
        done += k;
    }
    c->ns = timed;
    c->timed_inside = true;
}

static void read_loop(ctx_t *c) {
    uint8_t buf[NB];
    for (long i = 0; i < g_calls; i++) OK(nrt_tensor_read(c->y, buf, 0, NB));
}

static void *thread_main(void *arg) {
    ctx_t *c = (ctx_t *)arg;
    uint8_t buf[NB];
    /* Settle: one request and a read, so nothing is pending and everything is set up. */
    OK(nrt_execute(c->model, c->in, c->out));
    OK(nrt_tensor_read(c->y, buf, 0, NB));
    uint64_t t0 = now_ns();
    if (!strcmp(g_mode, "exec"))
        exec_loop(c);
    else if (!strcmp(g_mode, "nrta"))
        nrta_loop(c, 0);
    else if (!strcmp(g_mode, "nrta_efd"))
        nrta_loop(c, 1);
    else if (!strcmp(g_mode, "busy"))
        busy_loop(c, 0);
    else if (!strcmp(g_mode, "busy_nrta"))
        busy_loop(c, 1);
    else if (!strcmp(g_mode, "read"))
        read_loop(c);
    else
        DIE("unknown mode %s", g_mode);
    if (!c->timed_inside) c->ns = now_ns() - t0;
    return NULL;
}

static void steady(ctx_t *c) {
    void (*start)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "alloc_count_start");
    void (*stop)(uint64_t *) = (void (*)(uint64_t *))dlsym(RTLD_DEFAULT, "alloc_count_stop");
    uint8_t buf[NB], hx[NB];
    fill_pattern(hx, NB, 3);
    OK(nrt_tensor_write(c->x, hx, 0, NB));
    /* The batch calls rewrite the same input bytes and read the output again. */
    const nrt_tensor_batch_op_t wop = {0, NB, hx}, rop = {0, NB, buf};
    const nrt_tensor_batch_t wb = {c->x, &wop, 1}, rb = {c->y, &rop, 1};
    for (int i = 0; i < 1000; i++) { /* warm-up */
        OK(nrt_tensor_write_batch(&wb, 1, false));
        OK(nrt_execute(c->model, c->in, c->out));
        OK(nrt_tensor_read(c->y, buf, 0, NB));
        OK(nrt_tensor_read_batch(&rb, 1, false));
    }
    uint64_t counts[3] = {0, 0, 0};
    if (start) start();
    uint64_t t0 = now_ns();
    for (long i = 0; i < g_calls; i++) {
        OK(nrt_tensor_write_batch(&wb, 1, false));
        OK(nrt_execute(c->model, c->in, c->out));
        OK(nrt_tensor_read(c->y, buf, 0, NB));
        OK(nrt_tensor_read_batch(&rb, 1, false));
    }
    c->ns = now_ns() - t0;
    if (stop) stop(counts);
    const uint8_t *src[] = {hx};
    const size_t sizes[] = {NB};
    check_affine("output", g_calls, 3, 1, src, sizes, 1, buf, NB);
    printf("counting: %s\nallocs: %llu %llu %llu\n", start ? "yes" : "no", (unsigned long long)counts[0],
           (unsigned long long)counts[1], (unsigned long long)counts[2]);
    /* Positive control: allocating a tensor and a set through the shim does allocate
     * (its registry records), so the attribution to the shim is seen to work. */
    if (start) start();
    nrt_tensor_t *t = dev_tensor(0, NB, "control");
    nrt_tensor_set_t *s = tensor_set(1, (const char *const[]){"x"}, &t);
    if (stop) stop(counts);
    nrt_destroy_tensor_set(&s);
    nrt_tensor_free(&t);
    printf("control: %llu %llu %llu\n", (unsigned long long)counts[0], (unsigned long long)counts[1],
           (unsigned long long)counts[2]);
}

int main(int argc, char **argv) {
    if (argc < 3) DIE("usage: overhead MODE CALLS [LIVE_TENSORS] [THREADS] [WINDOW]");
    g_mode = argv[1];
    g_calls = arg_long(argc, argv, 2, 1000);
    long live = arg_long(argc, argv, 3, 0);
    long threads = arg_long(argc, argv, 4, 1);
    g_window = arg_long(argc, argv, 5, 4);
    if (threads < 1 || threads > 64 || g_window < 1 || g_window > MAXW) DIE("bad THREADS or WINDOW");
    bench_init();
    nrt_tensor_t **extra = calloc((size_t)live + 1, sizeof *extra);
    if (!extra) DIE("out of memory");
    for (long i = 0; i < live; i++) extra[i] = dev_tensor((int)(i % 2), NB, "live");

    const char *in_names[] = {"x"}, *out_names[] = {"y"};
    const size_t sizes[] = {NB};
    ctx_t *ctx = calloc((size_t)threads, sizeof *ctx);
    if (!ctx) DIE("out of memory");
    for (long t = 0; t < threads; t++) {
        ctx_t *c = &ctx[t];
        int vnc = (int)(t % 2);
        c->id = (int)t;
        c->model = load_affine("tiny", 50, vnc, 3, 1, 1, in_names, sizes, 1, out_names, sizes);
        c->x = dev_tensor(vnc, NB, "x");
        c->y = dev_tensor(vnc, NB, "y");
        c->in = tensor_set(1, in_names, &c->x);
        c->out = tensor_set(1, out_names, &c->y);
        if (!strncmp(g_mode, "busy", 4)) {
            const char *z_names[] = {"z"};
            c->long_model = load_affine("long", LONG_US, vnc, 5, 2, 1, in_names, sizes, 1, z_names, sizes);
            c->z = dev_tensor(vnc, NB, "z");
            c->outz = tensor_set(1, z_names, &c->z);
        }
    }
    double mean_ns = 0;
    if (!strcmp(g_mode, "steady")) {
        steady(&ctx[0]);
        mean_ns = (double)ctx[0].ns / (double)(g_calls ? g_calls : 1);
    } else {
        pthread_t th[64];
        for (long t = 0; t < threads; t++)
            if (pthread_create(&th[t], NULL, thread_main, &ctx[t]) != 0) DIE("pthread_create");
        for (long t = 0; t < threads; t++) pthread_join(th[t], NULL);
        for (long t = 0; t < threads; t++) mean_ns += (double)ctx[t].ns / (double)(g_calls ? g_calls : 1);
        mean_ns /= (double)threads;
    }
    for (long t = 0; t < threads; t++) {
        nrt_destroy_tensor_set(&ctx[t].in);
        nrt_destroy_tensor_set(&ctx[t].out);
        nrt_tensor_free(&ctx[t].x);
        nrt_tensor_free(&ctx[t].y);
        OK(nrt_unload(ctx[t].model));
        if (ctx[t].long_model) {
            nrt_destroy_tensor_set(&ctx[t].outz);
            nrt_tensor_free(&ctx[t].z);
            OK(nrt_unload(ctx[t].long_model));
        }
    }
    for (long i = 0; i < live; i++) nrt_tensor_free(&extra[i]);
    nrt_close();
    free(extra);
    free(ctx);
    printf("calls: %ld\nns_per_call: %.1f\n", g_calls, mean_ns);
    return 0;
}
