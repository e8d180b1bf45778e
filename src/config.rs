//! Configuration: environment variables read once, at load or first use.
//! Every variable is documented, with its default, in README.md.

use std::env;

/// The legacy implicit-async variable the runtime must never see.
pub const LEGACY_INFLIGHT_VAR: &str = "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS";

/// The deepest in-flight window per core (the legacy mode's hard cap was 63).
pub const MAX_INFLIGHT_CAP: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Legacy calls return once accepted; dependencies tracked per byte range.
    Async,
    /// Every call completes before it returns, still through the nrta_* path.
    Sync,
    /// Every call is forwarded to the runtime untouched.
    Passthrough,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncAbi {
    Detect,
    V2,
    V3,
}

/// Where the summary of NRT_SHIM_STATS goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsOut {
    /// Text on stderr.
    Stderr,
    /// JSON in this file.
    File(String),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub max_inflight: usize,
    /// Where max_inflight came from, for the log.
    pub inflight_source: &'static str,
    pub trust_host_memory: bool,
    /// A blocked call is woken by the runtime and retires completions itself
    /// (where the runtime can signal the thread), instead of waiting for the
    /// completion thread.
    pub direct_wait: bool,
    /// How long a directly waiting thread polls the runtime before it sleeps
    /// on its eventfd (microseconds; 0: it sleeps at once).
    pub spin_us: u32,
    pub async_abi: AsyncAbi,
    pub libnrt: Option<String>,
    pub log_level: log::LevelFilter,
    pub stats: Option<StatsOut>,
    pub trace: Option<String>,
    /// Capacity of the trace's ring of events.
    pub trace_events: usize,
    /// A write that would wait only for earlier readers goes to a spare
    /// version instead (scheduler/rename.rs).
    pub rename: bool,
    /// Bytes of spare versions per core, at most.
    pub rename_max_bytes: u64,
    /// A partial write is renamed too, the other bytes carried over by a
    /// device-side copy first.
    pub rename_partial: bool,
    /// Writes and memsets of device tensors up to `stage_max_bytes` are copied
    /// into a staging buffer and run on the core's tensor-op unit; copies
    /// between device tensors of one core run there too.
    pub stage: bool,
    pub stage_max_bytes: u64,
    /// Staging memory per core (buffers pooled up to this many bytes).
    pub stage_pool_bytes: u64,
}

/// The default of NRT_SHIM_RENAME_MAX_BYTES (per core): see README "Configuration".
pub const RENAME_MAX_BYTES_DEFAULT: u64 = 256 << 20;

/// A byte count: plain, or with a K/M/G suffix (powers of 1024).
fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, shift) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (v, 0),
        Some((i, _)) => {
            let shift = match v[i..].trim().to_ascii_uppercase().as_str() {
                "K" | "KB" | "KIB" => 10,
                "M" | "MB" | "MIB" => 20,
                "G" | "GB" | "GIB" => 30,
                _ => return None,
            };
            (&v[..i], shift)
        }
    };
    num.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// NRT_SHIM_STAGE_MAX_BYTES's default: no write is staged unless asked for
/// (README "Configuration" gives the measurement).
pub const STAGE_MAX_BYTES: u64 = 0;
/// NRT_SHIM_STAGE_POOL_BYTES's default.
pub const STAGE_POOL_BYTES: u64 = 16 << 20;

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// NRT_SHIM_SPIN_US: its default, and the most it may be (a spinning thread
/// takes a core from the runtime's own threads).
pub const DEFAULT_SPIN_US: u32 = 0;
pub const MAX_SPIN_US: u32 = 1000;

