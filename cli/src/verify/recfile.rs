//! Reading what `NRT_SHIM_RECORD` wrote (the format: src/observe/record.rs), and
//! naming each call's tensors from the run's own allocations.

use std::collections::{BTreeMap, HashMap};

const MAGIC: u32 = u32::from_le_bytes(*b"NRTR");
const RECORD_BYTES: usize = 56;
pub const F_DIGEST: u16 = 1;
const F_NAME: u16 = 2;
pub const F_DATA: u16 = 4;

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub func: String,
    pub flags: u16,
    pub status: u64,
    pub handle: u64,
    pub offset: u64,
    pub size: u64,
    pub handle2: u64,
    /// A read's digest (F_DIGEST), else a second offset.
    pub last: u64,
    pub extra: Vec<u8>,
    /// Filled by [`Process::name_tensors`]: the tensors' names and numbers in this run.
    pub tensor: String,
    pub tensor2: String,
}

impl Call {
    pub fn is_read(&self) -> bool {
        self.flags & F_DIGEST != 0
    }
}

/// One process's record: threads by their number (order of first call).
#[derive(Default, Debug)]
pub struct Process {
    pub shim_version: String,
    pub threads: BTreeMap<u32, Vec<Call>>,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Every process in a record file, by pid.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<u32, Process>, String> {
    let mut names: HashMap<u32, Vec<String>> = HashMap::new();
    let mut out: BTreeMap<u32, Process> = BTreeMap::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.len() - i < 24 || u32_at(bytes, i) != MAGIC {
            return Err(format!("corrupt record at byte {i} (no chunk header)"));
        }
        let (kind, pid, thread, len) =
            (u16_at(bytes, i + 6), u32_at(bytes, i + 8), u32_at(bytes, i + 12), u32_at(bytes, i + 20));
        let body = bytes.get(i + 24..i + 24 + len as usize).ok_or(format!("record truncated at byte {i}"))?;
        i += 24 + len as usize;
        let proc = out.entry(pid).or_default();
        if kind == 0 {
            let text = String::from_utf8_lossy(body);
            let mut lines = text.lines();
            proc.shim_version = lines.next().unwrap_or("").to_string();
            names.insert(pid, lines.map(str::to_string).collect());
            continue;
        }
        let table = names.get(&pid).ok_or(format!("records of pid {pid} before its header"))?;
        let calls = proc.threads.entry(thread).or_default();
        let mut j = 0;
        while j + RECORD_BYTES <= body.len() {
            let id = u16_at(body, j) as usize;
            let extra_len = u32_at(body, j + 4) as usize;
            let start = j + RECORD_BYTES;
            let extra = body.get(start..start + extra_len).ok_or("a record's extra bytes are truncated")?.to_vec();
            calls.push(Call {
                func: table.get(id).cloned().unwrap_or_else(|| format!("call#{id}")),
                flags: u16_at(body, j + 2),
                status: u64_at(body, j + 8),
                handle: u64_at(body, j + 16),
                offset: u64_at(body, j + 24),
                size: u64_at(body, j + 32),
                handle2: u64_at(body, j + 40),
                last: u64_at(body, j + 48),
                extra,
                tensor: String::new(),
                tensor2: String::new(),
            });
            j = start + extra_len.div_ceil(8) * 8;
        }
    }
    for p in out.values_mut() {
        p.name_tensors();
    }
    Ok(out)
}

fn allocates(func: &str) -> bool {
    matches!(func, "nrt_tensor_allocate" | "nrt_tensor_allocate_empty" | "nrt_tensor_allocate_slice")
}

