//! The SIS ids a batch defines, kept as 64-bit hashes so memory grows with the number of ids and
//! not with the size of the files — and only up to a budget: a table that reaches it stops
//! growing and says which ids it cannot answer for (the batch spills those checks to disk, see
//! `deferred`).
//!
//! Each id is stored as the hash of its namespace and its bytes, with the first row that defined
//! it and the hash of that row's raw line. Two different ids share a hash with probability about
//! n²/2⁶⁵ for n ids (about 3 in a million for ten million ids); such a collision would report a
//! false duplicate id, or hide a dangling reference. That is the price of never storing id text.
//! The hash is not keyed: a feed crafted to collide could only make its own batch look wrong.

use super::bloom::Bloom;

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
    /// Every space, in the order of their numbers (`space as usize`).
    pub(crate) const ALL: [IdSpace; SPACES] = [
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

    /// The space numbered `i` (`space as u8`).
    pub(crate) fn from_index(i: u8) -> Option<IdSpace> {
        IdSpace::ALL.get(usize::from(i)).copied()
    }

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
/// Twelve bytes, as there is one per id: the file's index and the row share 64 bits (24 and 40
/// bits; a batch has at most 10 000 files, and 2⁴⁰ rows would take terabytes of CSV), and the
/// line's hash is folded to 32 bits — it only tells an exact repeat from a conflicting row (a
/// conflicting row passes for a repeat with probability 2⁻³²).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// `file << 40 | row`, as two halves (so the struct aligns on 4 bytes: 12, not 16).
    at: [u32; 2],
    /// The line's hash, folded.
    line: u32,
}

const ROW_BITS: u32 = 40;
const ROW_MASK: u64 = (1 << ROW_BITS) - 1;

impl Seen {
    pub(crate) fn new(file: u32, row: u64, line: u64) -> Self {
        let file = u64::from(file).min((1 << (64 - ROW_BITS)) - 1);
        let at = file << ROW_BITS | row.min(ROW_MASK);
        Seen {
            at: [at as u32, (at >> 32) as u32],
            line: (line ^ (line >> 32)) as u32,
        }
    }

    fn at(self) -> u64 {
        u64::from(self.at[1]) << 32 | u64::from(self.at[0])
    }

    /// Index of the file in the batch.
    pub(crate) fn file(self) -> u32 {
        (self.at() >> ROW_BITS) as u32
    }

    pub(crate) fn row(self) -> u64 {
        self.at() & ROW_MASK
    }

    /// The defining row's line hash, folded to 32 bits (compare with another `Seen`'s).
    pub(crate) fn line(self) -> u32 {
        self.line
    }

    /// A `Seen` at `file` and `row` whose folded line hash is `line` (as read back).
    pub(crate) fn with_folded_line(file: u32, row: u64, line: u32) -> Self {
        Seen {
            line,
            ..Seen::new(file, row, 0)
        }
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
    /// An empty table: it takes no memory until its first key.
    fn default() -> Self {
        KeyTable {
            keys: Vec::new(),
            vals: Vec::new(),
            len: 0,
        }
    }
}

/// Slots of a table's first allocation.
const FIRST_SLOTS: usize = 1024;

impl<V: Copy + Default> KeyTable<V> {
    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: u64) -> Option<V> {
        self.slot(key).map(|i| self.vals[i])
    }

