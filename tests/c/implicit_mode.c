/*
 * implicit_mode.c - the legacy implicit async mode's rules, measured.
 *
 * usage: implicit_mode implicit|sync [latency_us=80000]
 *
 * implicit: run with NRT_SIM_RUNTIME=2.30 NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3.
 *   - the first 3 nrt_execute calls return at once; the 4th blocks until the first
 *     request is done;
 *   - nrt_tensor_read blocks until every pending execution is done;
 *   - statuses go to the registered callback, one per request, job ids increasing;
 *     a failing request's nrt_execute still returns NRT_SUCCESS;
 *   - every nrta_* call fails with NRT_FAILURE.
 * sync: run with the variable set but the default runtime (2.32), where the mode is
 *   gone: every nrt_execute blocks for the model's latency and returns the request's
 *   own status; nrta_* calls work.
 *
 * Timing margins are wide (a fraction of the latency) so a loaded machine passes.
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#include <nrt/nrt_async.h>
#include <pthread.h>

#define MAX_CALLS 64

typedef struct {
    pthread_mutex_t lock;
    int count;
    uint32_t model_id[MAX_CALLS];
    uint32_t vnc[MAX_CALLS];
    uint64_t job_id[MAX_CALLS];
    NRT_STATUS status[MAX_CALLS];
} calls_t;

static calls_t g_calls = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}, {0}, {0}};

static void on_status(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id, NRT_STATUS status) {
    calls_t *c = (calls_t *)params;
    pthread_mutex_lock(&c->lock);
    if (c->count < MAX_CALLS) {
        c->model_id[c->count] = model_id;
        c->vnc[c->count] = vnc;
        c->job_id[c->count] = job_id;
        c->status[c->count] = status;
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

/* Callbacks may run a little after the work is done: wait for n of them (2 s at most). */
static void wait_calls(int n) {
    uint64_t t0 = now_us();
    while (calls_count() < n && now_us() - t0 < 2000000) sleep_us(200);
    if (calls_count() != n) DIE("the callback ran %d times, expected %d", calls_count(), n);
}

typedef struct {
    nrt_model_t *model;
    nrt_tensor_t *x, *y;
    nrt_tensor_set_t *in, *out;
    uint8_t hx[256], hy[256];
} job_t;

static void setup(job_t *j, const char *text) {
    load_model(text, 0, &j->model);
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 256, "x", &j->x));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 256, "y", &j->y));
    CK(nrt_allocate_tensor_set(&j->in));
    CK(nrt_allocate_tensor_set(&j->out));
    CK(nrt_add_tensor_to_tensor_set(j->in, "x", j->x));
    CK(nrt_add_tensor_to_tensor_set(j->out, "y", j->y));
}

static void teardown(job_t *j) {
    nrt_destroy_tensor_set(&j->in);
    nrt_destroy_tensor_set(&j->out);
    nrt_tensor_free(&j->x);
    nrt_tensor_free(&j->y);
    CK(nrt_unload(j->model));
}

