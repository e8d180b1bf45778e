//! Profiling exports: nrt_profile_start / _stop and the nrt_inspect_* brackets
//! with their option objects.

use super::{cstr, nonnull, put};
use crate::runtime::{rt, Res, NRT_INVALID};
use crate::sync::Mutex;
use nrt_sys::*;
use std::collections::HashMap;
use std::ffi::c_char;

export!(nrt_sys; fn nrt_profile_start(model: *mut nrt_model_t, filename: *const c_char) -> Res<()> {
    let call = "nrt_profile_start";
    let r = rt(call)?;
    nonnull(call, &[("model", model.is_null()), ("filename", filename.is_null())])?;
    // SAFETY: filename was checked non-NULL; the caller passes a NUL-terminated string.
    let file = unsafe { cstr(filename) };
    r.profile_start(model as usize, &file)
});

export!(nrt_sys; fn nrt_profile_stop(filename: *const c_char) -> Res<()> {
    let call = "nrt_profile_stop";
    let r = rt(call)?;
    nonnull(call, &[("filename", filename.is_null())])?;
    // SAFETY: filename was checked non-NULL; the caller passes a NUL-terminated string.
    let file = unsafe { cstr(filename) };
    r.profile_stop(&file)
});

/// An inspect option object: what the simulator keeps of it.
#[derive(Clone, Default)]
struct InspectConfig {
    output_dir: Option<String>,
    enable_inspect: bool,
}

/// The option objects handed out (by address; the runtime needs no session
/// for them). Handles are never reused.
static CONFIGS: Mutex<Option<HashMap<usize, InspectConfig>>> = Mutex::new(None);

fn with_config<R>(call: &str, h: usize, f: impl FnOnce(&mut InspectConfig) -> R) -> Res<R> {
    let mut g = CONFIGS.lock();
    match g.get_or_insert_with(HashMap::new).get_mut(&h) {
        Some(c) => Ok(f(c)),
        None => Err(crate::reject!(NRT_INVALID, "{call}: options {h:#x} were not made by nrt_inspect_config_allocate")),
    }
}

export!(nrt_sys; fn nrt_inspect_config_allocate(options: *mut *mut nrt_inspect_config_t) -> Res<()> {
    let call = "nrt_inspect_config_allocate";
    crate::logging::init();
    nonnull(call, &[("options", options.is_null())])?;
    let h = crate::runtime::new_opaque_handle();
    CONFIGS.lock().get_or_insert_with(HashMap::new).insert(h, InspectConfig::default());
    // SAFETY: options was checked non-NULL; the caller passes a writable pointer slot.
    unsafe { put(options, h as *mut nrt_inspect_config_t) };
    Ok(())
});

export!(nrt_sys; fn nrt_inspect_config_free(options: *mut nrt_inspect_config_t) -> Res<()> {
    let call = "nrt_inspect_config_free";
    crate::logging::init();
    nonnull(call, &[("options", options.is_null())])?;
    match CONFIGS.lock().get_or_insert_with(HashMap::new).remove(&(options as usize)) {
        Some(_) => Ok(()),
        None => Err(crate::reject!(NRT_INVALID, "{call}: options {:#x} are unknown or already freed", options as usize)),
    }
});

export!(nrt_sys; fn nrt_inspect_config_set_defaults(options: *mut nrt_inspect_config_t) -> Res<()> {
    let call = "nrt_inspect_config_set_defaults";
    crate::logging::init();
    nonnull(call, &[("options", options.is_null())])?;
    with_config(call, options as usize, |c| *c = InspectConfig::default())
});

export!(nrt_sys; fn nrt_inspect_config_set_output_dir(options: *mut nrt_inspect_config_t, output_dir: *const c_char) -> Res<()> {
    let call = "nrt_inspect_config_set_output_dir";
    crate::logging::init();
    nonnull(call, &[("options", options.is_null()), ("output_dir", output_dir.is_null())])?;
    // SAFETY: output_dir was checked non-NULL; the caller passes a NUL-terminated string.
    let dir = unsafe { cstr(output_dir) };
    if dir.is_empty() {
        return Err(crate::reject!(NRT_INVALID, "{call}: output_dir is empty"));
    }
    with_config(call, options as usize, |c| c.output_dir = Some(dir))
});

export!(nrt_sys; fn nrt_inspect_config_set_enable_inspect(options: *mut nrt_inspect_config_t, enable_inspect: bool) -> Res<()> {
    let call = "nrt_inspect_config_set_enable_inspect";
    crate::logging::init();
    nonnull(call, &[("options", options.is_null())])?;
    with_config(call, options as usize, |c| c.enable_inspect = enable_inspect)
});

export!(nrt_sys; fn nrt_inspect_begin() -> Res<()> {
    let call = "nrt_inspect_begin";
    rt(call)?.inspect_begin(call)
});

export!(nrt_sys; fn nrt_inspect_begin_with_options(options: *mut nrt_inspect_config_t) -> Res<()> {
    let call = "nrt_inspect_begin_with_options";
    let r = rt(call)?;
    if !options.is_null() {
        let c = with_config(call, options as usize, |c| c.clone())?;
        log::debug!("{call}: output_dir {:?}, enable_inspect {}", c.output_dir, c.enable_inspect);
    }
    r.inspect_begin(call)
});

export!(nrt_sys; fn nrt_inspect_stop() -> Res<()> {
    rt("nrt_inspect_stop")?.inspect_stop()
});
