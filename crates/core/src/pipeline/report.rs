//! Report: the import's outcome, and its errors file saved before Canvas expires it.
//!
//! Canvas writes `errors_attachment` in a follow-up job, so it can appear a little after the
//! state turned terminal; when the import has messages but no file yet, the show call is repeated
//! for up to `errors_file_wait`. The file is saved in the work directory; its path is reported.

use std::path::PathBuf;
use tokio::time::Instant;

use super::{Finished, ImportRequest, Observer, Outcome};
use canvas_sis_client::{CanvasApi, SisImport};

pub async fn finish(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    import: SisImport,
    obs: &dyn Observer,
) -> Outcome {
    let import = await_errors_file(client, req, import).await;
    let errors_file = match &import.errors_attachment {
        Some(file) => save_errors_file(client, req, &import, file.url.as_deref(), obs).await,
        None => None,
    };
    let finished = Box::new(Finished {
        import,
        errors_file,
    });
    if finished.import.workflow_state.is_success() {
        Outcome::Imported(finished)
    } else {
        Outcome::CanvasFailed(finished)
    }
}

fn has_messages(i: &SisImport) -> bool {
    !i.processing_errors.is_empty() || !i.processing_warnings.is_empty()
}

async fn await_errors_file(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    mut import: SisImport,
) -> SisImport {
    let started = Instant::now();
    while has_messages(&import)
        && import.errors_attachment.is_none()
        && started.elapsed() < req.wait.errors_file_wait
    {
        tokio::time::sleep(req.wait.poll_min).await;
        match client.get_sis_import(&req.account, import.id).await {
            Ok(next) => import = next,
            Err(_) => break,
        }
    }
    import
}

async fn save_errors_file(
    client: &dyn CanvasApi,
    req: &ImportRequest,
    import: &SisImport,
    url: Option<&str>,
    obs: &dyn Observer,
) -> Option<PathBuf> {
    let url = url?;
    let path = req
        .work_dir
        .join(format!("sis_errors_attachment_{}.csv", import.id));
    match client.download_to(url, &path).await {
        Ok(_) => Some(path),
        Err(e) => {
            obs.note(&format!(
                "could not save the errors file of import {}: {e}",
                import.id
            ));
            None
        }
    }
}
