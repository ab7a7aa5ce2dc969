//! TEMPORARY STUB (not committed): replaced by the s3-fetch branch.
use crate::config::ImportOverrides;
use crate::ledger::FileIdentity;
use crate::trigger::events::BatchTrigger;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub struct S3Batches {
    _c: aws_sdk_s3::Client,
    _b: String,
}
impl S3Batches {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Batches {
            _c: client,
            _b: bucket.into(),
        }
    }
    pub async fn fetch(
        &self,
        _t: &BatchTrigger,
        _d: &Path,
        _p: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        todo!()
    }
}
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub incomplete_wait: Duration,
    pub poll: Duration,
    pub max_object_bytes: u64,
}
impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            incomplete_wait: Duration::from_secs(900),
            poll: Duration::from_secs(2),
            max_object_bytes: 1,
        }
    }
}
pub struct Fetched {
    pub input: PathBuf,
    pub files: Vec<FileIdentity>,
    pub content_sha256: String,
    pub location: String,
    pub kind: &'static str,
    pub import: Option<ImportOverrides>,
    pub manifest_sha256: Option<String>,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct FetchError;
impl FetchError {
    pub fn is_permanent(&self) -> bool {
        true
    }
}
