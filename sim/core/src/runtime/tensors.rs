//! Tensors and their storage: allocation, slices, attached buffers, lookups and
//! the range checks every tensor call makes.

use super::devmem::DevAlloc;
use super::*;
use crate::raw::{self, Mem};
use std::sync::atomic::AtomicBool;

static NEXT_STORAGE: AtomicU64 = AtomicU64::new(0);
static NEXT_PA: AtomicU64 = AtomicU64::new(0x1000_0000_0000);

pub struct Storage {
    pub id: u64,
    pub mem: Mem,
    pub pa: u64,
    pub(super) accounted: Option<Arc<AtomicU64>>,
    /// A device storage's range of its core's bank (dropped after `mem`).
    pub(super) dev: Option<DevAlloc>,
    /// The program holds a CPU (or NIC) address of these device bytes: get_va,
    /// get_hbm_mmap_va, get_dmabuf_fd.
    pub exposed: AtomicBool,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(a) = &self.accounted {
            a.fetch_sub(self.mem.len() as u64, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Device(u32),
    Host,
    Virtual,
    /// allocate_empty without a buffer yet
    Empty,
    /// the caller's buffer (attach_buffer)
    Attached,
}

#[derive(Clone)]
pub struct Tensor {
    pub name: String,
    pub placement: Placement,
    pub storage: Option<Arc<Storage>>,
    pub offset: usize,
    pub size: usize,
}

impl Tensor {
    pub(super) fn region(&self, off: usize, len: usize) -> Region {
        Region {
            storage: self.storage.clone().expect("region of a tensor without storage"),
            off: self.offset + off,
            len,
            tensor: self.name.clone(),
        }
    }
    pub(super) fn device_core(&self) -> Option<u32> {
        match self.placement {
            Placement::Device(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Region {
    pub storage: Arc<Storage>,
    pub off: usize,
    pub len: usize,
    pub tensor: String,
}

impl Region {
    pub(super) fn range(&self, write: bool) -> Range {
        Range {
            storage: self.storage.id,
            start: self.off,
            end: self.off + self.len,
            write,
            tensor: self.tensor.clone(),
        }
    }
    pub(super) fn view(&self) -> raw::View<'_> {
        self.storage.mem.view(self.off, self.len)
    }
}

impl Runtime {
    pub(super) fn tensor(&self, call: &str, h: usize) -> Res<Tensor> {
        self.reg.lock().tensors.get(&h).cloned().ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "{call}: tensor handle {h:#x} is unknown (never allocated or already freed)")
        })
    }
    pub(super) fn with_storage(call: &str, t: &Tensor) -> Res<()> {
        if t.storage.is_none() {
            return Err(reject!(
                NRT_INVALID,
                "{call}: tensor '{}' has no storage (allocate_empty without attach_buffer)",
                t.name
            ));
        }
        Ok(())
    }
    pub(super) fn range_check(call: &str, t: &Tensor, off: u64, size: u64) -> Res<(usize, usize)> {
        match off.checked_add(size) {
            Some(e) if e <= t.size as u64 => Ok((off as usize, size as usize)),
            _ => Err(reject!(
                NRT_INVALID,
                "{call}: offset {off} + size {size} is outside tensor '{}' ({} bytes)",
                t.name,
                t.size
            )),
        }
    }

    pub fn tensor_allocate(&self, placement: u32, vnc: i32, size: usize, name: &str) -> Res<usize> {
        let call = "nrt_tensor_allocate";
        let p = match placement {
            sys::NRT_TENSOR_PLACEMENT_DEVICE => {
                if vnc < 0 || vnc as u32 >= self.cfg.cores {
                    return Err(reject!(
                        NRT_INVALID,
                        "{call}: device tensor '{name}' needs vnc in 0..{} (got {vnc})",
                        self.cfg.cores
                    ));
                }
                Placement::Device(vnc as u32)
            }
            sys::NRT_TENSOR_PLACEMENT_HOST => Placement::Host,
            sys::NRT_TENSOR_PLACEMENT_VIRTUAL if !self.cfg.has_virtual_placement() => {
                return Err(reject!(
                    NRT_INVALID,
                    "{call}: placement VIRTUAL was removed in SDK 2.30 (this runtime behaves as {})",
                    self.cfg.runtime
                ))
            }
            sys::NRT_TENSOR_PLACEMENT_VIRTUAL => Placement::Virtual,
            other => return Err(reject!(NRT_INVALID, "{call}: placement {other} is not DEVICE, HOST or VIRTUAL")),
        };
        if vnc < -1 || vnc >= self.cfg.cores as i32 {
            return Err(reject!(NRT_INVALID, "{call}: vnc {vnc} is invalid"));
        }
        let accounted = if let Placement::Device(_) = p {
            let limit = self.cfg.device_memory;
            let mut cur = self.device_used.load(Ordering::Relaxed);
            loop {
                let new = cur.saturating_add(size as u64);
                if new > limit {
                    return Err(reject!(
                        NRT_RESOURCE,
                        "{call}: device memory exhausted: '{name}' needs {size} bytes, {cur} of {limit} in use (NRT_SIM_DEVICE_MEMORY)"
                    ));
                }
                match self.device_used.compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(c) => cur = c,
                }
            }
            Some(self.device_used.clone())
        } else {
            None
        };
        let id = NEXT_STORAGE.fetch_add(1, Ordering::Relaxed) + 1;
        if let (Placement::Device(core), Some(acc)) = (p, &accounted) {
            let st = self.device_storage(call, core, size, name, id, acc.clone()).inspect_err(|_| {
                acc.fetch_sub(size as u64, Ordering::Relaxed);
            })?;
            return Ok(self.reg.lock().add_tensor(Tensor {
                name: name.to_string(),
                placement: p,
                storage: Some(st),
                offset: 0,
                size,
            }));
        }
        let mem = match Mem::alloc(size) {
            Some(m) => m,
            None => {
                if let Some(a) = &accounted {
                    a.fetch_sub(size as u64, Ordering::Relaxed);
                }
                return Err(reject!(
                    sys::NRT_FAIL_HOST_MEM_ALLOC,
                    "{call}: cannot allocate {size} bytes of host memory"
                ));
            }
        };
        let pa = NEXT_PA.fetch_add((size as u64).div_ceil(4096) * 4096 + 4096, Ordering::Relaxed);
        let st = Arc::new(Storage { id, mem, pa, accounted, dev: None, exposed: AtomicBool::new(false) });
        Ok(self.reg.lock().add_tensor(Tensor {
            name: name.to_string(),
            placement: p,
            storage: Some(st),
            offset: 0,
            size,
        }))
    }

    pub fn tensor_allocate_empty(&self, name: &str) -> usize {
        self.reg.lock().add_tensor(Tensor {
            name: name.to_string(),
            placement: Placement::Empty,
            storage: None,
            offset: 0,
            size: 0,
        })
    }

    pub fn tensor_attach(&self, h: usize, mem: Mem) -> Res<()> {
        let call = "nrt_tensor_attach_buffer";
        let mut reg = self.reg.lock();
        let t =
            reg.tensors.get_mut(&h).ok_or_else(|| reject!(NRT_INVALID_HANDLE, "{call}: tensor {h:#x} is unknown"))?;
        if t.placement != Placement::Empty && t.placement != Placement::Attached {
            return Err(reject!(NRT_INVALID, "{call}: tensor '{}' already has its own storage", t.name));
        }
        let size = mem.len();
        t.storage = Some(Arc::new(Storage {
            id: NEXT_STORAGE.fetch_add(1, Ordering::Relaxed) + 1,
            mem,
            pa: 0,
            accounted: None,
            dev: None,
            exposed: AtomicBool::new(false),
        }));
        t.placement = Placement::Attached;
        t.offset = 0;
        t.size = size;
        Ok(())
    }

    pub fn tensor_slice(&self, src: usize, off: u64, size: u64, name: &str) -> Res<usize> {
        let call = "nrt_tensor_allocate_slice";
        let t = self.tensor(call, src)?;
        Self::with_storage(call, &t)?;
        let (off, size) = Self::range_check(call, &t, off, size)?;
        Ok(self.reg.lock().add_tensor(Tensor {
            name: name.to_string(),
            placement: t.placement,
            storage: t.storage.clone(),
            offset: t.offset + off,
            size,
        }))
    }

    pub fn tensor_free(&self, h: usize) -> Res<()> {
        let mut reg = self.reg.lock();
        reg.output_counts.remove(&h);
        match reg.tensors.remove(&h) {
            Some(t) => {
                drop(reg);
                drop(t); // storage lives on while slices or queued ops use it
                Ok(())
            }
            None => Err(reject!(NRT_INVALID_HANDLE, "nrt_tensor_free: tensor {h:#x} is unknown or already freed")),
        }
    }

    pub fn tensor_size(&self, h: usize) -> Res<usize> {
        Ok(self.tensor("nrt_tensor_get_size", h)?.size)
    }

    pub fn tensor_va(&self, h: usize) -> Res<Option<usize>> {
        let t = self.tensor("nrt_tensor_get_va", h)?;
        Ok(match (t.placement, &t.storage) {
            (_, None) => None,
            // Device memory has a CPU address only when mapped (NEURON_RT_MAP_HBM).
            (Placement::Device(_), Some(_)) if !self.map_hbm => None,
            (Placement::Device(_), Some(s)) => {
                // The bytes are the bank's: the program may now touch them behind the runtime.
                s.exposed.store(true, Ordering::Relaxed);
                Some(s.mem.addr() + t.offset)
            }
            (_, Some(s)) => Some(s.mem.addr() + t.offset),
        })
    }

    /// (physical address, size, hbm index) of a device tensor.
    pub fn device_alloc_info(&self, h: usize) -> Res<(u64, usize, i32)> {
        let call = "nrt_tensor_get_device_allocation_info";
        let t = self.tensor(call, h)?;
        match (t.placement, &t.storage) {
            (Placement::Device(core), Some(s)) => Ok((s.pa + t.offset as u64, t.size, core as i32)),
            _ => Err(reject!(NRT_INVALID, "{call}: tensor '{}' is not a device tensor", t.name)),
        }
    }

    pub fn check_output_completion(&self, h: usize, timeout_us: i64, expected: u64) -> Res<()> {
        let call = "nrt_tensor_check_output_completion";
        let deadline = (timeout_us >= 0).then(|| Instant::now() + Duration::from_micros(timeout_us as u64));
        let mut reg = self.reg.lock();
        loop {
            let c = match reg.output_counts.get(&h) {
                Some(c) => *c,
                None => return Err(reject!(NRT_INVALID_HANDLE, "{call}: tensor {h:#x} is unknown")),
            };
            if c >= expected {
                return Ok(());
            }
            match deadline {
                None => self.output_cv.wait(&mut reg),
                Some(d) => {
                    if Instant::now() >= d || self.output_cv.wait_until(&mut reg, d).timed_out() {
                        let c = reg.output_counts.get(&h).copied().unwrap_or(0);
                        if c >= expected {
                            return Ok(());
                        }
                        return Err(NRT_TIMEOUT);
                    }
                }
            }
        }
    }

    pub fn reset_output_completion(&self, h: usize) -> Res<()> {
        let mut reg = self.reg.lock();
        match reg.output_counts.get_mut(&h) {
            Some(c) => {
                *c = 0;
                Ok(())
            }
            None => Err(reject!(NRT_INVALID_HANDLE, "nrt_tensor_reset_output_completion: tensor {h:#x} is unknown")),
        }
    }

    /// Validates the target of a read, write or memset; returns the tensor and range.
    pub(super) fn io_target(&self, call: &str, h: usize, off: u64, size: u64) -> Res<(Tensor, usize, usize)> {
        let t = self.tensor(call, h)?;
        Self::with_storage(call, &t)?;
        let (off, size) = Self::range_check(call, &t, off, size)?;
        Ok((t, off, size))
    }

    /// Validates the operands of a copy (both tensors, then both storages,
    /// then both ranges); returns (source, its offset, destination, its offset, size).
    pub(super) fn copy_operands(
        &self,
        call: &str,
        src: usize,
        soff: u64,
        dst: usize,
        doff: u64,
        size: u64,
    ) -> Res<(Tensor, usize, Tensor, usize, usize)> {
        let s = self.tensor(call, src)?;
        let d = self.tensor(call, dst)?;
        Self::with_storage(call, &s)?;
        Self::with_storage(call, &d)?;
        let (so, n) = Self::range_check(call, &s, soff, size)?;
        let (dof, _) = Self::range_check(call, &d, doff, size)?;
        Ok((s, so, d, dof, n))
    }
}
