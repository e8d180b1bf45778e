/*
 * badinput.c - the bad-input table of nrt-proof (issue 4, part 3).
 *
 * Every exported nrt_* (and nrta_*, badinput_nrta.h) function of the shim (tests/exports.txt) times every kind
 * of bad argument that applies to it. One case per process:
 *
 *   badinput list                 one line per case:  LIST <function> <kind> <phase> <flags> <description>
 *   badinput run <function> <kind>
 *
 * `run` sets up what the case needs (its phase: nothing for "before", nrt_init +
 * the fixture for "open", the same then nrt_close for "closed", the case's own
 * steps for "self"), makes exactly one bad call and prints on stdout
 *
 *   CALL <the C expression of the call>
 *   CASE <function> <kind> <status | void | null | nonnull | absent>
 *
 * Around the call it writes "@@begin <function> <kind>" and "@@end" to stderr
 * with write(2), the way the libraries write their log lines, so the lines the
 * libraries logged for that one call are exactly those between the markers.
 * Then it closes the runtime if it is open and exits 0. A setup step that fails
 * exits 3 (with a message on stderr, before "@@begin").
 *
 * Handles never issued are plain values (0xdead0000...): the simulator and the
 * shim look handles up by value and never dereference one they do not know.
 *
 * Flags: "accepted" marks calls the runtime documents as valid (size 0 within
 * range, freeing NULL, ...): there the shim must log what the runtime logs
 * (nothing); "shim-only" marks the shim's own API (absent from the runtime).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nrt/nrt.h>
#include <nrt/nrt_experimental.h>
#include <nrt/nrt_async_sendrecv.h>
#include <nrt/nrt_profile.h>

#define NRT_ASYNC_SHIM_API __attribute__((weak))
#include <nrt_async_shim.h>

enum phase { P_BEFORE, P_OPEN, P_CLOSED, P_SELF };
static const char *const PHASE_NAMES[] = {"before", "open", "closed", "self"};

#define F_NONE 0
#define F_ACCEPTED 1
#define F_SHIM_ONLY 2

/* ---- output ------------------------------------------------------------- */

static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void die(const char *what, int st) {
    char b[512];
    snprintf(b, sizeof b, "badinput: setup step %s failed (%d)\n", what, st);
    say(b);
    exit(3);
}

#define OK(expr)                                                                                                   \
    do {                                                                                                           \
        NRT_STATUS ok_ = (expr);                                                                                   \
        if (ok_ != NRT_SUCCESS) die(#expr, (int)ok_);                                                              \
    } while (0)

static const char *g_fn, *g_kind; /* the case asked for */
static int g_listing;
static int g_found;
static int g_open; /* nrt_init succeeded and nrt_close not yet called */

static void begin(const char *call) {
    printf("CALL %s\n", call);
    fflush(stdout);
    char b[512];
    snprintf(b, sizeof b, "@@begin %s %s\n", g_fn, g_kind);
    say(b);
}

static void end(const char *result) {
    say("@@end\n");
    printf("CASE %s %s %s\n", g_fn, g_kind, result);
    fflush(stdout);
}

static void end_status(NRT_STATUS st) {
    char b[32];
    snprintf(b, sizeof b, "%d", (int)st);
    end(b);
}

/* The one bad call of a case, by the kind of value it returns. */
#define ST_AS(text, call)                                                                                          \
    do {                                                                                                           \
        begin(text);                                                                                               \
        NRT_STATUS st_ = (call);                                                                                   \
        end_status(st_);                                                                                           \
    } while (0)
#define ST(call) ST_AS(#call, call)
#define VOID(call)                                                                                                 \
    do {                                                                                                           \
        begin(#call);                                                                                              \
        call;                                                                                                      \
        end("void");                                                                                               \
    } while (0)
#define PTR(call)                                                                                                  \
    do {                                                                                                           \
        begin(#call);                                                                                              \
        void *p_ = (void *)(call);                                                                                 \
        end(p_ ? "nonnull" : "null");                                                                              \
    } while (0)
#define SIZE(call)                                                                                                 \
    do {                                                                                                           \
        char sz_[32];                                                                                              \
        begin(#call);                                                                                              \
        size_t n_ = (call);                                                                                        \
        snprintf(sz_, sizeof sz_, "size %zu", n_);                                                                 \
        end(sz_);                                                                                                  \
    } while (0)
/* The shim's own API: absent (weak, NULL) without the shim. */
#define SHIM_ST(fn, call)                                                                                          \
    do {                                                                                                           \
        begin(#call);                                                                                              \
        if (!(fn)) {                                                                                               \
            end("absent");                                                                                         \
        } else {                                                                                                   \
            NRT_STATUS st_ = (NRT_STATUS)(call);                                                                   \
            end_status(st_);                                                                                       \
        }                                                                                                          \
    } while (0)

/* ---- the fixture -------------------------------------------------------- */

static const char MODEL[] = "nrt-sim-model 1\n"
                            "name tiny\n"
                            "latency_us 50\n"
                            "input x 64\n"
                            "output y 64\n"
                            "compute affine 1 1\n";

/* Handles never issued (variables, so the printed calls name them). */
static nrt_tensor_t *const NEVER_T = (nrt_tensor_t *)(uintptr_t)0xdead0000u;
static nrt_tensor_set_t *const NEVER_S = (nrt_tensor_set_t *)(uintptr_t)0xdead1000u;
static nrt_model_t *const NEVER_M = (nrt_model_t *)(uintptr_t)0xdead2000u;

static nrt_model_t *M;       /* the tiny model on core 0: input x 64, output y 64 */
static nrt_model_t *UNLOADED; /* a model that was loaded, executed and unloaded */
static nrt_tensor_t *X, *Y;  /* device tensors of core 0, 64 bytes: M's x and y */
static nrt_tensor_t *C1;     /* a device tensor of core 1, 64 bytes */
static nrt_tensor_t *H;      /* a host tensor, 64 bytes */
static nrt_tensor_t *EMPTY;  /* nrt_tensor_allocate_empty, no storage */
static nrt_tensor_t *FREED;  /* a tensor that was written by an execution, read, then freed */
static nrt_tensor_set_t *IN, *OUT; /* {x: X}, {y: Y} */
static nrt_tensor_set_t *DESTROYED; /* a set that was used by an execution, then destroyed */
static uint8_t BUF[256];
static uint8_t BIG[4096];

static nrt_tensor_t *dev(int core, size_t size) {
    nrt_tensor_t *t = NULL;
    OK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, core, size, "t", &t));
    return t;
}

static nrt_tensor_set_t *set_with(const char *name, nrt_tensor_t *t) {
    nrt_tensor_set_t *s = NULL;
    OK(nrt_allocate_tensor_set(&s));
    if (name) OK(nrt_add_tensor_to_tensor_set(s, name, t));
    return s;
}

/* A tensor an execution still writes when the program frees it (under the shim
 * the free is deferred, so the runtime still knows the handle): the handle. It
 * is also put in `set` as `name` before the free, if `set` is not NULL. */
static nrt_tensor_t *freed_in_use_in(nrt_tensor_set_t *set, const char *name) {
    static const char slow[] = "nrt-sim-model 1\nname slow\nlatency_us 300000\ninput x 64\noutput y 64\n"
                               "compute affine 1 1\n";
    nrt_model_t *m = NULL;
    OK(nrt_load(slow, strlen(slow), 0, -1, &m));
    nrt_tensor_t *t = dev(0, 64), *stale = t;
    nrt_tensor_set_t *o = set_with("y", t);
    if (set) OK(nrt_add_tensor_to_tensor_set(set, name, t));
    OK(nrt_execute(m, IN, o));
    nrt_tensor_free(&t);
    nrt_destroy_tensor_set(&o);
    return stale;
}

static nrt_tensor_t *freed_in_use(void) {
    return freed_in_use_in(NULL, NULL);
}

static void init(void) {
    OK(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "2.0", "1.0"));
    g_open = 1;
}

static void close_rt(void) {
    nrt_close();
    g_open = 0;
}

static void fixture(void) {
    init();
    OK(nrt_load(MODEL, strlen(MODEL), 0, -1, &M));
    X = dev(0, 64);
    Y = dev(0, 64);
    C1 = dev(1, 64);
    OK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_HOST, -1, 64, "h", &H));
    OK(nrt_tensor_allocate_empty("e", &EMPTY));
    for (int i = 0; i < 64; i++) BUF[i] = (uint8_t)i;
    OK(nrt_tensor_write(X, BUF, 0, 64));
    IN = set_with("x", X);
    OUT = set_with("y", Y);
    OK(nrt_execute(M, IN, OUT));
    OK(nrt_tensor_read(Y, BUF, 0, 64));

    nrt_tensor_t *f = dev(0, 64);
    nrt_tensor_set_t *fo = set_with("y", f);
    OK(nrt_execute(M, IN, fo));
    OK(nrt_tensor_read(f, BUF, 0, 64));
    FREED = f;
    nrt_tensor_free(&f);
    nrt_destroy_tensor_set(&fo);

    nrt_tensor_set_t *d = set_with("x", X);
    OK(nrt_execute(M, d, OUT));
    OK(nrt_tensor_read(Y, BUF, 0, 64));
    DESTROYED = d;
    nrt_destroy_tensor_set(&d);

    nrt_model_t *u = NULL;
    OK(nrt_load(MODEL, strlen(MODEL), 0, -1, &u));
    OK(nrt_execute(u, IN, OUT));
    OK(nrt_tensor_read(Y, BUF, 0, 64));
    UNLOADED = u;
    OK(nrt_unload(u));
}

