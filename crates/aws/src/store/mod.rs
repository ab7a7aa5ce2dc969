//! Fetching one batch from the S3 drop bucket into a local work folder, so the pipeline — which
//! reads a local path, a folder of CSVs or a `.zip` — can run on it unchanged.
//!
//! [`S3Batches::fetch`] takes what `trigger::events::classify` made of an object key:
//! - a **zip** key: the object is streamed to `dest/<last segment of the key>`;
//! - a **folder** closed by `READY` or a manifest `{}`: every `.csv` directly under the prefix
//!   (any case; sub-folders, markers and other files left out) is streamed to `dest/<name>`;
//! - a folder whose manifest lists `"files"`: exactly those, waited for (bounded) when some are
//!   not there yet, and checked against the manifest's sha256 when it gives one.
//!
//! Every object is streamed chunk by chunk to disk ([`download`]) and hashed on the way, so
//! memory does not grow with the batch (docs/design.md invariant 6). What
//! comes back ([`Fetched`]) identifies the input the way folder mode does (same
//! [`content_hash`]), so the ledger's dedup treats both triggers alike.
//!
//! Which state of an object is read is pinned ([`Pin`]): the version the event named, or else
//! the current object only while its ETag is still the event's — so an overwritten key is never
//! mistaken for the version its event announced (drop bucket versioning is required; without
//! it, an overwritten object is [`FetchError::Overwritten`]). A folder's CSVs are not named by
//! the event: one whose manifest lists its sha256 is read at the version with those bytes, even
//! when the folder was written again since (`digest`); others as they are now. The version of
//! every object read comes back in [`Fetched::versions`], so the batch can be fetched again
//! exactly as it was.
//!
//! What this module deliberately does not do: delete or move objects in the bucket (inputs stay
//! until the outcome is recorded, invariant 3), open the zip (collect does, with its zip-slip
//! and zip-bomb checks), validate CSV contents, or retry — a [`FetchError`] says whether a retry
//! can help and the caller decides when.

mod digest;
mod download;
pub mod error;
mod listing;
mod manifest;
pub mod port;
mod s3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;

pub use error::FetchError;
pub use port::{At, Listed, ObjectBody, ObjectStore};
pub use s3::S3Objects;

use canvas_sis_rules::batch::{
    BatchTrigger, DEFAULT_INCOMPLETE_WAIT, FileIdentity, FolderMarker, ImportOverrides, MANIFEST,
    content_hash,
};
use download::url;

/// Fetches batches from one drop bucket, through its [`ObjectStore`] (S3 in production).
#[derive(Debug, Clone)]
pub struct S3Batches {
    objects: Arc<dyn ObjectStore>,
    bucket: String,
}

/// Limits of one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// How long a manifest's listed files may take to appear (default 15 min, as folder mode).
    pub incomplete_wait: Duration,
    /// How often the folder is listed again meanwhile (default 2 s).
    pub poll: Duration,
    /// The largest object fetched, in bytes (default 4 GiB).
    pub max_object_bytes: u64,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            incomplete_wait: DEFAULT_INCOMPLETE_WAIT,
            poll: Duration::from_secs(2),
            max_object_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// A batch on local disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The zip file, or the folder holding the CSVs (flat, names as in the batch).
    pub input: PathBuf,
    /// Every downloaded input file: name, size and sha256 (computed while streaming).
    pub files: Vec<FileIdentity>,
    /// [`content_hash`] of `files`, as folder mode computes it.
    pub content_sha256: String,
    /// `s3://bucket/key` for a zip, `s3://bucket/prefix/` for a folder.
    pub location: String,
    /// `s3-zip` or `s3-folder`.
    pub kind: &'static str,
    /// The manifest's import options, if it had any.
    pub import: Option<ImportOverrides>,
    /// sha256 of the manifest's bytes, when the folder was closed by one.
    pub manifest_sha256: Option<String>,
    /// The version read of each object (its name in the batch, `manifest.json` included), when
    /// the bucket keeps versions.
    pub versions: BTreeMap<String, String>,
}

/// Which state of the batch's objects to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pin {
    /// The trigger object's (zip's or manifest's) version, from its event.
    pub version_id: Option<String>,
    /// The trigger object's ETag, from its event: checked (If-Match) when there is no version.
    pub etag: Option<String>,
    /// Versions of a folder's files by name, as recorded by an earlier fetch
    /// ([`Fetched::versions`]).
    pub files: BTreeMap<String, String>,
}

