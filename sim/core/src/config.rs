//! Simulator configuration, read once per process from `NRT_SIM_*` variables.

use once_cell::sync::Lazy;
use std::time::Duration;

/// NRT_EXEC_COMPLETED_WITH_ERR.
pub const DEFAULT_FAIL_STATUS: u32 = 1004;

/// What an implicit-async tensor call waits for (`NRT_SIM_IMPLICIT_FENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplicitFence {
    /// The 2.31.24 binary: per storage, a read waits for in-flight device
    /// writes of the tensor's storage, a write for all its in-flight access.
    Storage,
    /// The documentation: every tensor call waits for all pending executions
    /// of the tensor's core.
    All,
}

impl ImplicitFence {
    pub fn name(self) -> &'static str {
        match self {
            ImplicitFence::Storage => "storage",
            ImplicitFence::All => "all",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub cores: u32,
    pub queue_depth: usize,
    pub dma_latency_us: f64,
    pub dma_gbps: f64,
    pub device_memory: u64,
    pub latency_scale: f64,
    pub runtime: String,
    pub runtime_version: (u64, u64, u64, u64),
    pub fail_every: u64,
    /// Every n-th asynchronous transfer (nrta_tensor_write/read/copy) fails.
    pub fail_transfer_every: u64,
    pub fail_status: u32,
    pub unrecoverable_after: Option<u64>,
    pub report: Option<String>,
    /// NRT_SIM_ASYNC_ABI as given (2 or 3), if set.
    pub async_abi_env: Option<u32>,
    pub implicit_fence: ImplicitFence,
    /// NRT_SIM_HAZARDS=stderr: one line per hazard at a new pair of call sites, as it happens.
    pub hazards_stderr: bool,
    /// NRT_SIM_HAZARD_ABORT=1: abort (SIGABRT) at the first hazard, after printing it.
    pub hazard_abort: bool,
    /// How long nrt_barrier with count > 1 waits for the other ranks (NRT_SIM_BARRIER_TIMEOUT_MS).
    pub barrier_timeout_ms: u64,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn parse_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match var(name) {
        None => default,
        Some(s) => match s.parse::<T>() {
            Ok(v) => v,
            Err(_) => {
                log::warn!("{name}={s:?} is not a valid number; using the default");
                default
            }
        },
    }
}

/// Parses a byte count: plain bytes or a K/M/G/T suffix (powers of 1024, optional `iB`/`B`).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches("ib").trim_end_matches('b');
    let (num, mul) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let num = num.trim();
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mul);
    }
    let f: f64 = num.parse().ok()?;
    if f.is_nan() || f < 0.0 || !f.is_finite() {
        return None;
    }
    Some((f * mul as f64) as u64)
}

/// Parses "2.32" / "2.32.1" / "2.32.1.0" into (major, minor, patch, maintenance).
pub fn parse_version(s: &str) -> Option<(u64, u64, u64, u64)> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() < 2 || parts.len() > 4 {
        return None;
    }
    let mut v = [0u64; 4];
    for (i, p) in parts.iter().enumerate() {
        v[i] = p.parse().ok()?;
    }
    Some((v[0], v[1], v[2], v[3]))
}

