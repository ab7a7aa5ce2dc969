//! Upload: one POST, and never a second import for the same batch.
//!
//! A create whose outcome is unknown (the connection dropped after the request was sent, a
//! timeout, a 5xx) is never blindly repeated: Canvas is asked first whether the request made an
//! import. Canvas has no idempotency key, so "ours" is decided by [`Evidence`] (docs/design.md): an
//! import is the lost request's only if it was created by this token's user (`users/self`),
//! inside the POST's time window (less and plus a clock-skew allowance), was not among the
//! account's imports listed *before* the POST (nor owned by another batch), and — once Canvas has
//! split it into files — holds our CSVs (names and sizes of its `csv_attachments`). Exactly one
//! such import is adopted; none means none was made and the upload may go again (at most
//! `MAX_ATTEMPTS` times in all); more than one, or one that cannot be compared, is for an
//! operator ([`Found::Ambiguous`]). An import still `initializing` [`STALLED_AFTER`] after the
//! POST ended never gets its file (an upload cut off): Canvas never processes it, so it is none.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{ImportRequest, Observer, Outcome, canvas_outcome};
use crate::ledger::PostedFile;
use canvas_sis_client::{
    AccountRef, CanvasApi, CanvasError, CanvasFile, ErrorClass, ListFilter, SisImport,
    WorkflowState,
};

const MAX_ATTEMPTS: u32 = 3;

/// Allowance for the clock difference between this host and Canvas when looking for an import
/// created "since the POST".
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// How long after its request ended (by this host's clock) an import may still leave
/// `initializing`: Canvas finishing a request it received whole. Past it, an `initializing`
/// import never gets its file (a `pre_attachment` upload cut off, a request that died) and
/// Canvas never processes it (docs/canvas-api.md, "Stuck in `initializing`"): it is not waited
/// for, and it is no import of this batch's content.
pub const STALLED_AFTER: TimeDelta = TimeDelta::minutes(1);

/// What tells the import a POST of ours made from anyone else's.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The token's Canvas user; only its imports can be ours.
    pub user_id: u64,
    /// Imports that are certainly not ours: listed before the POST, or other batches' imports.
    pub not_ours: HashSet<u64>,
    /// When the (first) POST left; the window opens [`CLOCK_SKEW`] before.
    pub post_started_at: DateTime<Utc>,
    /// When the POST is known to have ended (or its sender died by); the window closes
    /// [`CLOCK_SKEW`] after. `None`: open.
    pub post_ended_by: Option<DateTime<Utc>>,
    /// The CSVs of the zip as posted; empty when they cannot be known (a record from before
    /// leases whose input changed): then an import's files are not compared.
    pub files: Vec<PostedFile>,
}

/// What Canvas holds of a POST whose answer was lost.
#[derive(Debug)]
pub enum Found {
    /// The one import that matches everything: the POST's.
    Ours(Box<SisImport>),
    /// No import could be the POST's: none was made.
    None,
    /// Several imports could be the POST's, or one could that cannot be compared: an operator
    /// must look. `reason` names them and says what to do.
    Ambiguous { reason: String },
}

/// The evidence for a POST about to leave now (by `clock`, the ledger's): the account's newest
/// imports (not ours) and the token's user, listed first.
pub async fn evidence_before_post(
    client: &dyn CanvasApi,
    account: &AccountRef,
    known: &HashSet<u64>,
    files: Vec<PostedFile>,
    clock: fn() -> DateTime<Utc>,
) -> Result<Evidence, Outcome> {
    let user_id = own_user_id(client).await?;
    let mut not_ours = newest_ids(client, account).await?;
    not_ours.extend(known.iter().copied());
    Ok(Evidence {
        user_id,
        not_ours,
        post_started_at: clock(),
        post_ended_by: None,
        files,
    })
}

