//! Device memory: one bank per core (`hbm_index` = the core, device 0), a
//! shared mapping (`devmap::Mapping`) that the core's device tensors are
//! sub-allocated from, so that `nrt_tensor_get_va` of a device tensor, the
//! bank's `nrt_get_hbm_mmap_va` and `nrt_get_dmabuf_fd` all show the very bytes
//! executions read and write. Also the calls that reach device memory by
//! address: `nrt_memcpy_to_device`, the HBM mapping, the dma-buf fd.

use super::*;
use crate::devmap::{Mapping, PAGE};
use crate::raw::UserBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Weak;

/// The largest bank mapping (address space only; pages exist once touched).
const MAX_BANK: u64 = 1 << 40;

/// The physical address of byte 0 of core c's bank: (c + 1) << 40, so that
/// `physical - bank base` equals `va - mapping base` for every tensor.
fn pa_base(core: u32) -> u64 {
    (u64::from(core) + 1) << 40
}

/// A bank's mapping size for a device memory limit: twice the limit (room for
/// page rounding and fragmentation) plus 256 MiB, at most MAX_BANK.
pub(super) fn bank_len(limit: u64) -> usize {
    let want = limit.saturating_mul(2).saturating_add(256 << 20).min(MAX_BANK);
    (want as usize).div_ceil(PAGE) * PAGE
}

/// One live allocation of a bank: its tensor's `size` bytes (the extent
/// reserved is page-rounded; the DevAlloc knows it).
struct Live {
    size: usize,
    tensor: String,
    storage: Weak<Storage>,
}

/// First-fit extents of a bank: free ranges (offset -> length, coalesced) and
/// live ones. Offsets and lengths are page multiples.
pub(super) struct Extents {
    free: BTreeMap<usize, usize>,
    live: BTreeMap<usize, Live>,
}

impl Extents {
    pub(super) fn new(len: usize) -> Extents {
        Extents { free: BTreeMap::from([(0, len)]), live: BTreeMap::new() }
    }
    /// A free range of `len` bytes (a page multiple), or None.
    fn alloc(&mut self, len: usize) -> Option<usize> {
        let (&off, &flen) = self.free.iter().find(|(_, &l)| l >= len)?;
        self.free.remove(&off);
        if flen > len {
            self.free.insert(off + len, flen - len);
        }
        Some(off)
    }
    fn release(&mut self, off: usize, len: usize) {
        self.live.remove(&off);
        let (mut start, mut end) = (off, off + len);
        if let Some((&p, &pl)) = self.free.range(..off).next_back() {
            if p + pl == off {
                self.free.remove(&p);
                start = p;
            }
        }
        if let Some(&nl) = self.free.get(&end) {
            self.free.remove(&end);
            end += nl;
        }
        self.free.insert(start, end - start);
    }
    /// The live allocation holding `off..off + len` entirely: (its offset, it).
    fn find(&self, off: usize, len: usize) -> Option<(usize, &Live)> {
        let (&a, l) = self.live.range(..=off).next_back()?;
        (off + len <= a + l.size).then_some((a, l))
    }
}

pub struct Bank {
    core: u32,
    map: Mapping,
    ext: Mutex<Extents>,
    /// Set once nrt_get_hbm_mmap_va handed the whole bank out.
    pub(super) mapped: AtomicBool,
}

/// A storage's range of its bank, given back (and zeroed) when the storage drops.
pub struct DevAlloc {
    bank: Arc<Bank>,
    off: usize,
    len: usize,
}

impl Drop for DevAlloc {
    fn drop(&mut self) {
        self.bank.map.zero(self.off, self.len);
        self.bank.ext.lock().release(self.off, self.len);
    }
}

/// The banks of a session, made on first use.
#[derive(Default)]
pub(super) struct Banks(Mutex<Vec<Option<Arc<Bank>>>>);

