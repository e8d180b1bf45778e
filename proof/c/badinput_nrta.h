/*
 * badinput_nrta.h - the bad-input rows of the nrta_* calls the shim exports for
 * half-migrated programs (src/exports/nrta.rs). Included by badinput.c, whose
 * fixture, markers and CASE machinery these rows use.
 *
 * One binary serves both generations, whose argument lists differ: each call goes
 * through a pointer typed as the generation of the runtime in the process (only v2
 * exports nrta_error_tracker_create; the shim does not export it). dlsym with
 * RTLD_DEFAULT finds what the program's own call would bind to: the shim's export
 * when it is preloaded, the runtime's otherwise. v2 calls pass no error tracker
 * (the runtime accepts NULL), v3 calls a status pointer.
 */
#ifndef BADINPUT_NRTA_H
#define BADINPUT_NRTA_H

#include <dlfcn.h>
#include <stdbool.h>

typedef uint64_t bi_seq_t;

typedef NRT_STATUS (*read3_fn)(void *, nrt_tensor_t *, uint64_t, uint64_t, uint32_t, uint32_t, NRT_STATUS *,
                               bi_seq_t *);
typedef NRT_STATUS (*read2_fn)(void *, nrt_tensor_t *, uint64_t, uint64_t, int, void *, bi_seq_t *);
typedef NRT_STATUS (*write3_fn)(nrt_tensor_t *, void *, uint64_t, uint64_t, uint32_t, uint32_t, NRT_STATUS *,
                                bi_seq_t *);
typedef NRT_STATUS (*write2_fn)(nrt_tensor_t *, const void *, uint64_t, uint64_t, int, void *, bi_seq_t *);
typedef NRT_STATUS (*copy3_fn)(nrt_tensor_t *, uint64_t, nrt_tensor_t *, uint64_t, uint64_t, uint32_t, uint32_t,
                               NRT_STATUS *, bi_seq_t *);
typedef NRT_STATUS (*copy2_fn)(nrt_tensor_t *, uint64_t, nrt_tensor_t *, uint64_t, uint64_t, int, void *,
                               bi_seq_t *);
typedef NRT_STATUS (*sched3_fn)(nrt_model_t *, nrt_tensor_set_t *, nrt_tensor_set_t *, uint32_t, NRT_STATUS *,
                                bi_seq_t *);
typedef NRT_STATUS (*sched2_fn)(nrt_model_t *, const nrt_tensor_set_t *, nrt_tensor_set_t *, int, void *,
                                bi_seq_t *);
typedef NRT_STATUS (*done_fn)(bi_seq_t, bool *);

static void *nrta_sym(const char *name) {
    void *p = dlsym(RTLD_DEFAULT, name);
    if (!p) die(name, -1);
    return p;
}

static int nrta_v2(void) {
    return dlsym(RTLD_DEFAULT, "nrta_error_tracker_create") != NULL;
}

static NRT_STATUS g_ret; /* v3 status pointer of the bad calls (never accepted) */
static bi_seq_t g_seq;

/* The calls, with the generation's arguments; `seq` and `ret` may be NULL (rows). */
static NRT_STATUS a_read(void *buf, nrt_tensor_t *t, uint64_t off, uint64_t size, bi_seq_t *seq) {
    void *f = nrta_sym("nrta_tensor_read");
    if (nrta_v2()) return ((read2_fn)f)(buf, t, off, size, 0, NULL, seq);
    return ((read3_fn)f)(buf, t, off, size, 0, 0, &g_ret, seq);
}

static NRT_STATUS a_write(nrt_tensor_t *t, void *buf, uint64_t off, uint64_t size, bi_seq_t *seq) {
    void *f = nrta_sym("nrta_tensor_write");
    if (nrta_v2()) return ((write2_fn)f)(t, buf, off, size, 0, NULL, seq);
    return ((write3_fn)f)(t, buf, off, size, 0, 0, &g_ret, seq);
}

