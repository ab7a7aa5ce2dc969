//! A compact set of line hashes, for counting a file's exact repeats in half the memory of a
//! table of whole 64-bit hashes.
//!
//! Each slot keeps 32 bits of a line's hash (the low half); the high half chose the slot the
//! probe starts at (`hash × slots / 2⁶⁴`), so a new line is taken for a repeat only when it
//! shares the low 32 bits with one of the lines its probe passes (about 8 at the 3/4 load):
//! about one false repeat per 500 million lines looked up, far below the 100 repeats a warning
//! needs. The price of dropping the high half: the set cannot be rehashed
//! into a bigger table, so it is sized once, before the first line, and stops taking new lines
//! when full (lines past that are still looked up).

use super::ids::home;

/// Lines remembered at most per slot, `LOAD_NUM / LOAD_DEN` (linear probing, as the id tables).
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

/// Room used when a line arrives before [`LineSet::reserve`] sized the set.
const FALLBACK_LINES: usize = 1024;

/// The set; empty (no memory) until sized.
#[derive(Default)]
pub(crate) struct LineSet {
    slots: Vec<u32>,
    len: usize,
}

impl LineSet {
    /// Sizes the set for `lines` lines; only before the first line is added (later, the set
    /// keeps its size: it cannot rehash what it stores).
    pub(crate) fn reserve(&mut self, lines: usize) {
        if self.len == 0 {
            self.slots = vec![0; lines.max(1) * LOAD_DEN / LOAD_NUM + 1];
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether another line would take the set past its load factor.
    fn is_full(&self) -> bool {
        (self.len + 1) * LOAD_DEN > self.slots.len() * LOAD_NUM
    }

    /// Adds the line with hash `hash`; `false` when it was already there. A full set only
    /// looks the line up.
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        if self.slots.is_empty() {
            self.reserve(FALLBACK_LINES);
        }
        let fp = fingerprint(hash);
        let n = self.slots.len();
        let mut i = home(hash, n);
        loop {
            match self.slots[i] {
                0 if self.is_full() => return true,
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                f if f == fp => return false,
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
    }

    /// Whether a line with hash `hash` is in the set.
    #[cfg(test)]
    pub(crate) fn contains(&self, hash: u64) -> bool {
        let n = self.slots.len();
        if n == 0 {
            return false;
        }
        let fp = fingerprint(hash);
        let mut i = home(hash, n);
        loop {
            match self.slots[i] {
                0 => return false,
                f if f == fp => return true,
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
    }
}

/// The 32 bits a slot keeps: the hash's low half, 0 (an empty slot) stored as 1.
fn fingerprint(hash: u64) -> u32 {
    (hash as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sis::validate::ids::hash64;

    #[test]
    fn finds_repeats_and_only_repeats() {
        let mut set = LineSet::default();
        set.reserve(10_000);
        for i in 0..10_000u64 {
            assert!(set.insert(hash64(0, format!("u{i},c1,student,active").as_bytes())));
        }
        assert_eq!(set.len(), 10_000);
        for i in 0..10_000u64 {
            let h = hash64(0, format!("u{i},c1,student,active").as_bytes());
            assert!(!set.insert(h), "line {i} is a repeat");
            assert!(set.contains(h));
        }
        let false_hits = (0..200_000u64)
            .filter(|i| set.contains(hash64(0, format!("u{i},c2,student,active").as_bytes())))
            .count();
        assert_eq!(false_hits, 0);
    }

    #[test]
    fn a_full_set_stops_remembering_but_still_looks_up() {
        let mut set = LineSet::default();
        set.reserve(30);
        let hashes: Vec<u64> = (0..100u64).map(|i| hash64(0, &i.to_le_bytes())).collect();
        for &h in &hashes {
            set.insert(h);
        }
        assert!(set.is_full());
        let kept = set.len();
        assert_eq!(kept, 30, "sized for 30 lines");
        let remembered = hashes.iter().filter(|&&h| set.contains(h)).count();
        assert_eq!(remembered, kept, "lines past the limit are not remembered");
        assert!(
            !set.insert(hashes[0]),
            "a remembered line is still a repeat"
        );
    }

    #[test]
    fn zero_hash_is_a_line_like_any_other() {
        let mut set = LineSet::default();
        set.reserve(4);
        assert!(!set.contains(0));
        assert!(set.insert(0));
        assert!(set.contains(0));
        assert!(!set.insert(0));
    }

    #[test]
    fn reserve_after_the_first_line_keeps_the_lines() {
        let mut set = LineSet::default();
        assert!(set.insert(42));
        set.reserve(1 << 20);
        assert!(set.contains(42));
        assert_eq!(set.len(), 1);
    }
}