static void on_status(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id, NRT_STATUS status) {
    (void)params;
    (void)model_id;
    (void)vnc;
    (void)job_id;
    (void)status;
}

/* ---- the cases ---------------------------------------------------------- */

/* In list mode: prints the case, false. In run mode: true for the case asked
 * for, after setting up its phase. */
static int want(const char *fn, const char *kind, enum phase ph, int flags, const char *desc) {
    if (g_listing) {
        const char *f = flags & F_SHIM_ONLY ? "shim-only" : flags & F_ACCEPTED ? "accepted" : "-";
        printf("LIST %s %s %s %s %s\n", fn, kind, PHASE_NAMES[ph], f, desc);
        return 0;
    }
    if (g_found || strcmp(fn, g_fn) != 0 || strcmp(kind, g_kind) != 0) return 0;
    g_found = 1;
    if (ph == P_OPEN || ph == P_CLOSED) fixture();
    if (ph == P_CLOSED) close_rt();
    return 1;
}

#define CASE(fn, kind, ph, flags, desc) if (want(#fn, kind, ph, flags, desc))
#define BEFORE(fn, call) CASE(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init") call
#define AFTER(fn, call) CASE(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)") call

/* One batch of one op: 64 bytes of X at offset 0 into BUF. */
static int batch_reset(nrt_tensor_batch_t *b, nrt_tensor_batch_op_t *op) {
    memset(op, 0, sizeof *op);
    op->buffer = BUF;
    op->size = 64;
    b->tensor = X;
    b->ops = op;
    b->num_ops = 1;
    return 1;
}

static void batch_cases(int write) {
    /* the same table for both batch calls */
    nrt_tensor_batch_op_t op, op2[2];
    nrt_tensor_batch_t b, b2[2];
    memset(op2, 0, sizeof op2);
    memset(b2, 0, sizeof b2);
    batch_reset(&b, &op);
#define BATCH_CALL(batches, n)                                                                                     \
    do {                                                                                                           \
        if (write)                                                                                                 \
            ST_AS("nrt_tensor_write_batch(" #batches ", " #n ", false)",                                           \
                  nrt_tensor_write_batch(batches, n, false));                                                      \
        else                                                                                                       \
            ST_AS("nrt_tensor_read_batch(" #batches ", " #n ", false)",                                            \
                  nrt_tensor_read_batch(batches, n, false));                                                       \
    } while (0)
    const char *fn = write ? "nrt_tensor_write_batch" : "nrt_tensor_read_batch";
    /* the fixture's handles exist only once want() has set the phase up */
#define BW(kind, ph, flags, desc) if (want(fn, kind, ph, flags, desc) && batch_reset(&b, &op))
    BW("null-batches", P_OPEN, F_NONE, "NULL `batches`, 1 batch") BATCH_CALL(NULL, 1);
    BW("null-batches-count-0", P_OPEN, F_ACCEPTED, "NULL `batches`, 0 batches") BATCH_CALL(NULL, 0);
    BW("null-tensor", P_OPEN, F_NONE, "a batch with a NULL `tensor`") {
        b.tensor = NULL;
        BATCH_CALL(&b, 1);
    }
    BW("null-ops", P_OPEN, F_NONE, "a batch with NULL `ops` and `num_ops` 1") {
        b.ops = NULL;
        BATCH_CALL(&b, 1);
    }
    BW("null-buffer", P_OPEN, F_NONE, "an op with a NULL `buffer` and size 64") {
        op.buffer = NULL;
        BATCH_CALL(&b, 1);
    }
    BW("null-buffer-size-0", P_OPEN, F_ACCEPTED, "an op with a NULL `buffer` and size 0") {
        op.buffer = NULL;
        op.size = 0;
        BATCH_CALL(&b, 1);
    }
    BW("never-issued-tensor", P_OPEN, F_NONE, "a batch whose `tensor` was never issued") {
        b.tensor = NEVER_T;
        BATCH_CALL(&b, 1);
    }
    BW("freed-tensor", P_OPEN, F_NONE, "a batch whose `tensor` was freed") {
        b.tensor = FREED;
        BATCH_CALL(&b, 1);
    }
    BW("offset-out-of-range", P_OPEN, F_NONE, "an op at offset 64 of a 64-byte tensor, size 1") {
        op.offset = 64;
        op.size = 1;
        BATCH_CALL(&b, 1);
    }
    BW("size-out-of-range", P_OPEN, F_NONE, "an op of size 65 on a 64-byte tensor") {
        op.size = 65;
        BATCH_CALL(&b, 1);
    }
    BW("offset-overflow", P_OPEN, F_NONE, "an op at offset UINT64_MAX, size 2 (offset + size wraps)") {
        op.offset = UINT64_MAX;
        op.size = 2;
        BATCH_CALL(&b, 1);
    }
    BW("size-0", P_OPEN, F_ACCEPTED, "an op of size 0 at offset 0") {
        op.size = 0;
        BATCH_CALL(&b, 1);
    }
    BW("size-0-offset-out-of-range", P_OPEN, F_NONE, "an op of size 0 at offset 65 of a 64-byte tensor") {
        op.offset = 65;
        op.size = 0;
        BATCH_CALL(&b, 1);
    }
    BW("no-storage", P_OPEN, F_NONE, "a batch on a tensor without storage (allocate_empty), size 1") {
        b.tensor = EMPTY;
        op.size = 1;
        BATCH_CALL(&b, 1);
    }
    BW("second-op-out-of-range", P_OPEN, F_NONE, "two ops, the second of size 65") {
        op2[0].buffer = BUF;
        op2[0].size = 8;
        op2[1].buffer = BUF;
        op2[1].size = 65;
        b.ops = op2;
        b.num_ops = 2;
        BATCH_CALL(&b, 1);
    }
    BW("order-freed-then-null-tensor", P_OPEN, F_NONE,
             "two batches: the first's `tensor` freed, the second's NULL (NULL is checked first)") {
        b2[0] = b;
        b2[0].tensor = FREED;
        b2[1] = b;
        b2[1].tensor = NULL;
        BATCH_CALL(b2, 2);
    }
    BW("order-never-issued-then-null-buffer", P_OPEN, F_NONE,
             "one batch: `tensor` never issued and an op with a NULL `buffer` (NULL is checked first)") {
        b.tensor = NEVER_T;
        op.buffer = NULL;
        BATCH_CALL(&b, 1);
    }
    BW("before-init", P_BEFORE, F_NONE, "before nrt_init") {
        b.tensor = NEVER_T;
        BATCH_CALL(&b, 1);
    }
    BW("after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)") {
        b.tensor = X;
        BATCH_CALL(&b, 1);
    }
#undef BATCH_CALL
#undef BW
}

