//! The SIS ids a batch defines, kept as 64-bit hashes so memory grows with the number of ids and
//! not with the size of the files.
//!
//! Each id is stored as the hash of its namespace and its bytes, with the first row that defined
//! it and the hash of that row's raw line. Two different ids share a hash with probability about
//! n²/2⁶⁵ for n ids (about 3 in a million for ten million ids); such a collision would report a
//! false duplicate id, or hide a dangling reference. That is the price of never storing id text.
//! The hash is not keyed: a feed crafted to collide could only make its own batch look wrong.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The namespaces SIS ids live in; references point into one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IdSpace {
    Account,
    Term,
    AbstractCourse,
    Course,
    Section,
    /// Login SIS ids: users.csv `user_id` and logins.csv `user_id`.
    User,
    GroupCategory,
    Group,
    TagSet,
    Tag,
    InstitutionalTagCategory,
    InstitutionalTag,
}

impl IdSpace {
    /// The noun with its article ("a user", "an account").
    pub(crate) fn a_noun(self) -> String {
        let noun = self.noun();
        let article = if noun.starts_with(['a', 'e', 'i', 'o']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {noun}")
    }

    /// How a message names one object of this space ("user", "course").
    pub(crate) fn noun(self) -> &'static str {
        match self {
            IdSpace::Account => "account",
            IdSpace::Term => "term",
            IdSpace::AbstractCourse => "abstract course",
            IdSpace::Course => "course",
            IdSpace::Section => "section",
            IdSpace::User => "user",
            IdSpace::GroupCategory => "group category",
            IdSpace::Group => "group",
            IdSpace::TagSet => "differentiation tag set",
            IdSpace::Tag => "differentiation tag",
            IdSpace::InstitutionalTagCategory => "institutional tag category",
            IdSpace::InstitutionalTag => "institutional tag",
        }
    }

    /// The file an object of this space is defined in, as Canvas's documentation names it.
    pub(crate) fn defining_file(self) -> &'static str {
        match self {
            IdSpace::Account => "accounts.csv",
            IdSpace::Term => "terms.csv",
            IdSpace::AbstractCourse => "abstract_courses.csv",
            IdSpace::Course => "courses.csv",
            IdSpace::Section => "sections.csv",
            IdSpace::User => "users.csv",
            IdSpace::GroupCategory => "group_categories.csv",
            IdSpace::Group => "groups.csv",
            IdSpace::TagSet => "differentiation_tag_sets.csv",
            IdSpace::Tag => "differentiation_tags.csv",
            IdSpace::InstitutionalTagCategory => "institutional_tag_categories.csv",
            IdSpace::InstitutionalTag => "institutional_tags.csv",
        }
    }
}

/// A fast 64-bit hash of `bytes` (folded 128-bit multiplies, then a final avalanche).
pub(crate) fn hash64(seed: u64, bytes: &[u8]) -> u64 {
    const K0: u64 = 0x9E37_79B9_7F4A_7C15;
    const K1: u64 = 0xD6E8_FEB8_6659_FD93;
    let fold = |a: u64, b: u64| {
        let m = u128::from(a) * u128::from(b);
        (m as u64) ^ ((m >> 64) as u64)
    };
    // The seed is mixed before any data: XORed in raw, seed 2 with "T1" equals seed 5 with "S1".
    let mut h = fold(seed ^ K0, K1) ^ (bytes.len() as u64).wrapping_mul(K0);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = fold(h ^ u64::from_le_bytes(b), K1);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut b = [0u8; 8];
        b[..tail.len()].copy_from_slice(tail);
        h = fold(h ^ u64::from_le_bytes(b), K0);
    }
    // Murmur3's finaliser: every input bit reaches every output bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// The key of `id` in `space`.
pub(crate) fn id_key(space: IdSpace, id: &[u8]) -> u64 {
    hash64(space as u64 + 1, id)
}

/// Where an id was first defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Index of the file in the batch.
    pub file: u32,
    pub row: u64,
    /// Hash of the defining row's raw line.
    pub line: u64,
}

/// Keys are already hashes: the map needs no second hash.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash64(0, bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// Every id defined so far in the batch.
#[derive(Default)]
pub(crate) struct IdStore {
    seen: KeyMap<Seen>,
}

impl IdStore {
    /// Records `key` as defined at `at`; returns the earlier definition if there was one.
    pub(crate) fn define(&mut self, key: u64, at: Seen) -> Option<Seen> {
        match self.seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(at);
                None
            }
        }
    }

    pub(crate) fn get(&self, key: u64) -> Option<Seen> {
        self.seen.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_keep_equal_ids_apart() {
        assert_ne!(id_key(IdSpace::User, b"X1"), id_key(IdSpace::Course, b"X1"));
        assert_eq!(id_key(IdSpace::User, b"X1"), id_key(IdSpace::User, b"X1"));
    }

    #[test]
    fn short_ids_of_different_namespaces_do_not_collide() {
        let spaces = [
            IdSpace::Account,
            IdSpace::Term,
            IdSpace::AbstractCourse,
            IdSpace::Course,
            IdSpace::Section,
            IdSpace::User,
            IdSpace::GroupCategory,
            IdSpace::Group,
            IdSpace::TagSet,
            IdSpace::Tag,
            IdSpace::InstitutionalTagCategory,
            IdSpace::InstitutionalTag,
        ];
        let mut keys = std::collections::HashSet::new();
        for space in spaces {
            for a in b'0'..=b'z' {
                for b in b'0'..=b'z' {
                    assert!(keys.insert(id_key(space, &[a, b])), "{space:?} {a} {b}");
                }
            }
        }
    }

    #[test]
    fn sequential_ids_do_not_collide() {
        let mut keys = std::collections::HashSet::new();
        for i in 0..200_000u32 {
            let id = format!("U{i:07}");
            assert!(keys.insert(id_key(IdSpace::User, id.as_bytes())), "{id}");
        }
        // Lengths matter: "a" and "a\0" differ.
        assert_ne!(hash64(0, b"a"), hash64(0, b"a\0"));
    }

    #[test]
    fn the_first_definition_is_kept() {
        let mut ids = IdStore::default();
        let first = Seen {
            file: 0,
            row: 2,
            line: 7,
        };
        assert_eq!(ids.define(5, first), None);
        let again = Seen {
            file: 1,
            row: 9,
            line: 8,
        };
        assert_eq!(ids.define(5, again), Some(first));
        assert_eq!(ids.get(5), Some(first));
    }
}