/// Uploads `zip`, sent after `evidence` was taken (and recorded by the caller); `clock` (the
/// ledger's) ends the window of a create whose answer was lost.
pub async fn submit(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    zip: &Path,
    obs: &dyn Observer,
    evidence: &Evidence,
    clock: fn() -> DateTime<Utc>,
) -> Result<SisImport, Outcome> {
    // Imports this call aborted itself (their file never arrived) are not ours to adopt later.
    let mut evidence = evidence.clone();
    for attempt in 1..=MAX_ATTEMPTS {
        match client
            .create_sis_import(&req.account, &req.options, zip)
            .await
        {
            Ok(import) => {
                obs.note(&format!(
                    "uploaded: Canvas SIS import {} is {}",
                    import.id,
                    import.workflow_state.as_str()
                ));
                return Ok(import);
            }
            // The file never reached Canvas and its import was aborted: nothing was imported,
            // and the aborted import is never taken for the next attempt's.
            Err(e @ CanvasError::UploadAbandoned { import_id, .. }) if attempt < MAX_ATTEMPTS => {
                evidence.not_ours.insert(import_id);
                obs.note(&format!("{e}; uploading again as a new import"));
            }
            Err(e) if e.class() == ErrorClass::Uncertain => {
                obs.note(&format!("the upload's outcome is unknown ({e}); looking for the import in Canvas before sending again"));
                let mut now = evidence.clone();
                now.post_ended_by = Some(clock());
                if let CanvasError::CreateOutcomeUnknown { sent_at, .. } = &e {
                    now.post_started_at = now.post_started_at.min(*sent_at);
                }
                match find_ours(client, &req.account, &now, &req.wait, clock).await? {
                    Found::Ours(found) => {
                        obs.note(&format!("found SIS import {} created by the lost request; waiting on it instead of uploading again", found.id));
                        return Ok(*found);
                    }
                    Found::Ambiguous { reason } => {
                        return Err(Outcome::GaveUp {
                            reason,
                            import_id: None,
                        });
                    }
                    Found::None => {}
                }
                if attempt == MAX_ATTEMPTS {
                    return Err(Outcome::GaveUp {
                        reason: format!(
                            "the upload failed {MAX_ATTEMPTS} times with an unknown outcome and no import appeared in Canvas: {e}"
                        ),
                        import_id: None,
                    });
                }
                obs.note("no import was created; sending the upload again");
            }
            // Canvas refused this batch (an unknown term, a bad option): no import exists, and
            // sending it again would be refused the same way.
            Err(e) if e.is_refusal() => {
                return Err(Outcome::Rejected {
                    reason: format!("Canvas refused the import: {e}"),
                    report: None,
                });
            }
            Err(e) => return Err(canvas_outcome(e, None)),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// The id of the token's user (`users/self`). Without it no import can be told to be ours, so
/// its absence is an error, never "any user".
pub async fn own_user_id(client: &dyn CanvasApi) -> Result<u64, Outcome> {
    let user = client
        .users_self()
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    user.id.ok_or_else(|| Outcome::GaveUp {
        reason: "Canvas's users/self answer has no user id; the token's imports cannot be told from others'".into(),
        import_id: None,
    })
}

/// The ids of the account's newest imports (one page).
async fn newest_ids(client: &dyn CanvasApi, account: &AccountRef) -> Result<HashSet<u64>, Outcome> {
    let filter = ListFilter {
        per_page: Some(100),
        ..ListFilter::default()
    };
    let recent = client
        .recent_sis_imports(account, &filter, 100)
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    Ok(recent.into_iter().map(|i| i.id).collect())
}

/// Looks in Canvas for the import a POST described by `evidence` made. An import that could be
/// ours but that Canvas has not split into files yet is waited for (polling, up to
/// `wait.stuck_after`), so that its files can be compared; past that the caller tries later.
/// One left `initializing` [`STALLED_AFTER`] after the POST ended (by `clock`, the ledger's) is
/// no import of the batch's: Canvas never processes it.
pub async fn find_ours(
    client: &dyn CanvasApi,
    account: &AccountRef,
    evidence: &Evidence,
    wait: &super::WaitPolicy,
    clock: fn() -> DateTime<Utc>,
) -> Result<Found, Outcome> {
    let give_up_at = tokio::time::Instant::now() + wait.stuck_after;
    let mut pause = wait.poll_min;
    let mut told_stalled = false;
    loop {
        let listed = client
            .imports_created_since(
                account,
                evidence.post_started_at - CLOCK_SKEW,
                Some(evidence.user_id),
            )
            .await
            .map_err(|e| canvas_outcome(e, None))?;
        let sorted = Sorted::of(listed, evidence, clock());
        if !sorted.stalled.is_empty() && !told_stalled {
            told_stalled = true;
            tracing::warn!(
                imports = %ids(&sorted.stalled),
                "SIS import(s) of this token's user, created in the lost POST's window, are stuck in initializing: Canvas never processes them, so they are not this batch's import; abort them to tidy up (PUT .../sis_imports/:id/abort)"
            );
        }
        if let Some(found) = sorted.decision() {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= give_up_at {
            return Err(Outcome::GaveUp {
                reason: format!(
                    "SIS import(s) {} of this user, created in the POST's window, are not split into files yet, so whether one is this batch's cannot be told; looking again later",
                    ids(&sorted.pending)
                ),
                import_id: None,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2)
            .min(wait.poll_max)
            .max(Duration::from_millis(10));
    }
}

/// The candidate imports of one listing, by what their files say.
struct Sorted {
    /// Our user, our window, our files.
    matching: Vec<SisImport>,
    /// Our user, our window, files not known yet (Canvas has not split the upload).
    pending: Vec<SisImport>,
    /// Our user, our window, ended without files: cannot be compared.
    unknowable: Vec<SisImport>,
    /// Our user, our window, still `initializing` [`STALLED_AFTER`] after the POST ended: never
    /// processed, no one's import of anything.
    stalled: Vec<SisImport>,
}

impl Sorted {
    fn of(listed: Vec<SisImport>, evidence: &Evidence, now: DateTime<Utc>) -> Sorted {
        let until = evidence.post_ended_by.map(|t| t + CLOCK_SKEW);
        let stalled_since = evidence.post_ended_by.map(|t| t + STALLED_AFTER);
        let mut s = Sorted {
            matching: Vec::new(),
            pending: Vec::new(),
            unknowable: Vec::new(),
            stalled: Vec::new(),
        };
        let in_window = |i: &SisImport| match (until, i.created_at) {
            (Some(until), Some(created)) => created <= until,
            _ => true,
        };
        for i in listed
            .into_iter()
            .filter(|i| !evidence.not_ours.contains(&i.id) && in_window(i))
        {
            let stalled = i.workflow_state == WorkflowState::Initializing
                && stalled_since.is_some_and(|t| now >= t);
            if stalled {
                s.stalled.push(i);
            } else if evidence.files.is_empty() {
                s.matching.push(i);
            } else if !i.csv_attachments.is_empty() {
                if same_files(&evidence.files, &i.csv_attachments) {
                    s.matching.push(i);
                }
            } else if i.workflow_state.is_terminal() {
                s.unknowable.push(i);
            } else {
                s.pending.push(i);
            }
        }
        s
    }

    /// The answer, or `None` while an import that may be ours is still being split.
    fn decision(&self) -> Option<Found> {
        match (self.matching.as_slice(), self.unknowable.as_slice()) {
            ([one], _) => Some(Found::Ours(Box::new(one.clone()))),
            ([_, _, ..], _) => Some(Found::Ambiguous {
                reason: format!(
                    "SIS imports {} were each created by this token's user in the POST's window with this batch's files; only one can be this batch's",
                    ids(&self.matching)
                ),
            }),
            ([], _) if !self.pending.is_empty() => None,
            ([], [_, ..]) => Some(Found::Ambiguous {
                reason: format!(
                    "SIS import(s) {} of this token's user, created in the POST's window, ended without files to compare with this batch's",
                    ids(&self.unknowable)
                ),
            }),
            ([], []) => Some(Found::None),
        }
    }
}

fn ids(list: &[SisImport]) -> String {
    list.iter()
        .map(|i| i.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an import's `csv_attachments` are the posted CSVs: the same names (base names) and
/// sizes. Canvas stores a users file with password columns as `<name>_filtered.csv` without
/// them (docs/canvas-api.md §2), and a CSV in which 100 or more records repeat earlier ones as
/// `<name>_deduplicated.csv` with one copy of each (docs/canvas-api.md §5.1): such a name matches
/// its original, whatever its size.
pub fn same_files(posted: &[PostedFile], attachments: &[CanvasFile]) -> bool {
    if posted.len() != attachments.len() {
        return false;
    }
    let mut left: Vec<&PostedFile> = posted.iter().collect();
    for a in attachments {
        let Some(name) = a.display_name.as_deref().or(a.filename.as_deref()) else {
            return false;
        };
        let name = base_name(name);
        let found = left.iter().position(|p| {
            let ours = base_name(&p.name);
            (ours == name && a.size.is_none_or(|s| s == p.size)) || rewritten_from(name, ours)
        });
        match found {
            Some(i) => {
                left.swap_remove(i);
            }
            None => return false,
        }
    }
    true
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Whether `stored` is the name Canvas gives `ours` after rewriting its content: `_filtered`
/// (password columns removed) and `_deduplicated` (repeated lines removed) added to the stem.
fn rewritten_from(stored: &str, ours: &str) -> bool {
    let ours = ours.strip_suffix(".csv").unwrap_or(ours);
    let mut stem = stored.strip_suffix(".csv").unwrap_or(stored);
    let mut rewritten = false;
    while let Some(rest) = ["_filtered", "_deduplicated"]
        .iter()
        .find_map(|suffix| stem.strip_suffix(suffix))
    {
        stem = rest;
        rewritten = true;
    }
    rewritten && stem == ours
}

/// The CSVs of a zip as Canvas will store them: entry names and uncompressed sizes.
pub fn posted_files(zip: &Path) -> Result<Vec<PostedFile>, String> {
    let z = crate::pack::open_zip(zip, &crate::pack::ZipLimits::default())
        .map_err(|e| format!("reading {}: {e}", zip.display()))?;
    Ok(z.batch_files()
        .iter()
        .filter(|f| f.name().to_ascii_lowercase().ends_with(".csv"))
        .map(|f| PostedFile {
            name: f.name().to_owned(),
            size: f.size().unwrap_or(0),
        })
        .collect())
}

/// A previous import of these files by this token's user, among the account's newest, that did
/// not fail: what a re-run of a one-shot import after a crash would send twice. A failed or
/// aborted one is no reason to refuse: sending again after it is what `--after-failure` is for.
pub async fn already_imported(
    client: &dyn CanvasApi,
    account: &AccountRef,
    files: &[PostedFile],
    since: DateTime<Utc>,
) -> Result<Option<SisImport>, Outcome> {
    let user_id = own_user_id(client).await?;
    let filter = ListFilter {
        created_since: Some(since),
        ..ListFilter::default()
    };
    let recent = client
        .recent_sis_imports(account, &filter, 100)
        .await
        .map_err(|e| canvas_outcome(e, None))?;
    Ok(recent.into_iter().find(|i| {
        !(i.workflow_state.is_failure() || i.workflow_state == WorkflowState::Aborted)
            && i.user.as_ref().and_then(|u| u.id) == Some(user_id)
            && !i.csv_attachments.is_empty()
            && same_files(files, &i.csv_attachments)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(list: &[(&str, u64)]) -> Vec<PostedFile> {
        list.iter()
            .map(|(n, s)| PostedFile {
                name: (*n).into(),
                size: *s,
            })
            .collect()
    }

    fn attached(list: &[(&str, u64)]) -> Vec<CanvasFile> {
        list.iter()
            .map(|(n, s)| CanvasFile {
                display_name: Some((*n).into()),
                size: Some(*s),
                ..CanvasFile::default()
            })
            .collect()
    }

    fn import(id: u64, state: &str, created_at: DateTime<Utc>) -> SisImport {
        let mut i: SisImport = serde_json::from_value(serde_json::json!({
            "id": id,
            "workflow_state": state,
            "user": { "id": 7 },
        }))
        .unwrap();
        i.created_at = Some(created_at);
        i
    }

    /// A batch is never stuck behind an import Canvas will never process: one left
    /// `initializing` (a `pre_attachment` upload cut off) is waited for while its request may
    /// still be finishing, then neither waited for nor adopted, so the batch is sent again.
    #[test]
    fn an_import_stuck_in_initializing_after_its_post_ended_is_never_this_batchs() {
        let ended: DateTime<Utc> = "2026-12-07T02:00:00Z".parse().unwrap();
        let orphan = import(5, "initializing", ended - TimeDelta::seconds(30));
        for files in [posted(&[("users.csv", 10)]), Vec::new()] {
            let evidence = Evidence {
                user_id: 7,
                post_started_at: ended - TimeDelta::seconds(40),
                post_ended_by: Some(ended),
                files,
                ..Evidence::default()
            };
            let soon = Sorted::of(
                vec![orphan.clone()],
                &evidence,
                ended + TimeDelta::seconds(5),
            );
            if evidence.files.is_empty() {
                // Nothing to compare: an import in the window is taken as ours, unless stalled.
                assert!(matches!(soon.decision(), Some(Found::Ours(_))));
            } else {
                assert!(soon.decision().is_none(), "waited for while it may finish");
            }
            let later = Sorted::of(vec![orphan.clone()], &evidence, ended + STALLED_AFTER);
            assert!(matches!(later.decision(), Some(Found::None)));
            assert_eq!(later.stalled.len(), 1);
        }
        // A POST whose end is unknown (a record from before leases): still waited for.
        let open = Evidence {
            user_id: 7,
            post_started_at: ended - TimeDelta::seconds(40),
            files: posted(&[("users.csv", 10)]),
            ..Evidence::default()
        };
        let far = ended + TimeDelta::days(1);
        assert!(
            Sorted::of(vec![orphan.clone()], &open, far)
                .decision()
                .is_none()
        );
        // An import in `created` is Canvas's to process: waited for, never stalled.
        let queued = import(6, "created", ended - TimeDelta::seconds(30));
        let evidence = Evidence {
            post_ended_by: Some(ended),
            ..open
        };
        assert!(
            Sorted::of(vec![queued], &evidence, far)
                .decision()
                .is_none()
        );
    }

    #[test]
    fn files_match_by_name_and_size_in_any_order() {
        let ours = posted(&[("users.csv", 10), ("courses.csv", 20)]);
        assert!(same_files(
            &ours,
            &attached(&[("courses.csv", 20), ("users.csv", 10)])
        ));
        assert!(!same_files(
            &ours,
            &attached(&[("courses.csv", 21), ("users.csv", 10)])
        ));
        assert!(!same_files(&ours, &attached(&[("users.csv", 10)])));
        assert!(!same_files(
            &ours,
            &attached(&[("terms.csv", 20), ("users.csv", 10)])
        ));
    }

    #[test]
    fn a_filtered_users_file_matches_its_original_and_folders_are_ignored() {
        let ours = posted(&[("2026/users.csv", 100)]);
        assert!(same_files(&ours, &attached(&[("users_filtered.csv", 80)])));
        assert!(same_files(&ours, &attached(&[("users.csv", 100)])));
    }

    #[test]
    fn a_deduplicated_file_matches_its_original_and_nothing_else() {
        let ours = posted(&[("enrollments.csv", 5000), ("users.csv", 100)]);
        assert!(same_files(
            &ours,
            &attached(&[("enrollments_deduplicated.csv", 70), ("users.csv", 100)])
        ));
        assert!(same_files(
            &posted(&[("users.csv", 900)]),
            &attached(&[("users_filtered_deduplicated.csv", 60)])
        ));
        assert!(!same_files(
            &ours,
            &attached(&[("courses_deduplicated.csv", 70), ("users.csv", 100)])
        ));
        assert!(!same_files(
            &posted(&[("users.csv", 900)]),
            &attached(&[("users.csv_deduplicated", 60)])
        ));
    }
}