static void io_cases(int write) {
    /* nrt_tensor_read and nrt_tensor_write take the same arguments */
#define IO(t, buf, off, size)                                                                                      \
    do {                                                                                                           \
        if (write)                                                                                                 \
            ST_AS("nrt_tensor_write(" #t ", " #buf ", " #off ", " #size ")",                                       \
                  nrt_tensor_write(t, buf, off, size));                                                            \
        else                                                                                                       \
            ST_AS("nrt_tensor_read(" #t ", " #buf ", " #off ", " #size ")",                                        \
                  nrt_tensor_read(t, buf, off, size));                                                             \
    } while (0)
    const char *fn = write ? "nrt_tensor_write" : "nrt_tensor_read";
    if (want(fn, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`")) IO(NULL, BUF, 0, 64);
    if (want(fn, "null-buf", P_OPEN, F_NONE, "NULL `buf`, size 64")) IO(X, NULL, 0, 64);
    if (want(fn, "null-buf-size-0", P_OPEN, F_ACCEPTED, "NULL `buf`, size 0")) IO(X, NULL, 0, 0);
    if (want(fn, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")) IO(NEVER_T, BUF, 0, 64);
    if (want(fn, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed")) IO(FREED, BUF, 0, 64);
    if (want(fn, "freed-in-use-tensor", P_OPEN, F_NONE, "`tensor` freed while an execution writes it")) {
        nrt_tensor_t *t = freed_in_use();
        IO(t, BUF, 0, 64);
    }
    if (want(fn, "offset-out-of-range", P_OPEN, F_NONE, "offset 64 of a 64-byte tensor, size 1")) IO(X, BUF, 64, 1);
    if (want(fn, "size-out-of-range", P_OPEN, F_NONE, "size 65 on a 64-byte tensor")) IO(X, BUF, 0, 65);
    if (want(fn, "offset-overflow", P_OPEN, F_NONE, "offset SIZE_MAX, size 2 (offset + size wraps)"))
        IO(X, BUF, SIZE_MAX, 2);
    if (want(fn, "size-0", P_OPEN, F_ACCEPTED, "size 0 at offset 0")) IO(X, BUF, 0, 0);
    if (want(fn, "size-0-offset-out-of-range", P_OPEN, F_NONE, "size 0 at offset 65 of a 64-byte tensor"))
        IO(X, BUF, 65, 0);
    if (want(fn, "no-storage", P_OPEN, F_NONE, "a tensor without storage (allocate_empty), size 1"))
        IO(EMPTY, BUF, 0, 1);
    if (want(fn, "order-never-issued-null-buf", P_OPEN, F_NONE,
             "`tensor` never issued and NULL `buf` (NULL is checked first)"))
        IO(NEVER_T, NULL, 0, 64);
    if (want(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init")) IO(NEVER_T, BUF, 0, 64);
    if (want(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)")) IO(X, BUF, 0, 64);
#undef IO
}

static void exec_cases(int repeat) {
    /* nrt_execute and nrt_execute_repeat (count 2) take the same sets */
#define EX(m, i, o)                                                                                                \
    do {                                                                                                           \
        if (repeat)                                                                                                \
            ST_AS("nrt_execute_repeat(" #m ", " #i ", " #o ", 2)",                                                 \
                  nrt_execute_repeat(m, i, o, 2));                                                                 \
        else                                                                                                       \
            ST_AS("nrt_execute(" #m ", " #i ", " #o ")",                                                           \
                  nrt_execute(m, i, o));                                                                           \
    } while (0)
    const char *fn = repeat ? "nrt_execute_repeat" : "nrt_execute";
    if (want(fn, "null-model", P_OPEN, F_NONE, "NULL `model`")) EX(NULL, IN, OUT);
    if (want(fn, "null-input_set", P_OPEN, F_NONE, "NULL `input_set`")) EX(M, NULL, OUT);
    if (want(fn, "null-output_set", P_OPEN, F_NONE, "NULL `output_set`")) EX(M, IN, NULL);
    if (want(fn, "never-issued-model", P_OPEN, F_NONE, "`model` never issued")) EX(NEVER_M, IN, OUT);
    if (want(fn, "never-issued-input_set", P_OPEN, F_NONE, "`input_set` never issued")) EX(M, NEVER_S, OUT);
    if (want(fn, "never-issued-output_set", P_OPEN, F_NONE, "`output_set` never issued")) EX(M, IN, NEVER_S);
    if (want(fn, "unloaded-model", P_OPEN, F_NONE, "`model` unloaded")) EX(UNLOADED, IN, OUT);
    if (want(fn, "destroyed-input_set", P_OPEN, F_NONE, "`input_set` destroyed")) EX(M, DESTROYED, OUT);
    if (want(fn, "destroyed-output_set", P_OPEN, F_NONE, "`output_set` destroyed")) EX(M, IN, DESTROYED);
    if (want(fn, "freed-tensor-in-input_set", P_OPEN, F_NONE, "the input set names a freed tensor")) {
        nrt_tensor_t *t = dev(0, 64);
        nrt_tensor_set_t *s = set_with("x", t);
        nrt_tensor_free(&t);
        EX(M, s, OUT);
    }
    if (want(fn, "freed-in-use-tensor-in-input_set", P_OPEN, F_NONE,
             "the input set names a tensor freed while an execution writes it")) {
        nrt_tensor_set_t *s = set_with(NULL, NULL);
        freed_in_use_in(s, "x");
        EX(M, s, OUT);
    }
    if (want(fn, "freed-tensor-in-output_set", P_OPEN, F_NONE, "the output set names a freed tensor")) {
        nrt_tensor_t *t = dev(0, 64);
        nrt_tensor_set_t *s = set_with("y", t);
        nrt_tensor_free(&t);
        EX(M, IN, s);
    }
    if (want(fn, "other-core-input", P_OPEN, F_NONE, "the input is a tensor of core 1, the model on core 0")) {
        nrt_tensor_set_t *s = set_with("x", C1);
        EX(M, s, OUT);
    }
    if (want(fn, "other-core-output", P_OPEN, F_NONE, "the output is a tensor of core 1, the model on core 0")) {
        nrt_tensor_set_t *s = set_with("y", C1);
        EX(M, IN, s);
    }
    if (want(fn, "wrong-size-input", P_OPEN, F_NONE, "the input tensor has 32 bytes, the model declares 64")) {
        nrt_tensor_set_t *s = set_with("x", dev(0, 32));
        EX(M, s, OUT);
    }
    if (want(fn, "missing-input", P_OPEN, F_NONE, "the input set lacks the declared name `x`")) {
        nrt_tensor_set_t *s = set_with(NULL, NULL);
        EX(M, s, OUT);
    }
    if (want(fn, "no-storage-input", P_OPEN, F_NONE, "the input is a tensor without storage (allocate_empty)")) {
        nrt_tensor_set_t *s = set_with("x", EMPTY);
        EX(M, s, OUT);
    }
    if (want(fn, "order-missing-input-freed-output", P_OPEN, F_NONE,
             "the input set lacks `x` and the output set names a freed tensor (handles are checked first)")) {
        nrt_tensor_set_t *si = set_with(NULL, NULL);
        nrt_tensor_t *t = dev(0, 64);
        nrt_tensor_set_t *so = set_with("y", t);
        nrt_tensor_free(&t);
        EX(M, si, so);
    }
    if (want(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init")) EX(NEVER_M, NEVER_S, NEVER_S);
    if (want(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)")) EX(M, IN, OUT);
#undef EX
    if (repeat) {
        if (want(fn, "repeat-count-0", P_OPEN, F_NONE, "`repeat_count` 0")) ST(nrt_execute_repeat(M, IN, OUT, 0));
        if (want(fn, "repeat-count-negative", P_OPEN, F_NONE, "`repeat_count` -1"))
            ST(nrt_execute_repeat(M, IN, OUT, -1));
        if (want(fn, "order-freed-in-use-tensor-count-0", P_OPEN, F_NONE,
                 "the input set names a tensor freed while an execution writes it, and `repeat_count` 0 "
                 "(handles are checked first)")) {
            nrt_tensor_set_t *s = set_with(NULL, NULL);
            freed_in_use_in(s, "x");
            ST(nrt_execute_repeat(M, s, OUT, 0));
        }
        if (want(fn, "order-unloaded-model-count-0", P_OPEN, F_NONE,
                 "`model` unloaded and `repeat_count` 0 (handles are checked first)"))
            ST(nrt_execute_repeat(UNLOADED, IN, OUT, 0));
    }
}

#include "badinput_nrta.h"

/* The calls outside the intercepted set (issue 15): device memory by address,
 * barriers, profiling and inspect brackets, send/recv. */
static void escape_cases(void) {
    static const char FILE_A[] = "/tmp/nrt-badinput-profile.json";
    uint8_t *xva = NULL;
    void *va = NULL;
    size_t size = 0;
    int fd = -1;
#define XVA() (xva = (uint8_t *)nrt_tensor_get_va(X))
    CASE(nrt_memcpy_to_device, "null-dest", P_OPEN, F_NONE, "NULL `dest`") ST(nrt_memcpy_to_device(NULL, BUF, 64));
    CASE(nrt_memcpy_to_device, "null-src", P_OPEN, F_NONE, "NULL `src`, size 64") {
        XVA();
        ST(nrt_memcpy_to_device(xva, NULL, 64));
    }
    CASE(nrt_memcpy_to_device, "host-address", P_OPEN, F_NONE, "`dest` in host memory (no device tensor there)")
        ST(nrt_memcpy_to_device(BIG, BUF, 64));
    CASE(nrt_memcpy_to_device, "past-the-end", P_OPEN, F_NONE, "8 bytes at byte 60 of a 64-byte device tensor") {
        XVA();
        ST(nrt_memcpy_to_device(xva + 60, BUF, 8));
    }
    CASE(nrt_memcpy_to_device, "size-0", P_OPEN, F_ACCEPTED, "size 0 at a device tensor's address") {
        XVA();
        ST(nrt_memcpy_to_device(xva, BUF, 0));
    }
    BEFORE(nrt_memcpy_to_device, ST(nrt_memcpy_to_device(BIG, BUF, 64)));
    AFTER(nrt_memcpy_to_device, ST(nrt_memcpy_to_device(BIG, BUF, 64)));

    CASE(nrt_get_hbm_mmap_va, "null-va", P_OPEN, F_NONE, "NULL `va`") ST(nrt_get_hbm_mmap_va(0, 0, NULL, &size));
    CASE(nrt_get_hbm_mmap_va, "null-size", P_OPEN, F_NONE, "NULL `size`") ST(nrt_get_hbm_mmap_va(0, 0, &va, NULL));
    CASE(nrt_get_hbm_mmap_va, "device-out-of-range", P_OPEN, F_NONE, "`device_id` 1 of 1 device")
        ST(nrt_get_hbm_mmap_va(1, 0, &va, &size));
    CASE(nrt_get_hbm_mmap_va, "hbm-out-of-range", P_OPEN, F_NONE, "`hbm_idx` 2 of 2 banks")
        ST(nrt_get_hbm_mmap_va(0, 2, &va, &size));
    CASE(nrt_get_hbm_mmap_va, "hbm-negative", P_OPEN, F_NONE, "`hbm_idx` -1") ST(nrt_get_hbm_mmap_va(0, -1, &va, &size));
    BEFORE(nrt_get_hbm_mmap_va, ST(nrt_get_hbm_mmap_va(0, 0, &va, &size)));
    AFTER(nrt_get_hbm_mmap_va, ST(nrt_get_hbm_mmap_va(0, 0, &va, &size)));

    CASE(nrt_get_dmabuf_fd, "null-fd", P_OPEN, F_NONE, "NULL `fd`") {
        XVA();
        ST(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)xva, 64, NULL));
    }
    CASE(nrt_get_dmabuf_fd, "host-address", P_OPEN, F_NONE, "`va` in host memory")
        ST(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)BIG, 64, &fd));
    CASE(nrt_get_dmabuf_fd, "va-0", P_OPEN, F_NONE, "`va` 0") ST(nrt_get_dmabuf_fd(0, 64, &fd));
    CASE(nrt_get_dmabuf_fd, "past-the-end", P_OPEN, F_NONE, "8 bytes at byte 60 of a 64-byte device tensor") {
        XVA();
        ST(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)(xva + 60), 8, &fd));
    }
    CASE(nrt_get_dmabuf_fd, "size-0", P_OPEN, F_NONE, "size 0 at a device tensor's address") {
        XVA();
        ST(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)xva, 0, &fd));
    }
    BEFORE(nrt_get_dmabuf_fd, ST(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)BIG, 64, &fd)));
    AFTER(nrt_get_dmabuf_fd, ST(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)BIG, 64, &fd)));
#undef XVA

    CASE(nrt_barrier, "vnc-out-of-range", P_OPEN, F_NONE, "`vnc` 2 of 2 cores") ST(nrt_barrier(2, 0, 1));
    CASE(nrt_barrier, "vnc-negative", P_OPEN, F_NONE, "`vnc` -1") ST(nrt_barrier(-1, 0, 1));
    CASE(nrt_barrier, "count-0", P_OPEN, F_NONE, "`g_device_count` 0") ST(nrt_barrier(0, 0, 0));
    CASE(nrt_barrier, "id-not-below-count", P_OPEN, F_NONE, "`g_device_id` 1 of 1") ST(nrt_barrier(0, 1, 1));
    BEFORE(nrt_barrier, ST(nrt_barrier(0, 0, 1)));
    AFTER(nrt_barrier, ST(nrt_barrier(0, 0, 1)));

    CASE(nrt_profile_start, "null-model", P_OPEN, F_NONE, "NULL `model`") ST(nrt_profile_start(NULL, FILE_A));
    CASE(nrt_profile_start, "null-filename", P_OPEN, F_NONE, "NULL `filename`") ST(nrt_profile_start(M, NULL));
    CASE(nrt_profile_start, "never-issued-model", P_OPEN, F_NONE, "`model` never issued")
        ST(nrt_profile_start(NEVER_M, FILE_A));
    CASE(nrt_profile_start, "unloaded-model", P_OPEN, F_NONE, "`model` unloaded")
        ST(nrt_profile_start(UNLOADED, FILE_A));
    CASE(nrt_profile_start, "empty-filename", P_OPEN, F_NONE, "an empty `filename`") ST(nrt_profile_start(M, ""));
    BEFORE(nrt_profile_start, ST(nrt_profile_start(NEVER_M, FILE_A)));
    AFTER(nrt_profile_start, ST(nrt_profile_start(M, FILE_A)));

    CASE(nrt_profile_stop, "null-filename", P_OPEN, F_NONE, "NULL `filename`") ST(nrt_profile_stop(NULL));
    CASE(nrt_profile_stop, "never-started", P_OPEN, F_NONE, "a file no profile was started into")
        ST(nrt_profile_stop(FILE_A));
    BEFORE(nrt_profile_stop, ST(nrt_profile_stop(FILE_A)));
    AFTER(nrt_profile_stop, ST(nrt_profile_stop(FILE_A)));

    CASE(nrt_inspect_begin, "twice", P_OPEN, F_NONE, "a second session while one runs") {
        OK(nrt_inspect_begin());
        ST(nrt_inspect_begin());
    }
    BEFORE(nrt_inspect_begin, ST(nrt_inspect_begin()));
    AFTER(nrt_inspect_begin, ST(nrt_inspect_begin()));
    CASE(nrt_inspect_begin_with_options, "null-options", P_OPEN, F_ACCEPTED, "NULL `options` (the defaults)")
        ST(nrt_inspect_begin_with_options(NULL));
    CASE(nrt_inspect_begin_with_options, "never-issued-options", P_OPEN, F_NONE, "`options` never allocated")
        ST(nrt_inspect_begin_with_options((nrt_inspect_config_t *)(uintptr_t)0xdead3000u));
    BEFORE(nrt_inspect_begin_with_options, ST(nrt_inspect_begin_with_options(NULL)));
    AFTER(nrt_inspect_begin_with_options, ST(nrt_inspect_begin_with_options(NULL)));
    CASE(nrt_inspect_stop, "none-running", P_OPEN, F_ACCEPTED, "no session running") ST(nrt_inspect_stop());
    BEFORE(nrt_inspect_stop, ST(nrt_inspect_stop()));
    AFTER(nrt_inspect_stop, ST(nrt_inspect_stop()));

    {
        nrt_async_sendrecv_comm_t *const NEVER_C = (nrt_async_sendrecv_comm_t *)(uintptr_t)0xdead4000u;
        nrt_async_sendrecv_request_t *rq = NULL;
#define TRANSFER_CASES(fn)                                                                                         \
    CASE(fn, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`") ST(fn(NULL, 0, 64, NEVER_C, &rq));                    \
    CASE(fn, "null-comm", P_OPEN, F_NONE, "NULL communicator") ST(fn(X, 0, 64, NULL, &rq));                        \
    CASE(fn, "null-request", P_OPEN, F_NONE, "NULL `request`") ST(fn(X, 0, 64, NEVER_C, NULL));                    \
    CASE(fn, "never-issued-comm", P_OPEN, F_NONE, "communicator never issued") ST(fn(X, 0, 64, NEVER_C, &rq));     \
    CASE(fn, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed") ST(fn(FREED, 0, 64, NEVER_C, &rq));                 \
    CASE(fn, "freed-in-use-tensor", P_OPEN, F_NONE, "`tensor` freed while an execution writes it") {               \
        nrt_tensor_t *t_ = freed_in_use();                                                                         \
        ST(fn(t_, 0, 64, NEVER_C, &rq));                                                                           \
    }                                                                                                              \
    CASE(fn, "size-out-of-range", P_OPEN, F_NONE, "65 bytes of a 64-byte tensor") ST(fn(X, 0, 65, NEVER_C, &rq));  \
    BEFORE(fn, ST(fn(NEVER_T, 0, 64, NEVER_C, &rq)));                                                             \
    AFTER(fn, ST(fn(X, 0, 64, NEVER_C, &rq)));
        TRANSFER_CASES(nrt_async_sendrecv_send_tensor)
        TRANSFER_CASES(nrt_async_sendrecv_recv_tensor)
#undef TRANSFER_CASES
    }
    if (fd >= 0) close(fd);
}

