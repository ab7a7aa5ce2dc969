//! The SIS ids a batch defines, kept as 64-bit hashes so memory grows with the number of ids and
//! not with the size of the files.
//!
//! Each id is stored as the hash of its namespace and its bytes, with the first row that defined
//! it and the hash of that row's raw line. Two different ids share a hash with probability about
//! n²/2⁶⁵ for n ids (about 3 in a million for ten million ids); such a collision would report a
//! false duplicate id, or hide a dangling reference. That is the price of never storing id text.
//! The hash is not keyed: a feed crafted to collide could only make its own batch look wrong.

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
    /// Login ids (users.csv and logins.csv `login_id`), lower-cased: Canvas compares them
    /// without case, and one login id belongs to one user.
    LoginId,
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
            IdSpace::LoginId => "login_id",
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
            IdSpace::LoginId => "users.csv",
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

/// Where an id was first defined: the file, the row and the hash of the row's raw line.
///
/// Sixteen bytes, as there is one per id: the file's index and the row share a word (24 and 40
/// bits; a batch has at most 10 000 files, and 2⁴⁰ rows would take terabytes of CSV).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Hash of the defining row's raw line.
    line: u64,
    /// `file << 40 | row`.
    at: u64,
}

const ROW_BITS: u32 = 40;
const ROW_MASK: u64 = (1 << ROW_BITS) - 1;

impl Seen {
    pub(crate) fn new(file: u32, row: u64, line: u64) -> Self {
        let file = u64::from(file).min((1 << (64 - ROW_BITS)) - 1);
        Seen {
            line,
            at: file << ROW_BITS | row.min(ROW_MASK),
        }
    }

    /// Index of the file in the batch.
    pub(crate) fn file(self) -> u32 {
        (self.at >> ROW_BITS) as u32
    }

    pub(crate) fn row(self) -> u64 {
        self.at & ROW_MASK
    }

    /// Hash of the defining row's raw line.
    pub(crate) fn line(self) -> u64 {
        self.line
    }
}

/// A set of 64-bit keys (already hashes) with a value each: open addressing, linear probing.
///
/// Built for the hot loop rather than taken from `std`: a lookup for a reference or a repeated
/// line is a random access into a table of millions, and its cost is cache misses. Here a
/// lookup reads one slot of a flat `u64` array (one cache line, usually); values sit in a
/// parallel array read only when a key is found or defined. Key 0 marks an empty slot, so a
/// key of 0 is stored as 1 (one more, negligible, chance of a collision).
///
/// The table has any number of slots, not a power of two: a key's home slot is its hash scaled
/// to the table (`key × slots / 2⁶⁴`), so a table sized for `n` keys holds them at the full
/// load factor instead of up to twice that room (the tables are most of validation's memory).
pub(crate) struct KeyTable<V> {
    keys: Vec<u64>,
    vals: Vec<V>,
    len: usize,
}

impl<V: Copy + Default> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable {
            keys: vec![0; 1024],
            vals: vec![V::default(); 1024],
            len: 0,
        }
    }
}

impl<V: Copy + Default> KeyTable<V> {
    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: u64) -> Option<V> {
        self.slot(key).map(|i| self.vals[i])
    }

    /// Whether `key` is present; reads only the key array.
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.slot(key).is_some()
    }

    fn slot(&self, key: u64) -> Option<usize> {
        let key = key.max(1);
        let mut i = home(key, self.keys.len());
        loop {
            match self.keys[i] {
                0 => return None,
                k if k == key => return Some(i),
                _ => i = next(i, self.keys.len()),
            }
        }
    }

    /// Inserts `key` with `val` unless present; returns the value already there if it was.
    pub(crate) fn insert(&mut self, key: u64, val: V) -> Option<V> {
        let key = key.max(1);
        if (self.len + 1) * LOAD_DEN > self.keys.len() * LOAD_NUM {
            self.grow_to(self.keys.len() * 2);
        }
        let mut i = home(key, self.keys.len());
        loop {
            match self.keys[i] {
                0 => {
                    self.keys[i] = key;
                    self.vals[i] = val;
                    self.len += 1;
                    return None;
                }
                k if k == key => return Some(self.vals[i]),
                _ => i = next(i, self.keys.len()),
            }
        }
    }

    /// Makes room for `n` more keys without growing again.
    pub(crate) fn reserve(&mut self, n: usize) {
        let needed = (self.len + n) * LOAD_DEN / LOAD_NUM + 1;
        if needed > self.keys.len() {
            self.grow_to(needed);
        }
    }

    fn grow_to(&mut self, slots: usize) {
        let keys = std::mem::replace(&mut self.keys, vec![0; slots]);
        let vals = std::mem::replace(&mut self.vals, vec![V::default(); slots]);
        for (k, v) in keys.into_iter().zip(vals).filter(|(k, _)| *k != 0) {
            let mut i = home(k, slots);
            while self.keys[i] != 0 {
                i = next(i, slots);
            }
            self.keys[i] = k;
            self.vals[i] = v;
        }
    }
}

