/*
 * interp_escape.h - the interpreter's ops for the calls that reach device memory
 * without the tensor calls, or order work behind the synchronous API
 * (proof/src/gen/escape.rs), included by interp.c. The runs set
 * NEURON_RT_MAP_HBM=1 (the reference too), so device tensors have addresses.
 *
 *   vaget t                   keeps nrt_tensor_get_va(t) (status 1000: NULL)
 *   varead t off len          hashes bytes through the kept address (no call)
 *   vastore t off len seed    memcpy through the kept address (perftest style)
 *   mcpy t off len seed       nrt_memcpy_to_device(kept address + off, ...)
 *   barrier core              nrt_barrier(core, 0, 1)
 *   ainfo t                   nrt_tensor_get_device_allocation_info: hashes size
 *                             and hbm_index (not the physical address: the shim's
 *                             renamed versions take device memory, so the layout
 *                             differs from the reference's)
 *   hbm core                  nrt_get_hbm_mmap_va(0, core): keeps the bank's address
 *   hbmwrite t off len seed   nrt_memcpy_to_device at t's bytes inside the mapped
 *                             bank (an address the shim never handed out)
 *   hbmread t off len         hashes t's bytes read inside the mapped bank
 *
 * Statuses that are not the runtime's: 1000 NULL address, 1001 out of range (the
 * interpreter never touches memory past a tensor itself), 1002 no kept address,
 * 1003 bank not mapped. A program is correct under the synchronous runtime as
 * written: every address is used while its tensor lives, and after the calls
 * that wrote it returned.
 */
#ifndef INTERP_ESCAPE_H
#define INTERP_ESCAPE_H

#define ESC_BANKS 64

static void *g_va[MAXT];
static uint8_t *g_bank[ESC_BANKS];
static size_t g_bank_size[ESC_BANKS];

static void esc_reset(void) {
    memset(g_va, 0, sizeof g_va);
    memset(g_bank, 0, sizeof g_bank);
    memset(g_bank_size, 0, sizeof g_bank_size);
}

static int esc_in_range(nrt_tensor_t *t, long off, long len) {
    size_t n = nrt_tensor_get_size(t);
    return off >= 0 && len >= 0 && (size_t)off <= n && (size_t)len <= n - (size_t)off;
}

/* The address of t's byte `off` inside its mapped bank, or NULL with *st set. */
static uint8_t *esc_bank_addr(nrt_tensor_t *t, long off, NRT_STATUS *st) {
    nrt_tensor_device_allocation_info_t info;
    memset(&info, 0, sizeof info);
    *st = nrt_tensor_get_device_allocation_info(t, &info);
    if (*st != NRT_SUCCESS) return NULL;
    int bank = info.hbm_index;
    if (bank < 0 || bank >= ESC_BANKS || !g_bank[bank]) {
        *st = 1003;
        return NULL;
    }
    /* The simulator's physical address of bank byte k is ((bank + 1) << 40) + k. */
    uint64_t k = info.physical_address - ((uint64_t)(bank + 1) << 40);
    if (k >= g_bank_size[bank]) {
        *st = 1001;
        return NULL;
    }
    return g_bank[bank] + k + off;
}

/* Runs escape op `code`; returns 0 when it is not one. */
static int esc_op(int code, long *a, NRT_STATUS *st, uint64_t *h, uint64_t *nb) {
    const uint64_t basis = 14695981039346656037ull;
    switch (code) {
    case OP_VAGET:
        g_va[slot(a[0], MAXT)] = nrt_tensor_get_va(T(a[0]));
        *st = g_va[a[0]] ? NRT_SUCCESS : 1000;
        return 1;
    case OP_VAREAD:
    case OP_VASTORE:
    case OP_MCPY: {
        uint8_t *va = g_va[slot(a[0], MAXT)];
        if (!va) {
            *st = 1002;
        } else if (code == OP_MCPY) {
            /* the runtime checks the range (a bad one is its NRT_INVALID) */
            void *b = pattern((size_t)a[2], (uint32_t)a[3]);
            *st = nrt_memcpy_to_device(va + a[1], b, (size_t)a[2]);
            free(b);
        } else if (!esc_in_range(T(a[0]), a[1], a[2])) {
            *st = 1001;
        } else if (code == OP_VAREAD) {
            *h = fnv(basis, va + a[1], (size_t)a[2]);
            *nb = (uint64_t)a[2];
        } else {
            void *b = pattern((size_t)a[2], (uint32_t)a[3]);
            memcpy(va + a[1], b, (size_t)a[2]);
            free(b);
        }
        return 1;
    }
    case OP_BARRIER:
        *st = nrt_barrier((int32_t)a[0], 0, 1);
        return 1;
    case OP_AINFO: {
        nrt_tensor_device_allocation_info_t info;
        memset(&info, 0, sizeof info);
        *st = nrt_tensor_get_device_allocation_info(T(a[0]), &info);
        if (*st == NRT_SUCCESS) {
            uint64_t v[2] = {(uint64_t)info.size, (uint64_t)(int64_t)info.hbm_index};
            *h = fnv(basis, v, sizeof v);
        }
        return 1;
    }
    case OP_HBM: {
        void *va = NULL;
        size_t size = 0;
        *st = nrt_get_hbm_mmap_va(0, (int)a[0], &va, &size);
        if (*st == NRT_SUCCESS) {
            if (a[0] >= 0 && a[0] < ESC_BANKS) {
                g_bank[a[0]] = va;
                g_bank_size[a[0]] = size;
            }
            *h = fnv(basis, &size, sizeof size);
        }
        return 1;
    }
    case OP_HBMWRITE:
    case OP_HBMREAD: {
        if (!esc_in_range(T(a[0]), a[1], a[2])) {
            *st = 1001;
            return 1;
        }
        uint8_t *p = esc_bank_addr(T(a[0]), a[1], st);
        if (!p) return 1;
        if (code == OP_HBMREAD) {
            *h = fnv(basis, p, (size_t)a[2]);
            *nb = (uint64_t)a[2];
        } else {
            void *b = pattern((size_t)a[2], (uint32_t)a[3]);
            *st = nrt_memcpy_to_device(p, b, (size_t)a[2]);
            free(b);
        }
        return 1;
    }
    default:
        return 0;
    }
}

#endif /* INTERP_ESCAPE_H */
