/*
 * explicit_async.c - the explicit async API used the way the seeds' best practices
 * say: keep `depth` (2-3) requests queued, poll completions (nrta_get_sequence, then
 * nrta_is_completed), check each request's status (v3: the status pointer; v2: the
 * error tracker, read after the completions), absorb NRT_QUEUE_FULL by waiting for
 * the oldest request (v3: eventfd registration; v2: completion fd) and retrying,
 * and check every output against the model formula. Built twice: plain (v3) and
 * with -DNRTA_ABI_V2 (v2).
 *
 * The model fails every 5th execution (status 1004, outputs unwritten): those
 * requests must report 1004 and leave the 0xEE fill of their outputs untouched.
 *
 * usage: explicit_async [requests=24] [depth=3] [tensorops=1] [latency_us=300]
 *   tensorops=1: inputs written and outputs read with nrta_tensor_write/read
 *   (tensor-op unit), waited for before use; 0: with nrt_tensor_write/read.
 * Prints "queue_full: N" (how often an execution schedule call was refused) and
 * "queue_full_tensor_op: N" (the same for tensor transfers).
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#include <nrt/nrt_async.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MUL 13
#define ADD 17
#define FAIL_EVERY 5
#define FAIL_STATUS NRT_EXEC_COMPLETED_WITH_ERR
#define XN 2048
#define YN 100
#define ZN 2048
#define MAX_DEPTH 8
#define FILL 0xEE
#define UNSET ((NRT_STATUS)0x7eadbeef)

static const char *MODEL_FMT = "nrt-sim-model 1\n"
                               "name pipeline\n"
                               "latency_us %ld\n"
                               "input x 2048\n"
                               "input y 100\n"
                               "output z 2048\n"
                               "compute affine 13 17\n"
                               "fail_every 5 1004\n";

typedef struct {
    nrt_tensor_t *x, *y, *z;
    nrt_tensor_set_t *in, *out;
    uint8_t hx[XN], hy[YN], hz[ZN];
    long req; /* request index, -1 when idle */
    nrta_seq_t seq;
    NRT_STATUS status; /* v3: written by the runtime at completion */
} slot_t;

static slot_t g_slots[MAX_DEPTH];
static nrt_model_t *g_model;
static long g_queue_full;
/* Per-request statuses and output bytes only: equal whatever the path (tensorops or
 * not, v2 or v3, queue depth). */
static digest_t g_out = DIGEST_INIT;

#ifdef NRTA_ABI_V2
static nrta_error_tracker_t *g_tracker;
#define ERR_ARG(statusp) (g_tracker)
#define LNC_ARG
/* Failed sequence numbers reported by the tracker, not yet matched to a request. */
static nrta_error_t g_failed[256];
static size_t g_nfailed;

static void collect_errors(void) {
    const nrta_error_t *list = NULL;
    size_t count = 0;
    OK(nrta_error_tracker_get_list(g_tracker, &list, &count));
    if (count && !list) DIE("nrta_error_tracker_get_list: %zu errors and a NULL list", count);
    for (size_t i = 0; i < count; i++) {
        if (g_nfailed == sizeof g_failed / sizeof g_failed[0]) DIE("too many errors");
        g_failed[g_nfailed++] = list[i];
    }
}

/* The status of a completed request: the tracker's error for seq, or success. */
static NRT_STATUS completed_status(nrta_seq_t seq, NRT_STATUS *unused) {
    (void)unused;
    for (size_t i = 0; i < g_nfailed; i++) {
        if (g_failed[i].seq_id == seq) {
            NRT_STATUS st = (NRT_STATUS)g_failed[i].error_code;
            g_failed[i] = g_failed[--g_nfailed];
            return st;
        }
    }
    return NRT_SUCCESS;
}

/* Blocks until seq is complete, on its completion fd. */
static void wait_event(nrta_seq_t seq) {
    int fd = -1;
    OK(nrta_get_completion_handle(seq, &fd));
    if (fd < 0) DIE("nrta_get_completion_handle gave fd %d", fd);
    struct pollfd p = {fd, POLLIN, 0};
    for (int tries = 0;; tries++) {
        bool done = false;
        OK(nrta_is_completed(seq, &done));
        if (done) break;
        if (tries > 200) DIE("request %llx not complete after 20 s", (unsigned long long)seq);
        poll(&p, 1, 100);
    }
    close(fd);
}
#else
#define ERR_ARG(statusp) (statusp)
#define LNC_ARG 0,
static void collect_errors(void) {}

static NRT_STATUS completed_status(nrta_seq_t seq, NRT_STATUS *statusp) {
    (void)seq;
    if (*statusp == UNSET) DIE("request %llx is complete but its status was never written", (unsigned long long)seq);
    return *statusp;
}

