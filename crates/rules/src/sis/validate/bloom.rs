//! A Bloom filter of the ids that were spilled: once a table is full, a reference to an id that
//! no row spilled either is answered at once ("not in the batch") instead of being spilled too.
//! Feeds that name many objects Canvas already has (sections of existing courses, enrollments of
//! existing users) are full of such references.
//!
//! Its size is fixed, so memory stays bounded; past its capacity it only answers "maybe" more
//! often (and those checks are spilled, as without it). A "no" is always right.

/// Words of a block: a key's bits all sit in one 64-byte block (one cache line), one bit in each
/// of its words, so a lookup reads one line instead of one per probe and divides nothing. With 8
/// bits per key about 2.9 % of absent keys read "maybe" (a plain filter with 4 probes: 2.3 %).
const BLOCK_WORDS: usize = 8;

/// Odd constants that spread a key over its block's words (one multiply per word).
const SPREAD: [u64; BLOCK_WORDS] = [
    0x47B6_137B_4497_4D91,
    0x8824_AD5B_A2B7_289D,
    0x7055_0A0F_E2C9_8C49,
    0x2DF1_424B_9C2E_8D05,
    0xA2B7_289D_5C6B_4F1D,
    0x705C_EA1E_F9A6_9E25,
    0x9EFC_8F37_E1D1_7B43,
    0x5C6B_F8E1_29C2_C3E7,
];

/// One block, aligned on a cache line so that it is one: a block straddling two lines (as the
/// 16-byte-aligned start of a large allocation would make every block) costs two misses.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u64; BLOCK_WORDS]);

/// A fixed-size set of 64-bit keys (already hashes) that can say "surely not".
pub(crate) struct Bloom {
    blocks: Vec<Block>,
}

impl Bloom {
    /// A filter of about `bytes` bytes; under one block (64 bytes), a filter that always says
    /// "maybe".
    pub(crate) fn with_bytes(bytes: usize) -> Self {
        Bloom {
            blocks: vec![Block([0; BLOCK_WORDS]); bytes / size_of::<Block>()],
        }
    }

    /// Bytes the filter takes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.blocks.len() * size_of::<Block>()
    }

    /// The key's block (from its high bits, scaled to the number of blocks) and its bit in each
    /// of the block's words (from its product with each word's constant: the top 6 bits).
    fn place(&self, key: u64) -> (usize, [u64; BLOCK_WORDS]) {
        let block = ((u128::from(key) * self.blocks.len() as u128) >> 64) as usize;
        (block, SPREAD.map(|c| 1 << (key.wrapping_mul(c) >> 58)))
    }

    pub(crate) fn insert(&mut self, key: u64) {
        if self.blocks.is_empty() {
            return;
        }
        let (i, bits) = self.place(key);
        for (w, b) in self.blocks[i].0.iter_mut().zip(bits) {
            *w |= b;
        }
    }

    /// False only if `key` was never inserted.
    pub(crate) fn may_hold(&self, key: u64) -> bool {
        if self.blocks.is_empty() {
            return true;
        }
        let (i, bits) = self.place(key);
        self.blocks[i]
            .0
            .iter()
            .zip(bits)
            .fold(true, |all, (w, b)| all & (w & b != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_one_cache_line() {
        assert_eq!(size_of::<Block>(), 64);
        let bloom = Bloom::with_bytes(1 << 20);
        assert!(bloom.blocks.as_ptr().addr().is_multiple_of(64));
    }
    use crate::sis::validate::ids::hash64;

    #[test]
    fn every_inserted_key_may_be_held_and_most_others_surely_are_not() {
        let mut bloom = Bloom::with_bytes(100_000);
        for i in 0..100_000u32 {
            bloom.insert(hash64(1, &i.to_le_bytes()));
        }
        assert!((0..100_000u32).all(|i| bloom.may_hold(hash64(1, &i.to_le_bytes()))));
        let false_maybes = (100_000..200_000u32)
            .filter(|i| bloom.may_hold(hash64(1, &i.to_le_bytes())))
            .count();
        assert!(
            false_maybes < 4_000,
            "{false_maybes} of 100 000 absent keys read maybe"
        );
    }

    #[test]
    fn a_filter_of_no_bytes_always_says_maybe() {
        let mut bloom = Bloom::with_bytes(0);
        bloom.insert(5);
        assert!(bloom.may_hold(5) && bloom.may_hold(6));
        assert_eq!(bloom.bytes(), 0);
    }
}
