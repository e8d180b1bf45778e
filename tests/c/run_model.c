/*
 * run_model.c - "run a model" in the style of the Neuron developer guide, against
 * the simulator: nrt_init, nrt_load, nrt_get_model_tensor_info, one tensor per
 * tensor of the model (allocated from the info), tensor sets, write the inputs,
 * nrt_execute, read the outputs, check them, free, unload, close.
 *
 * usage: run_model [iterations=3]
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#define MUL 3
#define ADD 7

static const char *MODEL = "nrt-sim-model 1\n"
                           "# two inputs of different sizes, two outputs\n"
                           "name run_model\n"
                           "latency_us 300\n"
                           "input image 1024\n"
                           "input bias 100\n"
                           "output logits 1024\n"
                           "output extra 333\n"
                           "compute affine 3 7\n";

typedef struct {
    nrt_tensor_info_array_t *info;
    nrt_tensor_t **tensors;
    uint8_t **host; /* host copy of each tensor's contents (inputs) or read buffer (outputs) */
    nrt_tensor_set_t *inputs;
    nrt_tensor_set_t *outputs;
} io_t;

/* Allocates one device tensor per tensor of the model and puts it in the input or output set. */
static void allocate_io(nrt_model_t *model, int vnc, io_t *io) {
    CK(nrt_get_model_tensor_info(model, &io->info));
    CK(nrt_allocate_tensor_set(&io->inputs));
    CK(nrt_allocate_tensor_set(&io->outputs));
    size_t n = (size_t)io->info->tensor_count;
    io->tensors = xmalloc(n * sizeof *io->tensors);
    io->host = xmalloc(n * sizeof *io->host);
    for (size_t i = 0; i < n; i++) {
        nrt_tensor_info_t *ti = &io->info->tensor_array[i];
        /* Everything the program learns from the runtime goes into the digest. */
        digest_bytes(gd(), ti->name, strlen(ti->name));
        digest_u64(gd(), (uint64_t)ti->usage);
        digest_u64(gd(), (uint64_t)ti->size);
        if (ti->dtype != NRT_DTYPE_UINT8) DIE("tensor %s: dtype %d, expected UINT8", ti->name, (int)ti->dtype);
        if (ti->ndim != 1 || ti->shape == NULL || ti->shape[0] != ti->size)
            DIE("tensor %s: shape is not [%zu]", ti->name, ti->size);
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, vnc, ti->size, ti->name, &io->tensors[i]));
        if (nrt_tensor_get_size(io->tensors[i]) != ti->size) DIE("nrt_tensor_get_size of %s is wrong", ti->name);
        io->host[i] = xmalloc(ti->size);
        if (ti->usage == NRT_TENSOR_USAGE_INPUT)
            CK(nrt_add_tensor_to_tensor_set(io->inputs, ti->name, io->tensors[i]));
        else
            CK(nrt_add_tensor_to_tensor_set(io->outputs, ti->name, io->tensors[i]));
    }
}

static void free_io(io_t *io) {
    for (size_t i = 0; i < io->info->tensor_count; i++) {
        nrt_tensor_free(&io->tensors[i]);
        if (io->tensors[i] != NULL) DIE("nrt_tensor_free did not clear the caller's pointer");
        free(io->host[i]);
    }
    free(io->tensors);
    free(io->host);
    nrt_destroy_tensor_set(&io->inputs);
    nrt_destroy_tensor_set(&io->outputs);
    CK(nrt_free_model_tensor_info(io->info));
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 3);
    print_shim_line();
    init_runtime();

    nrt_model_t *model = NULL;
    load_model(MODEL, 0, &model);

    io_t io = {0};
    allocate_io(model, 0, &io);
    size_t n = (size_t)io.info->tensor_count;
    if (n != 4) DIE("the model has %zu tensors, expected 4", n);

    for (long it = 0; it < iterations; it++) {
        inbuf_t in[8];
        int nin = 0;
        for (size_t i = 0; i < n; i++) {
            nrt_tensor_info_t *ti = &io.info->tensor_array[i];
            if (ti->usage != NRT_TENSOR_USAGE_INPUT) continue;
            fill_pattern(io.host[i], ti->size, (uint32_t)(it * 16 + i));
            CK(nrt_tensor_write(io.tensors[i], io.host[i], 0, ti->size));
            in[nin].data = io.host[i];
            in[nin].size = ti->size;
            nin++;
        }
        CK(nrt_execute(model, io.inputs, io.outputs));
        for (size_t i = 0; i < n; i++) {
            nrt_tensor_info_t *ti = &io.info->tensor_array[i];
            if (ti->usage != NRT_TENSOR_USAGE_OUTPUT) continue;
            read_tensor(io.tensors[i], io.host[i], 0, ti->size);
            CHECK_AFFINE(ti->name, MUL, ADD, in, nin, io.host[i], ti->size);
        }
    }

    free_io(&io);
    CK(nrt_unload(model));
    nrt_close();
    printf("iterations: %ld\n", iterations);
    print_digest("digest", gd());
    return 0;
}