impl Pin {
    fn trigger(&self) -> At<'_> {
        At {
            version_id: self.version_id.as_deref(),
            etag: self.etag.as_deref(),
        }
    }

    /// With a version pinned, the key must not have been deleted since (see
    /// `download::still_there`); without one, the GET itself finds out.
    async fn check_not_deleted(
        &self,
        objects: &dyn ObjectStore,
        bucket: &str,
        key: &str,
    ) -> Result<(), FetchError> {
        if download::real_version(self.version_id.as_deref()).is_none() {
            return Ok(());
        }
        download::still_there(objects, bucket, key).await
    }

    fn file(&self, name: &str) -> At<'_> {
        At {
            version_id: self.files.get(name).map(String::as_str),
            etag: None,
        }
    }
}

impl S3Batches {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Batches::over(Arc::new(S3Objects::new(client)), bucket)
    }

    /// Batches in `bucket` of any object store.
    pub fn over(objects: Arc<dyn ObjectStore>, bucket: impl Into<String>) -> Self {
        S3Batches {
            objects,
            bucket: bucket.into(),
        }
    }

    /// Downloads the batch `trigger` names into `dest` (an empty directory the caller made) and
    /// returns what it got. `Ignore` is a caller's bug: [`FetchError::NotABatch`]. On error,
    /// `dest` may hold some of the batch's files (never a partial one); give the retry a fresh
    /// folder.
    pub async fn fetch(
        &self,
        trigger: &BatchTrigger,
        dest: &Path,
        policy: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        self.fetch_pinned(trigger, &Pin::default(), dest, policy)
            .await
    }

    /// [`S3Batches::fetch`] of the objects as `pin` says (the module doc).
    pub async fn fetch_pinned(
        &self,
        trigger: &BatchTrigger,
        pin: &Pin,
        dest: &Path,
        policy: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        match trigger {
            BatchTrigger::Zip { key } => self.fetch_zip(key, pin, dest, policy).await,
            BatchTrigger::Folder { prefix, marker } => {
                self.fetch_folder(prefix, *marker, pin, dest, policy).await
            }
            BatchTrigger::Ignore { reason } => Err(FetchError::NotABatch { reason: *reason }),
        }
    }

    async fn fetch_zip(
        &self,
        key: &str,
        pin: &Pin,
        dest: &Path,
        policy: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        let location = url(&self.bucket, key);
        let name = key.rsplit('/').next().unwrap_or(key);
        check_name(&location, name)?;
        pin.check_not_deleted(self.objects.as_ref(), &self.bucket, key)
            .await?;
        let mut versions = BTreeMap::new();
        let file = self
            .download(key, name, pin.trigger(), dest, policy, &mut versions)
            .await?;
        let mut out = fetched(dest.join(name), vec![file], location, "s3-zip");
        out.versions = versions;
        Ok(out)
    }

    /// A closed folder: the marker says which CSVs (see the module doc).
    async fn fetch_folder(
        &self,
        prefix: &str,
        marker: FolderMarker,
        pin: &Pin,
        dest: &Path,
        policy: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        let started = tokio::time::Instant::now();
        let location = url(&self.bucket, prefix);
        let read = match marker {
            FolderMarker::Manifest => {
                let key = format!("{prefix}{}", MANIFEST);
                pin.check_not_deleted(self.objects.as_ref(), &self.bucket, &key)
                    .await?;
                Some(
                    manifest::read(self.objects.as_ref(), &self.bucket, prefix, pin.trigger())
                        .await?,
                )
            }
            FolderMarker::Ready => None,
        };
        let mut versions = BTreeMap::new();
        if let Some(v) = read.as_ref().and_then(|r| r.version_id.clone()) {
            versions.insert(MANIFEST.to_owned(), v);
        }
        let listed = match read.as_ref().and_then(|r| r.manifest.files.as_ref()) {
            Some(files) => {
                let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
                manifest::wait_for(self.objects.as_ref(), &self.bucket, prefix, &names, policy)
                    .await?
            }
            None => {
                let all = listing::list_folder(self.objects.as_ref(), &self.bucket, prefix).await?;
                listing::csvs(all)
            }
        };
        if listed.is_empty() {
            return Err(FetchError::Empty { location });
        }
        let mut files = self
            .download_all(prefix, &listed, pin, dest, policy, &mut versions)
            .await?;
        if let Some(r) = &read {
            // A file the manifest gives a digest for, read as it is now with other bytes: the key
            // was written again since (`digest`), unless this fetch is of recorded versions.
            for file in &mut files {
                if let Some(want) = manifest_digest(&r.manifest, &file.name)
                    && !file.sha256.eq_ignore_ascii_case(want)
                    && !pin.files.contains_key(&file.name)
                {
                    *file = self
                        .at_digest(prefix, file, want, dest, policy, &mut versions, started)
                        .await?;
                }
            }
            check_digests(&location, &r.manifest, &files)?;
        }
        let mut out = fetched(dest.to_owned(), files, location, "s3-folder");
        out.versions = versions;
        if let Some(r) = read {
            out.import = r.manifest.import;
            out.manifest_sha256 = Some(r.sha256);
        }
        Ok(out)
    }

    /// Downloads the listed objects one after another (memory stays at one chunk). Names and
    /// sizes are checked for the whole batch first, so a bad batch fails before any transfer.
    async fn download_all(
        &self,
        prefix: &str,
        listed: &[Listed],
        pin: &Pin,
        dest: &Path,
        policy: &FetchPolicy,
        versions: &mut BTreeMap<String, String>,
    ) -> Result<Vec<FileIdentity>, FetchError> {
        for o in listed {
            let location = url(&self.bucket, &format!("{prefix}{}", o.name));
            check_name(&location, &o.name)?;
            if o.size > policy.max_object_bytes {
                return Err(FetchError::TooLarge {
                    location,
                    size: o.size,
                    limit: policy.max_object_bytes,
                });
            }
        }
        let mut files = Vec::with_capacity(listed.len());
        for o in listed {
            let key = format!("{prefix}{}", o.name);
            let at = pin.file(&o.name);
            files.push(
                self.download(&key, &o.name, at, dest, policy, versions)
                    .await?,
            );
        }
        Ok(files)
    }

    /// Downloads one object as it was `at`, noting the version read in `versions`.
    async fn download(
        &self,
        key: &str,
        name: &str,
        at: At<'_>,
        dest: &Path,
        policy: &FetchPolicy,
        versions: &mut BTreeMap<String, String>,
    ) -> Result<FileIdentity, FetchError> {
        let to = dest.join(name);
        let w = download::to_file(
            self.objects.as_ref(),
            &self.bucket,
            key,
            at,
            &to,
            policy.max_object_bytes,
        )
        .await?;
        tracing::debug!(
            object = %url(&self.bucket, key),
            bytes = w.size,
            version = ?w.version_id,
            "fetched"
        );
        if let Some(v) = w.version_id {
            versions.insert(name.to_owned(), v);
        }
        Ok(FileIdentity {
            name: name.to_owned(),
            size: w.size,
            sha256: w.sha256,
        })
    }
}

