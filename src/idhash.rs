//! The hasher of the shim's maps keyed by handles and ids: one multiply-xorshift
//! finaliser instead of SipHash (the keys are not attacker-controlled, and the
//! maps are on every call's path).

use std::hash::Hasher;

/// Hashes pointers with the murmur3 finaliser. A plain multiply is not
/// enough: the table takes buckets from the hash's low bits, which a multiply
/// derives from the pointer's low bits only, and those are equal for every
/// aligned handle of one shard (all of them would probe from one bucket).
#[derive(Default)]
pub struct IdHasher(u64);

fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = fmix64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = fmix64(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_of_one_shard_spread_over_the_buckets() {
        use std::collections::HashSet;
        // 16-byte aligned handles that all fall in the same shard.
        let low_bits: HashSet<u64> = (0..10_000usize)
            .map(|i| 0x7f00_0000_0000 + i * 16 * 16)
            .map(|h| {
                let mut hasher = IdHasher::default();
                hasher.write_usize(h);
                hasher.finish() & 0xff
            })
            .collect();
        assert!(low_bits.len() > 200, "only {} of 256 low-byte values: buckets would collide", low_bits.len());
    }

    #[test]
    fn u64_keys_take_the_fast_path() {
        let mut a = IdHasher::default();
        a.write_u64(42);
        let mut b = IdHasher::default();
        b.write_usize(42);
        assert_eq!(a.finish(), b.finish());
    }
}
