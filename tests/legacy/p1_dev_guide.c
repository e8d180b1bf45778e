/*
 * p1_dev_guide.c - legacy program 1: the Neuron developer guide's flow.
 *
 * nrt_init, nrt_load, nrt_get_model_tensor_info, one device tensor per tensor of
 * the model, tensor sets, then per iteration: write the inputs, nrt_execute, read
 * the outputs (checked against the formula). The same tensors are reused every
 * iteration, so each write must wait for the previous execution to have read its
 * inputs, and each read for the execution that writes the output.
 *
 * usage: p1_dev_guide [iterations=6]
 */
#define _GNU_SOURCE
#include "common.h"

#define MUL 9
#define ADD 4

static const char *MODEL = "nrt-sim-model 1\n"
                           "name dev_guide\n"
                           "latency_us 300\n"
                           "input input0 1000\n"
                           "input input1 24\n"
                           "output output0 1000\n"
                           "output output1 64\n"
                           "compute affine 9 4\n";

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 6);
    print_shim_line();
    init_runtime();

    nrt_model_t *model = NULL;
    load_model(MODEL, 0, &model);

    nrt_tensor_info_array_t *info = NULL;
    CK(nrt_get_model_tensor_info(model, &info));
    size_t n = (size_t)info->tensor_count;
    if (n != 4) DIE("%zu tensors, expected 4", n);

    nrt_tensor_set_t *inputs = NULL, *outputs = NULL;
    CK(nrt_allocate_tensor_set(&inputs));
    CK(nrt_allocate_tensor_set(&outputs));
    nrt_tensor_t *tensors[4] = {0};
    uint8_t *host[4] = {0};
    for (size_t i = 0; i < n; i++) {
        nrt_tensor_info_t *ti = &info->tensor_array[i];
        digest_bytes(gd(), ti->name, strlen(ti->name));
        digest_u64(gd(), ti->size);
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, ti->size, ti->name, &tensors[i]));
        host[i] = xmalloc(ti->size);
        CK(nrt_add_tensor_to_tensor_set(ti->usage == NRT_TENSOR_USAGE_INPUT ? inputs : outputs, ti->name,
                                        tensors[i]));
    }

    for (long it = 0; it < iterations; it++) {
        inbuf_t in[4];
        int nin = 0;
        for (size_t i = 0; i < n; i++) {
            nrt_tensor_info_t *ti = &info->tensor_array[i];
            if (ti->usage != NRT_TENSOR_USAGE_INPUT) continue;
            fill_pattern(host[i], ti->size, (uint32_t)(100 * it + i));
            CK(nrt_tensor_write(tensors[i], host[i], 0, ti->size));
            in[nin++] = (inbuf_t){host[i], ti->size};
        }
        CK(nrt_execute(model, inputs, outputs));
        for (size_t i = 0; i < n; i++) {
            nrt_tensor_info_t *ti = &info->tensor_array[i];
            if (ti->usage != NRT_TENSOR_USAGE_OUTPUT) continue;
            read_tensor(tensors[i], host[i], 0, ti->size);
            CHECK_AFFINE(ti->name, MUL, ADD, in, nin, host[i], ti->size);
        }
    }

    for (size_t i = 0; i < n; i++) {
        nrt_tensor_free(&tensors[i]);
        free(host[i]);
    }
    nrt_destroy_tensor_set(&inputs);
    nrt_destroy_tensor_set(&outputs);
    CK(nrt_free_model_tensor_info(info));
    CK(nrt_unload(model));
    nrt_close();
    print_digest("digest", gd());
    return 0;
}
