//! Sequence numbers: unit id in the top 16 bits, a per-(unit, queue) counter below.
//! Unit id = (core << 8) | (unit type << 4) | queue.

pub const COUNTER_BITS: u32 = 48;
pub const COUNTER_MASK: u64 = (1u64 << COUNTER_BITS) - 1;

pub fn unit_id(core: u32, unit_type: u32, queue: u32) -> u16 {
    debug_assert!(core < 256 && unit_type < 16 && queue < 16);
    ((core << 8) | (unit_type << 4) | queue) as u16
}

pub fn split_unit_id(id: u16) -> (u32, u32, u32) {
    let id = id as u32;
    (id >> 8, (id >> 4) & 0xf, id & 0xf)
}

pub fn make(unit: u16, counter: u64) -> u64 {
    ((unit as u64) << COUNTER_BITS) | (counter & COUNTER_MASK)
}

pub fn split(seq: u64) -> (u16, u64) {
    ((seq >> COUNTER_BITS) as u16, seq & COUNTER_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        let u = unit_id(1, 3, 0);
        assert_eq!(u, 0x130);
        assert_eq!(split_unit_id(u), (1, 3, 0));
        let s = make(u, 7);
        assert_eq!(s, 0x0130_0000_0000_0007);
        assert_eq!(split(s), (u, 7));
        assert_eq!(split(make(unit_id(255, 15, 15), COUNTER_MASK)), (0xffff, COUNTER_MASK));
    }
    #[test]
    fn ordering_within_unit() {
        let u = unit_id(0, 1, 0);
        assert!(make(u, 1) < make(u, 2));
    }
}
