/*
 * p10_escapes.c - legacy program 10: device memory reached without the tensor calls,
 * and the calls that order work behind the synchronous API (issue 15).
 *
 * A model on core 0 reads a (device) and c (device, written with nrt_tensor_write)
 * and writes o and r (device). Straight after each nrt_execute returns, the program
 * writes the next iteration's a the way its mode says (the synchronous runtime made
 * that correct, so it must stay correct with the shim), then checks o and r:
 *
 *   va        perftest: memcpy into a's nrt_tensor_get_va address; r read through its address
 *   memcpy    nrt_memcpy_to_device into a's address, in two halves
 *   hbm       a written through the mapped bank (nrt_get_hbm_mmap_va) at the offset its
 *             allocation info gives, half by memcpy, half by nrt_memcpy_to_device; r read there
 *   dmabuf    a written through a dma-buf fd of its memory (pwrite)
 *   allocinfo a written with nrt_tensor_write; o's allocation info asked straight after nrt_execute
 *   barrier   a written with nrt_tensor_write; nrt_barrier(0, 0, 1) straight after nrt_execute
 *   profile   a written with nrt_tensor_write; the executions profiled (nrt_profile_start/stop);
 *             the profile file, timestamps removed, is digested (digest_profile)
 *   sendrecv  a second model on core 1 consumes o, sent from core 0 to core 1 with
 *             nrt_async_sendrecv_send_tensor / _recv_tensor straight after nrt_execute
 *
 * usage: p10_escapes MODE [iterations=6]
 */
#define _GNU_SOURCE
#include "common.h"

#include <nrt/nrt_async_sendrecv.h>
#include <nrt/nrt_profile.h>
#include <unistd.h>

#define MUL 5
#define ADD 7
#define MUL2 3
#define ADD2 1
#define AN 256
#define CN 64
#define ON 256
#define RN 128

/* The simulator's physical address of byte 0 of core 0's bank (sim/README.md). */
#define BANK0_PA (1ull << 40)

static const char *mode;
static nrt_tensor_t *a;
static uint8_t *a_va, *r_va, *bank;
static uint64_t a_bank_off, r_bank_off;
static int dmabuf = -1;

static int is(const char *m) {
    return strcmp(mode, m) == 0;
}

static uint64_t bank_offset(nrt_tensor_t *t, size_t size) {
    nrt_tensor_device_allocation_info_t info;
    CK(nrt_tensor_get_device_allocation_info(t, &info));
    if (info.size < size || info.hbm_index != 0 || info.physical_address < BANK0_PA)
        DIE("allocation info: size %llu hbm %d pa %#llx", (unsigned long long)info.size, (int)info.hbm_index,
            (unsigned long long)info.physical_address);
    return info.physical_address - BANK0_PA;
}

/* Writes ha into a, the mode's way. */
static void write_a(const uint8_t *ha) {
    if (is("va")) {
        memcpy(a_va, ha, AN);
    } else if (is("memcpy")) {
        CK(nrt_memcpy_to_device(a_va, ha, AN / 2));
        CK(nrt_memcpy_to_device(a_va + AN / 2, ha + AN / 2, AN / 2));
    } else if (is("hbm")) {
        memcpy(bank + a_bank_off, ha, AN / 2);
        CK(nrt_memcpy_to_device(bank + a_bank_off + AN / 2, ha + AN / 2, AN / 2));
    } else if (is("dmabuf")) {
        if (pwrite(dmabuf, ha, AN, (off_t)a_bank_off) != AN) DIE("pwrite to the dma-buf: %s", strerror(errno));
    } else {
        CK(nrt_tensor_write(a, ha, 0, AN));
    }
}

