//! The simulator's SisImport JSON has the shape of Canvas's, checked against the example of
//! docs/canvas-api.md §2 (copied to `tests/fixtures/sis_import_finished_with_warnings.json`), so
//! the simulator and a client cannot drift into sharing one wrong model.

use serde_json::Value;

use crate::common::*;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `fixture` must be in `got` with the same JSON type (a `null` in either matches
/// anything: those fields are nullable).
fn same_shape(fixture: &Value, got: &Value, at: &str, problems: &mut Vec<String>) {
    let (Value::Object(f), Value::Object(g)) = (fixture, got) else {
        return;
    };
    for (k, fv) in f {
        let path = format!("{at}.{k}");
        match g.get(k) {
            None => problems.push(format!("{path} missing")),
            Some(gv) => {
                if !fv.is_null() && !gv.is_null() && kind(fv) != kind(gv) {
                    problems.push(format!(
                        "{path}: fixture {} vs simulator {}",
                        kind(fv),
                        kind(gv)
                    ));
                }
                same_shape(fv, gv, &path, problems);
            }
        }
    }
}

#[tokio::test]
async fn finished_import_with_warnings_matches_the_reference_example() {
    let fixture: Value = serde_json::from_str(include_str!(
        "../fixtures/sis_import_finished_with_warnings.json"
    ))
    .unwrap();
    let s = Sim::manual().await;
    let enrollments =
        "course_id,user_id,role,status\nC1,U00000,student,active\nC1,NOBODY,student,active\n";
    let feed = zip_of(&[
        ("courses.csv", COURSES),
        ("users.csv", &users_csv(2)),
        ("enrollments.csv", enrollments),
    ]);
    let id = s.post_zip(feed, "").await["id"].as_u64().unwrap();
    s.run_to_end(id).await;
    s.advance(10.0).await; // past the errors-file lag
    let got = s.show(id).await;
    assert_eq!(got["workflow_state"], fixture["workflow_state"]);
    let mut problems = Vec::new();
    same_shape(&fixture, &got, "", &mut problems);
    assert!(
        problems.is_empty(),
        "shape differs from the reference: {problems:#?}\n{got:#}"
    );
    // The same open set of counts keys (plus the newest importers the simulator also knows).
    for key in fixture["data"]["counts"].as_object().unwrap().keys() {
        assert!(
            got["data"]["counts"].get(key).is_some(),
            "counts.{key} missing"
        );
    }
    for key in fixture["data"]["statistics"].as_object().unwrap().keys() {
        assert!(
            got["data"]["statistics"].get(key).is_some(),
            "statistics.{key} missing"
        );
    }
}