impl Config {
    /// Builds the configuration from a variable lookup (the environment, or a
    /// table in tests). Problems are returned as warnings to log, never fatal.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, legacy_inflight: Option<String>) -> (Config, Vec<String>) {
        let mut warnings = Vec::new();
        let mode = match get("NRT_SHIM_MODE").as_deref().map(str::trim) {
            None | Some("") | Some("async") => Mode::Async,
            Some("sync") => Mode::Sync,
            Some("passthrough") => Mode::Passthrough,
            Some(other) => {
                warnings.push(format!("NRT_SHIM_MODE={other} is not async|sync|passthrough; using async"));
                Mode::Async
            }
        };
        let parse_depth = |name: &str, v: &str, warnings: &mut Vec<String>| -> Option<usize> {
            match v.trim().parse::<usize>() {
                Ok(0) => {
                    warnings.push(format!("{name}=0 means no in-flight window; using 1"));
                    Some(1)
                }
                Ok(n) if n > MAX_INFLIGHT_CAP => {
                    warnings
                        .push(format!("{name}={n} is above the cap of {MAX_INFLIGHT_CAP}; using {MAX_INFLIGHT_CAP}"));
                    Some(MAX_INFLIGHT_CAP)
                }
                Ok(n) => Some(n),
                Err(_) => {
                    warnings.push(format!("{name}={v} is not a number; ignored"));
                    None
                }
            }
        };
        let (max_inflight, inflight_source) =
            match get("NRT_SHIM_MAX_INFLIGHT").and_then(|v| parse_depth("NRT_SHIM_MAX_INFLIGHT", &v, &mut warnings)) {
                Some(n) => (n, "NRT_SHIM_MAX_INFLIGHT"),
                None => match legacy_inflight
                    .as_deref()
                    .filter(|v| v.trim() != "0" && !v.trim().is_empty())
                    .and_then(|v| parse_depth(LEGACY_INFLIGHT_VAR, v, &mut warnings))
                {
                    Some(n) => (n, LEGACY_INFLIGHT_VAR),
                    None => (4, "default"),
                },
            };
        let mut switch = |name: &str, default: bool| match get(name) {
            None => default,
            Some(v) => parse_bool(&v).unwrap_or_else(|| {
                warnings.push(format!("{name}={v} is not 0|1; using {}", u8::from(default)));
                default
            }),
        };
        let trust_host_memory = switch("NRT_SHIM_TRUST_HOST_MEMORY", false);
        let direct_wait = switch("NRT_SHIM_DIRECT_WAIT", true);
        let rename = switch("NRT_SHIM_RENAME", true);
        let rename_partial = switch("NRT_SHIM_RENAME_PARTIAL", true);
        let stage = switch("NRT_SHIM_STAGE", true);
        let spin_us = match get("NRT_SHIM_SPIN_US").map(|v| v.trim().parse::<u32>()) {
            None => DEFAULT_SPIN_US,
            Some(Ok(n)) if n <= MAX_SPIN_US => n,
            Some(_) => {
                warnings.push(format!(
                    "NRT_SHIM_SPIN_US is not a number of microseconds up to {MAX_SPIN_US}; using {DEFAULT_SPIN_US}"
                ));
                DEFAULT_SPIN_US
            }
        };
        let async_abi = match get("NRT_SHIM_ASYNC_ABI").as_deref().map(str::trim) {
            None | Some("") | Some("auto") => AsyncAbi::Detect,
            Some("2") => AsyncAbi::V2,
            Some("3") => AsyncAbi::V3,
            Some(other) => {
                warnings.push(format!("NRT_SHIM_ASYNC_ABI={other} is not 2|3; detecting"));
                AsyncAbi::Detect
            }
        };
        let libnrt = get("NRT_SHIM_LIBNRT").filter(|s| !s.is_empty());
        let log_level = match get("NRT_SHIM_LOG").as_deref().map(|s| s.trim().to_ascii_lowercase()) {
            None => log::LevelFilter::Warn,
            Some(s) => match s.as_str() {
                "off" => log::LevelFilter::Off,
                "error" => log::LevelFilter::Error,
                "" | "warn" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                "trace" => log::LevelFilter::Trace,
                other => {
                    warnings.push(format!("NRT_SHIM_LOG={other} is not error|warn|info|debug|trace; using warn"));
                    log::LevelFilter::Warn
                }
            },
        };
        let stats = match get("NRT_SHIM_STATS").as_deref().map(str::trim) {
            None | Some("") | Some("0") => None,
            Some("1") | Some("stderr") => Some(StatsOut::Stderr),
            Some(path) => Some(StatsOut::File(path.to_string())),
        };
        let trace = get("NRT_SHIM_TRACE").filter(|s| !s.trim().is_empty());
        let trace_events = match get("NRT_SHIM_TRACE_EVENTS").map(|v| v.trim().parse::<usize>()) {
            None => 262_144,
            Some(Ok(n)) if n > 0 => n,
            Some(_) => {
                warnings.push("NRT_SHIM_TRACE_EVENTS is not a positive number; using 262144".into());
                262_144
            }
        };
        // Every byte count takes the same forms: digits, optionally K, M or G
        // (powers of 1024).
        let mut bytes = |name: &str, default: u64| match get(name) {
            None => default,
            Some(v) => parse_bytes(&v).unwrap_or_else(|| {
                warnings
                    .push(format!("{name}={v} is not a byte count (digits, optionally K, M or G); using {default}"));
                default
            }),
        };
        let rename_max_bytes = bytes("NRT_SHIM_RENAME_MAX_BYTES", RENAME_MAX_BYTES_DEFAULT);
        let stage_max_bytes = bytes("NRT_SHIM_STAGE_MAX_BYTES", STAGE_MAX_BYTES);
        let stage_pool_bytes = bytes("NRT_SHIM_STAGE_POOL_BYTES", STAGE_POOL_BYTES);
        (
            Config {
                mode,
                max_inflight,
                inflight_source,
                trust_host_memory,
                direct_wait,
                spin_us,
                async_abi,
                libnrt,
                log_level,
                stats,
                trace,
                trace_events,
                rename,
                rename_max_bytes,
                rename_partial,
                stage,
                stage_max_bytes,
                stage_pool_bytes,
            },
            warnings,
        )
    }

    /// From the process environment. `legacy_inflight` is the value the
    /// constructor took out of the environment (it is gone from it by now).
    pub fn from_env(legacy_inflight: Option<String>) -> (Config, Vec<String>) {
        Self::from_lookup(|k| env::var(k).ok(), legacy_inflight)
    }
}

