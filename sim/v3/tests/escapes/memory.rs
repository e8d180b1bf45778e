//! Device memory reached by address: get_va of device tensors, the bank
//! mapping, nrt_memcpy_to_device, the dma-buf fd, writes through addresses.

use super::common::*;
use super::{bytes, schedule, Escapes, COPY};
use nrt_sys::*;
use std::ffi::{c_int, c_void};

pub(crate) fn device_va(l: &Lib, e: &Escapes) {
    l.init();
    let m = l.load(COPY, 1);
    let (x, y) = (l.dev(1, 16, "x"), l.dev(1, 16, "y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xv = bytes(unsafe { (l.c.nrt_tensor_get_va)(x) }, 16);
    let yv = bytes(unsafe { (l.c.nrt_tensor_get_va)(y) }, 16);
    assert_eq!(xv, &[0u8; 16], "device memory starts zeroed");
    // a CPU write through the address is what the next execution reads ...
    xv.copy_from_slice(&[7u8; 16]);
    assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
    // ... and a CPU read through the address sees the last execution's outputs
    assert_eq!(yv, &[7u8; 16]);
    // nrt_tensor_write / read go through the same bytes
    assert_eq!(l.write(x, 4, &[9, 9]), NRT_SUCCESS);
    assert_eq!(&xv[4..6], &[9, 9]);
    xv[0] = 42;
    assert_eq!(l.read(x, 0, 1), vec![42]);
    // a slice's address is its source's plus the offset
    let mut s = std::ptr::null_mut();
    assert_eq!(unsafe { (l.c.nrt_tensor_allocate_slice)(x, 4, 8, c"s".as_ptr(), &mut s) }, NRT_SUCCESS);
    assert_eq!(unsafe { (l.c.nrt_tensor_get_va)(s) } as usize, xv.as_ptr() as usize + 4);

    // the allocation info is consistent with the mapping of the core's bank
    let (mut bank, mut bank_len) = (std::ptr::null_mut(), 0usize);
    assert_eq!(unsafe { (e.nrt_get_hbm_mmap_va)(0, 1, &mut bank, &mut bank_len) }, NRT_SUCCESS);
    let mut ix = nrt_tensor_device_allocation_info_t::default();
    let mut iy = nrt_tensor_device_allocation_info_t::default();
    let mut is = nrt_tensor_device_allocation_info_t::default();
    unsafe {
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(x, &mut ix), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(y, &mut iy), NRT_SUCCESS);
        assert_eq!((l.c.nrt_tensor_get_device_allocation_info)(s, &mut is), NRT_SUCCESS);
    }
    assert_eq!((ix.size, ix.hbm_index, is.size, is.hbm_index), (16, 1, 8, 1));
    assert_eq!(is.physical_address, ix.physical_address + 4);
    let (xa, ya, b) = (xv.as_ptr() as u64, yv.as_ptr() as u64, bank as u64);
    assert!(xa >= b && xa + 16 <= b + bank_len as u64 && ya >= b && ya + 16 <= b + bank_len as u64, "inside the bank");
    assert_eq!(iy.physical_address.wrapping_sub(ix.physical_address), ya.wrapping_sub(xa), "pa and va differ alike");
    // the bank's bytes at the tensor's offset are the tensor's
    assert_eq!(bytes(bank, bank_len)[(xa - b) as usize], 42);
    // a core-0 tensor lies in bank 0, not bank 1
    let z = l.dev(0, 8, "z");
    let mut iz = nrt_tensor_device_allocation_info_t::default();
    assert_eq!(unsafe { (l.c.nrt_tensor_get_device_allocation_info)(z, &mut iz) }, NRT_SUCCESS);
    assert_eq!(iz.hbm_index, 0);
    let za = unsafe { (l.c.nrt_tensor_get_va)(z) } as u64;
    assert!(!(b..b + bank_len as u64).contains(&za));

    // freed device memory reads as zeroes when allocated again
    l.free(s);
    l.free(x);
    let x2 = l.dev(1, 16, "x2");
    assert_eq!(l.read(x2, 0, 16), vec![0u8; 16]);
    // bad input
    unsafe {
        let mut va = std::ptr::null_mut();
        let mut n = 0usize;
        assert_eq!((e.nrt_get_hbm_mmap_va)(1, 0, &mut va, &mut n), NRT_INVALID, "device 1");
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, 2, &mut va, &mut n), NRT_INVALID, "hbm 2 of 2 cores");
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, -1, &mut va, &mut n), NRT_INVALID);
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, 0, std::ptr::null_mut(), &mut n), NRT_INVALID);
        assert_eq!((e.nrt_get_hbm_mmap_va)(0, 0, &mut va, std::ptr::null_mut()), NRT_INVALID);
        assert!(va.is_null() && n == 0, "nothing written on failure");
    }
    l.close();
}

