/*
 * p7_failures.c - legacy program 7: injected execution failures.
 *
 * The model fails every 3rd execution with NRT_EXEC_COMPLETED_WITH_ERR (1004),
 * leaving its output unwritten. Where the failure surfaces depends on whether the
 * shim is in the process (dlsym(RTLD_DEFAULT, "nrt_async_shim_version")) and not in
 * passthrough (NRT_SHIM_MODE=passthrough forwards every call: the synchronous runtime):
 *
 *   without the shim (the synchronous runtime): the failing nrt_execute returns it;
 *   with the shim: nrt_execute returns NRT_SUCCESS (the request was accepted) and
 *     the failure is reported exactly once: to the callback if one is registered,
 *     else as the return of the next nrt_tensor_read of an output of the failed
 *     request, or of nrt_async_drain_queued_execs. In no case is a failed
 *     request's output returned with NRT_SUCCESS.
 *
 * usage: p7_failures callback|read|drain [requests=9]
 *   callback: a callback is registered; each output is read right after nrt_execute.
 *   read:     no callback; each output is read right after nrt_execute.
 *   drain:    no callback; all requests (each with its own tensors) are submitted,
 *             then nrt_async_drain_queued_execs(0), then every output is read.
 * Prints "failed: i j ..." (the failed request indices) instead of comparing bytes
 * with the reference run; it checks the count and the indices itself.
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>

#define FAIL_EVERY 3
#define FAIL_STATUS NRT_EXEC_COMPLETED_WITH_ERR
#define XN 256
#define YN 256
#define MAX_REQ 64

typedef struct {
    pthread_mutex_t lock;
    int count;
    uint64_t job_id[MAX_REQ * 2];
    NRT_STATUS status[MAX_REQ * 2];
    uint32_t model_id[MAX_REQ * 2], vnc[MAX_REQ * 2];
} calls_t;

static calls_t g_calls = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}, {0}, {0}};

static void on_status(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id, NRT_STATUS status) {
    calls_t *c = (calls_t *)params;
    pthread_mutex_lock(&c->lock);
    if (c->count < MAX_REQ * 2) {
        c->job_id[c->count] = job_id;
        c->status[c->count] = status;
        c->model_id[c->count] = model_id;
        c->vnc[c->count] = vnc;
    }
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

static int calls_count(void) {
    pthread_mutex_lock(&g_calls.lock);
    int n = g_calls.count;
    pthread_mutex_unlock(&g_calls.lock);
    return n;
}

/* The shim in passthrough (verify's reference runs) forwards every call untouched:
 * the synchronous runtime's behaviour, so its rules apply. */
static int shim_async(void) {
    const char *m = getenv("NRT_SHIM_MODE");
    return shim_active() && !(m && strcmp(m, "passthrough") == 0);
}

static int should_fail(long i) {
    return (i + 1) % FAIL_EVERY == 0;
}

