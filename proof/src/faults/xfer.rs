//! Storms of failing transfers: which of a program's writes the shim stages
//! (and so which the simulator fails), and the shim's own count of them.
//!
//! The reference's synchronous writes never fail, so it cannot say which of
//! the shim's writes did; this model of the shim's staging rule can. The shim
//! stages an `nrt_tensor_write` or `nrt_tensor_memset` that the runtime
//! accepts when its tensor is in device memory, its storage's address was
//! never handed out (`va`), and it writes 1 to `NRT_SHIM_STAGE_MAX_BYTES`
//! bytes (src/scheduler/stage.rs, `write_staged`); batches are never staged.
//! The simulator fails every n-th asynchronous transfer it is asked for
//! (`NRT_SIM_FAIL_TRANSFER_EVERY`, counted from each `nrt_init`, in
//! scheduling order, which is program order in a one-thread program).
//!
//! Two things the model cannot see would shift its count: a transfer the
//! runtime refuses for a full queue (the simulator counts the attempt, the
//! shim then writes synchronously) and a core with all 32 transfer slots in
//! use (the shim writes synchronously, uncounted). The storms make the first
//! impossible (a tensor-op queue deeper than the slots) and the second is
//! caught: every batch compares the model's count with the shim's own
//! (`NRT_SHIM_STATS`' `failed_requests`), so a wrong model is a violation,
//! never a silently weaker check.

/// One storm's failing transfers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XferFaults {
    /// NRT_SIM_FAIL_TRANSFER_EVERY.
    pub every: u64,
    /// NRT_SIM_FAIL_STATUS.
    pub status: u32,
    /// NRT_SHIM_STAGE_MAX_BYTES.
    pub max_bytes: u64,
}

/// The simulator's queue depth in these storms: more than the shim's
/// transfer slots per core (src/scheduler/transfer.rs, XFER_SLOTS = 32), so
/// no transfer is refused for a full queue.
pub const QUEUE_DEPTH: u32 = 64;

/// One program's staged writes as the model counts them.
#[derive(Debug)]
pub struct Staging {
    faults: XferFaults,
    /// Writes staged so far (the simulator's count of transfers).
    pub staged: u64,
    /// Of them, the ones the simulator fails.
    pub failed: u64,
}

impl Staging {
    pub fn new(faults: XferFaults) -> Staging {
        Staging { faults, staged: 0, failed: 0 }
    }

    /// A write or memset of `len` bytes the runtime accepts; `stageable`: its
    /// tensor is in device memory never exposed. Some(status): it is staged
    /// and fails.
    pub fn write(&mut self, len: i64, stageable: bool) -> Option<u32> {
        if !stageable || len <= 0 || len as u64 > self.faults.max_bytes {
            return None;
        }
        self.staged += 1;
        if self.faults.every > 0 && self.staged % self.faults.every == 0 {
            self.failed += 1;
            Some(self.faults.status)
        } else {
            None
        }
    }
}

/// `counters.failed_requests` of an `NRT_SHIM_STATS` JSON file.
pub fn failed_requests(json: &str) -> Option<u64> {
    let key = "\"failed_requests\":";
    let at = json.find(key)? + key.len();
    let rest = json[at..].trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_stageable_write_fails() {
        let mut s = Staging::new(XferFaults { every: 2, status: 1004, max_bytes: 100 });
        assert_eq!(s.write(10, true), None);
        assert_eq!(s.write(10, false), None, "not staged: not counted");
        assert_eq!(s.write(0, true), None, "zero bytes: not staged");
        assert_eq!(s.write(101, true), None, "too large: not staged");
        assert_eq!(s.write(100, true), Some(1004));
        assert_eq!((s.staged, s.failed), (2, 1));
    }

    #[test]
    fn reads_the_shims_counter() {
        let j = "{\"counters\": {\"executions\": 3, \"failed_requests\": 17, \"x\": 1}}";
        assert_eq!(failed_requests(j), Some(17));
        assert_eq!(failed_requests("{}"), None);
    }
}