pub(crate) fn memcpy(l: &Lib, e: &Escapes) {
    l.init();
    let x = l.dev(0, 64, "x");
    let h = l.host(64, "h");
    let xa = unsafe { (l.c.nrt_tensor_get_va)(x) };
    let ha = unsafe { (l.c.nrt_tensor_get_va)(h) };
    let src: Vec<u8> = (0..64).collect();
    unsafe {
        assert_eq!(
            (e.nrt_memcpy_to_device)((xa as *mut u8).add(8) as *mut c_void, src.as_ptr() as *const c_void, 16),
            NRT_SUCCESS
        );
        assert_eq!(l.read(x, 0, 24), [&[0u8; 8][..], &src[..16]].concat());
        assert_eq!((e.nrt_memcpy_to_device)(xa, src.as_ptr() as *const c_void, 64), NRT_SUCCESS);
        assert_eq!(l.read(x, 0, 64), src);
        assert_eq!((e.nrt_memcpy_to_device)(xa, std::ptr::null(), 0), NRT_SUCCESS, "nothing to copy");
        // bad input: NULLs, host memory, past the allocation, not allocated
        assert_eq!((e.nrt_memcpy_to_device)(std::ptr::null_mut(), src.as_ptr() as *const c_void, 4), NRT_INVALID);
        assert_eq!((e.nrt_memcpy_to_device)(xa, std::ptr::null(), 4), NRT_INVALID);
        assert_eq!((e.nrt_memcpy_to_device)(ha, src.as_ptr() as *const c_void, 4), NRT_INVALID, "host memory");
        let past = (xa as *mut u8).add(60) as *mut c_void;
        assert_eq!((e.nrt_memcpy_to_device)(past, src.as_ptr() as *const c_void, 8), NRT_INVALID, "past the end");
        let gap = (xa as *mut u8).add(4096 * 16) as *mut c_void;
        assert_eq!((e.nrt_memcpy_to_device)(gap, src.as_ptr() as *const c_void, 1), NRT_INVALID, "free memory");
    }
    assert_eq!(l.read(x, 0, 64), src, "a rejected copy writes nothing");
    l.close();
}

/// nrt_memcpy_to_device into an input an in-flight execution reads: a hazard.
pub(crate) fn memcpy_race(l: &Lib, e: &Escapes) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let m = l.load(&slow(200_000), 0);
    let (x, y) = (l.dev(0, 64, "in_x"), l.dev(0, 64, "out_y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xa = unsafe { (l.c.nrt_tensor_get_va)(x) };
    let src = [5u8; 64];
    let mut st = 99u32;
    let seq = schedule(l, m, i, o, &mut st);
    assert_eq!(unsafe { (e.nrt_memcpy_to_device)(xa, src.as_ptr() as *const c_void, 64) }, NRT_SUCCESS);
    l.wait_seq(seq);
    // the same copy after the execution completed: no hazard
    assert_eq!(unsafe { (e.nrt_memcpy_to_device)(xa, src.as_ptr() as *const c_void, 64) }, NRT_SUCCESS);
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 1, "{r}");
    let ex = r["hazard_examples"][0].as_str().unwrap();
    assert!(ex.contains("nrt_memcpy_to_device") && ex.contains("in_x") && ex.contains("nrta_execute_schedule"), "{ex}");
}

pub(crate) fn dmabuf(l: &Lib, e: &Escapes) {
    l.init();
    let x = l.dev(0, 8192, "x");
    let xa = unsafe { (l.c.nrt_tensor_get_va)(x) } as u64;
    assert_eq!(l.write(x, 4096, &[3u8; 16]), NRT_SUCCESS);
    let mut fd: c_int = -1;
    assert_eq!(unsafe { (e.nrt_get_dmabuf_fd)(xa, 8192, &mut fd) }, NRT_SUCCESS);
    assert!(fd >= 0 && fd_is_open(fd));
    // the fd holds the very bytes: the bank's, at the tensor's offset in it
    let (mut bank, mut n) = (std::ptr::null_mut(), 0usize);
    assert_eq!(unsafe { (e.nrt_get_hbm_mmap_va)(0, 0, &mut bank, &mut n) }, NRT_SUCCESS);
    let off = xa - bank as u64 + 4096;
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd, off as libc::off_t);
        assert_ne!(p, libc::MAP_FAILED);
        assert_eq!(std::slice::from_raw_parts(p as *const u8, 16), &[3u8; 16]);
        libc::munmap(p, 4096);
        libc::close(fd);
    }
    // a sub-range of the allocation works too
    assert_eq!(unsafe { (e.nrt_get_dmabuf_fd)(xa + 16, 64, &mut fd) }, NRT_SUCCESS);
    unsafe { libc::close(fd) };
    // bad input
    let h = l.host(64, "h");
    let ha = unsafe { (l.c.nrt_tensor_get_va)(h) } as u64;
    fd = -7;
    unsafe {
        assert_eq!((e.nrt_get_dmabuf_fd)(ha, 64, &mut fd), NRT_INVALID, "host memory");
        assert_eq!((e.nrt_get_dmabuf_fd)(xa, 8193, &mut fd), NRT_INVALID, "past the allocation");
        assert_eq!((e.nrt_get_dmabuf_fd)(xa, 0, &mut fd), NRT_INVALID, "empty");
        assert_eq!((e.nrt_get_dmabuf_fd)(0, 64, &mut fd), NRT_INVALID, "address 0");
        assert_eq!((e.nrt_get_dmabuf_fd)(xa, 64, std::ptr::null_mut()), NRT_INVALID);
    }
    assert_eq!(fd, -7, "nothing written on failure");
    l.close();
}