int main(int argc, char **argv) {
    const char *mode = arg_str(argc, argv, 1, "read");
    long n = arg_long(argc, argv, 2, 9);
    int use_cb = strcmp(mode, "callback") == 0;
    int drain_mode = strcmp(mode, "drain") == 0;
    if (!use_cb && !drain_mode && strcmp(mode, "read") != 0) DIE("mode must be callback, read or drain");
    if (n < 1 || n > MAX_REQ) DIE("requests must be 1..%d", MAX_REQ);
    int shim = shim_async();
    print_shim_line();
    init_runtime();
    if (use_cb) CK(nrt_register_async_exec_callback(on_status, &g_calls));

    char text[512];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname flaky\nlatency_us 300\ninput x %d\noutput y %d\n"
                          "compute affine 3 1\nfail_every %d %d\n",
                          XN, YN, FAIL_EVERY, (int)FAIL_STATUS),
               0, &model);

    /* One tensor pair per request in drain mode, one shared pair otherwise. */
    long nt = drain_mode ? n : 1;
    nrt_tensor_t *x[MAX_REQ] = {0}, *y[MAX_REQ] = {0};
    nrt_tensor_set_t *in[MAX_REQ] = {0}, *out[MAX_REQ] = {0};
    for (long t = 0; t < nt; t++) {
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, XN, "x", &x[t]));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, YN, "y", &y[t]));
        CK(nrt_allocate_tensor_set(&in[t]));
        CK(nrt_allocate_tensor_set(&out[t]));
        CK(nrt_add_tensor_to_tensor_set(in[t], "x", x[t]));
        CK(nrt_add_tensor_to_tensor_set(out[t], "y", y[t]));
    }

    static uint8_t hx[MAX_REQ][XN], hy[YN];
    int failed[MAX_REQ] = {0};        /* how many times request i's failure was reported */
    NRT_STATUS exec_ret[MAX_REQ];
    NRT_STATUS read_ret[MAX_REQ];

    for (long i = 0; i < n; i++) {
        long t = drain_mode ? i : 0;
        fill_pattern(hx[i], XN, (uint32_t)(i + 1));
        CK(nrt_tensor_write(x[t], hx[i], 0, XN));
        exec_ret[i] = nrt_execute(model, in[t], out[t]);
        if (!drain_mode) read_ret[i] = nrt_tensor_read(y[t], hy, 0, YN);
        else continue;
        if (shim && should_fail(i) && read_ret[i] == NRT_SUCCESS)
            DIE("shim (%s mode): request %ld failed (fail_every %d) but reading its output returned NRT_SUCCESS "
                "(stale bytes passed off as a result)",
                mode, i, FAIL_EVERY);
        if (exec_ret[i] == NRT_SUCCESS && read_ret[i] == NRT_SUCCESS) {
            inbuf_t ins = {hx[i], XN};
            char what[64];
            snprintf(what, sizeof what, "request %ld", i);
            CHECK_AFFINE(what, 3, 1, &ins, 1, hy, YN);
        }
    }
    NRT_STATUS drain_ret = nrt_async_drain_queued_execs(0);
    NRT_STATUS drain_again = nrt_async_drain_queued_execs(0);
    if (drain_mode) {
        for (long i = 0; i < n; i++) {
            read_ret[i] = nrt_tensor_read(y[i], hy, 0, YN);
            if (shim && should_fail(i) && read_ret[i] == NRT_SUCCESS)
                DIE("shim (drain mode): request %ld failed (fail_every %d) but reading its output after "
                    "nrt_async_drain_queued_execs returned NRT_SUCCESS (drain returned %d)",
                    i, FAIL_EVERY, (int)drain_ret);
            if (exec_ret[i] == NRT_SUCCESS && read_ret[i] == NRT_SUCCESS) {
                inbuf_t ins = {hx[i], XN};
                char what[64];
                snprintf(what, sizeof what, "request %ld", i);
                CHECK_AFFINE(what, 3, 1, &ins, 1, hy, YN);
            }
        }
    }
    printf("drain: %d %d\n", (int)drain_ret, (int)drain_again);

    if (!shim) {
        /* The synchronous runtime: the failing nrt_execute returns the status. */
        for (long i = 0; i < n; i++) {
            NRT_STATUS want = should_fail(i) ? FAIL_STATUS : NRT_SUCCESS;
            if (exec_ret[i] != want) DIE("request %ld: nrt_execute returned %d, expected %d", i, exec_ret[i], want);
            if (read_ret[i] != NRT_SUCCESS) DIE("request %ld: nrt_tensor_read returned %d", i, (int)read_ret[i]);
            if (exec_ret[i] != NRT_SUCCESS) failed[i]++;
        }
        if (drain_ret != NRT_SUCCESS || drain_again != NRT_SUCCESS) DIE("drain returned %d, %d", drain_ret, drain_again);
    } else {
        for (long i = 0; i < n; i++) {
            if (exec_ret[i] != NRT_SUCCESS)
                DIE("shim: request %ld: nrt_execute returned %d; an accepted request's failure surfaces later", i,
                    (int)exec_ret[i]);
            /* Never a failed request's output with NRT_SUCCESS. */
            if (should_fail(i) && read_ret[i] == NRT_SUCCESS)
                DIE("shim: request %ld failed but reading its output returned NRT_SUCCESS", i);
            if (!should_fail(i) && read_ret[i] != NRT_SUCCESS)
                DIE("shim: request %ld succeeded but reading its output returned %d", i, (int)read_ret[i]);
        }
        if (use_cb) {
            if (drain_ret != NRT_SUCCESS || drain_again != NRT_SUCCESS)
                DIE("shim with a callback: drain returned %d, %d; failures belong to the callback", drain_ret,
                    drain_again);
            uint64_t t0 = now_us();
            while (calls_count() < n && now_us() - t0 < 2000000) sleep_us(200);
            int c = calls_count();
            if (c != n) DIE("shim: the callback ran %d times for %ld requests", c, n);
            for (int a = 0; a < c; a++) {
                /* rank of this job id among all = the request index */
                long rank = 0;
                for (int b = 0; b < c; b++) rank += g_calls.job_id[b] < g_calls.job_id[a];
                if (g_calls.vnc[a] != 0) DIE("callback vnc %u", g_calls.vnc[a]);
                if (g_calls.model_id[a] != g_calls.model_id[0]) DIE("callback model ids differ");
                if (g_calls.status[a] == NRT_SUCCESS) continue;
                if (g_calls.status[a] != FAIL_STATUS) DIE("callback status %d", (int)g_calls.status[a]);
                failed[rank]++;
            }
            for (int a = 1; a < c; a++)
                if (g_calls.job_id[a] != g_calls.job_id[a - 1] + 1)
                    DIE("callback job ids are not consecutive in call order: %llu then %llu",
                        (unsigned long long)g_calls.job_id[a - 1], (unsigned long long)g_calls.job_id[a]);
        } else if (drain_mode) {
            if (drain_ret != FAIL_STATUS)
                DIE("shim: nrt_async_drain_queued_execs returned %d after failed requests, expected %d", drain_ret,
                    FAIL_STATUS);
            if (drain_again != NRT_SUCCESS) DIE("shim: a second drain reported the failure again (%d)", drain_again);
            for (long i = 0; i < n; i++)
                if (read_ret[i] != NRT_SUCCESS) failed[i]++;
        } else {
            for (long i = 0; i < n; i++) {
                if (read_ret[i] == NRT_SUCCESS) continue;
                if (read_ret[i] != FAIL_STATUS)
                    DIE("shim: request %ld: the read returned %d, expected %d", i, read_ret[i], FAIL_STATUS);
                failed[i]++;
            }
            if (drain_ret != NRT_SUCCESS || drain_again != NRT_SUCCESS)
                DIE("shim: drain returned %d, %d; each failure was already reported by a read", drain_ret,
                    drain_again);
        }
    }

    long count = 0;
    printf("failed:");
    for (long i = 0; i < n; i++) {
        if (failed[i] > 1) DIE("request %ld's failure was reported %d times", i, failed[i]);
        if (failed[i] != should_fail(i))
            DIE("request %ld: failure reported %d times, expected %d", i, failed[i], should_fail(i));
        if (failed[i]) {
            printf(" %ld", i);
            count++;
        }
    }
    printf("\n");
    if (count != n / FAIL_EVERY) DIE("%ld failures, expected %ld", count, n / FAIL_EVERY);

    for (long t = 0; t < nt; t++) {
        nrt_destroy_tensor_set(&in[t]);
        nrt_destroy_tensor_set(&out[t]);
        nrt_tensor_free(&x[t]);
        nrt_tensor_free(&y[t]);
    }
    CK(nrt_unload(model));
    nrt_close();
    printf("callbacks: %d\n", calls_count());
    return 0;
}
