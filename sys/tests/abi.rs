//! The generated declarations must match the runtime's ABI as written down in
//! docs/neuron-abi.md. A wrong number here means include/nrt/ drifted.

use nrt_sys::*;
use std::mem::{offset_of, size_of};

#[test]
fn status_values_are_the_runtimes() {
    let expected: &[(NRT_STATUS, u32)] = &[
        (NRT_SUCCESS, 0),
        (NRT_FAILURE, 1),
        (NRT_INVALID, 2),
        (NRT_INVALID_HANDLE, 3),
        (NRT_RESOURCE, 4),
        (NRT_TIMEOUT, 5),
        (NRT_HW_ERROR, 6),
        (NRT_QUEUE_FULL, 7),
        (NRT_LOAD_NOT_ENOUGH_NC, 9),
        (NRT_UNSUPPORTED_NEFF_VERSION, 10),
        (NRT_FAIL_HOST_MEM_ALLOC, 11),
        (NRT_UNINITIALIZED, 13),
        (NRT_CLOSED, 14),
        (NRT_QUEUE_EMPTY, 15),
        (NRT_EXEC_UNIT_UNRECOVERABLE, 101),
        (NRT_EXEC_BAD_INPUT, 1002),
        (NRT_EXEC_COMPLETED_WITH_NUM_ERR, 1003),
        (NRT_EXEC_COMPLETED_WITH_ERR, 1004),
        (NRT_EXEC_NC_BUSY, 1005),
        (NRT_EXEC_OOB, 1006),
        (NRT_COLL_PENDING, 1100),
        (NRT_EXEC_HW_ERR_COLLECTIVES, 1200),
        (NRT_EXEC_HW_ERR_HBM_UE, 1201),
        (NRT_EXEC_HW_ERR_NC_UE, 1202),
        (NRT_EXEC_HW_ERR_DMA_ABORT, 1203),
        (NRT_EXEC_SW_NQ_OVERFLOW, 1204),
        (NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE, 1205),
        (NRT_NETWORK_PROXY_FAILURE, 1206),
    ];
    for (got, want) in expected {
        assert_eq!(*got, *want);
    }
    assert_eq!(size_of::<NRT_STATUS>(), 4, "NRT_STATUS is a C enum, int-sized");
}

#[test]
fn other_enums_are_the_runtimes() {
    assert_eq!([NRT_TENSOR_PLACEMENT_DEVICE, NRT_TENSOR_PLACEMENT_HOST, NRT_TENSOR_PLACEMENT_VIRTUAL], [0, 1, 2]);
    assert_eq!(
        [
            NRT_FRAMEWORK_TYPE_INVALID,
            NRT_FRAMEWORK_TYPE_NO_FW,
            NRT_FRAMEWORK_TYPE_TENSORFLOW,
            NRT_FRAMEWORK_TYPE_PYTORCH,
            NRT_FRAMEWORK_TYPE_MXNET,
            NRT_FRAMEWORK_TYPE_PRECHECK
        ],
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!([NRT_TENSOR_USAGE_INPUT, NRT_TENSOR_USAGE_OUTPUT], [0, 1]);
    assert_eq!(
        [
            NRT_DTYPE_INVALID,
            NRT_DTYPE_UINT64,
            NRT_DTYPE_INT8,
            NRT_DTYPE_UINT8,
            NRT_DTYPE_INT16,
            NRT_DTYPE_UINT16,
            NRT_DTYPE_BFLOAT16,
            NRT_DTYPE_FLOAT16,
            NRT_DTYPE_INT32,
            NRT_DTYPE_UINT32,
            NRT_DTYPE_FLOAT32,
            NRT_DTYPE_FP32R,
            NRT_DTYPE_INT64,
            NRT_DTYPE_FP8_E3,
            NRT_DTYPE_FP8_E4,
            NRT_DTYPE_FP8_E5
        ],
        [0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF]
    );
    assert_eq!([NRT_OP_ADD, NRT_OP_FMA, NRT_OP_MAX, NRT_OP_MIN, NRT_OP_INVALID], [0, 1, 2, 3, 0xF]);
    assert_eq!([NRT_CC_ALLGATHER, NRT_CC_ALLREDUCE, NRT_CC_REDUCESCATTER], [0, 1, 2]);
}

#[test]
fn execution_units_of_both_generations() {
    // v3 (default) and v2 number the units differently; see neuron-abi.md.
    assert_eq!([NRTA_XU_TENSOR_OP, NRTA_XU_COMPUTE, NRTA_XU_COLLECTIVES, NRTA_XU_TYPE_NUM], [0, 1, 2, 3]);
    use nrt_sys::v2 as g2;
    assert_eq!(
        [
            g2::NRTA_XU_TENSOR_READ,
            g2::NRTA_XU_TENSOR_WRITE,
            g2::NRTA_XU_TENSOR_OP,
            g2::NRTA_XU_COMPUTE,
            g2::NRTA_XU_COLLECTIVES,
            g2::NRTA_XU_TYPE_NUM
        ],
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(NRTA_SEQ_NUM_MAX, (1u64 << 48) - 1);
    assert_eq!(size_of::<nrta_seq_t>(), 8);
    assert_eq!(size_of::<nrta_xu_id_t>(), 2);
}

#[test]
fn struct_layouts_are_the_runtimes() {
    assert_eq!(size_of::<nrta_error_t>(), 16);
    assert_eq!(offset_of!(nrta_error_t, seq_id), 0);
    assert_eq!(offset_of!(nrta_error_t, error_code), 8);

    let info = nrt_tensor_info_t::default();
    assert_eq!(info.name.len(), 256);
    assert_eq!(offset_of!(nrt_tensor_info_t, usage), 256);
    assert_eq!(offset_of!(nrt_tensor_info_t, size), 264);
    assert_eq!(offset_of!(nrt_tensor_info_t, dtype), 272);
    assert_eq!(offset_of!(nrt_tensor_info_t, shape), 280);
    assert_eq!(offset_of!(nrt_tensor_info_t, ndim), 288);
    assert_eq!(size_of::<nrt_tensor_info_t>(), 296);
    // tensor_count, then the flexible array.
    assert_eq!(size_of::<nrt_tensor_info_array_t>(), 8);

    assert_eq!(size_of::<nrt_tensor_batch_op_t>(), 24);
    assert_eq!(offset_of!(nrt_tensor_batch_t, ops), 8);
    assert_eq!(offset_of!(nrt_tensor_batch_t, num_ops), 16);

    let v = nrt_version_t::default();
    assert_eq!(v.rt_detail.len(), 128);
    assert_eq!(v.git_hash.len(), 64);
    assert_eq!(size_of::<nrt_version_t>(), 4 * 8 + 128 + 64);

    assert_eq!(size_of::<nrt_model_info_t>(), 4);
    assert_eq!(size_of::<nrt_tensor_device_allocation_info_t>(), 24);
}
