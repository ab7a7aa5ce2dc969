//! Saving and loading the simulator's state (accounts' content, batches, files) as JSON.
//!
//! Written to a temporary file and renamed, so a crash never leaves half a state file. Running
//! jobs are not saved: after a load, batches that were running start again from `created`
//! (imports are upserts, so a re-run gives the same content).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::engine::RootAccount;
use crate::engine::batch::Batch;
use crate::engine::files::FileStore;
use crate::engine::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("could not write state file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("could not read state file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is not a simulator state ({source}); move it away or delete it to start fresh"
    )]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct Saved {
    accounts: std::collections::BTreeMap<u64, RootAccount>,
    batches: std::collections::BTreeMap<u64, Batch>,
    files: FileStore,
    progresses: std::collections::BTreeMap<u64, Progress>,
}

pub fn save(path: &Path, engine: &Engine) -> Result<(), PersistError> {
    let saved = SavedRef {
        accounts: &engine.accounts,
        batches: &engine.batches,
        files: &engine.files,
        progresses: &engine.progresses,
    };
    let err = |source| PersistError::Write {
        path: path.display().to_string(),
        source,
    };
    let bytes = serde_json::to_vec(&saved).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[derive(Serialize)]
struct SavedRef<'a> {
    accounts: &'a std::collections::BTreeMap<u64, RootAccount>,
    batches: &'a std::collections::BTreeMap<u64, Batch>,
    files: &'a FileStore,
    progresses: &'a std::collections::BTreeMap<u64, Progress>,
}

/// Loads a saved state into `engine`. A missing file is not an error (first start).
pub fn load(
    path: &Path,
    engine: &mut Engine,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(PersistError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|source| PersistError::Parse {
        path: path.display().to_string(),
        source,
    })?;
    engine.accounts = saved.accounts;
    engine.batches = saved.batches;
    engine.files = saved.files;
    engine.progresses = saved.progresses;
    engine.resume_counters();
    engine.requeue_interrupted(now);
    Ok(true)
}
