//! The cross-file checks the id tables could not answer in memory, once they reached their
//! budget: each definition, reference or section check is spilled as a record keyed by its id
//! and resolved when every file has been read. Walking one id's records in the order their rows
//! were read gives the answers the tables would have given; the findings are spilled again, keyed
//! by file and row, so they reach each file's list in row order.

use super::ids::{IdSpace, SPACES, Seen};
use super::spill::Spill;

/// The table of the section records (after the id spaces').
pub(crate) const SECTIONS_TABLE: u8 = SPACES as u8;

/// A check the tables could not answer, as spilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Deferred<'a> {
    /// A row defines an id.
    Define {
        space: IdSpace,
        seen: Seen,
        column: &'a str,
        id: &'a [u8],
    },
    /// A row gives a login id to a user (`seen.line()` is the hash of the user's id).
    Login {
        seen: Seen,
        column: &'a str,
        login: &'a [u8],
        user: &'a [u8],
    },
    /// A row refers to an id; `parent` for an account's parent, which may come later (and may
    /// be spilled after the rows that define it: it is judged by where they are, not by when
    /// they were spilled).
    Refer {
        space: IdSpace,
        file: u32,
        row: u64,
        column: &'a str,
        id: &'a [u8],
        parent: bool,
    },
    /// A sections row gives its section's course (hash).
    Section { course: u64 },
    /// A cross-listing moves the section.
    Crosslist,
    /// An enrollment names the section and a course (hash and text).
    Enroll {
        file: u32,
        row: u64,
        course: u64,
        section: &'a [u8],
        course_id: &'a [u8],
    },
}

/// What a deferred check found, once resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The same line again in the same file: an exact repeat.
    Repeat,
    /// An id defined before at `first` with other values.
    DuplicateId(Seen),
    /// A login id given before to another user, at `first`.
    LoginTaken(Seen),
    /// A reference to an id no earlier row defines (nor any row, for a parent).
    Missing,
    /// An account's parent defined only after it, at `first`.
    ParentAfterChild(Seen),
    /// An enrollment's section belongs to another course.
    SectionNotInCourse,
}

impl Deferred<'_> {
    /// The file and row the check is about.
    pub(crate) fn at(&self) -> (u32, u64) {
        match self {
            Deferred::Define { seen, .. } | Deferred::Login { seen, .. } => {
                (seen.file(), seen.row())
            }
            Deferred::Refer { file, row, .. } | Deferred::Enroll { file, row, .. } => (*file, *row),
            Deferred::Section { .. } | Deferred::Crosslist => (0, 0),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Deferred::Define {
                space,
                seen,
                column,
                id,
            } => {
                out.extend([0, *space as u8]);
                put_seen(out, *seen);
                put_bytes(out, column.as_bytes());
                put_bytes(out, id);
            }
            Deferred::Login {
                seen,
                column,
                login,
                user,
            } => {
                out.push(1);
                put_seen(out, *seen);
                put_bytes(out, column.as_bytes());
                put_bytes(out, login);
                put_bytes(out, user);
            }
            Deferred::Refer {
                space,
                file,
                row,
                column,
                id,
                parent,
            } => {
                out.extend([2, *space as u8, u8::from(*parent)]);
                put_at(out, *file, *row);
                put_bytes(out, column.as_bytes());
                put_bytes(out, id);
            }
            Deferred::Section { course } => {
                out.push(3);
                out.extend(course.to_le_bytes());
            }
            Deferred::Crosslist => out.push(4),
            Deferred::Enroll {
                file,
                row,
                course,
                section,
                course_id,
            } => {
                out.push(5);
                put_at(out, *file, *row);
                out.extend(course.to_le_bytes());
                put_bytes(out, section);
                put_bytes(out, course_id);
            }
        }
    }

    /// The record `encode` wrote; `None` for bytes it did not write.
    pub(crate) fn decode(b: &[u8]) -> Option<Deferred<'_>> {
        let mut r = Reader(b);
        let d = match r.byte()? {
            0 => {
                let space = IdSpace::from_index(r.byte()?)?;
                Deferred::Define {
                    space,
                    seen: r.seen()?,
                    column: r.text()?,
                    id: r.bytes()?,
                }
            }
            1 => Deferred::Login {
                seen: r.seen()?,
                column: r.text()?,
                login: r.bytes()?,
                user: r.bytes()?,
            },
            2 => {
                let space = IdSpace::from_index(r.byte()?)?;
                let parent = r.byte()? == 1;
                let (file, row) = r.at()?;
                Deferred::Refer {
                    space,
                    file,
                    row,
                    column: r.text()?,
                    id: r.bytes()?,
                    parent,
                }
            }
            3 => Deferred::Section { course: r.word()? },
            4 => Deferred::Crosslist,
            5 => {
                let (file, row) = r.at()?;
                Deferred::Enroll {
                    file,
                    row,
                    course: r.word()?,
                    section: r.bytes()?,
                    course_id: r.bytes()?,
                }
            }
            _ => return None,
        };
        r.0.is_empty().then_some(d)
    }
}

