//! A batch folder's `manifest.json` in the bucket: read it, judge it by folder mode's rules, and
//! wait (bounded) for the files it lists.
//!
//! The manifest types and rules are the batch's own ([`Manifest`], [`parse_manifest`],
//! [`bad_listing`], with [`import_problem`]), shared with folder mode, so an operator's manifest means the same in
//! both modes. One difference: listed names may hold spaces and unicode here (S3 keys often
//! do); they must still be one safe path component ([`super::listing::unsafe_name`]).
//!
//! The wait for listed files that are not there yet is counted from the start of the fetch, not
//! from the manifest's upload time (no clock of another machine is trusted). The caller keeps the
//! queue message invisible meanwhile; the wait is bounded by [`FetchPolicy::incomplete_wait`].

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::FetchPolicy;
use super::download::{MANIFEST_MAX_BYTES, to_memory, url};
use super::error::FetchError;
use super::listing::{Listed, is_safe_name, list_folder};
use super::port::{At, ObjectStore};
use canvas_sis_core::config::import_problem;
use canvas_sis_rules::batch::MANIFEST;
use canvas_sis_rules::batch::manifest::{Manifest, bad_listing, parse_manifest};

/// A manifest as read: its parsed form, the sha256 of its bytes and the version read.
#[derive(Debug, Clone)]
pub(crate) struct ReadManifest {
    pub manifest: Manifest,
    pub sha256: String,
    pub version_id: Option<String>,
}

/// Reads `<prefix>manifest.json` as it was `at` and checks it: JSON shape, file list, import
/// options.
pub(crate) async fn read(
    objects: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    at: At<'_>,
) -> Result<ReadManifest, FetchError> {
    let key = format!("{prefix}{MANIFEST}");
    let location = url(bucket, &key);
    let (bytes, version_id) = to_memory(objects, bucket, &key, at, MANIFEST_MAX_BYTES).await?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let bad = |detail: String| FetchError::BadManifest {
        location: location.clone(),
        detail,
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        bad(format!(
            "{location} is not UTF-8 text; save it as UTF-8 JSON"
        ))
    })?;
    let manifest = parse_manifest(&text, &location).map_err(bad)?;
    if let Some(files) = &manifest.files
        && let Some(why) = bad_listing(files, is_safe_name)
    {
        return Err(bad(format!("{location}: {why}")));
    }
    if let Some(why) = import_problem(&manifest) {
        return Err(bad(format!("{location}: {why}")));
    }
    Ok(ReadManifest {
        manifest,
        sha256,
        version_id,
    })
}

/// Lists the folder until every name in `wanted` is there, polling every `policy.poll` for at
/// most `policy.incomplete_wait`; returns the listing of the wanted names, in `wanted`'s order.
pub(crate) async fn wait_for(
    objects: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    wanted: &[String],
    policy: &FetchPolicy,
) -> Result<Vec<Listed>, FetchError> {
    let start = Instant::now();
    loop {
        let mut present: HashMap<String, Listed> = list_folder(objects, bucket, prefix)
            .await?
            .into_iter()
            .map(|o| (o.name.clone(), o))
            .collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|n| !present.contains_key(*n))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(wanted.iter().filter_map(|n| present.remove(n)).collect());
        }
        let waited = start.elapsed();
        if waited >= policy.incomplete_wait {
            return Err(FetchError::Incomplete {
                location: url(bucket, prefix),
                missing,
                waited,
            });
        }
        // A zero poll would hammer the bucket; 10 ms is the floor.
        let nap = policy
            .poll
            .min(policy.incomplete_wait - waited)
            .max(Duration::from_millis(10));
        tracing::debug!(
            folder = %url(bucket, prefix),
            missing = missing.len(),
            "manifest lists files not there yet; waiting"
        );
        tokio::time::sleep(nap).await;
    }
}
