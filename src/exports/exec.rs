//! nrt_execute and nrt_execute_repeat: accepted, then pipelined. The engine
//! checks the request (state, NULL, handles, tensors, in the runtime's order).

use nrt_sys::*;

use crate::ffi::export;

export! {
    fn nrt_execute(model: *mut nrt_model_t, input_set: *const nrt_tensor_set_t, output_set: *mut nrt_tensor_set_t) -> NRT_STATUS
    [passthrough] |s, real| {
        Ok(s.engine.execute(model as usize, input_set as usize, output_set as usize, 1, real))
    }
}

export! {
    fn nrt_execute_repeat(
        model: *mut nrt_model_t,
        input_set: *const nrt_tensor_set_t,
        output_set: *mut nrt_tensor_set_t,
        repeat_count: std::ffi::c_int,
    ) -> NRT_STATUS
    [passthrough] |s, real| {
        if repeat_count < 1 {
            // A bad count is the runtime's to judge, after the handles: a
            // tensor whose free the shim deferred is the shim's to reject.
            s.engine.check_named_tensors(model as usize, input_set as usize, output_set as usize)?;
            return Ok(real());
        }
        Ok(s.engine.execute(model as usize, input_set as usize, output_set as usize, repeat_count as u32, real))
    }
}