/* The profile file without its timestamps (every number after a key ending in "_us"). */
static void digest_profile(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) DIE("cannot open the profile %s: %s", path, strerror(errno));
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    if (n == 0 || n >= sizeof text - 1) DIE("profile %s: %zu bytes", path, n);
    text[n] = 0;
    if (!strstr(text, "\"executions\"")) DIE("profile %s has no executions: %s", path, text);
    digest_t d = DIGEST_INIT;
    for (char *p = text; *p; p++) {
        digest_bytes(&d, p, 1);
        if (strncmp(p, "_us\":", 5) == 0) {
            digest_bytes(&d, p + 1, 4);
            p += 5;
            while (*p == ' ' || (*p >= '0' && *p <= '9') || *p == '.') p++;
            p--;
        }
    }
    print_digest("digest_profile", &d);
    /* How many executions it holds (the same as the reference's). */
    int count = 0;
    for (char *p = text; (p = strstr(p, "\"call\"")); p++) count++;
    printf("profiled: %d\n", count);
}

int main(int argc, char **argv) {
    mode = arg_str(argc, argv, 1, "va");
    long iterations = arg_long(argc, argv, 2, 6);
    print_shim_line();
    init_runtime();
    int sendrecv = is("sendrecv");

    char text[512];
    nrt_model_t *model = NULL, *model2 = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname escapes\nlatency_us 300\n"
                          "input a %d\ninput c %d\noutput o %d\noutput r %d\ncompute affine %d %d\n",
                          AN, CN, ON, RN, MUL, ADD),
               0, &model);
    if (sendrecv)
        load_model(model_text(text, sizeof text,
                              "nrt-sim-model 1\nname consumer\nlatency_us 300\ninput u %d\noutput v %d\n"
                              "compute affine %d %d\n",
                              ON, ON, MUL2, ADD2),
                   1, &model2);

    nrt_tensor_t *c = NULL, *o = NULL, *r = NULL, *u = NULL, *v = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, AN, "a", &a));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, CN, "c", &c));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, ON, "o", &o));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, RN, "r", &r));
    nrt_tensor_set_t *in = NULL, *out = NULL, *in2 = NULL, *out2 = NULL;
    CK(nrt_allocate_tensor_set(&in));
    CK(nrt_allocate_tensor_set(&out));
    CK(nrt_add_tensor_to_tensor_set(in, "a", a));
    CK(nrt_add_tensor_to_tensor_set(in, "c", c));
    CK(nrt_add_tensor_to_tensor_set(out, "o", o));
    CK(nrt_add_tensor_to_tensor_set(out, "r", r));

    nrt_async_sendrecv_comm_t *send_comm = NULL, *recv_comm = NULL;
    if (sendrecv) {
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 1, ON, "u", &u));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 1, ON, "v", &v));
        CK(nrt_allocate_tensor_set(&in2));
        CK(nrt_allocate_tensor_set(&out2));
        CK(nrt_add_tensor_to_tensor_set(in2, "u", u));
        CK(nrt_add_tensor_to_tensor_set(out2, "v", v));
        CK(nrt_async_sendrecv_init(0));
        CK(nrt_async_sendrecv_init(1));
        CK(nrt_async_sendrecv_connect("127.0.0.1", 1, 0, &send_comm));
        CK(nrt_async_sendrecv_accept("127.0.0.1", 0, 1, &recv_comm));
        for (bool done = false; !done;) OK(nrt_async_sendrecv_test_comm(send_comm, &done));
        for (bool done = false; !done;) OK(nrt_async_sendrecv_test_comm(recv_comm, &done));
    }

    if (is("va") || is("memcpy") || is("dmabuf")) {
        a_va = nrt_tensor_get_va(a);
        r_va = nrt_tensor_get_va(r);
        if (!a_va || !r_va) DIE("nrt_tensor_get_va of a device tensor gave NULL");
    }
    if (is("hbm")) {
        size_t size = 0;
        CK(nrt_get_hbm_mmap_va(0, 0, (void **)&bank, &size));
        if (!bank || size == 0) DIE("nrt_get_hbm_mmap_va gave %p, %zu bytes", (void *)bank, size);
        a_bank_off = bank_offset(a, AN);
        r_bank_off = bank_offset(r, RN);
        r_va = bank + r_bank_off;
    }
    if (is("dmabuf")) {
        a_bank_off = bank_offset(a, AN);
        CK(nrt_get_dmabuf_fd((uint64_t)(uintptr_t)a_va, AN, &dmabuf));
        if (dmabuf < 0) DIE("nrt_get_dmabuf_fd gave fd %d", dmabuf);
    }
    char profile[128];
    snprintf(profile, sizeof profile, "/tmp/nrt-p10-profile-%d.json", (int)getpid());
    if (is("profile")) CK(nrt_profile_start(model, profile));

    static uint8_t ha[AN], hc[CN], used_a[AN], got[ON], want_v[ON];
    fill_pattern(ha, AN, 1);
    write_a(ha);
    for (long i = 0; i < iterations; i++) {
        fill_pattern(hc, CN, (uint32_t)(30 + i));
        CK(nrt_tensor_write(c, hc, 0, CN));
        CK(nrt_execute(model, in, out));

        /* Straight after nrt_execute: the next inputs into the memory the request read. */
        memcpy(used_a, ha, AN);
        fill_pattern(ha, AN, (uint32_t)(50 + i));
        write_a(ha);
        if (is("allocinfo")) {
            nrt_tensor_device_allocation_info_t info;
            CK(nrt_tensor_get_device_allocation_info(o, &info));
            digest_u64(gd(), info.physical_address);
            digest_u64(gd(), info.size);
        }
        if (is("barrier")) CK(nrt_barrier(0, 0, 1));

        inbuf_t ins[2] = {{used_a, AN}, {hc, CN}};
        char what[64];
        nrt_async_sendrecv_request_t *sreq = NULL, *rreq = NULL;
        if (sendrecv) {
            /* o is still being written by the request; u is read by the previous consumer. */
            CK(nrt_async_sendrecv_send_tensor(o, 0, ON, send_comm, &sreq));
            CK(nrt_async_sendrecv_recv_tensor(u, 0, ON, recv_comm, &rreq));
            size_t moved = 0;
            for (bool done = false; !done;) OK(nrt_async_sendrecv_test_request(sreq, &done, &moved));
            digest_u64(gd(), moved);
            for (bool done = false; !done;) OK(nrt_async_sendrecv_test_request(rreq, &done, &moved));
            digest_u64(gd(), moved);
            CK(nrt_execute(model2, in2, out2));
        }
        if (r_va) {
            snprintf(what, sizeof what, "iteration %ld: r through its address", i);
            CHECK_AFFINE(what, MUL, ADD, ins, 2, r_va, RN);
            digest_bytes(gd(), r_va, RN);
        } else {
            read_tensor(r, got, 0, RN);
            snprintf(what, sizeof what, "iteration %ld: r", i);
            CHECK_AFFINE(what, MUL, ADD, ins, 2, got, RN);
        }
        read_tensor(o, got, 0, ON);
        snprintf(what, sizeof what, "iteration %ld: o", i);
        CHECK_AFFINE(what, MUL, ADD, ins, 2, got, ON);
        if (sendrecv) {
            inbuf_t sent[1] = {{got, ON}};
            affine_fill(MUL2, ADD2, sent, 1, want_v, ON);
            read_tensor(v, got, 0, ON);
            snprintf(what, sizeof what, "iteration %ld: v (from o, sent to core 1)", i);
            CHECK_BYTES(what, got, want_v, ON);
        }
    }
    if (is("profile")) {
        CK(nrt_profile_stop(profile));
        digest_profile(profile);
        unlink(profile);
    }

    if (dmabuf >= 0) close(dmabuf);
    if (sendrecv) {
        CK(nrt_async_sendrecv_close(0));
        CK(nrt_async_sendrecv_close(1));
        nrt_destroy_tensor_set(&in2);
        nrt_destroy_tensor_set(&out2);
        nrt_tensor_free(&u);
        nrt_tensor_free(&v);
        CK(nrt_unload(model2));
    }
    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&a);
    nrt_tensor_free(&c);
    nrt_tensor_free(&o);
    nrt_tensor_free(&r);
    CK(nrt_unload(model));
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
