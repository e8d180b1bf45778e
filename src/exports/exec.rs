//! nrt_execute and nrt_execute_repeat: accepted, then pipelined.

use nrt_sys::*;

use super::{get, handle, status};
use crate::config::Mode;
use crate::ffi::{export, real};

export! {
    fn nrt_execute(model: *mut nrt_model_t, input_set: *const nrt_tensor_set_t, output_set: *mut nrt_tensor_set_t) -> NRT_STATUS {
        let s = match get() { Ok(s) => s, Err(st) => return st };
        if s.mode == Mode::Passthrough {
            return real!(s, nrt_execute(model, input_set, output_set));
        }
        status((|| {
            s.engine.check_open()?;
            let m = handle(model, "model")?;
            let i = handle(input_set, "input set")?;
            let o = handle(output_set, "output set")?;
            Ok(s.engine.execute(m, i, o, 1, || real!(s, nrt_execute(model, input_set, output_set))))
        })())
    }
}

export! {
    fn nrt_execute_repeat(
        model: *mut nrt_model_t,
        input_set: *const nrt_tensor_set_t,
        output_set: *mut nrt_tensor_set_t,
        repeat_count: std::ffi::c_int,
    ) -> NRT_STATUS {
        let s = match get() { Ok(s) => s, Err(st) => return st };
        if s.mode == Mode::Passthrough {
            return real!(s, nrt_execute_repeat(model, input_set, output_set, repeat_count));
        }
        if repeat_count < 1 {
            // A bad count is the runtime's to judge, after the handles.
            if let Err(st) = s.engine.check_named_tensors(model as usize, input_set as usize, output_set as usize) {
                return st;
            }
            return real!(s, nrt_execute_repeat(model, input_set, output_set, repeat_count));
        }
        status((|| {
            s.engine.check_open()?;
            let m = handle(model, "model")?;
            let i = handle(input_set, "input set")?;
            let o = handle(output_set, "output set")?;
            Ok(s.engine.execute(m, i, o, repeat_count as u32, || {
                real!(s, nrt_execute_repeat(model, input_set, output_set, repeat_count))
            }))
        })())
    }
}
