//! nrt_unload: never while the model's requests are pending.

use nrt_sys::*;

use super::get;
use crate::config::Mode;
use crate::ffi::{export, real};

export! {
    fn nrt_unload(model: *mut nrt_model_t) -> NRT_STATUS {
        let s = match get() { Ok(s) => s, Err(st) => return st };
        if s.mode != Mode::Passthrough && !model.is_null() && s.engine.is_open() {
            s.engine.unload(model as usize);
        }
        real!(s, nrt_unload(model))
    }
}