static void cases(void) {
    escape_cases();
    /* ---- lifecycle ---- */
    CASE(nrt_init, "twice", P_OPEN, F_NONE, "a second nrt_init without nrt_close")
        ST(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "2.0", "1.0"));
    CASE(nrt_init, "null-versions", P_SELF, F_ACCEPTED, "NULL `fw_version` and `fal_version`") {
        begin("nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, NULL, NULL)");
        NRT_STATUS st = nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, NULL, NULL);
        end_status(st);
        g_open = st == NRT_SUCCESS;
    }
    CASE(nrt_init, "invalid-framework", P_SELF, F_ACCEPTED, "`framework` 99 (no such nrt_framework_type_t)") {
        begin("nrt_init((nrt_framework_type_t)99, \"2.0\", \"1.0\")");
        NRT_STATUS st = nrt_init((nrt_framework_type_t)99, "2.0", "1.0");
        end_status(st);
        g_open = st == NRT_SUCCESS;
    }
    CASE(nrt_init, "after-close", P_CLOSED, F_ACCEPTED, "after nrt_close (a new session)") {
        begin("nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, \"2.0\", \"1.0\")");
        NRT_STATUS st = nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "2.0", "1.0");
        end_status(st);
        g_open = st == NRT_SUCCESS;
    }
    BEFORE(nrt_close, VOID(nrt_close()));
    CASE(nrt_close, "after-close", P_CLOSED, F_NONE, "after nrt_close (a second nrt_close)") VOID(nrt_close());

    /* ---- models ---- */
    CASE(nrt_unload, "null-model", P_OPEN, F_NONE, "NULL `model`") ST(nrt_unload(NULL));
    CASE(nrt_unload, "never-issued-model", P_OPEN, F_NONE, "`model` never issued") ST(nrt_unload(NEVER_M));
    CASE(nrt_unload, "double-free", P_OPEN, F_NONE, "`model` already unloaded") ST(nrt_unload(UNLOADED));
    BEFORE(nrt_unload, ST(nrt_unload(NEVER_M)));
    AFTER(nrt_unload, ST(nrt_unload(M)));

    /* ---- tensor sets ---- */
    CASE(nrt_allocate_tensor_set, "null-result", P_OPEN, F_NONE, "NULL `result`") ST(nrt_allocate_tensor_set(NULL));
    BEFORE(nrt_allocate_tensor_set, {
        nrt_tensor_set_t *s = NULL;
        ST(nrt_allocate_tensor_set(&s));
    });
    AFTER(nrt_allocate_tensor_set, {
        nrt_tensor_set_t *s = NULL;
        ST(nrt_allocate_tensor_set(&s));
    });

    CASE(nrt_destroy_tensor_set, "null", P_OPEN, F_NONE, "NULL `tensor_set` (the pointer to the pointer)")
        VOID(nrt_destroy_tensor_set(NULL));
    CASE(nrt_destroy_tensor_set, "null-pointee", P_OPEN, F_NONE, "`*tensor_set` NULL") {
        nrt_tensor_set_t *s = NULL;
        VOID(nrt_destroy_tensor_set(&s));
    }
    CASE(nrt_destroy_tensor_set, "never-issued", P_OPEN, F_NONE, "`*tensor_set` never issued") {
        nrt_tensor_set_t *s = NEVER_S;
        VOID(nrt_destroy_tensor_set(&s));
    }
    CASE(nrt_destroy_tensor_set, "double-free", P_OPEN, F_NONE,
         "destroyed twice (through two copies of the pointer; the first call nulls only its own)") {
        nrt_tensor_set_t *a = set_with("x", X), *b = a;
        nrt_destroy_tensor_set(&a);
        VOID(nrt_destroy_tensor_set(&b));
    }
    CASE(nrt_destroy_tensor_set, "destroyed-after-use", P_OPEN, F_NONE,
         "a set used by an execution, then destroyed, destroyed again") {
        nrt_tensor_set_t *d = DESTROYED;
        VOID(nrt_destroy_tensor_set(&d));
    }
    BEFORE(nrt_destroy_tensor_set, {
        nrt_tensor_set_t *s = NEVER_S;
        VOID(nrt_destroy_tensor_set(&s));
    });
    AFTER(nrt_destroy_tensor_set, VOID(nrt_destroy_tensor_set(&IN)));

    CASE(nrt_add_tensor_to_tensor_set, "null-tensor_set", P_OPEN, F_NONE, "NULL `tensor_set`")
        ST(nrt_add_tensor_to_tensor_set(NULL, "x", X));
    CASE(nrt_add_tensor_to_tensor_set, "null-tensor_name", P_OPEN, F_NONE, "NULL `tensor_name`")
        ST(nrt_add_tensor_to_tensor_set(IN, NULL, X));
    CASE(nrt_add_tensor_to_tensor_set, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`")
        ST(nrt_add_tensor_to_tensor_set(IN, "x", NULL));
    CASE(nrt_add_tensor_to_tensor_set, "never-issued-tensor_set", P_OPEN, F_NONE, "`tensor_set` never issued")
        ST(nrt_add_tensor_to_tensor_set(NEVER_S, "x", X));
    CASE(nrt_add_tensor_to_tensor_set, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")
        ST(nrt_add_tensor_to_tensor_set(IN, "x", NEVER_T));
    CASE(nrt_add_tensor_to_tensor_set, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed")
        ST(nrt_add_tensor_to_tensor_set(IN, "x", FREED));
    CASE(nrt_add_tensor_to_tensor_set, "freed-in-use-tensor", P_OPEN, F_NONE,
         "`tensor` freed while an execution writes it") {
        nrt_tensor_t *t = freed_in_use();
        ST(nrt_add_tensor_to_tensor_set(IN, "x", t));
    }
    CASE(nrt_add_tensor_to_tensor_set, "destroyed-set", P_OPEN, F_NONE, "`tensor_set` destroyed")
        ST(nrt_add_tensor_to_tensor_set(DESTROYED, "x", X));
    CASE(nrt_add_tensor_to_tensor_set, "other-core", P_OPEN, F_ACCEPTED,
         "a tensor of core 1 (sets are not tied to a core; the execution checks)")
        ST(nrt_add_tensor_to_tensor_set(IN, "x", C1));
    BEFORE(nrt_add_tensor_to_tensor_set, ST(nrt_add_tensor_to_tensor_set(NEVER_S, "x", NEVER_T)));
    AFTER(nrt_add_tensor_to_tensor_set, ST(nrt_add_tensor_to_tensor_set(IN, "x", X)));

    /* ---- execution ---- */
    exec_cases(0);
    exec_cases(1);

    /* ---- tensors ---- */
    CASE(nrt_tensor_allocate, "null-name", P_OPEN, F_NONE, "NULL `name`") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, NULL, &t));
    }
    CASE(nrt_tensor_allocate, "null-tensor", P_OPEN, F_NONE, "NULL `tensor` (the out-pointer)")
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "t", NULL));
    CASE(nrt_tensor_allocate, "vnc-out-of-range", P_OPEN, F_NONE, "a device tensor on core 2 of 2") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 2, 64, "t", &t));
    }
    CASE(nrt_tensor_allocate, "vnc-negative-device", P_OPEN, F_NONE, "a device tensor with `vnc` -1") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, -1, 64, "t", &t));
    }
    CASE(nrt_tensor_allocate, "vnc-invalid-host", P_OPEN, F_NONE, "a host tensor with `vnc` -2") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_HOST, -2, 64, "t", &t));
    }
    CASE(nrt_tensor_allocate, "invalid-placement", P_OPEN, F_NONE, "`tensor_placement` 7") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate((nrt_tensor_placement_t)7, 0, 64, "t", &t));
    }
    CASE(nrt_tensor_allocate, "size-out-of-range", P_OPEN, F_NONE, "a device tensor of 2^50 bytes (over the memory)") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, (size_t)1 << 50, "t", &t));
    }
    CASE(nrt_tensor_allocate, "size-0", P_OPEN, F_ACCEPTED, "a device tensor of 0 bytes") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 0, "t", &t));
    }
    BEFORE(nrt_tensor_allocate, {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "t", &t));
    });
    AFTER(nrt_tensor_allocate, {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "t", &t));
    });

    CASE(nrt_tensor_allocate_empty, "null-name", P_OPEN, F_NONE, "NULL `name`") {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate_empty(NULL, &t));
    }
    CASE(nrt_tensor_allocate_empty, "null-tensor", P_OPEN, F_NONE, "NULL `tensor` (the out-pointer)")
        ST(nrt_tensor_allocate_empty("e", NULL));
    BEFORE(nrt_tensor_allocate_empty, {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate_empty("e", &t));
    });
    AFTER(nrt_tensor_allocate_empty, {
        nrt_tensor_t *t = NULL;
        ST(nrt_tensor_allocate_empty("e", &t));
    });

    {
        nrt_tensor_t *s = NULL;
        CASE(nrt_tensor_allocate_slice, "null-tensor_source", P_OPEN, F_NONE, "NULL `tensor_source`")
            ST(nrt_tensor_allocate_slice(NULL, 0, 8, "s", &s));
        CASE(nrt_tensor_allocate_slice, "null-name", P_OPEN, F_NONE, "NULL `name`")
            ST(nrt_tensor_allocate_slice(X, 0, 8, NULL, &s));
        CASE(nrt_tensor_allocate_slice, "null-tensor_slice", P_OPEN, F_NONE, "NULL `tensor_slice` (the out-pointer)")
            ST(nrt_tensor_allocate_slice(X, 0, 8, "s", NULL));
        CASE(nrt_tensor_allocate_slice, "never-issued-tensor_source", P_OPEN, F_NONE, "`tensor_source` never issued")
            ST(nrt_tensor_allocate_slice(NEVER_T, 0, 8, "s", &s));
        CASE(nrt_tensor_allocate_slice, "freed-tensor_source", P_OPEN, F_NONE, "`tensor_source` freed")
            ST(nrt_tensor_allocate_slice(FREED, 0, 8, "s", &s));
        CASE(nrt_tensor_allocate_slice, "freed-in-use-tensor_source", P_OPEN, F_NONE,
             "`tensor_source` freed while an execution writes it") {
            nrt_tensor_t *t = freed_in_use();
            ST(nrt_tensor_allocate_slice(t, 0, 8, "s", &s));
        }
        CASE(nrt_tensor_allocate_slice, "offset-out-of-range", P_OPEN, F_NONE, "offset 64 of a 64-byte tensor, size 1")
            ST(nrt_tensor_allocate_slice(X, 64, 1, "s", &s));
        CASE(nrt_tensor_allocate_slice, "size-out-of-range", P_OPEN, F_NONE, "size 65 of a 64-byte tensor")
            ST(nrt_tensor_allocate_slice(X, 0, 65, "s", &s));
        CASE(nrt_tensor_allocate_slice, "offset-overflow", P_OPEN, F_NONE,
             "offset SIZE_MAX, size 2 (offset + size wraps)")
            ST(nrt_tensor_allocate_slice(X, SIZE_MAX, 2, "s", &s));
        CASE(nrt_tensor_allocate_slice, "size-0", P_OPEN, F_ACCEPTED, "size 0 at offset 0")
            ST(nrt_tensor_allocate_slice(X, 0, 0, "s", &s));
        CASE(nrt_tensor_allocate_slice, "no-storage", P_OPEN, F_NONE, "a source without storage (allocate_empty)")
            ST(nrt_tensor_allocate_slice(EMPTY, 0, 0, "s", &s));
        BEFORE(nrt_tensor_allocate_slice, ST(nrt_tensor_allocate_slice(NEVER_T, 0, 8, "s", &s)));
        AFTER(nrt_tensor_allocate_slice, ST(nrt_tensor_allocate_slice(X, 0, 8, "s", &s)));
    }

    CASE(nrt_tensor_attach_buffer, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`")
        ST(nrt_tensor_attach_buffer(NULL, BIG, 64));
    CASE(nrt_tensor_attach_buffer, "null-buffer", P_OPEN, F_NONE, "NULL `buffer`")
        ST(nrt_tensor_attach_buffer(EMPTY, NULL, 64));
    CASE(nrt_tensor_attach_buffer, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")
        ST(nrt_tensor_attach_buffer(NEVER_T, BIG, 64));
    CASE(nrt_tensor_attach_buffer, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed")
        ST(nrt_tensor_attach_buffer(FREED, BIG, 64));
    CASE(nrt_tensor_attach_buffer, "has-storage", P_OPEN, F_NONE, "a device tensor that has its own storage")
        ST(nrt_tensor_attach_buffer(X, BIG, 64));
    CASE(nrt_tensor_attach_buffer, "size-0", P_OPEN, F_ACCEPTED, "size 0 on an empty tensor")
        ST(nrt_tensor_attach_buffer(EMPTY, BIG, 0));
    BEFORE(nrt_tensor_attach_buffer, ST(nrt_tensor_attach_buffer(NEVER_T, BIG, 64)));
    AFTER(nrt_tensor_attach_buffer, ST(nrt_tensor_attach_buffer(EMPTY, BIG, 64)));

    CASE(nrt_tensor_free, "null", P_OPEN, F_ACCEPTED, "NULL `tensor` (the pointer to the pointer)")
        VOID(nrt_tensor_free(NULL));
    CASE(nrt_tensor_free, "null-pointee", P_OPEN, F_ACCEPTED, "`*tensor` NULL") {
        nrt_tensor_t *t = NULL;
        VOID(nrt_tensor_free(&t));
    }
    CASE(nrt_tensor_free, "never-issued", P_OPEN, F_NONE, "`*tensor` never issued") {
        nrt_tensor_t *t = NEVER_T;
        VOID(nrt_tensor_free(&t));
    }
    CASE(nrt_tensor_free, "double-free", P_OPEN, F_NONE,
         "freed twice (through two copies of the pointer; the first call nulls only its own)") {
        nrt_tensor_t *a = dev(0, 64), *b = a;
        nrt_tensor_free(&a);
        VOID(nrt_tensor_free(&b));
    }
    CASE(nrt_tensor_free, "freed-after-use", P_OPEN, F_NONE, "a tensor written by an execution, freed, freed again") {
        nrt_tensor_t *t = FREED;
        VOID(nrt_tensor_free(&t));
    }
    CASE(nrt_tensor_free, "freed-in-use", P_OPEN, F_NONE, "freed while an execution writes it, then freed again") {
        nrt_tensor_t *t = freed_in_use();
        VOID(nrt_tensor_free(&t));
    }
    BEFORE(nrt_tensor_free, {
        nrt_tensor_t *t = NEVER_T;
        VOID(nrt_tensor_free(&t));
    });
    AFTER(nrt_tensor_free, VOID(nrt_tensor_free(&X)));

    CASE(nrt_tensor_get_va, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`") PTR(nrt_tensor_get_va(NULL));
    CASE(nrt_tensor_get_va, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")
        PTR(nrt_tensor_get_va(NEVER_T));
    CASE(nrt_tensor_get_va, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed") PTR(nrt_tensor_get_va(FREED));
    CASE(nrt_tensor_get_va, "freed-in-use-tensor", P_OPEN, F_NONE, "`tensor` freed while an execution writes it") {
        nrt_tensor_t *t = freed_in_use();
        PTR(nrt_tensor_get_va(t));
    }

    CASE(nrt_tensor_get_size, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`") SIZE(nrt_tensor_get_size(NULL));
    CASE(nrt_tensor_get_size, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")
        SIZE(nrt_tensor_get_size(NEVER_T));
    CASE(nrt_tensor_get_size, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed") SIZE(nrt_tensor_get_size(FREED));
    CASE(nrt_tensor_get_size, "freed-in-use-tensor", P_OPEN, F_NONE, "`tensor` freed while an execution writes it") {
        nrt_tensor_t *t = freed_in_use();
        SIZE(nrt_tensor_get_size(t));
    }
    BEFORE(nrt_tensor_get_size, SIZE(nrt_tensor_get_size(NEVER_T)));
    AFTER(nrt_tensor_get_size, SIZE(nrt_tensor_get_size(X)));

    {
        nrt_tensor_device_allocation_info_t info;
        CASE(nrt_tensor_get_device_allocation_info, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`")
            ST(nrt_tensor_get_device_allocation_info(NULL, &info));
        CASE(nrt_tensor_get_device_allocation_info, "null-alloc_info", P_OPEN, F_NONE, "NULL `alloc_info`")
            ST(nrt_tensor_get_device_allocation_info(X, NULL));
        CASE(nrt_tensor_get_device_allocation_info, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")
            ST(nrt_tensor_get_device_allocation_info(NEVER_T, &info));
        CASE(nrt_tensor_get_device_allocation_info, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed")
            ST(nrt_tensor_get_device_allocation_info(FREED, &info));
        CASE(nrt_tensor_get_device_allocation_info, "freed-in-use-tensor", P_OPEN, F_NONE,
             "`tensor` freed while an execution writes it") {
            nrt_tensor_t *t = freed_in_use();
            ST(nrt_tensor_get_device_allocation_info(t, &info));
        }
        CASE(nrt_tensor_get_device_allocation_info, "host-tensor", P_OPEN, F_NONE, "a host tensor")
            ST(nrt_tensor_get_device_allocation_info(H, &info));
        BEFORE(nrt_tensor_get_device_allocation_info, ST(nrt_tensor_get_device_allocation_info(NEVER_T, &info)));
        AFTER(nrt_tensor_get_device_allocation_info, ST(nrt_tensor_get_device_allocation_info(X, &info)));
    }
    BEFORE(nrt_tensor_get_va, PTR(nrt_tensor_get_va(NEVER_T)));
    AFTER(nrt_tensor_get_va, PTR(nrt_tensor_get_va(H)));

    io_cases(0);
    io_cases(1);
    batch_cases(0);
    batch_cases(1);

    CASE(nrt_tensor_memset, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`") ST(nrt_tensor_memset(NULL, 0, 1, 64));
    CASE(nrt_tensor_memset, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")
        ST(nrt_tensor_memset(NEVER_T, 0, 1, 64));
    CASE(nrt_tensor_memset, "freed-tensor", P_OPEN, F_NONE, "`tensor` freed") ST(nrt_tensor_memset(FREED, 0, 1, 64));
    CASE(nrt_tensor_memset, "offset-out-of-range", P_OPEN, F_NONE, "offset 64 of a 64-byte tensor, size 1")
        ST(nrt_tensor_memset(X, 64, 1, 1));
    CASE(nrt_tensor_memset, "size-out-of-range", P_OPEN, F_NONE, "size 65 on a 64-byte tensor")
        ST(nrt_tensor_memset(X, 0, 1, 65));
    CASE(nrt_tensor_memset, "offset-overflow", P_OPEN, F_NONE, "offset UINT64_MAX, size 2 (offset + size wraps)")
        ST(nrt_tensor_memset(X, UINT64_MAX, 1, 2));
    CASE(nrt_tensor_memset, "size-0", P_OPEN, F_ACCEPTED, "size 0 at offset 0") ST(nrt_tensor_memset(X, 0, 1, 0));
    CASE(nrt_tensor_memset, "size-0-offset-out-of-range", P_OPEN, F_NONE, "size 0 at offset 65 of a 64-byte tensor")
        ST(nrt_tensor_memset(X, 65, 1, 0));
    CASE(nrt_tensor_memset, "no-storage", P_OPEN, F_NONE, "a tensor without storage (allocate_empty), size 1")
        ST(nrt_tensor_memset(EMPTY, 0, 1, 1));
    BEFORE(nrt_tensor_memset, ST(nrt_tensor_memset(NEVER_T, 0, 1, 64)));
    AFTER(nrt_tensor_memset, ST(nrt_tensor_memset(X, 0, 1, 64)));

    CASE(nrt_tensor_copy, "null-src", P_OPEN, F_NONE, "NULL `src`") ST(nrt_tensor_copy(NULL, 0, Y, 0, 64));
    CASE(nrt_tensor_copy, "null-dst", P_OPEN, F_NONE, "NULL `dst`") ST(nrt_tensor_copy(X, 0, NULL, 0, 64));
    CASE(nrt_tensor_copy, "never-issued-src", P_OPEN, F_NONE, "`src` never issued")
        ST(nrt_tensor_copy(NEVER_T, 0, Y, 0, 64));
    CASE(nrt_tensor_copy, "never-issued-dst", P_OPEN, F_NONE, "`dst` never issued")
        ST(nrt_tensor_copy(X, 0, NEVER_T, 0, 64));
    CASE(nrt_tensor_copy, "freed-src", P_OPEN, F_NONE, "`src` freed") ST(nrt_tensor_copy(FREED, 0, Y, 0, 64));
    CASE(nrt_tensor_copy, "freed-dst", P_OPEN, F_NONE, "`dst` freed") ST(nrt_tensor_copy(X, 0, FREED, 0, 64));
    CASE(nrt_tensor_copy, "src-offset-out-of-range", P_OPEN, F_NONE, "`src_offset` 64 of a 64-byte tensor, size 1")
        ST(nrt_tensor_copy(X, 64, Y, 0, 1));
    CASE(nrt_tensor_copy, "dst-offset-out-of-range", P_OPEN, F_NONE, "`dst_offset` 64 of a 64-byte tensor, size 1")
        ST(nrt_tensor_copy(X, 0, Y, 64, 1));
    CASE(nrt_tensor_copy, "size-out-of-range", P_OPEN, F_NONE, "size 65 between 64-byte tensors")
        ST(nrt_tensor_copy(X, 0, Y, 0, 65));
    CASE(nrt_tensor_copy, "offset-overflow", P_OPEN, F_NONE, "`src_offset` SIZE_MAX, size 2 (offset + size wraps)")
        ST(nrt_tensor_copy(X, SIZE_MAX, Y, 0, 2));
    CASE(nrt_tensor_copy, "size-0", P_OPEN, F_ACCEPTED, "size 0 at offsets 0") ST(nrt_tensor_copy(X, 0, Y, 0, 0));
    CASE(nrt_tensor_copy, "other-core", P_OPEN, F_NONE, "`dst` a device tensor of core 1, `src` of core 0")
        ST(nrt_tensor_copy(X, 0, C1, 0, 64));
    CASE(nrt_tensor_copy, "no-storage-src", P_OPEN, F_NONE, "`src` without storage (allocate_empty), size 0")
        ST(nrt_tensor_copy(EMPTY, 0, Y, 0, 0));
    CASE(nrt_tensor_copy, "order-never-issued-src-null-dst", P_OPEN, F_NONE,
         "`src` never issued and NULL `dst` (NULL is checked first)")
        ST(nrt_tensor_copy(NEVER_T, 0, NULL, 0, 64));
    CASE(nrt_tensor_copy, "order-out-of-range-other-core", P_OPEN, F_NONE,
         "size 65 and `dst` of another core (the range is checked first)")
        ST(nrt_tensor_copy(X, 0, C1, 0, 65));
    BEFORE(nrt_tensor_copy, ST(nrt_tensor_copy(NEVER_T, 0, NEVER_T, 0, 64)));
    AFTER(nrt_tensor_copy, ST(nrt_tensor_copy(X, 0, Y, 0, 64)));

    CASE(nrt_tensor_check_output_completion, "null-output_tensor", P_OPEN, F_NONE, "NULL `output_tensor`")
        ST(nrt_tensor_check_output_completion(NULL, 0, 0));
    CASE(nrt_tensor_check_output_completion, "never-issued-output_tensor", P_OPEN, F_NONE,
         "`output_tensor` never issued")
        ST(nrt_tensor_check_output_completion(NEVER_T, 0, 0));
    CASE(nrt_tensor_check_output_completion, "freed-output_tensor", P_OPEN, F_NONE, "`output_tensor` freed")
        ST(nrt_tensor_check_output_completion(FREED, 0, 0));
    CASE(nrt_tensor_check_output_completion, "freed-in-use-output_tensor", P_OPEN, F_NONE,
         "`output_tensor` freed while an execution writes it") {
        nrt_tensor_t *t = freed_in_use();
        ST(nrt_tensor_check_output_completion(t, 0, 0));
    }
    BEFORE(nrt_tensor_check_output_completion, ST(nrt_tensor_check_output_completion(NEVER_T, 0, 0)));
    AFTER(nrt_tensor_check_output_completion, ST(nrt_tensor_check_output_completion(Y, 0, 0)));

    CASE(nrt_tensor_reset_output_completion, "null-output_tensor", P_OPEN, F_NONE, "NULL `output_tensor`")
        ST(nrt_tensor_reset_output_completion(NULL));
    CASE(nrt_tensor_reset_output_completion, "never-issued-output_tensor", P_OPEN, F_NONE,
         "`output_tensor` never issued")
        ST(nrt_tensor_reset_output_completion(NEVER_T));
    CASE(nrt_tensor_reset_output_completion, "freed-output_tensor", P_OPEN, F_NONE, "`output_tensor` freed")
        ST(nrt_tensor_reset_output_completion(FREED));
    BEFORE(nrt_tensor_reset_output_completion, ST(nrt_tensor_reset_output_completion(NEVER_T)));
    AFTER(nrt_tensor_reset_output_completion, ST(nrt_tensor_reset_output_completion(Y)));

    /* ---- the implicit-async leftovers ---- */
    CASE(nrt_register_async_exec_callback, "null-callback", P_OPEN, F_NONE, "NULL `callback`")
        ST(nrt_register_async_exec_callback(NULL, NULL));
    CASE(nrt_register_async_exec_callback, "null-params", P_OPEN, F_ACCEPTED, "a callback with NULL `params`")
        ST(nrt_register_async_exec_callback(on_status, NULL));
    BEFORE(nrt_register_async_exec_callback, ST(nrt_register_async_exec_callback(on_status, NULL)));
    AFTER(nrt_register_async_exec_callback, ST(nrt_register_async_exec_callback(on_status, NULL)));

    CASE(nrt_async_drain_queued_execs, "vnc-out-of-range", P_OPEN, F_NONE, "`vnc` 2 of 2 cores")
        ST(nrt_async_drain_queued_execs(2));
    CASE(nrt_async_drain_queued_execs, "vnc-negative", P_OPEN, F_NONE, "`vnc` -1") ST(nrt_async_drain_queued_execs(-1));
    BEFORE(nrt_async_drain_queued_execs, ST(nrt_async_drain_queued_execs(0)));
    AFTER(nrt_async_drain_queued_execs, ST(nrt_async_drain_queued_execs(0)));

    /* ---- the shim's own API ---- */
    {
        size_t needed = 0;
        CASE(nrt_async_shim_stats_json, "null-buf", P_OPEN, F_SHIM_ONLY, "NULL `buf`, `len` 0, `needed` NULL")
            SHIM_ST(nrt_async_shim_stats_json, nrt_async_shim_stats_json(NULL, 0, NULL));
        CASE(nrt_async_shim_stats_json, "size-0", P_OPEN, F_SHIM_ONLY, "a buffer with `len` 0")
            SHIM_ST(nrt_async_shim_stats_json, nrt_async_shim_stats_json((char *)BUF, 0, &needed));
    }

    /* ---- the explicit async calls (half-migrated programs) ---- */
    nrta_cases();
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        g_listing = 1;
        g_fn = g_kind = "";
        cases();
        return 0;
    }
    if (argc != 4 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: badinput list | badinput run <function> <kind>\n");
        return 2;
    }
    g_fn = argv[2];
    g_kind = argv[3];
    cases();
    if (!g_found) {
        fprintf(stderr, "badinput: no case %s %s\n", g_fn, g_kind);
        return 2;
    }
    if (g_open) close_rt();
    return 0;
}
