//! A folder's file whose manifest gives its sha256 is read at the version that has that digest,
//! not simply at its newest.
//!
//! An SIS that writes every export to the same folder overwrites the last export's CSVs. When a
//! batch is fetched only after the next export landed there (the tenant's stream was busy, its
//! message came back later), the current objects are the next batch's — and with them, the first
//! batch would import the second's content and the second import it again. The manifest's digest
//! says which bytes are meant: the newest [`MAX_TRIED`] versions of the key are tried, newest
//! first (an older export is not searched for: a digest that far back is a wrong manifest), and
//! while none has it yet (a manifest written before its files, over an older
//! export's) the key is looked at again every `poll`, until `incomplete_wait` after the fetch
//! began; then the digest mismatch stands ([`FetchError::ChecksumMismatch`]).
//!
//! Without a digest in the manifest the current object is read: an SIS that reuses one folder
//! for every export should list `sha256` for each file (or write each export to a new folder).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tokio::time::Instant;

use super::download::url;
use super::port::At;
use super::{FetchError, FetchPolicy, S3Batches};
use canvas_sis_rules::batch::FileIdentity;

/// How many of a key's newest versions are looked at.
pub(crate) const MAX_TRIED: usize = 10;

impl S3Batches {
    /// `got` was read of `<prefix><name>` and does not have the digest `want` the manifest
    /// gives: finds the version that does (module docs) and records it in `versions`.
    #[allow(clippy::too_many_arguments)] // one file of a folder being fetched, and the fetch's state
    pub(super) async fn at_digest(
        &self,
        prefix: &str,
        got: &FileIdentity,
        want: &str,
        dest: &Path,
        policy: &FetchPolicy,
        versions: &mut BTreeMap<String, String>,
        started: Instant,
    ) -> Result<FileIdentity, FetchError> {
        let name = &got.name;
        let key = format!("{prefix}{name}");
        let location = url(&self.bucket, &key);
        let mut tried: BTreeSet<String> = versions.get(name).cloned().into_iter().collect();
        loop {
            let all = self.objects.versions(&self.bucket, &key, &location).await?;
            let fresh: Vec<String> = all
                .into_iter()
                .take(MAX_TRIED)
                .filter(|v| !tried.contains(v))
                .collect();
            for v in fresh {
                tried.insert(v.clone());
                let _ = std::fs::remove_file(dest.join(name));
                let at = At {
                    version_id: Some(&v),
                    etag: None,
                };
                let mut read = BTreeMap::new();
                let file = match self.download(&key, name, at, dest, policy, &mut read).await {
                    Ok(f) => f,
                    // That version went away meanwhile: the others may still have it.
                    Err(e) if e.is_permanent() => continue,
                    Err(e) => return Err(e),
                };
                if file.sha256.eq_ignore_ascii_case(want) {
                    tracing::info!(object = %location, version = %v, "read at the version the manifest's sha256 names (the key was written again since)");
                    versions.insert(name.clone(), v);
                    return Ok(file);
                }
            }
            let waited = started.elapsed();
            if waited >= policy.incomplete_wait {
                return Err(FetchError::ChecksumMismatch {
                    location: url(&self.bucket, prefix),
                    name: name.clone(),
                    expected: want.to_owned(),
                    got: got.sha256.clone(),
                });
            }
            tokio::time::sleep(
                policy
                    .poll
                    .min(policy.incomplete_wait - waited)
                    .max(std::time::Duration::from_millis(10)),
            )
            .await;
        }
    }
}
