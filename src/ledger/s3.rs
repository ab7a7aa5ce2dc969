//! TEMPORARY STUB (not committed): replaced by the s3-ledger branch.
use super::{LedgerError, LedgerStore, Version};
pub struct S3Store;
impl S3Store {
    pub fn from_url(_c: aws_sdk_s3::Client, _u: &str) -> Result<Self, LedgerError> {
        todo!()
    }
}
impl LedgerStore for S3Store {
    async fn get(&self, _k: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        todo!()
    }
    async fn create(&self, _k: &str, _b: &[u8]) -> Result<Version, LedgerError> {
        todo!()
    }
    async fn update(&self, _k: &str, _b: &[u8], _e: &Version) -> Result<Version, LedgerError> {
        todo!()
    }
    async fn list(&self, _p: &str) -> Result<Vec<String>, LedgerError> {
        todo!()
    }
    async fn put_blob(&self, _k: &str, _b: &[u8]) -> Result<(), LedgerError> {
        todo!()
    }
    async fn get_blob(&self, _k: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        todo!()
    }
}