    /// Whether `key` is present; reads only the key array (one cache miss where `get` takes
    /// two: a reference needs to know only that its id is there).
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.slot(key).is_some()
    }

    fn slot(&self, key: u64) -> Option<usize> {
        if self.keys.is_empty() {
            return None;
        }
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
    #[cfg(test)]
    pub(crate) fn insert(&mut self, key: u64, val: V) -> Option<V> {
        let mut room = usize::MAX;
        match self.insert_within(key, val, &mut room) {
            Stored::Was(v) => Some(v),
            Stored::Added | Stored::Full => None,
        }
    }

    /// Bytes one slot takes.
    const SLOT_BYTES: usize = std::mem::size_of::<u64>() + std::mem::size_of::<V>();

    /// Inserts `key` with `val` unless present, growing only by what `room` (bytes) still allows
    /// and taking what it grows by from it.
    pub(crate) fn insert_within(&mut self, key: u64, val: V, room: &mut usize) -> Stored<V> {
        let key = key.max(1);
        if (self.len + 1) * LOAD_DEN > self.keys.len() * LOAD_NUM {
            let slots = (self.keys.len() * 2).max(FIRST_SLOTS);
            let more = (slots - self.keys.len()) * Self::SLOT_BYTES;
            if more > *room {
                return match self.slot(key) {
                    Some(i) => Stored::Was(self.vals[i]),
                    None => Stored::Full,
                };
            }
            *room -= more;
            self.grow_to(slots);
        }
        let mut i = home(key, self.keys.len());
        loop {
            match self.keys[i] {
                0 => {
                    self.keys[i] = key;
                    self.vals[i] = val;
                    self.len += 1;
                    return Stored::Added;
                }
                k if k == key => return Stored::Was(self.vals[i]),
                _ => i = next(i, self.keys.len()),
            }
        }
    }

    /// The value of `key` to change in place, if present.
    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.slot(key).map(|i| &mut self.vals[i])
    }

    /// Makes room for `n` more keys without growing again.
    #[cfg(test)]
    pub(crate) fn reserve(&mut self, n: usize) {
        let mut room = usize::MAX;
        self.reserve_within(n, &mut room);
    }

    /// Makes room for `n` more keys without growing again, as far as `room` (bytes) allows;
    /// takes what it grows by from `room`.
    pub(crate) fn reserve_within(&mut self, n: usize, room: &mut usize) {
        let needed = (self.len + n) * LOAD_DEN / LOAD_NUM + 1;
        let affordable = self.keys.len() + *room / Self::SLOT_BYTES;
        let slots = needed.min(affordable);
        if slots > self.keys.len() {
            *room -= (slots - self.keys.len()) * Self::SLOT_BYTES;
            self.grow_to(slots);
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

/// What inserting into a bounded [`KeyTable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored<V> {
    /// The key was there already, with this value (unchanged).
    Was(V),
    Added,
    /// The key is not there and the table may not grow to hold it.
    Full,
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
pub(crate) const SPACES: usize = IdSpace::LoginId as usize + 1;

/// What the batch says of a section: its course (the hash of its course_id, 0 if no sections
/// file row gave it yet) and whether a cross-listing moves it (its enrollments may then name
/// either course).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SectionOf {
    pub course: u64,
    pub crosslisted: bool,
}

/// What a table knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known<T> {
    Yes(T),
    No,
    /// The table is full and does not hold the key: the answer is in the spill.
    Unknown,
}

/// What defining an id did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Defined {
    New,
    /// Defined before, first here.
    Again(Seen),
    /// The table is full and does not hold the id: the caller spills the definition.
    Unknown,
}

/// Every id defined so far in the batch, one table per namespace (the few thousand courses or
/// sections an enrollment names stay in cache while the big users table does not), and the
/// course of each section — all within one memory budget.
///
/// A table that reaches the budget stops growing ("full"): it still answers for the ids it
/// holds, and says [`Known::Unknown`] for the others, which the batch then resolves through its
/// spill once every file is read.
pub(crate) struct IdStore {
    tables: [KeyTable<Seen>; SPACES],
    sections: KeyTable<SectionOf>,
    /// Bytes the tables may still grow by.
    room: usize,
    full: [bool; SPACES + 1],
    /// The keys spilled since a table filled up (allocated then, with the bytes set aside).
    spilled: Option<Bloom>,
    bloom_bytes: usize,
}

/// Mixed into a section's key in the Bloom filter, apart from the same key of the sections
/// space.
const SECTION_SALT: u64 = 0x5EC7_10F5_C0DE_5EED;

impl IdStore {
    /// Tables that together take at most about `budget` bytes: an eighth is set aside for the
    /// Bloom filter of spilled keys, the rest is the tables' room.
    pub(crate) fn with_budget(budget: usize) -> Self {
        let bloom_bytes = budget / 8;
        IdStore {
            tables: Default::default(),
            sections: KeyTable::default(),
            room: budget - bloom_bytes,
            full: [false; SPACES + 1],
            spilled: None,
            bloom_bytes,
        }
    }

    /// Frees the tables and the Bloom filter, once no question is left to ask them. The store
    /// then holds no id: asked again, it would answer that none is defined.
    pub(crate) fn release(&mut self) {
        *self = IdStore::with_budget(0);
    }

    /// Notes a key that goes to the spill.
    fn spill(&mut self, key: u64) {
        self.spilled
            .get_or_insert_with(|| Bloom::with_bytes(self.bloom_bytes))
            .insert(key);
    }

    /// What a table's lookup means: `found`; else, in a table that is not `full`, surely absent;
    /// in a full one, `Unknown` if a spilled key may be `spilled_key`, else absent.
    fn answer<T>(&self, found: Option<T>, full: bool, spilled_key: u64) -> Known<T> {
        match (found, &self.spilled) {
            (Some(v), _) => Known::Yes(v),
            (None, _) if !full => Known::No,
            (None, Some(b)) if !b.may_hold(spilled_key) => Known::No,
            (None, _) => Known::Unknown,
        }
    }

