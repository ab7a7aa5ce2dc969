//! The client's serde types parse Canvas's JSON as docs/canvas-api.md §2, §1.8, §1.9 documents it,
//! including the doc model's variants (docs/canvas-api.md §7.8), from fixtures copied out of that
//! file, so the client and the simulator cannot drift into one shared wrong model.

use canvas_sis::canvas::{Progress, SisImport, SisImportErrorList, SisImportList, WorkflowState};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/canvas/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_reference_example_parses_with_every_field() {
    let i: SisImport =
        serde_json::from_str(&fixture("sis_import_finished_with_warnings.json")).unwrap();
    assert_eq!(i.id, 812);
    assert_eq!(i.workflow_state, WorkflowState::ImportedWithMessages);
    assert!(i.workflow_state.is_success() && i.workflow_state.is_terminal());
    assert_eq!(i.progress, Some(100));
    assert_eq!(i.data.counts["courses"], 120);
    assert_eq!(i.data.counts["warning_count"], 2);
    assert_eq!(i.warning_count(), 2);
    assert_eq!(i.data.supplied_batches, ["course", "user", "enrollment"]);
    assert_eq!(i.data.downloadable_attachment_ids, [9001, 9002, 9003]);
    let stats = i.data.statistics.as_ref().unwrap();
    assert_eq!(stats["total_state_changes"], 1962);
    assert_eq!(stats["Enrollment"]["created"], 1500);
    assert_eq!(i.processing_warnings.len(), 2);
    assert_eq!(i.processing_warnings[0].0.as_deref(), Some("users.csv"));
    let att = i.errors_attachment.as_ref().unwrap();
    assert_eq!(att.id, Some(9010));
    assert_eq!(att.content_type.as_deref(), Some("text/csv"));
    assert!(att.url.as_deref().unwrap().contains("verifier="));
    assert_eq!(i.user.as_ref().unwrap().id, Some(55));
    assert_eq!(i.csv_attachments.len(), 1);
    assert_eq!(i.update_sis_id_if_login_claimed, Some(false));
    assert_eq!(i.batch_mode, None);
    assert_eq!(
        i.started_at.unwrap().to_rfc3339(),
        "2025-02-03T14:00:09+00:00"
    );
}

#[test]
fn a_fresh_import_is_created_with_progress_zero_and_no_outcome() {
    let i: SisImport = serde_json::from_str(&fixture("sis_import_created.json")).unwrap();
    assert_eq!(i.workflow_state, WorkflowState::Created);
    assert!(i.workflow_state.is_pending() && !i.workflow_state.is_terminal());
    assert_eq!(i.progress, Some(0));
    assert_eq!(i.data.import_type.as_deref(), Some("instructure_csv"));
    assert!(i.started_at.is_none() && i.ended_at.is_none());
    assert!(i.processing_errors.is_empty() && i.errors_attachment.is_none());
    assert_eq!(i.skip_deletes, Some(false));
}

#[test]
fn a_list_page_is_wrapped_and_keeps_null_files_in_messages() {
    let page: SisImportList = serde_json::from_str(&fixture("sis_imports_list_page.json")).unwrap();
    let ids: Vec<u64> = page.sis_imports.iter().map(|i| i.id).collect();
    assert_eq!(ids, [815, 814, 813]);
    let running = &page.sis_imports[0];
    assert!(running.workflow_state.is_running());
    assert_eq!(running.batch_mode_term_id, Some(17));
    assert_eq!(running.change_threshold, Some(10));
    let failed = &page.sis_imports[1];
    assert!(failed.workflow_state.is_failure());
    assert_eq!(failed.progress, Some(37), "failed imports stop below 100");
    assert_eq!(
        failed.processing_errors[0].1,
        "Couldn't find Canvas CSV import headers"
    );
    let aborted = &page.sis_imports[2];
    assert_eq!(aborted.workflow_state, WorkflowState::Aborted);
    assert!(aborted.workflow_state.is_terminal() && !aborted.workflow_state.is_failure());
    assert_eq!(aborted.processing_warnings[0].0, None);
}