/* Blocks until seq is complete, on an eventfd registered for it. */
static void wait_event(nrta_seq_t seq) {
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) DIE("eventfd failed");
    OK(nrta_event_register_seq_id_completion(seq, efd));
    struct pollfd p = {efd, POLLIN, 0};
    for (int tries = 0;; tries++) {
        bool done = false;
        OK(nrta_is_completed(seq, &done));
        if (done) break;
        if (tries > 200) DIE("request %llx not complete after 20 s", (unsigned long long)seq);
        poll(&p, 1, 100);
    }
    close(efd);
}
#endif

static long g_queue_full_tensor_op;

/* A tensor-op schedule call; NRT_QUEUE_FULL (the unit is busy with other work):
 * back off briefly and retry. Not in the digest: when writes happen relative to the
 * reads of earlier requests depends on timing. */
#define SCHEDULE_TENSOR_OP(call)                                                                                   \
    do {                                                                                                           \
        uint64_t t0_ = now_us();                                                                                   \
        NRT_STATUS r_;                                                                                             \
        while ((r_ = (call)) == NRT_QUEUE_FULL) {                                                                  \
            g_queue_full_tensor_op++;                                                                              \
            if (now_us() - t0_ > 20000000) DIE("%s: NRT_QUEUE_FULL for 20 s", #call);                             \
            sleep_us(50);                                                                                          \
        }                                                                                                          \
        OK(r_);                                                                                                    \
    } while (0)

/* Polls nrta_is_completed until seq is done (requests on the tensor-op unit). */
static void poll_done(nrta_seq_t seq) {
    uint64_t t0 = now_us();
    for (;;) {
        bool done = false;
        OK(nrta_is_completed(seq, &done));
        if (done) return;
        if (now_us() - t0 > 20000000) DIE("request %llx not complete after 20 s", (unsigned long long)seq);
        sleep_us(20);
    }
}

static void write_input(slot_t *s, nrt_tensor_t *t, uint8_t *buf, size_t n, int tensorops) {
    if (!tensorops) {
        OK(nrt_tensor_write(t, buf, 0, n));
        return;
    }
    NRT_STATUS st = UNSET;
    nrta_seq_t seq = 0;
    SCHEDULE_TENSOR_OP(nrta_tensor_write(t, buf, 0, n, LNC_ARG 0, ERR_ARG(&st), &seq));
    poll_done(seq);
    collect_errors();
    OK(completed_status(seq, &st));
    (void)s;
}

static void read_output(nrt_tensor_t *t, uint8_t *buf, size_t n, int tensorops) {
    if (!tensorops) {
        read_tensor(t, buf, 0, n);
        return;
    }
    NRT_STATUS st = UNSET;
    nrta_seq_t seq = 0;
    SCHEDULE_TENSOR_OP(nrta_tensor_read(buf, t, 0, n, LNC_ARG 0, ERR_ARG(&st), &seq));
    poll_done(seq);
    collect_errors();
    CK(completed_status(seq, &st));
    digest_bytes(gd(), buf, n);
}

/* A request's slot is done: check its status and outputs. */
static void finish(slot_t *s, int tensorops) {
    bool done = false;
    OK(nrta_is_completed(s->seq, &done));
    if (!done) DIE("nrta_get_sequence says request %ld is complete, nrta_is_completed disagrees", s->req);
    NRT_STATUS st = completed_status(s->seq, &s->status);
    digest_status(&g_out, st);
    int should_fail = (s->req + 1) % FAIL_EVERY == 0;
    if (should_fail && st != FAIL_STATUS)
        DIE("request %ld (execution %ld of a fail_every %d model) completed with %d, expected %d", s->req,
            s->req + 1, FAIL_EVERY, (int)st, (int)FAIL_STATUS);
    if (!should_fail && st != NRT_SUCCESS) DIE("request %ld completed with %d (%s)", s->req, (int)st, status_name(st));
    read_output(s->z, s->hz, ZN, tensorops);
    digest_bytes(&g_out, s->hz, ZN);
    if (should_fail) {
        for (size_t j = 0; j < ZN; j++)
            if (s->hz[j] != FILL) DIE("failed request %ld wrote its output (byte %zu is %u)", s->req, j, s->hz[j]);
    } else {
        inbuf_t in[2] = {{s->hx, XN}, {s->hy, YN}};
        CHECK_AFFINE("z", MUL, ADD, in, 2, s->hz, ZN);
    }
    s->req = -1;
}

int main(int argc, char **argv) {
    long requests = arg_long(argc, argv, 1, 24);
    long depth = arg_long(argc, argv, 2, 3);
    int tensorops = (int)arg_long(argc, argv, 3, 1);
    long latency = arg_long(argc, argv, 4, 300);
    if (depth < 1 || depth > MAX_DEPTH) DIE("depth must be 1..%d", MAX_DEPTH);
    print_shim_line();

    /* The generation this was built for must be the one the runtime has. */
    int has_tracker = dlsym(RTLD_DEFAULT, "nrta_error_tracker_create") != NULL;
    if (has_tracker != (NRTA_ABI_VERSION == 2))
        DIE("built for nrta_* v%d but the runtime %s nrta_error_tracker_create", NRTA_ABI_VERSION,
            has_tracker ? "exports" : "does not export");

    init_runtime();
    char text[512];
    load_model(model_text(text, sizeof text, MODEL_FMT, latency), 0, &g_model);
#ifdef NRTA_ABI_V2
    OK(nrta_error_tracker_create(0, &g_tracker)); /* v2 only: not in the digest */
#endif
    for (long i = 0; i < depth; i++) {
        slot_t *s = &g_slots[i];
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, XN, "x", &s->x));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, YN, "y", &s->y));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, ZN, "z", &s->z));
        CK(nrt_allocate_tensor_set(&s->in));
        CK(nrt_allocate_tensor_set(&s->out));
        CK(nrt_add_tensor_to_tensor_set(s->in, "x", s->x));
        CK(nrt_add_tensor_to_tensor_set(s->in, "y", s->y));
        CK(nrt_add_tensor_to_tensor_set(s->out, "z", s->z));
        s->req = -1;
    }

    long next = 0, oldest = 0; /* requests [oldest, next) are in flight, in order */
    nrta_seq_t prev_seq = 0;
    uint64_t t0 = now_us();
    while (oldest < requests) {
        /* Keep `depth` requests queued. */
        while (next < requests && next - oldest < depth) {
            slot_t *s = &g_slots[next % depth];
            if (s->req != -1) DIE("slot reused while busy");
            fill_pattern(s->hx, XN, (uint32_t)(2 * next));
            fill_pattern(s->hy, YN, (uint32_t)(2 * next + 1));
            write_input(s, s->x, s->hx, XN, tensorops);
            write_input(s, s->y, s->hy, YN, tensorops);
            OK(nrt_tensor_memset(s->z, 0, FILL, ZN));
            for (;;) {
                s->status = UNSET;
                NRT_STATUS r = nrta_execute_schedule(g_model, s->in, s->out, 0, ERR_ARG(&s->status), &s->seq);
                if (r == NRT_SUCCESS) break;
                if (r != NRT_QUEUE_FULL) DIE("nrta_execute_schedule returned %d (%s)", (int)r, status_name(r));
                g_queue_full++;
                if (next == oldest) DIE("NRT_QUEUE_FULL with nothing in flight");
                /* Wait for the oldest request, retire it, retry. */
                slot_t *o = &g_slots[oldest % depth];
                wait_event(o->seq);
                collect_errors();
                finish(o, tensorops);
                oldest++;
            }
            if (next > 0 && s->seq <= prev_seq) DIE("sequence numbers do not increase");
            prev_seq = s->seq;
            s->req = next++;
        }
        if (oldest == next) continue;

        /* Poll: what has the compute unit finished? Then the errors of those. */
        nrta_seq_t last = 0;
        OK(nrta_get_sequence(0, NRTA_XU_COMPUTE, 0, &last));
        collect_errors();
        int reaped = 0;
        while (oldest < next && g_slots[oldest % depth].seq <= last) {
            finish(&g_slots[oldest % depth], tensorops);
            oldest++;
            reaped++;
        }
        if (!reaped) {
            if (now_us() - t0 > 20000000) DIE("no completion for 20 s");
            sleep_us(50);
        }
    }

    /* A sequence number that was never issued is NRT_INVALID. */
    bool done = false;
    EXPECT_STATUS(nrta_is_completed(prev_seq + 1000000, &done), NRT_INVALID);

#ifdef NRTA_ABI_V2
    collect_errors();
    if (g_nfailed) DIE("%zu errors in the tracker that belong to no request", g_nfailed);
    nrta_error_tracker_destroy(g_tracker);
#endif
    for (long i = 0; i < depth; i++) {
        slot_t *s = &g_slots[i];
        nrt_destroy_tensor_set(&s->in);
        nrt_destroy_tensor_set(&s->out);
        nrt_tensor_free(&s->x);
        nrt_tensor_free(&s->y);
        nrt_tensor_free(&s->z);
    }
    CK(nrt_unload(g_model));
    nrt_close();
    printf("requests: %ld\nqueue_full: %ld\nqueue_full_tensor_op: %ld\n", requests, g_queue_full,
           g_queue_full_tensor_op);
    print_digest("digest", gd());
    print_digest("outputs", &g_out);
    return 0;
}
