//! What a batch folder in the bucket holds: the objects directly under its prefix, and which of
//! them are safe to write as local files.
//!
//! One `ListObjectsV2` walk with delimiter `/`, every page followed: sub-folders come back as
//! common prefixes and are left out, so only the folder's top level is seen (as in folder mode).
//! Names are the keys with the prefix cut off, exactly as uploaded (spaces, `+`, `%`, unicode
//! included). This module does not choose which objects are the batch; `mod.rs` does.

use aws_sdk_s3::Client;

use super::error::{FetchError, Op, from_sdk};
use canvas_sis_rules::batch::{has_ext, is_temp_name};

/// One object directly under a folder prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// The key without the prefix.
    pub name: String,
    pub size: u64,
}

/// Every object directly under `prefix` (ending in `/`), in S3's (key) order.
pub(crate) async fn list_folder(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, FetchError> {
    let location = format!("s3://{bucket}/{prefix}");
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(e, Op::ListObjectsV2, &location))?;
        for obj in page.contents() {
            let Some(name) = obj.key().and_then(|k| k.strip_prefix(prefix)) else {
                continue;
            };
            if name.is_empty() || name.contains('/') {
                continue;
            }
            out.push(Listed {
                name: name.to_owned(),
                size: obj.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            });
        }
    }
    Ok(out)
}

/// The CSVs a `READY` marker or a manifest `{}` means: `.csv` in any case, not temp-named
/// (folder mode's rules), markers and other files left out.
pub(crate) fn csvs(listing: Vec<Listed>) -> Vec<Listed> {
    listing
        .into_iter()
        .filter(|o| has_ext(&o.name, "csv") && !is_temp_name(&o.name))
        .collect()
}

/// Whether `name` can be written as `dest/<name>` without leaving `dest` or surprising anyone:
/// one non-hidden path component, no control characters, at most 255 bytes. Spaces, `+`, `%`
/// and unicode are fine.
pub(crate) fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("it holds a path separator")
    } else if name.starts_with('.') {
        Some("it starts with '.' (a relative path or hidden file)")
    } else if name.chars().any(char::is_control) {
        Some("it holds control characters")
    } else if name.len() > 255 {
        Some("it is longer than 255 bytes")
    } else if name.trim() != name {
        Some("it starts or ends with white space")
    } else {
        None
    }
}

/// [`unsafe_name`] as a yes/no, for folder mode's manifest listing rules.
pub(crate) fn is_safe_name(name: &str) -> bool {
    unsafe_name(name).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_are_unsafe_and_ordinary_odd_names_are_fine() {
        for bad in [
            "",
            "..",
            ".",
            "../x.csv",
            "/etc/passwd.csv",
            "a\\b.csv",
            ".hidden.csv",
            "a\nb.csv",
            " x.csv",
        ] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for ok in ["users.csv", "été 2026+x%.csv", "a b.csv", "x..csv"] {
            assert_eq!(unsafe_name(ok), None, "{ok:?}");
        }
        assert!(unsafe_name(&"a".repeat(256)).is_some());
    }

    #[test]
    fn only_top_level_non_temp_csvs_in_any_case_are_taken() {
        let l = |n: &str| Listed {
            name: n.into(),
            size: 1,
        };
        let got: Vec<String> = csvs(vec![
            l("a.csv"),
            l("B.CSV"),
            l("manifest.json"),
            l("READY"),
            l("notes.txt"),
            l(".tmp.csv"),
        ])
        .into_iter()
        .map(|o| o.name)
        .collect();
        assert_eq!(got, ["a.csv", "B.CSV"]);
    }
}
