//! `manifest.json`, the marker that closes a batch folder and may list its files and import
//! options: its shape, how its text is parsed, and the rules its file list must follow. Folder
//! mode and the S3 store apply the same rules (the import options are checked against the
//! tenant's defaults by `config::import_problem`).

use serde::{Deserialize, Serialize};

use super::has_ext;

/// `manifest.json`: `{}` or `{"files": [{"name": "users.csv", "sha256": "…"}], "import": {…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<ManifestFile>>,
    /// Import options for this batch, over the tenant's defaults (same names as the flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportOverrides>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Import options as written in `[tenants.<name>.import]` or in a batch's `manifest.json`
/// (`"import": {...}`): the names of `canvas-sis import`'s flags, every one optional so that a
/// later layer (tenant over defaults, manifest over tenant) only changes what it names.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportOverrides {
    pub batch_mode_term: Option<String>,
    pub multi_term_batch_mode: Option<bool>,
    pub change_threshold: Option<u32>,
    pub batch_mode_enrollment_drop_status: Option<String>,
    pub diffing_data_set: Option<String>,
    pub diffing_remaster: Option<bool>,
    pub diffing_drop_status: Option<String>,
    pub diffing_user_remove_status: Option<String>,
    pub diff_row_count_threshold: Option<u64>,
    pub override_sis_stickiness: Option<bool>,
    pub add_sis_stickiness: Option<bool>,
    pub clear_sis_stickiness: Option<bool>,
    pub skip_deletes: Option<bool>,
    pub update_sis_id_if_login_claimed: Option<bool>,
}

/// Parses a manifest's text; the error names `place` (a path or `s3://` URL), quotes serde's
/// message and shows a valid manifest.
pub fn parse_manifest(text: &str, place: &str) -> Result<Manifest, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{place} is not a valid manifest ({e}); write {{}} for every CSV in the folder, or \
             {{\"files\": [{{\"name\": \"users.csv\", \"sha256\": \"…\"}}], \"import\": {{…}}}}"
        )
    })
}

/// Why a manifest's `"files"` list cannot be used, if it cannot: empty, a name `plain` refuses
/// or that is not a `.csv`, a name listed twice, a sha256 that is not 64 hex digits.
pub fn bad_listing(files: &[ManifestFile], plain: fn(&str) -> bool) -> Option<String> {
    if files.is_empty() {
        return Some(
            "manifest.json has an empty \"files\" list; list the CSV files, or write {} for every \
             CSV in the folder"
                .into(),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        if !plain(&f.name) || !has_ext(&f.name, "csv") {
            return Some(format!(
                "manifest.json lists {:?}; list plain .csv file names of this folder (no paths)",
                f.name
            ));
        }
        if !seen.insert(f.name.as_str()) {
            return Some(format!(
                "manifest.json lists {} twice; list each file once",
                f.name
            ));
        }
        if let Some(d) = &f.sha256
            && (d.trim().len() != 64 || !d.trim().chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Some(format!(
                "manifest.json gives {:?} as the sha256 of {}; write the 64 hex digits of \
                     `sha256sum {}`",
                d, f.name, f.name
            ));
        }
    }
    None
}

impl ImportOverrides {
    /// `self` where set, else `base`.
    pub fn over(&self, base: &ImportOverrides) -> ImportOverrides {
        let b = base.clone();
        let s = self.clone();
        ImportOverrides {
            batch_mode_term: s.batch_mode_term.or(b.batch_mode_term),
            multi_term_batch_mode: s.multi_term_batch_mode.or(b.multi_term_batch_mode),
            change_threshold: s.change_threshold.or(b.change_threshold),
            batch_mode_enrollment_drop_status: s
                .batch_mode_enrollment_drop_status
                .or(b.batch_mode_enrollment_drop_status),
            diffing_data_set: s.diffing_data_set.or(b.diffing_data_set),
            diffing_remaster: s.diffing_remaster.or(b.diffing_remaster),
            diffing_drop_status: s.diffing_drop_status.or(b.diffing_drop_status),
            diffing_user_remove_status: s
                .diffing_user_remove_status
                .or(b.diffing_user_remove_status),
            diff_row_count_threshold: s.diff_row_count_threshold.or(b.diff_row_count_threshold),
            override_sis_stickiness: s.override_sis_stickiness.or(b.override_sis_stickiness),
            add_sis_stickiness: s.add_sis_stickiness.or(b.add_sis_stickiness),
            clear_sis_stickiness: s.clear_sis_stickiness.or(b.clear_sis_stickiness),
            skip_deletes: s.skip_deletes.or(b.skip_deletes),
            update_sis_id_if_login_claimed: s
                .update_sis_id_if_login_claimed
                .or(b.update_sis_id_if_login_claimed),
        }
    }
}