/// `NRT_SHIM_TEST_PANIC=<export name>|completion`: a test hook that makes
/// that export (or the completion thread, once) panic, to prove the panic
/// boundaries hold. Read once; never set it in production.
pub static TEST_PANIC: once_cell::sync::Lazy<Option<String>> =
    once_cell::sync::Lazy::new(|| std::env::var("NRT_SHIM_TEST_PANIC").ok().filter(|v| !v.is_empty()));

/// `NRT_SHIM_TEST_SKIP_ARM=1`: a test hook that makes the completion thread
/// register nothing with the runtime, so that it learns of completions only
/// when its waits run out, to prove the `late_completions` counter sees a
/// missed registration. Never set it in production.
pub static TEST_SKIP_ARM: once_cell::sync::Lazy<bool> =
    once_cell::sync::Lazy::new(|| std::env::var("NRT_SHIM_TEST_SKIP_ARM").is_ok_and(|v| v == "1"));

/// `NRT_SHIM_TEST_SKIP_WAIT=N`: a test hook that makes the N-th host read
/// (1-based, in the process) skip its wait for the requests that write those
/// bytes, to prove `nrt-shim verify` catches a missing wait. Never set it in
/// production.
pub static TEST_SKIP_WAIT: once_cell::sync::Lazy<Option<u64>> = once_cell::sync::Lazy::new(|| {
    std::env::var("NRT_SHIM_TEST_SKIP_WAIT").ok().and_then(|v| v.trim().parse().ok()).filter(|n| *n > 0)
});