int main(int argc, char **argv) {
    const char *mode = arg_str(argc, argv, 1, "implicit");
    long lat = arg_long(argc, argv, 2, 80000);
    int implicit = strcmp(mode, "implicit") == 0;
    if (!implicit && strcmp(mode, "sync") != 0) DIE("mode must be implicit or sync, not %s", mode);
    print_shim_line();
    init_runtime();
    CK(nrt_register_async_exec_callback(on_status, &g_calls));

    char text[512];
    job_t a = {0};
    setup(&a, model_text(text, sizeof text,
                         "nrt-sim-model 1\nname blocking\nlatency_us %ld\ninput x 256\noutput y 256\n"
                         "compute affine 3 1\n",
                         lat));

    /* ---- phase 1: blocking rules ---- */
    fill_pattern(a.hx, sizeof a.hx, 1);
    CK(nrt_tensor_write(a.x, a.hx, 0, sizeof a.hx));
    uint64_t t0 = now_us();
    uint64_t ret_at[4];
    for (int i = 0; i < 4; i++) {
        CK(nrt_execute(a.model, a.in, a.out));
        ret_at[i] = now_us() - t0;
    }
    read_tensor(a.y, a.hy, 0, sizeof a.hy);
    uint64_t read_at = now_us() - t0;
    inbuf_t in = {a.hx, sizeof a.hx};
    CHECK_AFFINE("y", 3, 1, &in, 1, a.hy, sizeof a.hy);
    printf("returns_us: %llu %llu %llu %llu read_us: %llu\n", (unsigned long long)ret_at[0],
           (unsigned long long)ret_at[1], (unsigned long long)ret_at[2], (unsigned long long)ret_at[3],
           (unsigned long long)read_at);

    uint64_t L = (uint64_t)lat;
    if (implicit) {
        for (int i = 0; i < 3; i++)
            if (ret_at[i] > L / 2)
                DIE("implicit mode: nrt_execute #%d returned after %llu us; with < 3 in flight it must not wait "
                    "for a %llu us request",
                    i + 1, (unsigned long long)ret_at[i], (unsigned long long)L);
        if (ret_at[3] < L / 2)
            DIE("implicit mode: nrt_execute #4 returned after %llu us; with 3 in flight it must block until the "
                "first (%llu us) is done",
                (unsigned long long)ret_at[3], (unsigned long long)L);
        if (read_at < 3 * L + L / 2)
            DIE("implicit mode: nrt_tensor_read returned after %llu us; it must wait for all 4 pending requests "
                "(%llu us)",
                (unsigned long long)read_at, (unsigned long long)(4 * L));
        wait_calls(4);
        for (int i = 0; i < 4; i++) {
            if (g_calls.status[i] != NRT_SUCCESS) DIE("callback %d got status %d", i, (int)g_calls.status[i]);
            if (g_calls.vnc[i] != 0) DIE("callback %d got vnc %u", i, g_calls.vnc[i]);
            if (g_calls.model_id[i] != g_calls.model_id[0]) DIE("callback %d got another model id", i);
            if (i > 0 && g_calls.job_id[i] <= g_calls.job_id[i - 1])
                DIE("callback job ids do not increase: %llu then %llu", (unsigned long long)g_calls.job_id[i - 1],
                    (unsigned long long)g_calls.job_id[i]);
        }
        /* The two modes never coexist: every nrta_* call fails. */
        bool done = false;
        nrta_seq_t seq = 0;
        EXPECT_STATUS(nrta_is_completed(0, &done), NRT_FAILURE);
        EXPECT_STATUS(nrta_get_sequence(0, NRTA_XU_COMPUTE, 0, &seq), NRT_FAILURE);
    } else {
        for (int i = 0; i < 4; i++) {
            uint64_t took = ret_at[i] - (i ? ret_at[i - 1] : 0);
            if (took < L * 9 / 10)
                DIE("synchronous runtime: nrt_execute #%d took %llu us, less than the model's %llu us", i + 1,
                    (unsigned long long)took, (unsigned long long)L);
        }
        if (read_at - ret_at[3] > L / 2) DIE("synchronous runtime: the read waited for something");
        nrta_seq_t seq = 0;
        EXPECT_STATUS(nrta_get_sequence(0, NRTA_XU_COMPUTE, 0, &seq), NRT_SUCCESS);
    }

    /* ---- phase 2: a failing request's status ---- */
    job_t b = {0};
    setup(&b, model_text(text, sizeof text,
                         "nrt-sim-model 1\nname failing\nlatency_us %ld\ninput x 256\noutput y 256\n"
                         "compute affine 5 2\nfail_every 2 1004\n",
                         lat / 4));
    fill_pattern(b.hx, sizeof b.hx, 2);
    CK(nrt_tensor_write(b.x, b.hx, 0, sizeof b.hx));
    int before = calls_count();
    NRT_STATUS r1 = nrt_execute(b.model, b.in, b.out);
    NRT_STATUS r2 = nrt_execute(b.model, b.in, b.out);
    /* Implicit mode: the drain waited for the failed request and reports it
     * ("errors surfaced at the next blocking call", migration guide step 4). */
    NRT_STATUS rd = nrt_async_drain_queued_execs(0);
    if (rd != (implicit ? NRT_EXEC_COMPLETED_WITH_ERR : NRT_SUCCESS))
        DIE("drain after the failing request returned %d (%s)", (int)rd, status_name(rd));
    printf("phase2_returns: %d %d\n", (int)r1, (int)r2);
    if (r1 != NRT_SUCCESS) DIE("first request of the failing model returned %d", (int)r1);
    if (implicit) {
        if (r2 != NRT_SUCCESS) DIE("implicit mode: nrt_execute returned %d; the status belongs to the callback", r2);
        wait_calls(before + 2);
        if (g_calls.status[before] != NRT_SUCCESS || g_calls.status[before + 1] != NRT_EXEC_COMPLETED_WITH_ERR)
            DIE("callback statuses %d %d, expected 0 1004", (int)g_calls.status[before],
                (int)g_calls.status[before + 1]);
        if (g_calls.job_id[before + 1] <= g_calls.job_id[before] || g_calls.job_id[before] <= g_calls.job_id[3])
            DIE("callback job ids do not increase across models");
        if (g_calls.model_id[before] == g_calls.model_id[0]) DIE("two models got the same model id");
    } else if (r2 != NRT_EXEC_COMPLETED_WITH_ERR) {
        DIE("synchronous runtime: the failing request returned %d, expected 1004", (int)r2);
    }

    teardown(&b);
    teardown(&a);
    nrt_close();
    printf("callbacks: %d\n", calls_count());
    print_digest("digest", gd());
    return 0;
}
