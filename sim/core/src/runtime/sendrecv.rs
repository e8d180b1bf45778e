//! Point-to-point send/recv (`nrt_async_sendrecv_*`) between cores of this
//! process: a loopback pair. A send communicator (local a, peer b, from
//! connect) pairs with a receive communicator (local b, peer a, from accept);
//! posted sends and receives of a pair match in order, and the bytes move when
//! both sides of a match are posted (as a DMA outside the units, checked by the
//! hazard oracle). Requests complete then; `test_request` reports it once.

use super::*;
use std::collections::VecDeque;

/// Requests posted and not yet reported done, per process.
pub const MAX_PENDING: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Comm {
    send: bool,
    local: u32,
    peer: u32,
}

impl Comm {
    /// (from core, to core) of the transfers on this communicator.
    fn pair(&self) -> (u32, u32) {
        if self.send {
            (self.local, self.peer)
        } else {
            (self.peer, self.local)
        }
    }
}

struct Req {
    region: Region,
    /// Bytes moved, once matched.
    done: Option<usize>,
}

#[derive(Default)]
struct State {
    comms: HashMap<usize, Comm>,
    reqs: HashMap<usize, Req>,
    /// Posted, unmatched requests per (from, to): sends and receives.
    sends: HashMap<(u32, u32), VecDeque<usize>>,
    recvs: HashMap<(u32, u32), VecDeque<usize>>,
}

#[derive(Default)]
pub(super) struct SendRecv(Mutex<State>);

/// The addresses a loopback peer may have.
fn is_loopback(ip: &str) -> bool {
    matches!(ip, "127.0.0.1" | "localhost" | "::1") || ip.starts_with("127.")
}

impl Runtime {
    fn sr_lnc(&self, call: &str, what: &str, lnc: i32) -> Res<u32> {
        if lnc < 0 || lnc as u32 >= self.cfg.cores {
            return Err(reject!(NRT_INVALID, "{call}: {what} {lnc} is not a core (0..{})", self.cfg.cores));
        }
        Ok(lnc as u32)
    }

    /// init / close / flush: a core check; close also drops that core's communicators.
    pub fn sr_core_call(&self, call: &str, lnc: i32, close: bool) -> Res<()> {
        let c = self.sr_lnc(call, "lnc", lnc)?;
        if close {
            self.sendrecv.0.lock().comms.retain(|_, k| k.local != c);
        }
        Ok(())
    }

    /// connect (send) / accept (receive): a communicator towards a loopback peer.
    pub fn sr_open(&self, call: &str, send: bool, ip: &str, peer: i32, local: i32) -> Res<usize> {
        if !is_loopback(ip) {
            return Err(reject!(
                NRT_FAILURE,
                "{call}: peer {ip:?} is not this host: nrt-sim connects loopback peers only (127.0.0.1, localhost, ::1)"
            ));
        }
        let peer = self.sr_lnc(call, "peer lnc", peer)?;
        let local = self.sr_lnc(call, "local lnc", local)?;
        let h = new_handle();
        self.sendrecv.0.lock().comms.insert(h, Comm { send, local, peer });
        Ok(h)
    }

    /// test_comm: connected once the other end's communicator exists.
    pub fn sr_test_comm(&self, comm: usize) -> Res<bool> {
        let st = self.sendrecv.0.lock();
        let c = *st.comms.get(&comm).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "nrt_async_sendrecv_test_comm: communicator {comm:#x} is unknown")
        })?;
        let other = Comm { send: !c.send, local: c.peer, peer: c.local };
        Ok(st.comms.values().any(|k| *k == other))
    }

    /// send_tensor / recv_tensor: posts a request; moves the bytes of every
    /// match this completes. Returns the request's handle.
    pub fn sr_post(&self, call: &str, send: bool, th: usize, off: u64, len: u64, comm: usize) -> Res<usize> {
        let c = *self.sendrecv.0.lock().comms.get(&comm).ok_or_else(|| {
            reject!(NRT_INVALID_HANDLE, "{call}: communicator {comm:#x} is unknown (or its core was closed)")
        })?;
        if c.send != send {
            let kind = if c.send { "a send" } else { "a receive" };
            return Err(reject!(NRT_INVALID, "{call}: communicator {comm:#x} is {kind} communicator"));
        }
        let (t, off, len) = self.io_target(call, th, off, len)?;
        if t.device_core() != Some(c.local) {
            return Err(reject!(NRT_INVALID, "{call}: tensor '{}' is not a device tensor of core {}", t.name, c.local));
        }
        let mut st = self.sendrecv.0.lock();
        let pending = st.reqs.len();
        if pending >= MAX_PENDING {
            return Err(reject!(NRT_RESOURCE, "{call}: {pending} requests pending (the limit is {MAX_PENDING})"));
        }
        let h = new_handle();
        st.reqs.insert(h, Req { region: t.region(off, len), done: None });
        let pair = c.pair();
        (if send { &mut st.sends } else { &mut st.recvs }).entry(pair).or_default().push_back(h);
        while let (Some(&s), Some(&r)) =
            (st.sends.get(&pair).and_then(|q| q.front()), st.recvs.get(&pair).and_then(|q| q.front()))
        {
            st.sends.get_mut(&pair).map(|q| q.pop_front());
            st.recvs.get_mut(&pair).map(|q| q.pop_front());
            let (src, dst) = (st.reqs[&s].region.clone(), st.reqs[&r].region.clone());
            let n = src.len.min(dst.len);
            let (src, dst) = (Region { len: n, ..src }, Region { len: n, ..dst });
            self.host_access(
                &format!("nrt_async_sendrecv '{}' (core {}) -> '{}' (core {})", src.tensor, pair.0, dst.tensor, pair.1),
                &[src.range(false), dst.range(true)],
            );
            dst.view().copy_from(&src.view());
            for k in [s, r] {
                if let Some(q) = st.reqs.get_mut(&k) {
                    q.done = Some(n);
                }
            }
        }
        Ok(h)
    }

    /// test_request: (done, bytes); a done request is reported once, then forgotten.
    pub fn sr_test_request(&self, req: usize) -> Res<(bool, usize)> {
        let mut st = self.sendrecv.0.lock();
        let done = st
            .reqs
            .get(&req)
            .ok_or_else(|| {
                reject!(
                    NRT_INVALID_HANDLE,
                    "nrt_async_sendrecv_test_request: request {req:#x} is unknown (or was reported done already)"
                )
            })?
            .done;
        match done {
            Some(n) => {
                st.reqs.remove(&req);
                Ok((true, n))
            }
            None => Ok((false, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn loopback_addresses_and_pairs() {
        assert!(is_loopback("127.0.0.1") && is_loopback("localhost") && is_loopback("::1") && is_loopback("127.1.2.3"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback(""));
        let s = Comm { send: true, local: 0, peer: 1 };
        let r = Comm { send: false, local: 1, peer: 0 };
        assert_eq!(s.pair(), r.pair());
    }
}
