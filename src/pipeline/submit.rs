//! Upload: one POST, and never a second import for the same batch.
//!
//! A create whose outcome is unknown (the connection dropped after the request was sent, a
//! timeout, a 5xx) is never blindly repeated: Canvas is asked first whether an import was created
//! since just before the POST. Canvas has no idempotency key, so "ours" is decided by elimination:
//! the ids of the account's newest imports are noted *before* the POST, and only an import that
//! is not among them (nor among the ids the caller already knows, e.g. the ledger's) and was
//! created since the POST (less a clock-skew allowance) is taken as the one the lost request made.
//! If one is found it is adopted; only if none is found is the upload sent again, at most
//! `MAX_ATTEMPTS` times in all.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::{ImportRequest, Observer, Outcome, canvas_outcome};
use crate::canvas::{AccountRef, CanvasClient, CanvasError, ErrorClass, ListFilter, SisImport};

const MAX_ATTEMPTS: u32 = 3;

/// Allowance for the clock difference between this host and Canvas when looking for an import
/// created "since the POST".
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Uploads `zip`. `known` are import ids that are certainly not this batch's (the ledger's).
pub async fn submit(
    client: &CanvasClient,
    req: &ImportRequest,
    zip: &Path,
    obs: &dyn Observer,
    known: &HashSet<u64>,
) -> Result<SisImport, Outcome> {
    for attempt in 1..=MAX_ATTEMPTS {
        let mut not_ours = newest_ids(client, &req.account).await?;
        not_ours.extend(known.iter().copied());
        let sent_at = Utc::now();
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
            // and the aborted import is among the newest the next attempt notes as not ours.
            Err(e @ CanvasError::UploadAbandoned { .. }) if attempt < MAX_ATTEMPTS => {
                obs.note(&format!("{e}; uploading again as a new import"));
            }
            Err(e) if e.class() == ErrorClass::Uncertain => {
                obs.note(&format!("the upload's outcome is unknown ({e}); looking for the import in Canvas before sending again"));
                let since = match &e {
                    CanvasError::CreateOutcomeUnknown { sent_at, .. } => *sent_at,
                    _ => sent_at,
                };
                if let Some(found) = find_ours(client, &req.account, since, &not_ours).await? {
                    obs.note(&format!("found SIS import {} created by the lost request; waiting on it instead of uploading again", found.id));
                    return Ok(found);
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
            Err(e) => return Err(canvas_outcome(&e, None)),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// The ids of the account's newest imports (one page).
async fn newest_ids(client: &CanvasClient, account: &AccountRef) -> Result<HashSet<u64>, Outcome> {
    let filter = ListFilter {
        per_page: Some(100),
        ..ListFilter::default()
    };
    let recent = client
        .recent_sis_imports(account, &filter, 100)
        .await
        .map_err(|e| canvas_outcome(&e, None))?;
    Ok(recent.into_iter().map(|i| i.id).collect())
}

/// The oldest import created since `sent_at` (less the skew allowance) that is not in `not_ours`.
pub async fn find_ours(
    client: &CanvasClient,
    account: &AccountRef,
    sent_at: DateTime<Utc>,
    not_ours: &HashSet<u64>,
) -> Result<Option<SisImport>, Outcome> {
    let found = client
        .imports_created_since(account, sent_at - CLOCK_SKEW, None)
        .await
        .map_err(|e| canvas_outcome(&e, None))?;
    Ok(found.into_iter().find(|i| !not_ours.contains(&i.id)))
}
