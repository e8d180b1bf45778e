//! What each export's arguments mean to the recorder (decided at compile time
//! from the export's name), and arguments and results as words.

/// Which arguments of an export mean what (indices; -1: none), decided at
/// compile time from the export's name.
#[derive(Clone, Copy)]
pub struct Plan {
    pub id: u16,
    pub(super) tensor: i8,
    /// An out-pointer whose target, after a successful call, is the handle.
    pub(super) out: i8,
    /// A pointer to the handle, read before the call (frees clear it).
    pub(super) pre: i8,
    pub(super) offset: i8,
    pub(super) size: i8,
    /// The buffer a successful read filled: digested.
    pub(super) read_buf: i8,
    pub(super) name: i8,
    pub(super) tensor2: i8,
    pub(super) offset2: i8,
    pub(super) batch_read: bool,
    pub(super) flush: bool,
}

const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn index_of(name: &str) -> u16 {
    let mut i = 0;
    while i < crate::exports::EXPORTED.len() {
        if eq(crate::exports::EXPORTED[i], name) {
            return i as u16;
        }
        i += 1;
    }
    u16::MAX
}

pub const fn plan(name: &str) -> Plan {
    let p = Plan {
        id: index_of(name),
        tensor: -1,
        out: -1,
        pre: -1,
        offset: -1,
        size: -1,
        read_buf: -1,
        name: -1,
        tensor2: -1,
        offset2: -1,
        batch_read: false,
        flush: false,
    };
    let n = name;
    if eq(n, "nrt_tensor_read") {
        Plan { tensor: 0, read_buf: 1, offset: 2, size: 3, ..p }
    } else if eq(n, "nrt_tensor_write") {
        Plan { tensor: 0, offset: 2, size: 3, ..p }
    } else if eq(n, "nrt_tensor_memset") {
        Plan { tensor: 0, offset: 1, size: 3, ..p }
    } else if eq(n, "nrt_tensor_copy") {
        Plan { tensor: 0, offset: 1, tensor2: 2, offset2: 3, size: 4, ..p }
    } else if eq(n, "nrt_tensor_allocate") {
        Plan { size: 2, name: 3, out: 4, ..p }
    } else if eq(n, "nrt_tensor_allocate_empty") {
        Plan { name: 0, out: 1, ..p }
    } else if eq(n, "nrt_tensor_allocate_slice") {
        Plan { tensor2: 0, offset: 1, size: 2, name: 3, out: 4, ..p }
    } else if eq(n, "nrt_tensor_free") || eq(n, "nrt_destroy_tensor_set") {
        Plan { pre: 0, ..p }
    } else if eq(n, "nrt_allocate_tensor_set") {
        Plan { out: 0, ..p }
    } else if eq(n, "nrt_add_tensor_to_tensor_set") {
        Plan { tensor2: 0, name: 1, tensor: 2, ..p }
    } else if eq(n, "nrt_execute") || eq(n, "nrt_execute_repeat") {
        Plan { tensor: 0, tensor2: 1, ..p }
    } else if eq(n, "nrt_tensor_read_batch") {
        Plan { batch_read: true, ..p }
    } else if eq(n, "nrt_close") {
        Plan { flush: true, ..p }
    } else if eq(n, "nrt_tensor_check_output_completion")
        || eq(n, "nrt_tensor_reset_output_completion")
        || eq(n, "nrt_tensor_get_size")
        || eq(n, "nrt_tensor_get_va")
        || eq(n, "nrt_tensor_attach_buffer")
        || eq(n, "nrt_tensor_get_device_allocation_info")
        || eq(n, "nrt_unload")
    {
        Plan { tensor: 0, ..p }
    } else {
        p
    }
}

/// An argument as a word (handles and pointers by address).
pub trait Word {
    fn word(&self) -> u64;
}
impl<T> Word for *const T {
    fn word(&self) -> u64 {
        *self as usize as u64
    }
}
impl<T> Word for *mut T {
    fn word(&self) -> u64 {
        *self as usize as u64
    }
}
impl<F> Word for Option<F> {
    fn word(&self) -> u64 {
        u64::from(self.is_some())
    }
}
macro_rules! words { ($($t:ty),*) => { $(impl Word for $t { fn word(&self) -> u64 { *self as u64 } })* } }
words!(u32, i32, u64, i64, usize, bool);

/// A return value as the recorded status (pointers: 1 when NULL, else 0; they differ per run).
pub trait Ret {
    fn status(&self) -> u64;
}
impl Ret for u32 {
    fn status(&self) -> u64 {
        u64::from(*self)
    }
}
impl Ret for usize {
    fn status(&self) -> u64 {
        *self as u64
    }
}
impl Ret for () {
    fn status(&self) -> u64 {
        0
    }
}
impl<T> Ret for *mut T {
    fn status(&self) -> u64 {
        u64::from(self.is_null())
    }
}