impl Runtime {
    fn bank(&self, call: &str, core: u32) -> Res<Arc<Bank>> {
        let mut v = self.banks.0.lock();
        if v.len() < self.cfg.cores as usize {
            v.resize(self.cfg.cores as usize, None);
        }
        if let Some(b) = &v[core as usize] {
            return Ok(b.clone());
        }
        // A smaller bank if the address space is limited (ulimit -v): halve
        // down to 64 MiB; allocations beyond it then fail with NRT_RESOURCE.
        let want = bank_len(self.cfg.device_memory);
        let mut len = want;
        let map = loop {
            match Mapping::new(&format!("nrt-sim-hbm{core}"), len) {
                Ok(m) => break m,
                Err(e) if len <= 64 << 20 => {
                    return Err(reject!(
                        NRT_RESOURCE,
                        "{call}: cannot map {len} bytes of device memory for core {core}: {e}"
                    ))
                }
                Err(_) => len = (len / 2).div_ceil(PAGE) * PAGE,
            }
        };
        if len < want {
            log::warn!("core {core}'s device memory is a {len}-byte mapping ({want} could not be mapped)");
        }
        let b = Arc::new(Bank { core, map, ext: Mutex::new(Extents::new(len)), mapped: AtomicBool::new(false) });
        v[core as usize] = Some(b.clone());
        Ok(b)
    }

    /// A device storage of `size` bytes on `core`'s bank, zeroed.
    pub(super) fn device_storage(
        &self,
        call: &str,
        core: u32,
        size: usize,
        name: &str,
        id: u64,
        accounted: Arc<AtomicU64>,
    ) -> Res<Arc<Storage>> {
        let bank = self.bank(call, core)?;
        let len = size.div_ceil(PAGE).max(1) * PAGE;
        let off = bank.ext.lock().alloc(len).ok_or_else(|| {
            reject!(NRT_RESOURCE, "{call}: no {len} contiguous bytes left in core {core}'s device memory for '{name}'")
        })?;
        bank.map.populate(off, len);
        let mem = bank.map.mem(off, size);
        let pa = pa_base(core) + off as u64;
        let exposed = AtomicBool::new(bank.mapped.load(Ordering::Relaxed));
        let dev = DevAlloc { bank: bank.clone(), off, len };
        let st = Arc::new(Storage { id, mem, pa, accounted: Some(accounted), dev: Some(dev), exposed });
        let live = Live { size, tensor: name.to_string(), storage: Arc::downgrade(&st) };
        bank.ext.lock().live.insert(off, live);
        Ok(st)
    }

    /// The storage and tensor name of the live device allocation holding
    /// `addr..addr + len` entirely, with the offset of `addr` in the storage.
    fn device_range(&self, call: &str, addr: usize, len: usize) -> Res<(Arc<Storage>, String, usize)> {
        let banks: Vec<Arc<Bank>> = self.banks.0.lock().iter().flatten().cloned().collect();
        let Some(b) = banks.iter().find(|b| b.map.contains(addr, len)) else {
            return Err(reject!(NRT_INVALID, "{call}: address {addr:#x} (+{len}) is not device memory"));
        };
        let off = addr - b.map.base();
        let ext = b.ext.lock();
        let found = ext.find(off, len).and_then(|(a, l)| Some((l.storage.upgrade()?, l.tensor.clone(), off - a)));
        found.ok_or_else(|| {
            reject!(
                NRT_INVALID,
                "{call}: address {addr:#x} (+{len}) of core {}'s device memory is not inside one allocated tensor",
                b.core
            )
        })
    }

    /// nrt_memcpy_to_device: a host write of the device bytes at `dest`.
    pub fn memcpy_to_device(&self, dest: usize, src: UserBuf) -> Res<()> {
        let call = "nrt_memcpy_to_device";
        if src.is_empty() {
            return Ok(());
        }
        let (st, tensor, off) = self.device_range(call, dest, src.len())?;
        let r = Region { storage: st, off, len: src.len(), tensor };
        self.host_access(&format!("{call} into '{}'", r.tensor), &[r.range(true)]);
        r.view().copy_from_user(&src);
        Ok(())
    }

