//! Upload: one POST, and never a second import for the same batch.
//!
//! A create whose outcome is unknown (the connection dropped after the request was sent, a
//! timeout, a 5xx) is never blindly repeated: Canvas is asked first whether an import was created
//! since just before the POST. If one was, it is ours and we adopt it; only if none was is the
//! upload sent again, at most `MAX_ATTEMPTS` times in all.

use std::path::Path;

use chrono::{TimeDelta, Utc};

use super::{ImportRequest, Observer, Outcome, canvas_outcome};
use crate::canvas::{CanvasClient, CanvasError, ErrorClass, SisImport};

const MAX_ATTEMPTS: u32 = 3;

/// Allowance for the clock difference between this host and Canvas when looking for an import
/// created "since the POST".
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

pub async fn submit(
    client: &CanvasClient,
    req: &ImportRequest,
    zip: &Path,
    obs: &dyn Observer,
) -> Result<SisImport, Outcome> {
    for attempt in 1..=MAX_ATTEMPTS {
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
            Err(e) if e.class() == ErrorClass::Uncertain => {
                obs.note(&format!("the upload's outcome is unknown ({e}); looking for the import in Canvas before sending again"));
                if let Some(found) = look_for_import(client, req, &e, sent_at).await? {
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
            Err(e) => return Err(canvas_outcome(&e, None)),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

async fn look_for_import(
    client: &CanvasClient,
    req: &ImportRequest,
    e: &CanvasError,
    sent_at: chrono::DateTime<Utc>,
) -> Result<Option<SisImport>, Outcome> {
    let since = match e {
        CanvasError::CreateOutcomeUnknown { sent_at, .. } => *sent_at,
        _ => sent_at,
    } - CLOCK_SKEW;
    client
        .find_import_created_since(&req.account, since, None)
        .await
        .map_err(|e| canvas_outcome(&e, None))
}
