//! nrt_unload: never while the model's requests are pending.

use nrt_sys::*;

use crate::config::Mode;
use crate::ffi::export;

export! {
    fn nrt_unload(model: *mut nrt_model_t) -> NRT_STATUS |s, real| {
        if s.mode != Mode::Passthrough && !model.is_null() && s.engine.is_open() {
            s.engine.unload(model as usize);
        }
        Ok(real())
    }
}