/// NRT_SIM_DEVICE_MEMORY still bounds device allocations (64 KiB here), and
/// freed memory can be allocated again.
pub(crate) fn limit(l: &Lib) {
    l.init();
    let a = l.dev(0, 40 << 10, "a");
    assert_eq!(l.alloc_st(NRT_TENSOR_PLACEMENT_DEVICE, 1, 30 << 10, "b").unwrap_err(), NRT_RESOURCE);
    let c = l.dev(1, 24 << 10, "c");
    l.free(a);
    let b = l.dev(0, 40 << 10, "b");
    assert_eq!(l.read(b, (40 << 10) - 4, 4), vec![0u8; 4]);
    l.free(b);
    l.free(c);
    // many small tensors: page rounding does not count against the limit
    let small: Vec<_> = (0..200).map(|k| l.dev(k % 2, 8, "s")).collect();
    for t in small {
        l.free(t);
    }
    l.close();
}

/// A CPU write through a device tensor's address while an execution that
/// reads it is in flight: the oracle sees the bytes change under the op.
pub(crate) fn va_race(l: &Lib) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let m = l.load(&slow(200_000), 0);
    let (x, y) = (l.dev(0, 64, "in_x"), l.dev(0, 64, "out_y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xv = bytes(unsafe { (l.c.nrt_tensor_get_va)(x) }, 64);
    let yv = bytes(unsafe { (l.c.nrt_tensor_get_va)(y) }, 64);
    let mut st = 99u32;
    let seq = schedule(l, m, i, o, &mut st);
    // Racing the execution's read of in_x: stores from its scheduling (on an
    // idle queue the oracle looks from then on) until it completes, 200 ms of
    // modelled time later.
    let t = std::time::Instant::now();
    let mut k = 0u8;
    while !l.is_completed(seq).unwrap() {
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "never completed");
        k = k.wrapping_add(1);
        // SAFETY: a plain store into the tensor's mapped bytes (volatile: each one happens).
        unsafe { std::ptr::write_volatile(&mut xv[3], k) };
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    yv[0] = 1; // after completion: no race
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 1, "{r}");
    let ex = r["hazard_examples"][0].as_str().unwrap();
    assert!(ex.contains("through a device address") && ex.contains("in_x"), "{ex}");
}

/// perftest's pattern done right: write the input through its address, run,
/// read the output through its address, between executions only.
pub(crate) fn va_clean(l: &Lib) {
    unsafe { std::env::set_var("NRT_SIM_REPORT", report_path()) };
    l.init();
    let m = l.load(&slow(2_000), 1);
    let (x, y) = (l.dev(1, 64, "x"), l.dev(1, 64, "y"));
    let (i, o) = (l.set(&[("x", x)]), l.set(&[("y", y)]));
    let xv = bytes(unsafe { (l.c.nrt_tensor_get_va)(x) }, 64);
    let yv = bytes(unsafe { (l.c.nrt_tensor_get_va)(y) }, 64);
    for k in 0..5u8 {
        xv.fill(k);
        assert_eq!(l.exec(m, i, o), NRT_SUCCESS);
        assert_eq!(yv, &[k.wrapping_add(1); 64], "affine 1 1 of {k}");
        let mut st = 99u32;
        xv.fill(k + 10);
        let seq = schedule(l, m, i, o, &mut st);
        l.wait_seq(seq);
        assert_eq!(yv, &[k + 11; 64]);
    }
    l.close();
    let r = read_report();
    assert_eq!(r["hazards"], 0, "{r}");
}

/// Without NEURON_RT_MAP_HBM (here =0) device memory has no CPU address: get_va
/// of a device tensor is NULL and the bank cannot be mapped; host tensors keep theirs.
pub(crate) fn unmapped(l: &Lib, e: &Escapes) {
    l.init();
    let (x, h) = (l.dev(0, 64, "x"), l.host(64, "h"));
    assert!(unsafe { (l.c.nrt_tensor_get_va)(x) }.is_null());
    assert!(!unsafe { (l.c.nrt_tensor_get_va)(h) }.is_null());
    let (mut va, mut n) = (std::ptr::null_mut(), 0usize);
    assert_eq!(unsafe { (e.nrt_get_hbm_mmap_va)(0, 0, &mut va, &mut n) }, NRT_INVALID);
    assert!(va.is_null() && n == 0);
    // the allocation info does not need the mapping
    let mut ai = nrt_tensor_device_allocation_info_t::default();
    assert_eq!(unsafe { (l.c.nrt_tensor_get_device_allocation_info)(x, &mut ai) }, NRT_SUCCESS);
    assert_eq!((ai.size, ai.hbm_index), (64, 0));
    l.close();
}