/// Whether this host read is the one NRT_SHIM_TEST_SKIP_WAIT names (one load when unset).
pub fn test_skips_this_wait() -> bool {
    static READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match *TEST_SKIP_WAIT {
        None => false,
        Some(n) => READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)], legacy: Option<&str>) -> (Config, Vec<String>) {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned(), legacy.map(String::from))
    }

    #[test]
    fn defaults() {
        let (c, w) = cfg(&[], None);
        assert_eq!(c.mode, Mode::Async);
        assert_eq!(c.max_inflight, 4);
        assert!(!c.trust_host_memory);
        assert!(c.direct_wait);
        assert_eq!(c.async_abi, AsyncAbi::Detect);
        assert_eq!(c.log_level, log::LevelFilter::Warn);
        assert!(w.is_empty());
    }

    #[test]
    fn legacy_variable_sets_depth_unless_the_shims_own_is_set() {
        assert_eq!(cfg(&[], Some("3")).0.max_inflight, 3);
        assert_eq!(cfg(&[], Some("3")).0.inflight_source, LEGACY_INFLIGHT_VAR);
        assert_eq!(cfg(&[("NRT_SHIM_MAX_INFLIGHT", "8")], Some("3")).0.max_inflight, 8);
        assert_eq!(cfg(&[], Some("0")).0.max_inflight, 4, "0 meant 'off' in the legacy mode");
    }

    #[test]
    fn bad_values_warn_and_fall_back() {
        let (c, w) = cfg(&[("NRT_SHIM_MODE", "fast"), ("NRT_SHIM_MAX_INFLIGHT", "many")], None);
        assert_eq!(c.mode, Mode::Async);
        assert_eq!(c.max_inflight, 4);
        assert_eq!(w.len(), 2);
        let (c, _) = cfg(&[("NRT_SHIM_MAX_INFLIGHT", "1000")], None);
        assert_eq!(c.max_inflight, MAX_INFLIGHT_CAP);
    }

    #[test]
    fn modes_and_switches() {
        assert_eq!(cfg(&[("NRT_SHIM_MODE", "sync")], None).0.mode, Mode::Sync);
        assert_eq!(cfg(&[("NRT_SHIM_MODE", "passthrough")], None).0.mode, Mode::Passthrough);
        assert!(cfg(&[("NRT_SHIM_TRUST_HOST_MEMORY", "1")], None).0.trust_host_memory);
        assert!(!cfg(&[("NRT_SHIM_DIRECT_WAIT", "0")], None).0.direct_wait);
        assert_eq!(cfg(&[], None).0.spin_us, DEFAULT_SPIN_US);
        assert_eq!(cfg(&[("NRT_SHIM_SPIN_US", "20")], None).0.spin_us, 20);
        let (c, w) = cfg(&[("NRT_SHIM_SPIN_US", "5000")], None);
        assert_eq!(c.spin_us, DEFAULT_SPIN_US, "above the cap keeps the default");
        assert_eq!(w.len(), 1);
        let (c, w) = cfg(&[("NRT_SHIM_DIRECT_WAIT", "maybe")], None);
        assert!(c.direct_wait, "a bad value keeps the default");
        assert_eq!(w, ["NRT_SHIM_DIRECT_WAIT=maybe is not 0|1; using 1"]);
        assert_eq!(cfg(&[("NRT_SHIM_ASYNC_ABI", "2")], None).0.async_abi, AsyncAbi::V2);
        assert_eq!(cfg(&[("NRT_SHIM_LOG", "debug")], None).0.log_level, log::LevelFilter::Debug);
        assert_eq!(cfg(&[("NRT_SHIM_STATS", "1")], None).0.stats, Some(StatsOut::Stderr));
        assert_eq!(cfg(&[("NRT_SHIM_STATS", "/tmp/s.json")], None).0.stats, Some(StatsOut::File("/tmp/s.json".into())));
        assert_eq!(cfg(&[], None).0.stats, None);
        assert_eq!(cfg(&[("NRT_SHIM_TRACE", "t.json")], None).0.trace.as_deref(), Some("t.json"));
        assert_eq!(cfg(&[("NRT_SHIM_TRACE_EVENTS", "10")], None).0.trace_events, 10);
    }

    #[test]
    fn renaming_switch_and_cap() {
        let (c, _) = cfg(&[], None);
        assert!(c.rename);
        assert_eq!(c.rename_max_bytes, RENAME_MAX_BYTES_DEFAULT);
        assert!(!cfg(&[("NRT_SHIM_RENAME", "0")], None).0.rename);
        assert!(c.rename_partial);
        assert!(!cfg(&[("NRT_SHIM_RENAME_PARTIAL", "0")], None).0.rename_partial);
        assert_eq!(cfg(&[("NRT_SHIM_RENAME_MAX_BYTES", "4096")], None).0.rename_max_bytes, 4096);
        assert_eq!(cfg(&[("NRT_SHIM_RENAME_MAX_BYTES", "64M")], None).0.rename_max_bytes, 64 << 20);
        assert_eq!(cfg(&[("NRT_SHIM_RENAME_MAX_BYTES", "0")], None).0.rename_max_bytes, 0);
        let (c, w) = cfg(&[("NRT_SHIM_RENAME_MAX_BYTES", "lots")], None);
        assert_eq!(c.rename_max_bytes, RENAME_MAX_BYTES_DEFAULT);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn staging_variables() {
        let (c, _) = cfg(&[], None);
        assert!(c.stage);
        assert_eq!((c.stage_max_bytes, c.stage_pool_bytes), (STAGE_MAX_BYTES, STAGE_POOL_BYTES));
        assert!(!cfg(&[("NRT_SHIM_STAGE", "0")], None).0.stage);
        assert_eq!(cfg(&[("NRT_SHIM_STAGE_MAX_BYTES", "4096")], None).0.stage_max_bytes, 4096);
        // the same forms as every byte count
        assert_eq!(cfg(&[("NRT_SHIM_STAGE_MAX_BYTES", "1M")], None).0.stage_max_bytes, 1 << 20);
        assert_eq!(cfg(&[("NRT_SHIM_STAGE_POOL_BYTES", "64 KiB")], None).0.stage_pool_bytes, 64 << 10);
        let (c, w) = cfg(&[("NRT_SHIM_STAGE_POOL_BYTES", "lots")], None);
        assert_eq!(c.stage_pool_bytes, STAGE_POOL_BYTES);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("NRT_SHIM_STAGE_POOL_BYTES=lots"), "{w:?}");
    }
}