/// Most keys a table holds per slot, `LOAD_NUM / LOAD_DEN`, before it grows: a miss in a
/// linear-probing table at 3/4 full reads about 8 slots, one or two cache lines of keys.
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

/// The slot a key's probe starts at: the (well mixed) key scaled to `0..slots`.
pub(crate) fn home(key: u64, slots: usize) -> usize {
    ((u128::from(key) * slots as u128) >> 64) as usize
}

/// The slot after `i`, wrapping at the end.
fn next(i: usize, slots: usize) -> usize {
    if i + 1 == slots { 0 } else { i + 1 }
}

/// Number of [`IdSpace`]s.
const SPACES: usize = IdSpace::LoginId as usize + 1;

/// Every id defined so far in the batch, one table per namespace: the few thousand courses or
/// sections an enrollment names stay in cache while the big users table does not.
#[derive(Default)]
pub(crate) struct IdStore {
    tables: [KeyTable<Seen>; SPACES],
}

impl IdStore {
    /// Records `key` of `space` as defined at `at`; returns the earlier definition if any.
    pub(crate) fn define(&mut self, space: IdSpace, key: u64, at: Seen) -> Option<Seen> {
        self.tables[space as usize].insert(key, at)
    }

    pub(crate) fn reserve(&mut self, space: IdSpace, n: usize) {
        self.tables[space as usize].reserve(n);
    }

    pub(crate) fn get(&self, space: IdSpace, key: u64) -> Option<Seen> {
        self.tables[space as usize].get(key)
    }

    pub(crate) fn contains(&self, space: IdSpace, key: u64) -> bool {
        self.tables[space as usize].contains(key)
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
            IdSpace::LoginId,
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
    fn the_key_table_finds_what_it_holds_through_growth() {
        let mut t: KeyTable<u32> = KeyTable::default();
        for i in 0..50_000u32 {
            assert_eq!(t.insert(hash64(9, &i.to_le_bytes()), i), None);
        }
        assert_eq!(t.insert(0, 7), None, "key 0 is stored too");
        assert_eq!(t.get(0), Some(7));
        for i in 0..50_000u32 {
            assert_eq!(t.get(hash64(9, &i.to_le_bytes())), Some(i));
        }
        assert_eq!(t.get(hash64(9, b"absent")), None);
        assert_eq!(t.len, 50_001);
        t.reserve(1_000_000);
        assert_eq!(t.get(hash64(9, &7u32.to_le_bytes())), Some(7));
    }

    #[test]
    fn a_reserved_table_holds_its_keys_at_three_quarters_load_without_growing() {
        let mut t: KeyTable<()> = KeyTable::default();
        t.reserve(100_000);
        let slots = t.keys.len();
        assert_eq!(slots, 133_334, "not rounded up to a power of two");
        for i in 0..100_000u32 {
            assert_eq!(t.insert(hash64(3, &i.to_le_bytes()), ()), None);
        }
        assert_eq!(t.keys.len(), slots, "no growth");
        assert!((0..100_000u32).all(|i| t.contains(hash64(3, &i.to_le_bytes()))));
        assert!(!t.contains(hash64(3, b"absent")));
    }

    #[test]
    fn the_first_definition_is_kept() {
        let mut ids = IdStore::default();
        let first = Seen::new(0, 2, 7);
        assert_eq!(ids.define(IdSpace::User, 5, first), None);
        let again = Seen::new(1, 9, 8);
        assert_eq!(ids.define(IdSpace::User, 5, again), Some(first));
        assert_eq!(ids.get(IdSpace::User, 5), Some(first));
        assert!(!ids.contains(IdSpace::Course, 5));
    }

    #[test]
    fn seen_keeps_file_row_and_line_in_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Seen>(), 16);
        let s = Seen::new(9_999, 1_000_000_000_000, u64::MAX);
        assert_eq!(
            (s.file(), s.row(), s.line()),
            (9_999, 1_000_000_000_000, u64::MAX)
        );
        let s = Seen::new(0, 2, 0);
        assert_eq!((s.file(), s.row(), s.line()), (0, 2, 0));
    }
}