fn check_name(location: &str, name: &str) -> Result<(), FetchError> {
    match listing::unsafe_name(name) {
        Some(why) => Err(FetchError::BadName {
            location: location.to_owned(),
            name: name.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// Every sha256 the manifest gives must match what was downloaded.
fn check_digests(
    location: &str,
    manifest: &canvas_sis_rules::batch::Manifest,
    files: &[FileIdentity],
) -> Result<(), FetchError> {
    for got in files {
        let Some(want) = manifest_digest(manifest, &got.name) else {
            continue;
        };
        if !got.sha256.eq_ignore_ascii_case(want) {
            return Err(FetchError::ChecksumMismatch {
                location: location.to_owned(),
                name: got.name.clone(),
                expected: want.to_owned(),
                got: got.sha256.clone(),
            });
        }
    }
    Ok(())
}

/// The sha256 the manifest gives for `name`, if it gives one.
fn manifest_digest<'m>(
    manifest: &'m canvas_sis_rules::batch::Manifest,
    name: &str,
) -> Option<&'m str> {
    manifest
        .files
        .iter()
        .flatten()
        .find(|f| f.name == name)
        .and_then(|f| f.sha256.as_deref().map(str::trim))
}

fn fetched(
    input: PathBuf,
    files: Vec<FileIdentity>,
    location: String,
    kind: &'static str,
) -> Fetched {
    Fetched {
        input,
        content_sha256: content_hash(&files),
        files,
        location,
        kind,
        import: None,
        manifest_sha256: None,
        versions: BTreeMap::new(),
    }
}
