//! What a batch folder in the bucket holds: the objects directly under its prefix, and which of
//! them are safe to write as local files.
//!
//! The store's listing ([`ObjectStore::list`]: in S3 one `ListObjectsV2` walk with delimiter
//! `/`) leaves sub-folders out, so only the folder's top level is seen (as in folder mode).
//! Names are the keys with the prefix cut off, exactly as uploaded (spaces, `+`, `%`, unicode
//! included). This module does not choose which objects are the batch; `mod.rs` does.

use super::error::FetchError;
pub(crate) use super::port::Listed;
use super::port::ObjectStore;
use canvas_sis_rules::batch::{has_ext, is_temp_name};

/// Every object directly under `prefix` (ending in `/`), in S3's (key) order.
pub(crate) async fn list_folder(
    objects: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, FetchError> {
    let location = format!("s3://{bucket}/{prefix}");
    let mut out = objects.list(bucket, prefix, &location).await?;
    // Whatever the store answers, only names directly under the prefix are objects of the
    // folder.
    out.retain(|o| !o.name.is_empty() && !o.name.contains('/'));
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