static NRT_STATUS a_copy(nrt_tensor_t *s, uint64_t soff, nrt_tensor_t *d, uint64_t doff, uint64_t size,
                         bi_seq_t *seq) {
    void *f = nrta_sym("nrta_tensor_copy");
    if (nrta_v2()) return ((copy2_fn)f)(s, soff, d, doff, size, 0, NULL, seq);
    return ((copy3_fn)f)(s, soff, d, doff, size, 0, 0, &g_ret, seq);
}

static NRT_STATUS a_sched(nrt_model_t *m, nrt_tensor_set_t *in, nrt_tensor_set_t *out, bi_seq_t *seq) {
    void *f = nrta_sym("nrta_execute_schedule");
    if (nrta_v2()) return ((sched2_fn)f)(m, in, out, 0, NULL, seq);
    return ((sched3_fn)f)(m, in, out, 0, &g_ret, seq);
}

static NRT_STATUS a_done(bi_seq_t seq, bool *done) {
    return ((done_fn)nrta_sym("nrta_is_completed"))(seq, done);
}

static void nrta_io_cases(int write) {
#define AIO(t, buf, off, size, seq)                                                                                \
    do {                                                                                                           \
        if (write)                                                                                                 \
            ST_AS("nrta_tensor_write(" #t ", " #buf ", " #off ", " #size ", ..., " #seq ")",                       \
                  a_write(t, buf, off, size, seq));                                                                \
        else                                                                                                       \
            ST_AS("nrta_tensor_read(" #buf ", " #t ", " #off ", " #size ", ..., " #seq ")",                        \
                  a_read(buf, t, off, size, seq));                                                                 \
    } while (0)
    const char *fn = write ? "nrta_tensor_write" : "nrta_tensor_read";
    if (want(fn, "null-tensor", P_OPEN, F_NONE, "NULL `tensor`")) AIO(NULL, BUF, 0, 64, &g_seq);
    if (want(fn, "null-buf", P_OPEN, F_NONE, "NULL `buf`, size 64")) AIO(X, NULL, 0, 64, &g_seq);
    if (want(fn, "null-seq", P_OPEN, F_NONE, "NULL `req_sequence`")) AIO(X, BUF, 0, 64, NULL);
    if (want(fn, "never-issued-tensor", P_OPEN, F_NONE, "`tensor` never issued")) AIO(NEVER_T, BUF, 0, 64, &g_seq);
    if (want(fn, "freed-in-use-tensor", P_OPEN, F_NONE, "`tensor` freed while an execution writes it")) {
        nrt_tensor_t *t = freed_in_use();
        AIO(t, BUF, 0, 64, &g_seq);
    }
    if (want(fn, "size-out-of-range", P_OPEN, F_NONE, "size 65 on a 64-byte tensor")) AIO(X, BUF, 0, 65, &g_seq);
    if (want(fn, "host-tensor", P_OPEN, F_NONE, "a host tensor (the async paths take device tensors only)"))
        AIO(H, BUF, 0, 64, &g_seq);
    if (want(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init")) AIO(NEVER_T, BUF, 0, 64, &g_seq);
    if (want(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)"))
        AIO(X, BUF, 0, 64, &g_seq);
#undef AIO
}

static void nrta_cases(void) {
    nrta_io_cases(0);
    nrta_io_cases(1);

    const char *fn = "nrta_tensor_copy";
#define ACP(s, soff, d, doff, size, seq)                                                                           \
    ST_AS("nrta_tensor_copy(" #s ", " #soff ", " #d ", " #doff ", " #size ", ..., " #seq ")",                      \
          a_copy(s, soff, d, doff, size, seq))
    if (want(fn, "null-src", P_OPEN, F_NONE, "NULL `src`")) ACP(NULL, 0, Y, 0, 64, &g_seq);
    if (want(fn, "null-dst", P_OPEN, F_NONE, "NULL `dst`")) ACP(X, 0, NULL, 0, 64, &g_seq);
    if (want(fn, "null-seq", P_OPEN, F_NONE, "NULL `req_sequence`")) ACP(X, 0, Y, 0, 64, NULL);
    if (want(fn, "never-issued-src", P_OPEN, F_NONE, "`src` never issued")) ACP(NEVER_T, 0, Y, 0, 64, &g_seq);
    if (want(fn, "freed-in-use-dst", P_OPEN, F_NONE, "`dst` freed while an execution writes it")) {
        nrt_tensor_t *t = freed_in_use();
        ACP(X, 0, t, 0, 64, &g_seq);
    }
    if (want(fn, "size-out-of-range", P_OPEN, F_NONE, "size 65 of 64-byte tensors")) ACP(X, 0, Y, 0, 65, &g_seq);
    if (want(fn, "other-core-dst", P_OPEN, F_NONE, "`dst` on core 1, `src` on core 0")) ACP(X, 0, C1, 0, 64, &g_seq);
    if (want(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init")) ACP(NEVER_T, 0, NEVER_T, 0, 64, &g_seq);
    if (want(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)"))
        ACP(X, 0, Y, 0, 64, &g_seq);
#undef ACP

    fn = "nrta_execute_schedule";
#define AEX(m, i, o, seq) ST_AS("nrta_execute_schedule(" #m ", " #i ", " #o ", 0, ..., " #seq ")", a_sched(m, i, o, seq))
    if (want(fn, "null-model", P_OPEN, F_NONE, "NULL `model`")) AEX(NULL, IN, OUT, &g_seq);
    if (want(fn, "null-input", P_OPEN, F_NONE, "NULL `input`")) AEX(M, NULL, OUT, &g_seq);
    if (want(fn, "null-seq", P_OPEN, F_NONE, "NULL `req_sequence`")) AEX(M, IN, OUT, NULL);
    if (want(fn, "never-issued-model", P_OPEN, F_NONE, "`model` never issued")) AEX(NEVER_M, IN, OUT, &g_seq);
    if (want(fn, "never-issued-set", P_OPEN, F_NONE, "`output` never issued")) AEX(M, IN, NEVER_S, &g_seq);
    if (want(fn, "unloaded-model", P_OPEN, F_NONE, "`model` unloaded")) AEX(UNLOADED, IN, OUT, &g_seq);
    if (want(fn, "freed-in-use-tensor", P_OPEN, F_NONE, "an output freed while an execution writes it")) {
        nrt_tensor_set_t *o = set_with(NULL, NULL);
        freed_in_use_in(o, "y");
        AEX(M, IN, o, &g_seq);
    }
    if (want(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init")) AEX(NEVER_M, NEVER_S, NEVER_S, &g_seq);
    if (want(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close (handles issued before it)"))
        AEX(M, IN, OUT, &g_seq);
#undef AEX

    fn = "nrta_is_completed";
    bool done = false;
    if (want(fn, "null-out", P_OPEN, F_NONE, "NULL `is_completed`")) {
        bi_seq_t s = 0;
        OK(a_write(X, BUF, 0, 64, &s));
        ST_AS("nrta_is_completed(seq, NULL)", a_done(s, NULL));
    }
    if (want(fn, "never-issued-seq", P_OPEN, F_NONE, "a sequence number never issued"))
        ST_AS("nrta_is_completed(0x7fff000000000001, &done)", a_done(0x7fff000000000001ull, &done));
    if (want(fn, "before-init", P_BEFORE, F_NONE, "before nrt_init"))
        ST_AS("nrta_is_completed(1, &done)", a_done(1, &done));
    if (want(fn, "after-close", P_CLOSED, F_NONE, "after nrt_close")) ST_AS("nrta_is_completed(1, &done)", a_done(1, &done));
}

#endif /* BADINPUT_NRTA_H */
