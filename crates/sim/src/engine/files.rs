//! Files the simulated Canvas stores: uploads, the CSVs split out of them, errors files.
//!
//! Each file has a random-looking `verifier` that its download URL carries, as Canvas's file URLs
//! do; a download needs either that verifier or a valid token.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::canvas_time;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredFile {
    pub id: u64,
    pub display_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub verifier: String,
}

impl StoredFile {
    /// The Canvas File JSON (the subset SIS clients read).
    pub fn to_json(&self, base_url: &str) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "uuid": self.verifier,
            "display_name": self.display_name,
            "filename": self.display_name,
            "content-type": self.content_type,
            "size": self.bytes.len(),
            "url": self.download_url(base_url),
            "created_at": canvas_time(self.created_at),
            "updated_at": canvas_time(self.created_at),
            "locked": false,
            "hidden": false,
        })
    }

    pub fn download_url(&self, base_url: &str) -> String {
        format!(
            "{base_url}/files/{}/download?download_frd=1&verifier={}",
            self.id, self.verifier
        )
    }
}

/// All stored files, by id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FileStore {
    files: BTreeMap<u64, StoredFile>,
    next_id: u64,
    /// Mixed into verifiers so two simulator runs do not hand out the same ones.
    seed: String,
}

impl FileStore {
    pub fn new(seed: String) -> Self {
        FileStore {
            files: BTreeMap::new(),
            next_id: 9001,
            seed,
        }
    }

    pub fn add(
        &mut self,
        display_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
        now: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let verifier = hex::encode(&Sha256::digest(format!("{}:{id}", self.seed))[..16]);
        self.files.insert(
            id,
            StoredFile {
                id,
                display_name: display_name.to_owned(),
                content_type: content_type.to_owned(),
                bytes,
                created_at: now,
                verifier,
            },
        );
        id
    }

    pub fn get(&self, id: u64) -> Option<&StoredFile> {
        self.files.get(&id)
    }
}

/// The content type Canvas records for a file name.
pub fn content_type_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".zip") {
        "application/zip"
    } else if lower.ends_with(".csv") {
        "text/csv"
    } else if lower.ends_with(".xml") {
        "text/xml"
    } else {
        "application/octet-stream"
    }
}
