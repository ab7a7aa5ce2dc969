//! The ledger port's one error type, with a retryable/permanent classification.
//!
//! Every variant carries the ledger key (or batch id) it is about, so a log line says which
//! record failed. [`LedgerError::class`] is what the pipeline acts on: a retryable error means
//! "try the step again later, nothing was decided"; a permanent one means "stop and tell an
//! operator". `AlreadyExists` and `Conflict` are normal outcomes of the conditional writes and are
//! mostly handled inside [`crate::ledger::Ledger`]; they only escape through the raw store.

use std::io;

/// What the caller should do about a [`LedgerError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: the same call may succeed later (contention, a full or flaky disk, a network).
    Retryable,
    /// Retrying the same call will fail the same way; an operator or a code change must act.
    Permanent,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Create-if-absent found the key already there.
    #[error("ledger key {key} already exists")]
    AlreadyExists { key: String },

    /// Update-if-unchanged found a different version than the one it was given.
    #[error("ledger key {key} was changed by someone else since it was read")]
    Conflict { key: String },

    /// Update of a key that does not exist.
    #[error("ledger key {key} does not exist")]
    NotFound { key: String },

    /// The store could not be read or written.
    #[error("ledger key {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: io::Error,
    },

    /// A stored record does not parse. `location` names the file or object.
    #[error(
        "ledger record {location} is unreadable: {detail}. canvas-sis will not overwrite it; stop \
         the workers of this tenant, then restore the file from a backup or repair its JSON by hand"
    )]
    Corrupt {
        key: String,
        location: String,
        detail: String,
    },

    /// A key (or tenant, batch id, archive name) that is not a safe relative path.
    #[error("invalid ledger key {key:?}: {reason}")]
    BadKey { key: String, reason: String },

    /// A stage change the batch state machine forbids (see `Stage::can_go_to`).
    #[error("batch {batch}: illegal stage change {from} -> {to}")]
    IllegalTransition {
        batch: String,
        from: String,
        to: String,
    },

    /// A read-modify-write lost the race on every attempt.
    #[error("ledger key {key}: still conflicting after {attempts} attempts; too much contention")]
    TooManyConflicts { key: String, attempts: u32 },

    /// A remote store (S3) failed or refused a call. `location` is where the key lives
    /// (`s3://bucket/prefix/key`); `message` says what the service answered and, for a permanent
    /// failure, what an operator must change. Never holds credentials.
    #[error("{location}: {message}")]
    Remote {
        key: String,
        location: String,
        message: String,
        class: ErrorClass,
    },

    /// A ledger location (an `s3://` URL, a bucket or prefix) that cannot be used.
    #[error("ledger location {location}: {reason}")]
    BadLocation { location: String, reason: String },
}

impl LedgerError {
    /// Whether retrying later may help. See [`ErrorClass`].
    pub fn class(&self) -> ErrorClass {
        match self {
            LedgerError::Conflict { .. } | LedgerError::TooManyConflicts { .. } => {
                ErrorClass::Retryable
            }
            LedgerError::Io { source, .. } => io_class(source),
            LedgerError::Remote { class, .. } => *class,
            LedgerError::AlreadyExists { .. }
            | LedgerError::NotFound { .. }
            | LedgerError::Corrupt { .. }
            | LedgerError::BadKey { .. }
            | LedgerError::IllegalTransition { .. }
            | LedgerError::BadLocation { .. } => ErrorClass::Permanent,
        }
    }

    /// The key the error is about (the batch id for `IllegalTransition`, the location for
    /// `BadLocation`).
    pub fn key(&self) -> &str {
        match self {
            LedgerError::AlreadyExists { key }
            | LedgerError::Conflict { key }
            | LedgerError::NotFound { key }
            | LedgerError::Io { key, .. }
            | LedgerError::Corrupt { key, .. }
            | LedgerError::BadKey { key, .. }
            | LedgerError::TooManyConflicts { key, .. }
            | LedgerError::Remote { key, .. } => key,
            LedgerError::IllegalTransition { batch, .. } => batch,
            LedgerError::BadLocation { location, .. } => location,
        }
    }

    pub fn io(key: &str, source: io::Error) -> Self {
        LedgerError::Io {
            key: key.to_owned(),
            source,
        }
    }

    pub(crate) fn bad_key(key: &str, reason: impl Into<String>) -> Self {
        LedgerError::BadKey {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Permission and configuration problems do not heal by themselves; the rest (disk full, an
/// interrupted call, a flaky network mount) may.
fn io_class(e: &io::Error) -> ErrorClass {
    match e.kind() {
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::ReadOnlyFilesystem
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::InvalidFilename
        | io::ErrorKind::Unsupported
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::NotADirectory => ErrorClass::Permanent,
        _ => ErrorClass::Retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_is_retryable_and_refusals_are_permanent() {
        let k = || "tenants/a/tenant.json".to_owned();
        assert_eq!(
            LedgerError::Conflict { key: k() }.class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            LedgerError::TooManyConflicts {
                key: k(),
                attempts: 3
            }
            .class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            LedgerError::AlreadyExists { key: k() }.class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            LedgerError::io(&k(), io::Error::from(io::ErrorKind::PermissionDenied)).class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            LedgerError::io(&k(), io::Error::from(io::ErrorKind::StorageFull)).class(),
            ErrorClass::Retryable
        );
    }

    #[test]
    fn corrupt_error_names_the_file_and_the_fix() {
        let e = LedgerError::Corrupt {
            key: "tenants/a/tenant.json".into(),
            location: "/var/ledger/tenants/a/tenant.json".into(),
            detail: "EOF while parsing".into(),
        };
        let msg = e.to_string();
        assert!(msg.contains("/var/ledger/tenants/a/tenant.json"), "{msg}");
        assert!(msg.contains("restore the file"), "{msg}");
    }
}
