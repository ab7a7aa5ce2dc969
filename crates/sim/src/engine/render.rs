//! The SisImport JSON, as Canvas's code renders it (docs/canvas-api.md §2), not as its doc model
//! says.
//!
//! `progress` and `batch_mode_term_id` are numbers, `statistics` sits under `data`,
//! `csv_attachments` is a flat list, option fields are `null` unless set, and the conditional
//! keys (`processing_errors`, `processing_warnings`, `errors_attachment`, `csv_attachments`,
//! `diffing_threshold_exceeded`, ...) appear only when Canvas would add them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::batch::{Batch, Outcome};
use super::files::FileStore;
use crate::clock::canvas_time;
use crate::content::SisMessage;

/// How many messages of each level the JSON carries before the summary pair.
const MAX_MESSAGES: usize = 24;

/// Renders a batch. `user` is the User JSON of whoever posted it.
pub fn sis_import_json(
    b: &Batch,
    files: &FileStore,
    user: Option<Value>,
    base_url: &str,
    now: DateTime<Utc>,
) -> Value {
    let o = &b.options;
    let mut m = Map::new();
    m.insert("id".into(), json!(b.id));
    m.insert("created_at".into(), json!(canvas_time(b.created_at)));
    m.insert("started_at".into(), json!(b.started_at.map(canvas_time)));
    m.insert("ended_at".into(), json!(b.ended_at.map(canvas_time)));
    m.insert("updated_at".into(), json!(canvas_time(b.updated_at)));
    m.insert("progress".into(), json!(b.progress));
    m.insert("workflow_state".into(), json!(b.workflow_state.as_str()));
    m.insert("data".into(), data_json(b));
    m.insert("batch_mode".into(), json!(o.batch_mode));
    m.insert("batch_mode_term_id".into(), json!(o.batch_mode_term_id));
    m.insert(
        "multi_term_batch_mode".into(),
        json!(o.multi_term_batch_mode),
    );
    m.insert(
        "override_sis_stickiness".into(),
        json!(o.override_sis_stickiness),
    );
    m.insert("add_sis_stickiness".into(), json!(o.add_sis_stickiness));
    m.insert("clear_sis_stickiness".into(), json!(o.clear_sis_stickiness));
    m.insert(
        "update_sis_id_if_login_claimed".into(),
        json!(o.update_sis_id_if_login_claimed),
    );
    m.insert(
        "diffing_data_set_identifier".into(),
        json!(o.diffing_data_set_identifier),
    );
    m.insert("diffing_remaster".into(), json!(o.diffing_remaster));
    // Canvas reads this from options while the diff code writes it into data
    // (docs/canvas-api.md §2): the top-level key stays null; data.diffed_against_sis_batch_id
    // carries the id.
    m.insert("diffed_against_import_id".into(), Value::Null);
    m.insert("diffing_drop_status".into(), json!(o.diffing_drop_status));
    m.insert(
        "diffing_user_remove_status".into(),
        json!(o.diffing_user_remove_status),
    );
    m.insert("skip_deletes".into(), json!(o.skip_deletes));
    m.insert("change_threshold".into(), json!(o.change_threshold));
    m.insert(
        "diff_row_count_threshold".into(),
        json!(o.diff_row_count_threshold),
    );
    if let Some(outcome) = &b.outcome {
        add_outcome_keys(&mut m, b, outcome, files, base_url, now);
    }
    if o.diffing_data_set_identifier.is_some() {
        let exceeded = b
            .outcome
            .as_ref()
            .and_then(|x| x.diffing_threshold_exceeded);
        m.insert("diffing_threshold_exceeded".into(), json!(exceeded));
    }
    if let Some(user) = user {
        m.insert("user".into(), user);
    }
    Value::Object(m)
}