/// Records are small (most of their bytes are the ids' text): numbers that are mostly small
/// are written as LEB128 varints, hashes as 8 bytes.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_at(out: &mut Vec<u8>, file: u32, row: u64) {
    put_varint(out, u64::from(file));
    put_varint(out, row);
}

fn put_seen(out: &mut Vec<u8>, s: Seen) {
    put_at(out, s.file(), s.row());
    out.extend(s.line().to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn word(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn at(&mut self) -> Option<(u32, u64)> {
        let file = u32::try_from(self.varint()?).ok()?;
        Some((file, self.varint()?))
    }

    fn seen(&mut self) -> Option<Seen> {
        let (file, row) = self.at()?;
        let line = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        Some(Seen::with_folded_line(file, row, line))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

/// Resolves the deferred records of one id at a time, in the order they were spilled, and spills
/// what they found keyed by file and row.
pub(crate) struct Resolver {
    group: Option<(u8, u64)>,
    /// The id's first definition so far.
    first: Option<Seen>,
    /// A section's course (0: none yet) and whether a cross-listing moves it.
    course: u64,
    crosslisted: bool,
    /// Account parents (spill order, record): judged at the end of the group.
    parents: Vec<(u64, Vec<u8>)>,
    found: Spill,
}

impl Resolver {
    /// A resolver spilling what it finds into `found`.
    pub(crate) fn new(found: Spill) -> Self {
        Resolver {
            group: None,
            first: None,
            course: 0,
            crosslisted: false,
            parents: Vec::new(),
            found,
        }
    }

    /// Takes the next record of the walk (by table and key, then in spill order `seq`).
    pub(crate) fn take(&mut self, table: u8, key: u64, seq: u64, payload: &[u8]) {
        if self.group != Some((table, key)) {
            self.end_group();
            self.group = Some((table, key));
        }
        let Some(d) = Deferred::decode(payload) else {
            debug_assert!(false, "a spilled record that does not decode");
            return;
        };
        let at = d.at();
        match d {
            Deferred::Define { seen, .. } => match self.first {
                None => self.first = Some(seen),
                Some(f) if f.line() == seen.line() && f.file() == seen.file() => {
                    self.emit(Verdict::Repeat, at, seq, payload)
                }
                Some(f) if f.line() == seen.line() => {}
                Some(f) => self.emit(Verdict::DuplicateId(f), at, seq, payload),
            },
            Deferred::Login { seen, .. } => match self.first {
                None => self.first = Some(seen),
                Some(f) if f.line() == seen.line() => {}
                Some(f) => self.emit(Verdict::LoginTaken(f), at, seq, payload),
            },
            // A parent is judged once the group is read: it may be defined after its child.
            Deferred::Refer { parent: true, .. } => self.parents.push((seq, payload.to_vec())),
            Deferred::Refer { .. } => {
                if self.first.is_none() {
                    self.emit(Verdict::Missing, at, seq, payload);
                }
            }
            Deferred::Section { course } => {
                if self.course == 0 {
                    self.course = course;
                }
            }
            Deferred::Crosslist => self.crosslisted = true,
            Deferred::Enroll { course, .. } => {
                if self.course != 0 && self.course != course && !self.crosslisted {
                    self.emit(Verdict::SectionNotInCourse, at, seq, payload);
                }
            }
        }
    }

    fn end_group(&mut self) {
        for (seq, p) in std::mem::take(&mut self.parents) {
            let Some(child) = Deferred::decode(&p) else {
                continue;
            };
            let verdict = match self.first {
                Some(f) if (f.file(), f.row()) < child.at() => continue,
                Some(f) => Verdict::ParentAfterChild(f),
                None => Verdict::Missing,
            };
            self.emit(verdict, child.at(), seq, &p);
        }
        self.first = None;
        self.course = 0;
        self.crosslisted = false;
    }

    /// Spills what the record `payload`, about `(file, row)`, was found to be, keyed by its file
    /// and row, then its spill order (so findings of one row keep the order their checks ran in).
    fn emit(&mut self, verdict: Verdict, (file, row): (u32, u64), seq: u64, payload: &[u8]) {
        let (tag, first) = match verdict {
            Verdict::Repeat => (0, Seen::default()),
            Verdict::DuplicateId(f) => (1, f),
            Verdict::LoginTaken(f) => (2, f),
            Verdict::Missing => (3, Seen::default()),
            Verdict::ParentAfterChild(f) => (4, f),
            Verdict::SectionNotInCourse => (5, Seen::default()),
        };
        let at = u64::from(file) << 40 | row.min((1 << 40) - 1);
        self.found.push_ordered_with(0, at, seq, |out| {
            out.push(tag);
            put_seen(out, first);
            out.extend_from_slice(payload);
        });
    }

    /// The findings, to walk in file and row order with [`read_found`].
    pub(crate) fn finish(mut self) -> Spill {
        self.end_group();
        self.found
    }
}

/// A found record: what was found and the check it was found by.
pub(crate) fn read_found(payload: &[u8]) -> Option<(Verdict, Deferred<'_>)> {
    let mut r = Reader(payload);
    let tag = r.byte()?;
    let first = r.seen()?;
    let verdict = match tag {
        0 => Verdict::Repeat,
        1 => Verdict::DuplicateId(first),
        2 => Verdict::LoginTaken(first),
        3 => Verdict::Missing,
        4 => Verdict::ParentAfterChild(first),
        5 => Verdict::SectionNotInCourse,
        _ => return None,
    };
    Some((verdict, Deferred::decode(r.0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Deferred<'static>> {
        vec![
            Deferred::Define {
                space: IdSpace::User,
                seen: Seen::new(2, 9, 77),
                column: "user_id",
                id: b"U1",
            },
            Deferred::Login {
                seen: Seen::new(2, 10, 5),
                column: "login_id",
                login: b"Jdoe",
                user: b"U2",
            },
            Deferred::Refer {
                space: IdSpace::Account,
                file: 0,
                row: 4,
                column: "parent_account_id",
                id: "Ä1".as_bytes(),
                parent: true,
            },
            Deferred::Section { course: 42 },
            Deferred::Crosslist,
            Deferred::Enroll {
                file: 3,
                row: 1 << 35,
                course: u64::MAX,
                section: b"S1",
                course_id: b"",
            },
        ]
    }

    #[test]
    fn every_record_reads_back_as_written_and_nothing_else_does() {
        for d in every_kind() {
            let mut b = Vec::new();
            d.encode(&mut b);
            assert_eq!(Deferred::decode(&b), Some(d.clone()));
            assert_eq!(Deferred::decode(&b[..b.len() - 1]), None, "{d:?} cut short");
            b.push(0);
            assert_eq!(Deferred::decode(&b), None, "{d:?} with a byte too many");
        }
    }

    /// Runs records of one group through a resolver; the verdicts in file and row order.
    fn resolve(records: &[Deferred]) -> Vec<(Verdict, (u32, u64))> {
        let mut r = Resolver::new(Spill::new(None, super::super::spill::RUN_BYTES));
        for (seq, d) in records.iter().enumerate() {
            let mut b = Vec::new();
            d.encode(&mut b);
            r.take(1, 99, seq as u64, &b);
        }
        let mut out = Vec::new();
        r.finish()
            .drain(super::super::spill::RUN_BYTES, |_, _, _, p| {
                let (v, d) = read_found(p).unwrap();
                out.push((v, d.at()));
            })
            .unwrap();
        out
    }

    fn define(file: u32, row: u64, line: u64) -> Deferred<'static> {
        Deferred::Define {
            space: IdSpace::User,
            seen: Seen::new(file, row, line),
            column: "user_id",
            id: b"U1",
        }
    }

    fn refer(file: u32, row: u64, parent: bool) -> Deferred<'static> {
        Deferred::Refer {
            space: IdSpace::Account,
            file,
            row,
            column: "account_id",
            id: b"A1",
            parent,
        }
    }

    #[test]
    fn later_definitions_are_repeats_or_duplicates_of_the_first() {
        assert_eq!(
            resolve(&[
                define(1, 2, 7),
                define(1, 5, 7),
                define(2, 3, 7),
                define(2, 8, 9)
            ]),
            vec![
                (Verdict::Repeat, (1, 5)),
                (Verdict::DuplicateId(Seen::new(1, 2, 7)), (2, 8))
            ]
        );
    }

    #[test]
    fn a_reference_is_missing_unless_an_earlier_row_defined_the_id() {
        assert_eq!(
            resolve(&[refer(3, 2, false), define(4, 1, 0), refer(5, 2, false)]),
            vec![(Verdict::Missing, (3, 2))]
        );
    }

    #[test]
    fn a_parent_defined_later_is_named_and_one_never_defined_is_missing() {
        assert_eq!(
            resolve(&[refer(0, 2, true), define(0, 9, 1)]),
            vec![(Verdict::ParentAfterChild(Seen::new(0, 9, 1)), (0, 2))]
        );
        assert_eq!(
            resolve(&[refer(0, 2, true)]),
            vec![(Verdict::Missing, (0, 2))]
        );
        // Spilled after its definitions (the table filled up later): judged by rows.
        assert_eq!(
            resolve(&[define(0, 1, 1), define(0, 9, 2), refer(0, 5, true)]),
            vec![(Verdict::DuplicateId(Seen::new(0, 1, 1)), (0, 9))]
        );
    }

    #[test]
    fn an_enrollment_naming_another_course_than_its_sections_is_found_unless_crosslisted() {
        let enroll = |row, course| Deferred::Enroll {
            file: 5,
            row,
            course,
            section: b"S1",
            course_id: b"C",
        };
        assert_eq!(
            resolve(&[
                Deferred::Section { course: 10 },
                Deferred::Section { course: 11 },
                enroll(2, 10),
                enroll(3, 11),
                Deferred::Crosslist,
                enroll(4, 11),
            ]),
            vec![(Verdict::SectionNotInCourse, (5, 3))]
        );
    }

    #[test]
    fn a_login_given_again_to_the_same_user_is_fine_and_to_another_is_taken() {
        let login = |row, owner| Deferred::Login {
            seen: Seen::new(1, row, owner),
            column: "login_id",
            login: b"jdoe",
            user: b"U",
        };
        assert_eq!(
            resolve(&[login(2, 5), login(3, 5), login(4, 6)]),
            vec![(Verdict::LoginTaken(Seen::new(1, 2, 5)), (1, 4))]
        );
    }
}