    /// Records `key` of `space` as defined at `at`.
    pub(crate) fn define(&mut self, space: IdSpace, key: u64, at: Seen) -> Defined {
        let i = space as usize;
        match self.tables[i].insert_within(key, at, &mut self.room) {
            Stored::Added => Defined::New,
            Stored::Was(first) => Defined::Again(first),
            Stored::Full => {
                self.full[i] = true;
                self.spill(key);
                Defined::Unknown
            }
        }
    }

    pub(crate) fn reserve(&mut self, space: IdSpace, n: usize) {
        self.tables[space as usize].reserve_within(n, &mut self.room);
    }

    pub(crate) fn reserve_sections(&mut self, n: usize) {
        self.sections.reserve_within(n, &mut self.room);
    }

    /// Where `key` of `space` was first defined, if it was.
    pub(crate) fn get(&self, space: IdSpace, key: u64) -> Known<Seen> {
        let i = space as usize;
        self.answer(self.tables[i].get(key), self.full[i], key)
    }

    /// Records the course of a section (the first one given stays); false if the table is full
    /// and does not hold the section.
    pub(crate) fn define_section(&mut self, key: u64, course: u64) -> bool {
        let course = course.max(1);
        self.change_section(key, |s| {
            if s.course == 0 {
                s.course = course;
            }
        })
    }

    /// Whether `key` of `space` is defined so far, without reading where (a reference's check:
    /// the keys only, so one cache miss in a table of millions where `get` takes two).
    pub(crate) fn holds(&self, space: IdSpace, key: u64) -> Known<()> {
        let i = space as usize;
        self.answer(
            self.tables[i].contains(key).then_some(()),
            self.full[i],
            key,
        )
    }

    /// Records that a cross-listing moves a section; false as [`IdStore::define_section`].
    pub(crate) fn crosslist(&mut self, key: u64) -> bool {
        self.change_section(key, |s| s.crosslisted = true)
    }

    fn change_section(&mut self, key: u64, change: impl Fn(&mut SectionOf)) -> bool {
        if let Some(s) = self.sections.get_mut(key) {
            change(s);
            return true;
        }
        let mut s = SectionOf::default();
        change(&mut s);
        match self.sections.insert_within(key, s, &mut self.room) {
            Stored::Added | Stored::Was(_) => true,
            Stored::Full => {
                self.full[SPACES] = true;
                self.spill(key ^ SECTION_SALT);
                false
            }
        }
    }

    /// What the batch says so far of section `key`.
    pub(crate) fn section(&self, key: u64) -> Known<SectionOf> {
        self.answer(
            self.sections.get(key),
            self.full[SPACES],
            key ^ SECTION_SALT,
        )
    }
}

#[cfg(test)]
impl IdStore {
    /// Bytes the tables and the Bloom filter hold now.
    fn bytes(&self) -> usize {
        let tables: usize = self
            .tables
            .iter()
            .map(|t| t.keys.len() * KeyTable::<Seen>::SLOT_BYTES)
            .sum();
        let sections = self.sections.keys.len() * KeyTable::<SectionOf>::SLOT_BYTES;
        tables + sections + self.spilled.as_ref().map_or(0, Bloom::bytes)
    }
}