impl Process {
    /// Names every handle from the allocations that returned it: the calling
    /// thread's own latest allocation of that handle first, else any thread's
    /// (records of different threads are not ordered against each other).
    /// Tensors of one name are numbered in the order the allocating thread
    /// allocated them: "'z' #2" is its second tensor named z (so the numbers
    /// do not depend on how threads interleave). Tensors without a name of their own take their tensor-set name.
    pub fn name_tensors(&mut self) {
        let mut any: HashMap<u64, String> = HashMap::new();
        let mut sets: HashMap<u64, String> = HashMap::new();
        for calls in self.threads.values() {
            let mut per_name: HashMap<String, usize> = HashMap::new();
            let mut set_counter = 0usize;
            for c in calls {
                if allocates(&c.func) && c.status == 0 && c.handle != 0 {
                    let name =
                        if c.flags & F_NAME != 0 { String::from_utf8_lossy(&c.extra).into_owned() } else { "?".into() };
                    let n = per_name.entry(name.clone()).or_default();
                    *n += 1;
                    any.insert(c.handle, format!("'{name}' #{n}"));
                } else if c.func == "nrt_allocate_tensor_set" && c.status == 0 {
                    set_counter += 1;
                    sets.insert(c.handle, format!("set #{set_counter}"));
                } else if c.func == "nrt_add_tensor_to_tensor_set" && c.flags & F_NAME != 0 {
                    let n = String::from_utf8_lossy(&c.extra).into_owned();
                    any.entry(c.handle).or_insert_with(|| format!("'{n}'"));
                }
            }
        }
        for calls in self.threads.values_mut() {
            let mut own: HashMap<u64, String> = HashMap::new();
            for c in calls.iter_mut() {
                let lookup = |h: u64, own: &HashMap<u64, String>| -> String {
                    if h == 0 {
                        return String::new();
                    }
                    own.get(&h)
                        .or_else(|| any.get(&h))
                        .or_else(|| sets.get(&h))
                        .cloned()
                        .unwrap_or_else(|| "(unnamed)".into())
                };
                c.tensor = lookup(c.handle, &own);
                c.tensor2 = lookup(c.handle2, &own);
                if allocates(&c.func) && c.status == 0 {
                    own.insert(c.handle, any.get(&c.handle).cloned().unwrap_or_default());
                }
                if c.func.starts_with("nrt_execute") {
                    c.tensor = "model".into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: u16, pid: u32, thread: u32, body: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_le_bytes().to_vec();
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&kind.to_le_bytes());
        for w in [pid, thread, 0, body.len() as u32] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    fn record(id: u16, flags: u16, fields: [u64; 6], extra: &[u8]) -> Vec<u8> {
        let mut v = id.to_le_bytes().to_vec();
        v.extend_from_slice(&flags.to_le_bytes());
        v.extend_from_slice(&(extra.len() as u32).to_le_bytes());
        for f in fields {
            v.extend_from_slice(&f.to_le_bytes());
        }
        v.extend_from_slice(extra);
        v.resize(v.len().div_ceil(8) * 8, 0);
        v
    }

    #[test]
    fn parses_chunks_by_pid_and_thread_and_names_tensors() {
        let mut file = chunk(0, 7, u32::MAX, b"0.1.0\nnrt_tensor_allocate\nnrt_tensor_read\n");
        let mut t0 = record(0, F_NAME, [0, 0x1000, 0, 64, 0, 0], b"logits");
        t0.extend(record(1, F_DIGEST, [0, 0x1000, 8, 16, 0, 0xabc], &[]));
        file.extend(chunk(1, 7, 0, &t0));
        file.extend(chunk(1, 7, 1, &record(1, F_DIGEST, [4, 0x1000, 0, 4, 0, 0], &[])));
        let procs = parse(&file).unwrap();
        let p = &procs[&7];
        assert_eq!(p.shim_version, "0.1.0");
        assert_eq!(p.threads.len(), 2);
        let read = &p.threads[&0][1];
        assert_eq!((read.func.as_str(), read.offset, read.size, read.last), ("nrt_tensor_read", 8, 16, 0xabc));
        assert!(read.is_read());
        assert_eq!(read.tensor, "'logits' #1");
        assert_eq!(p.threads[&1][0].tensor, "'logits' #1", "another thread's allocation names it");
        assert_eq!(p.threads[&1][0].status, 4);
    }

    #[test]
    fn corrupt_and_truncated_files_are_errors() {
        assert!(parse(b"garbage").is_err());
        let mut file = chunk(0, 7, u32::MAX, b"0.1.0\nnrt_tensor_read\n");
        file.truncate(file.len() - 3);
        assert!(parse(&file).is_err());
        assert!(parse(&chunk(1, 7, 0, &record(0, 0, [0; 6], &[]))).is_err(), "records before the header");
    }
}