fn data_json(b: &Batch) -> Value {
    let mut d = Map::new();
    d.insert("import_type".into(), json!(b.options.import_type));
    if let Some(inline) = b.running_immediately {
        d.insert("running_immediately".into(), json!(inline));
    }
    let Some(o) = &b.outcome else {
        return Value::Object(d);
    };
    if !o.csv_attachment_ids.is_empty() {
        d.insert(
            "downloadable_attachment_ids".into(),
            json!(o.csv_attachment_ids),
        );
    }
    if let Some(sb) = &o.supplied_batches {
        d.insert("supplied_batches".into(), json!(sb));
    }
    if !o.counts.is_empty() {
        d.insert("counts".into(), json!(o.counts));
    }
    if o.supplied_batches.is_some() {
        d.insert("completed_importers".into(), json!(o.completed_importers));
    }
    if let Some(stats) = &o.statistics {
        d.insert("statistics".into(), stats.clone());
    }
    if let Some(against) = o.diffed_against {
        d.insert("diffed_against_sis_batch_id".into(), json!(against));
        d.insert(
            "diffed_attachment_ids".into(),
            json!(o.diffed_attachment_ids),
        );
    }
    if let Some(msg) = &o.error_message {
        d.insert("error_message".into(), json!(msg));
    }
    Value::Object(d)
}

fn add_outcome_keys(
    m: &mut Map<String, Value>,
    b: &Batch,
    o: &Outcome,
    files: &FileStore,
    base_url: &str,
    now: DateTime<Utc>,
) {
    let (failures, warnings): (Vec<&SisMessage>, Vec<&SisMessage>) =
        o.messages.iter().partition(|x| x.failure);
    if !failures.is_empty() {
        m.insert("processing_errors".into(), capped(&failures, "errors"));
    }
    if !warnings.is_empty() {
        m.insert("processing_warnings".into(), capped(&warnings, "warnings"));
    }
    if let Some((file_id, ready_at)) = b.errors_attachment
        && now >= ready_at
        && let Some(f) = files.get(file_id)
    {
        m.insert("errors_attachment".into(), f.to_json(base_url));
    }
    let attachments = |ids: &[u64]| -> Vec<Value> {
        ids.iter()
            .filter_map(|id| files.get(*id))
            .map(|f| f.to_json(base_url))
            .collect()
    };
    if !o.csv_attachment_ids.is_empty() {
        m.insert(
            "csv_attachments".into(),
            Value::Array(attachments(&o.csv_attachment_ids)),
        );
    }
    if !o.diffed_attachment_ids.is_empty() {
        m.insert(
            "diffed_csv_attachments".into(),
            Value::Array(attachments(&o.diffed_attachment_ids)),
        );
    }
}

/// `[[file, message], ...]`, at most 24, then `["and N more ... that were not included", ...]`.
fn capped(messages: &[&SisMessage], word: &str) -> Value {
    let mut out: Vec<Value> = messages
        .iter()
        .take(MAX_MESSAGES)
        .map(|x| json!([x.file, x.message]))
        .collect();
    if messages.len() > MAX_MESSAGES {
        let more = messages.len() - MAX_MESSAGES;
        out.push(json!([
            format!("and {more} more {word} that were not included"),
            format!("Download the error file to see all {word}.")
        ]));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_capped_at_24_plus_a_summary_pair() {
        let msgs: Vec<SisMessage> = (0..30)
            .map(|i| SisMessage::warning(Some("users.csv"), Some(i + 2), format!("w{i}")))
            .collect();
        let refs: Vec<&SisMessage> = msgs.iter().collect();
        let v = capped(&refs, "warnings");
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 25);
        assert_eq!(arr[0], json!(["users.csv", "w0"]));
        assert_eq!(
            arr[24],
            json!([
                "and 6 more warnings that were not included",
                "Download the error file to see all warnings."
            ])
        );
    }

    #[test]
    fn exactly_24_messages_have_no_summary() {
        let msgs: Vec<SisMessage> = (0..24)
            .map(|i| SisMessage::failure(None, None, format!("e{i}")))
            .collect();
        let refs: Vec<&SisMessage> = msgs.iter().collect();
        assert_eq!(capped(&refs, "errors").as_array().unwrap().len(), 24);
    }
}