    /// nrt_get_hbm_mmap_va: (address, size) of the bank's mapping.
    pub fn hbm_mmap_va(&self, device: i32, hbm: i32) -> Res<(usize, usize)> {
        let call = "nrt_get_hbm_mmap_va";
        if device != 0 {
            return Err(reject!(NRT_INVALID, "{call}: device {device} does not exist (the simulator has device 0)"));
        }
        if hbm < 0 || hbm as u32 >= self.cfg.cores {
            return Err(reject!(
                NRT_INVALID,
                "{call}: hbm_idx {hbm} is not in 0..{} (one bank per core)",
                self.cfg.cores
            ));
        }
        if !self.map_hbm {
            return Err(reject!(
                NRT_INVALID,
                "{call}: device memory is not mapped to the CPU (set NEURON_RT_MAP_HBM=1)"
            ));
        }
        let b = self.bank(call, hbm as u32)?;
        if !b.mapped.swap(true, Ordering::Relaxed) {
            // Collected first: the last reference to a storage must not drop under
            // the extents' lock (its DevAlloc takes it).
            let live: Vec<Arc<Storage>> = b.ext.lock().live.values().filter_map(|l| l.storage.upgrade()).collect();
            for s in live {
                s.exposed.store(true, Ordering::Relaxed);
            }
        }
        Ok((b.map.base(), b.map.len()))
    }

    /// nrt_get_dmabuf_fd: a new fd of the bank holding `va..va + size`.
    pub fn dmabuf_fd(&self, va: u64, size: u64) -> Res<i32> {
        let call = "nrt_get_dmabuf_fd";
        if size == 0 || va > usize::MAX as u64 || size > usize::MAX as u64 {
            return Err(reject!(NRT_INVALID, "{call}: range {va:#x} (+{size}) is empty or too large"));
        }
        let (st, _, _) = self.device_range(call, va as usize, size as usize)?;
        st.exposed.store(true, Ordering::Relaxed);
        let Some(dev) = &st.dev else { unreachable!("device_range gives device storages") };
        dev.bank.map.dup_fd().ok_or_else(|| reject!(NRT_RESOURCE, "{call}: cannot duplicate the device memory's fd"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn first_fit_and_coalescing() {
        let mut e = Extents::new(10 * PAGE);
        let a = e.alloc(2 * PAGE).unwrap();
        let b = e.alloc(3 * PAGE).unwrap();
        let c = e.alloc(5 * PAGE).unwrap();
        assert_eq!((a, b, c), (0, 2 * PAGE, 5 * PAGE));
        assert_eq!(e.alloc(PAGE), None, "full");
        e.release(b, 3 * PAGE);
        assert_eq!(e.alloc(4 * PAGE), None, "a 3-page hole");
        e.release(a, 2 * PAGE);
        assert_eq!(e.free.len(), 1, "the two holes coalesce: {:?}", e.free);
        assert_eq!(e.alloc(5 * PAGE), Some(0));
        e.release(0, 5 * PAGE);
        e.release(c, 5 * PAGE);
        assert_eq!(e.free, BTreeMap::from([(0, 10 * PAGE)]));
    }
    #[test]
    fn find_needs_one_live_allocation() {
        let mut e = Extents::new(4 * PAGE);
        for off in [0, PAGE] {
            e.live.insert(off, Live { size: PAGE - 8, tensor: "t".into(), storage: Weak::new() });
        }
        assert_eq!(e.find(10, 20).map(|f| f.0), Some(0));
        assert_eq!(e.find(PAGE - 9, 1).map(|f| f.0), Some(0));
        assert!(e.find(PAGE - 9, 2).is_none(), "past the tensor's bytes");
        assert!(e.find(PAGE - 1, 2).is_none(), "spans two allocations");
        assert!(e.find(2 * PAGE, 1).is_none(), "free memory");
    }
    #[test]
    fn bank_sizes() {
        assert_eq!(bank_len(1 << 20), (2 << 20) + (256 << 20));
        assert_eq!(bank_len(u64::MAX), 1 << 40);
        assert_eq!(pa_base(0), 1 << 40);
    }
}