/// The course hash a section records for `course_id` bytes (never 0, which means "none").
pub(crate) fn course_hash(course: &[u8]) -> u64 {
    hash64(0, course).max(1)
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
    fn every_space_is_found_by_its_number() {
        for (i, space) in IdSpace::ALL.iter().enumerate() {
            assert_eq!(*space as usize, i);
            assert_eq!(IdSpace::from_index(i as u8), Some(*space));
        }
        assert_eq!(IdSpace::from_index(SPACES as u8), None);
    }

    #[test]
    fn short_ids_of_different_namespaces_do_not_collide() {
        let spaces = IdSpace::ALL;
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
        let mut ids = IdStore::with_budget(1 << 20);
        let first = Seen::new(0, 2, 7);
        assert_eq!(ids.define(IdSpace::User, 5, first), Defined::New);
        let again = Seen::new(1, 9, 8);
        assert_eq!(ids.define(IdSpace::User, 5, again), Defined::Again(first));
        assert_eq!(ids.get(IdSpace::User, 5), Known::Yes(first));
        assert_eq!(ids.get(IdSpace::Course, 5), Known::No);
    }

    /// Invariant 6, bounded memory: the id tables and the Bloom filter stay within their budget
    /// however many ids a batch defines (the rest is spilled by the batch).
    #[test]
    fn id_memory_does_not_grow_with_the_number_of_ids() {
        let budget = 256 << 10;
        let mut ids = IdStore::with_budget(budget);
        ids.reserve(IdSpace::User, 1_000_000);
        for i in 0..300_000u32 {
            let key = hash64(2, &i.to_le_bytes());
            ids.define(IdSpace::User, key, Seen::new(0, u64::from(i), 0));
            ids.define(IdSpace::LoginId, key, Seen::new(0, u64::from(i), 0));
            ids.define_section(key, 1);
        }
        assert!(
            ids.bytes() <= budget,
            "{} bytes for a {budget} budget",
            ids.bytes()
        );
        assert!(
            ids.bytes() > budget / 2,
            "the budget is used: {} bytes",
            ids.bytes()
        );
    }

    #[test]
    fn a_table_at_its_budget_answers_for_what_it_holds_and_says_unknown_for_the_rest() {
        // Room for 2 048 user slots (20 bytes each) and one first allocation of the sections,
        // beside the eighth set aside for the Bloom filter.
        let mut ids = IdStore::with_budget((2048 * 20 + 1024 * 24) * 8 / 7 + 8);
        let key = |i: u32| hash64(1, &i.to_le_bytes());
        let mut first_unknown = None;
        for i in 0..5_000u32 {
            match ids.define(IdSpace::User, key(i), Seen::new(0, u64::from(i), 0)) {
                Defined::New => {}
                Defined::Unknown => {
                    first_unknown.get_or_insert(i);
                }
                Defined::Again(_) => panic!("{i} defined twice"),
            }
        }
        let held = first_unknown.expect("the table filled up");
        assert_eq!(held, 1_536, "three quarters of 2 048 slots");
        assert_eq!(
            ids.get(IdSpace::User, key(0)),
            Known::Yes(Seen::new(0, 0, 0))
        );
        assert_eq!(
            ids.define(IdSpace::User, key(3), Seen::new(1, 1, 1)),
            Defined::Again(Seen::new(0, 3, 0))
        );
        assert_eq!(ids.get(IdSpace::User, key(4_000)), Known::Unknown);
        // A key no row spilled is surely absent, mostly (the filter is small here).
        let surely_absent = (10_000..11_000u32)
            .filter(|&i| ids.get(IdSpace::User, key(i)) == Known::No)
            .count();
        assert!(
            surely_absent > 0,
            "the Bloom filter answers for absent keys"
        );
        // A reference's check, which reads the keys only, answers as `get` does for every key.
        for i in (0..5_000u32).chain(10_000..11_000) {
            let expected = match ids.get(IdSpace::User, key(i)) {
                Known::Yes(_) => Known::Yes(()),
                Known::No => Known::No,
                Known::Unknown => Known::Unknown,
            };
            assert_eq!(ids.holds(IdSpace::User, key(i)), expected, "id {i}");
        }
        assert_eq!(ids.holds(IdSpace::User, key(5)), Known::Yes(()));
        assert_eq!(ids.holds(IdSpace::User, key(4_000)), Known::Unknown);
        // Other tables still know what they do not hold, until they fill up too.
        assert_eq!(ids.get(IdSpace::Course, key(1)), Known::No);
        assert_eq!(ids.holds(IdSpace::Course, key(1)), Known::No);
        assert!(ids.define_section(7, 9));
        assert!(ids.crosslist(7));
        assert_eq!(
            ids.section(7),
            Known::Yes(SectionOf {
                course: 9,
                crosslisted: true
            })
        );
    }

    #[test]
    fn seen_keeps_file_row_and_a_folded_line_hash_in_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Seen>(), 12);
        let s = Seen::new(9_999, 1_000_000_000_000, u64::MAX);
        assert_eq!((s.file(), s.row(), s.line()), (9_999, 1_000_000_000_000, 0));
        let s = Seen::new(0, 2, 0x1234_5678_0000_0001);
        assert_eq!((s.file(), s.row(), s.line()), (0, 2, 0x1234_5679));
        assert_eq!(Seen::with_folded_line(0, 2, 0x1234_5679), s);
        // Lines differing in either half of their hash stay apart.
        assert_ne!(Seen::new(0, 2, 1).line(), Seen::new(0, 2, 2).line());
        assert_ne!(Seen::new(0, 2, 1 << 40).line(), Seen::new(0, 2, 0).line());
    }
}
