//! A Bloom filter of the ids that were spilled: once a table is full, a reference to an id that
//! no row spilled either is answered at once ("not in the batch") instead of being spilled too.
//! Feeds that name many objects Canvas already has (sections of existing courses, enrollments of
//! existing users) are full of such references.
//!
//! Its size is fixed, so memory stays bounded; past its capacity it only answers "maybe" more
//! often (and those checks are spilled, as without it). A "no" is always right.

/// Probes per key: with 8 bits per key about 2.4 % of absent keys read "maybe".
const PROBES: u64 = 4;

/// A fixed-size set of 64-bit keys (already hashes) that can say "surely not".
pub(crate) struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    /// A filter of about `bytes` bytes; 0 makes a filter that always says "maybe".
    pub(crate) fn with_bytes(bytes: usize) -> Self {
        Bloom {
            words: vec![0; bytes / 8],
        }
    }

    /// Bytes the filter takes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    fn bits(&self, key: u64) -> impl Iterator<Item = usize> + use<> {
        let n = (self.words.len() * 64) as u64;
        // Two hashes from the key's halves (the key is already mixed), combined as in
        // Kirsch–Mitzenmacher: probe i is h1 + i·h2.
        let h1 = key;
        let h2 = key.rotate_left(32) | 1;
        (0..PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % n) as usize)
    }

    pub(crate) fn insert(&mut self, key: u64) {
        if self.words.is_empty() {
            return;
        }
        for b in self.bits(key) {
            self.words[b / 64] |= 1 << (b % 64);
        }
    }

    /// False only if `key` was never inserted.
    pub(crate) fn may_hold(&self, key: u64) -> bool {
        self.words.is_empty()
            || self
                .bits(key)
                .all(|b| self.words[b / 64] & (1 << (b % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
