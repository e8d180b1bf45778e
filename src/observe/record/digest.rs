//! The digest of the bytes a read returned: 64 bits, wyhash-style (one 64x64->128
//! multiply-fold per 16 bytes), fast and not cryptographic; equal bytes, equal digest.

/// A 64-bit digest of bytes (wyhash-style multiply-fold; not cryptographic).
pub fn digest(bytes: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    fn mum(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    let mut h = (bytes.len() as u64) ^ P0;
    let mut chunks = bytes.chunks_exact(16);
    for c in &mut chunks {
        let a = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
        h = mum(a ^ P1 ^ h, b ^ P0);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut t = [0u8; 16];
        t[..rest.len()].copy_from_slice(rest);
        let a = u64::from_le_bytes(t[..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(t[8..].try_into().expect("8 bytes"));
        h = mum(a ^ P1 ^ h, b ^ P0 ^ rest.len() as u64);
    }
    mum(h ^ P0, h ^ P1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_sees_every_byte_and_the_length() {
        let base = vec![7u8; 1000];
        let d = digest(&base);
        for i in [0, 1, 15, 16, 17, 500, 999] {
            let mut v = base.clone();
            v[i] ^= 1;
            assert_ne!(digest(&v), d, "a flip at {i}");
        }
        assert_ne!(digest(&base[..999]), d);
        assert_ne!(digest(&[]), digest(&[0]));
        assert_eq!(digest(&base), d);
    }
}