impl Config {
    pub fn from_env() -> Config {
        let mut cores: u32 = parse_num("NRT_SIM_CORES", 2);
        if cores == 0 || cores > 255 {
            log::warn!("NRT_SIM_CORES={cores} out of range 1..=255; using 2");
            cores = 2;
        }
        let mut queue_depth: usize = parse_num("NRT_SIM_QUEUE_DEPTH", 8);
        if queue_depth == 0 {
            log::warn!("NRT_SIM_QUEUE_DEPTH=0 is not allowed; using 1");
            queue_depth = 1;
        }
        let nonneg = |name: &str, d: f64| {
            let v: f64 = parse_num(name, d);
            if v.is_finite() && v >= 0.0 {
                v
            } else {
                log::warn!("{name}={v} must be a finite number >= 0; using {d}");
                d
            }
        };
        let dma_latency_us = nonneg("NRT_SIM_DMA_LATENCY_US", 20.0);
        let mut dma_gbps = nonneg("NRT_SIM_DMA_GBPS", 10.0);
        if dma_gbps == 0.0 {
            log::warn!("NRT_SIM_DMA_GBPS=0 is not allowed; using 10");
            dma_gbps = 10.0;
        }
        let latency_scale = nonneg("NRT_SIM_LATENCY_SCALE", 1.0);
        let device_memory = match var("NRT_SIM_DEVICE_MEMORY") {
            None => 16 << 30,
            Some(s) => parse_bytes(&s).unwrap_or_else(|| {
                log::warn!("NRT_SIM_DEVICE_MEMORY={s:?} is not a byte count; using 16G");
                16 << 30
            }),
        };
        let mut runtime = var("NRT_SIM_RUNTIME").unwrap_or_else(|| "2.32".to_string());
        let runtime_version = match parse_version(&runtime) {
            Some(v) => v,
            None => {
                log::warn!("NRT_SIM_RUNTIME={runtime:?} is not a version like 2.30; using 2.32");
                runtime = "2.32".to_string();
                (2, 32, 0, 0)
            }
        };
        let fail_every: u64 = parse_num("NRT_SIM_FAIL_EVERY", 0);
        let fail_transfer_every: u64 = parse_num("NRT_SIM_FAIL_TRANSFER_EVERY", 0);
        let fail_status: u32 = parse_num("NRT_SIM_FAIL_STATUS", DEFAULT_FAIL_STATUS);
        let unrecoverable_after = var("NRT_SIM_UNRECOVERABLE_AFTER").and_then(|s| match s.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                log::warn!("NRT_SIM_UNRECOVERABLE_AFTER={s:?} is not a number; ignored");
                None
            }
        });
        let async_abi_env = var("NRT_SIM_ASYNC_ABI").and_then(|s| match s.as_str() {
            "2" => Some(2),
            "3" => Some(3),
            _ => {
                log::warn!("NRT_SIM_ASYNC_ABI={s:?} must be 2 or 3; ignored");
                None
            }
        });
        let implicit_fence = match var("NRT_SIM_IMPLICIT_FENCE").map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("storage") => ImplicitFence::Storage,
            Some("all") => ImplicitFence::All,
            Some(other) => {
                log::warn!("NRT_SIM_IMPLICIT_FENCE={other:?} must be storage or all; using storage");
                ImplicitFence::Storage
            }
        };
        let hazards_stderr = match var("NRT_SIM_HAZARDS").map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("off") => false,
            Some("stderr") => true,
            Some(other) => {
                log::warn!("NRT_SIM_HAZARDS={other:?} must be stderr or off; using off");
                false
            }
        };
        let hazard_abort = match var("NRT_SIM_HAZARD_ABORT").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                log::warn!("NRT_SIM_HAZARD_ABORT={other:?} must be 0 or 1; using 0");
                false
            }
        };
        Config {
            cores,
            queue_depth,
            dma_latency_us,
            dma_gbps,
            device_memory,
            latency_scale,
            runtime,
            runtime_version,
            fail_every,
            fail_transfer_every,
            fail_status,
            unrecoverable_after,
            report: var("NRT_SIM_REPORT"),
            async_abi_env,
            implicit_fence,
            hazards_stderr,
            hazard_abort,
            barrier_timeout_ms: parse_num("NRT_SIM_BARRIER_TIMEOUT_MS", 10_000),
        }
    }

    /// True when something can print a hazard's call sites (the report, the
    /// stderr lines, the abort): only then is each op's site captured.
    pub fn hazard_sites(&self) -> bool {
        self.report.is_some() || self.hazards_stderr || self.hazard_abort
    }

    /// True when the emulated runtime still has the implicit async mode (< 2.31).
    pub fn has_implicit_mode(&self) -> bool {
        let (a, b, _, _) = self.runtime_version;
        (a, b) < (2, 31)
    }

    /// True when the emulated runtime still has the VIRTUAL placement (< 2.30).
    pub fn has_virtual_placement(&self) -> bool {
        let (a, b, _, _) = self.runtime_version;
        (a, b) < (2, 30)
    }

    /// Device time of `us` microseconds, scaled.
    pub fn scaled(&self, us: f64) -> Duration {
        Duration::from_secs_f64((us * self.latency_scale).max(0.0) / 1e6)
    }

    /// Time of one DMA transfer of `bytes`.
    pub fn dma_time(&self, bytes: u64) -> Duration {
        let us = self.dma_latency_us + bytes as f64 / (self.dma_gbps * 1e9) * 1e6;
        self.scaled(us)
    }
}

static CONFIG: Lazy<Config> = Lazy::new(|| {
    crate::logging::init();
    Config::from_env()
});

/// The process-wide configuration (read on first use).
pub fn get() -> &'static Config {
    &CONFIG
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("4K"), Some(4096));
        assert_eq!(parse_bytes("2M"), Some(2 << 20));
        assert_eq!(parse_bytes("16G"), Some(16 << 30));
        assert_eq!(parse_bytes("16GiB"), Some(16 << 30));
        assert_eq!(parse_bytes("1.5k"), Some(1536));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_bytes(""), None);
    }
    #[test]
    fn versions() {
        assert_eq!(parse_version("2.32"), Some((2, 32, 0, 0)));
        assert_eq!(parse_version("2.30.1.7"), Some((2, 30, 1, 7)));
        assert_eq!(parse_version("2"), None);
        assert_eq!(parse_version("a.b"), None);
    }
}