#[test]
fn an_errors_page_parses_rows_row_info_and_missing_rows() {
    let page: SisImportErrorList =
        serde_json::from_str(&fixture("sis_import_errors_page.json")).unwrap();
    let e = &page.sis_import_errors;
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].sis_import_id, Some(812));
    assert_eq!(e[0].row, Some(4));
    assert!(e[0].row_info.as_deref().unwrap().contains("actve"));
    assert_eq!(e[1].row_info, None);
    assert_eq!(e[2].file, None);
    assert_eq!(e[2].row, None);
}

#[test]
fn a_restore_progress_parses() {
    let p: Progress = serde_json::from_str(&fixture("progress_restore.json")).unwrap();
    assert_eq!(p.id, 4);
    assert_eq!(p.context_id, Some(812));
    assert_eq!(p.workflow_state, "queued");
    assert_eq!(p.completion, Some(0));
    assert!(!p.is_terminal());
    assert_eq!(p.user_id, None);
}

#[test]
fn the_doc_model_variants_parse_strings_nested_lists_and_unknown_keys() {
    let i: SisImport = serde_json::from_str(&fixture("sis_import_doc_variants.json")).unwrap();
    assert_eq!(i.id, 816, "id as a string");
    assert_eq!(i.progress, Some(100), "progress as a string");
    assert_eq!(
        i.batch_mode_term_id,
        Some(1234),
        "batch_mode_term_id as a string"
    );
    assert_eq!(i.change_threshold, Some(10));
    let names: Vec<_> = i
        .csv_attachments
        .iter()
        .map(|f| f.display_name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        ["users.csv", "terms.csv"],
        "array of arrays flattened"
    );
    assert_eq!(
        i.data.counts["differentiation_tags"], 2,
        "counts is an open map"
    );
    assert_eq!(i.data.counts["warning_count"], 1);
    assert_eq!(
        i.workflow_state,
        WorkflowState::Unknown("imported_later_state".into())
    );
    let w = &i.workflow_state;
    assert!(
        !w.is_terminal()
            && !w.is_success()
            && !w.is_failure()
            && !w.is_pending()
            && !w.is_running()
    );
    assert_eq!(w.to_string(), "imported_later_state");
}

#[test]
fn every_state_round_trips_and_falls_in_exactly_the_documented_groups() {
    use WorkflowState::*;
    for s in WorkflowState::ALL {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<WorkflowState>(&json).unwrap(), s);
    }
    let success: Vec<_> = WorkflowState::ALL
        .iter()
        .filter(|s| s.is_success())
        .cloned()
        .collect();
    assert_eq!(success, [Imported, ImportedWithMessages]);
    let failure: Vec<_> = WorkflowState::ALL
        .iter()
        .filter(|s| s.is_failure())
        .cloned()
        .collect();
    assert_eq!(failure, [Failed, FailedWithMessages]);
    let pending: Vec<_> = WorkflowState::ALL
        .iter()
        .filter(|s| s.is_pending())
        .cloned()
        .collect();
    assert_eq!(pending, [Initializing, Created]);
    let terminal: Vec<_> = WorkflowState::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .cloned()
        .collect();
    assert_eq!(
        terminal,
        [
            Imported,
            ImportedWithMessages,
            Failed,
            FailedWithMessages,
            Aborted,
            PartiallyRestored,
            Restored
        ]
    );
    let running: Vec<_> = WorkflowState::ALL
        .iter()
        .filter(|s| s.is_running())
        .cloned()
        .collect();
    assert_eq!(running, [Importing, CleanupBatch, Restoring]);
}

#[test]
fn a_missing_workflow_state_or_id_is_refused() {
    assert!(serde_json::from_str::<SisImport>(r#"{"id": 1}"#).is_err());
    assert!(serde_json::from_str::<SisImport>(r#"{"workflow_state": "created"}"#).is_err());
    let minimal: SisImport =
        serde_json::from_str(r#"{"id": 1, "workflow_state": "created"}"#).unwrap();
    assert!(minimal.data.counts.is_empty());
}
