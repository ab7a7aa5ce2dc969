//! Queue message bodies → object events, against the shapes of docs/aws.md §1.3 (the doc examples
//! verbatim, moto's variant) and the variants that break naive parsers: encoded keys, mixed
//! records, other event kinds, and bodies that must be poison.

use canvas_sis::trigger::events::{
    BatchTrigger, EventSource, FolderMarker, Ignored, ObjectEvent, Parsed, PoisonKind, Router,
    classify, parse_message,
};
use chrono::{TimeZone, Utc};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/events/", $name))
    };
}

fn events(body: &str) -> Vec<ObjectEvent> {
    match parse_message(body) {
        Ok(Parsed::Objects { events, .. }) => events,
        other => panic!("expected object events, got {other:?}"),
    }
}

fn keys(body: &str) -> Vec<String> {
    events(body).into_iter().map(|e| e.key).collect()
}

fn poison_kind(body: &str) -> PoisonKind {
    match parse_message(body) {
        Err(e) => e.kind,
        Ok(p) => panic!("expected poison, got {p:?}"),
    }
}

#[test]
fn s3_doc_example_yields_every_field() {
    let got = events(fixture!("s3_doc_example.json"));
    assert_eq!(
        got,
        vec![ObjectEvent {
            bucket: "mybucket".into(),
            key: "HappyFace.jpg".into(),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            version_id: Some("096fKKXTRTtl3on89fVO.nfljtsv6qko".into()),
            sequencer: Some("0055AED6DCD90281E5".into()),
            event_time: Some(Utc.timestamp_opt(0, 0).unwrap()),
            source: EventSource::S3Notification,
        }]
    );
}

#[test]
fn s3_test_event_is_recognised_with_no_events() {
    let parsed = parse_message(fixture!("s3_test_event.json")).unwrap();
    assert_eq!(
        parsed,
        Parsed::TestEvent {
            bucket: Some("bucketname".into())
        }
    );
    assert!(parsed.events().is_empty());
}

#[test]
fn eventbridge_doc_example_yields_every_field() {
    let got = events(fixture!("eventbridge_doc_example.json"));
    assert_eq!(
        got,
        vec![ObjectEvent {
            bucket: "DOC-EXAMPLE-BUCKET1".into(),
            key: "example-key".into(),
            size: Some(5),
            etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
            version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e".into()),
            sequencer: Some("617f08299329d189".into()),
            event_time: Some(Utc.with_ymd_and_hms(2021, 11, 12, 0, 0, 0).unwrap()),
            source: EventSource::EventBridge,
        }]
    );
}

#[test]
fn moto_record_without_optional_fields_parses_and_key_decodes() {
    let got = events(fixture!("s3_moto_encoded_key.json"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key, "a b/c+d=e.txt");
    assert_eq!(got[0].sequencer, None);
    assert_eq!(got[0].version_id, None);
}

#[test]
fn s3_keys_decode_plus_percent_slash_and_unicode() {
    assert_eq!(
        keys(fixture!("s3_key_variants.json")),
        vec![
            "main/fall term/users 2024.zip",
            "main/c++ 100%.zip",
            "main/batch-7/manifest.json",
            "main/café/READY",
        ]
    );
}

#[test]
fn multiple_records_keep_body_order() {
    let got = events(fixture!("s3_key_variants.json"));
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|e| e.bucket == "drop"));
}

#[test]
fn object_removed_is_ignored_next_to_a_created_record() {
    let parsed = parse_message(fixture!("s3_removed_and_created.json")).unwrap();
    let Parsed::Objects { events, ignored } = parsed else {
        panic!("not objects");
    };
    assert_eq!(
        events.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["main/new.zip"]
    );
    assert_eq!(
        ignored,
        vec![Ignored {
            event: "ObjectRemoved:Delete".into(),
            key: Some("main/old batch.zip".into())
        }]
    );
}

#[test]
fn body_of_removed_events_only_is_not_poison() {
    let parsed = parse_message(fixture!("s3_removed_only.json")).unwrap();
    assert!(parsed.events().is_empty());
}

#[test]
fn eventbridge_key_with_plus_and_percent_is_kept_as_is() {
    assert_eq!(
        keys(fixture!("eventbridge_plus_in_key.json")),
        vec!["main/c++ 100%25/a+b.zip"]
    );
}

#[test]
fn eventbridge_other_detail_type_is_ignored() {
    let parsed = parse_message(fixture!("eventbridge_object_deleted.json")).unwrap();
    assert_eq!(
        parsed,
        Parsed::Objects {
            events: vec![],
            ignored: vec![Ignored {
                event: "Object Deleted".into(),
                key: Some("main/a.zip".into())
            }]
        }
    );
}

#[test]
fn eventbridge_event_from_another_source_is_poison() {
    assert_eq!(
        poison_kind(fixture!("eventbridge_other_source.json")),
        PoisonKind::UnknownShape
    );
}

#[test]
fn not_json_is_poison_quoting_the_body_and_the_accepted_shapes() {
    let err = parse_message(fixture!("not_json.txt")).unwrap_err();
    assert_eq!(err.kind, PoisonKind::NotJson);
    let msg = err.to_string();
    assert!(msg.contains("users.csv,main/batch-7/"), "{msg}");
    assert!(msg.contains("s3:TestEvent"), "{msg}");
    assert!(msg.contains("Object Created"), "{msg}");
}

#[test]
fn json_of_another_shape_is_poison() {
    let err = parse_message(fixture!("other_shape.json")).unwrap_err();
    assert_eq!(err.kind, PoisonKind::UnknownShape);
    assert!(err.to_string().contains("Notification"), "{err}");
}

#[test]
fn json_that_is_not_an_object_is_poison() {
    for body in ["[]", "42", "\"Records\"", "null"] {
        assert_eq!(poison_kind(body), PoisonKind::UnknownShape, "{body}");
    }
}

#[test]
fn missing_bucket_is_poison_naming_the_field() {
    let err = parse_message(fixture!("s3_missing_bucket.json")).unwrap_err();
    assert_eq!(err.kind, PoisonKind::MissingField);
    assert!(err.detail.contains("Records[0].s3.bucket.name"), "{err}");
}

#[test]
fn eventbridge_missing_key_is_poison() {
    let body = r#"{"detail-type":"Object Created","source":"aws.s3",
        "detail":{"bucket":{"name":"drop"},"object":{"size":1}}}"#;
    let err = parse_message(body).unwrap_err();
    assert_eq!(err.kind, PoisonKind::MissingField);
    assert!(err.detail.contains("detail.object.key"), "{err}");
}

#[test]
fn key_not_utf8_once_decoded_is_poison() {
    let err = parse_message(fixture!("s3_bad_utf8_key.json")).unwrap_err();
    assert_eq!(err.kind, PoisonKind::BadKeyEncoding);
    assert!(err.detail.contains("%FF%FE"), "{err}");
}

#[test]
fn records_that_is_not_a_list_is_poison() {
    assert_eq!(
        poison_kind(r#"{"Records":"nope"}"#),
        PoisonKind::MissingField
    );
}

#[test]
fn record_from_another_event_source_is_poison() {
    let body = r#"{"Records":[{"eventSource":"aws:sqs","eventName":"ObjectCreated:Put",
        "s3":{"bucket":{"name":"drop"},"object":{"key":"a.zip"}}}]}"#;
    assert_eq!(poison_kind(body), PoisonKind::UnknownShape);
}

#[test]
fn unparseable_event_time_is_dropped_not_poison() {
    let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"yesterday",
        "s3":{"bucket":{"name":"drop"},"object":{"key":"a.zip"}}}]}"#;
    assert_eq!(events(body)[0].event_time, None);
}

#[test]
fn poison_excerpt_is_cut_at_200_characters() {
    let body = "é".repeat(500);
    let err = parse_message(&body).unwrap_err();
    // Debug quotes + 200 characters + the ellipsis.
    assert_eq!(err.received.chars().count(), 203, "{}", err.received);
}

#[test]
fn unknown_tenant_poison_names_bucket_and_key() {
    let r = Router::new([("east", Some("east/")), ("west", Some("west/"))]).unwrap();
    let e = &events(fixture!("s3_removed_and_created.json"))[0];
    assert_eq!(r.route(&e.key), None);
    let err = canvas_sis::trigger::events::PoisonError::unknown_tenant(&e.bucket, &e.key);
    assert_eq!(err.kind, PoisonKind::UnknownTenant);
    let msg = err.to_string();
    assert!(
        msg.contains("main/new.zip") && msg.contains("drop"),
        "{msg}"
    );
    assert!(msg.contains("s3_prefix"), "{msg}");
}

#[test]
fn decoded_keys_classify_into_batches() {
    let got: Vec<BatchTrigger> = keys(fixture!("s3_key_variants.json"))
        .iter()
        .map(|k| classify(k))
        .collect();
    assert_eq!(
        got,
        vec![
            BatchTrigger::Zip {
                key: "main/fall term/users 2024.zip".into()
            },
            BatchTrigger::Zip {
                key: "main/c++ 100%.zip".into()
            },
            BatchTrigger::Folder {
                prefix: "main/batch-7/".into(),
                marker: FolderMarker::Manifest
            },
            BatchTrigger::Folder {
                prefix: "main/café/".into(),
                marker: FolderMarker::Ready
            },
        ]
    );
}

#[test]
fn an_upload_is_told_apart_by_its_version_else_its_sequencer_the_same_in_both_shapes() {
    let s3 = &events(fixture!("s3_doc_example.json"))[0];
    assert_eq!(s3.version(), Some("096fKKXTRTtl3on89fVO.nfljtsv6qko"));
    assert_eq!(
        s3.delivery().as_deref(),
        Some("s3-version:096fKKXTRTtl3on89fVO.nfljtsv6qko")
    );
    let eb = &events(fixture!("eventbridge_doc_example.json"))[0];
    assert_eq!(
        eb.delivery().as_deref(),
        Some("s3-version:IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    );
    // An unversioned bucket: moto (and S3) report the version `null`; the sequencer tells.
    let mut unversioned = eb.clone();
    unversioned.version_id = Some("null".into());
    assert_eq!(unversioned.version(), None);
    assert_eq!(
        unversioned.delivery().as_deref(),
        Some("s3-sequencer:617f08299329d189")
    );
    let moto = &events(fixture!("s3_moto_encoded_key.json"))[0];
    assert_eq!(moto.delivery(), None, "nothing to tell uploads apart by");
}

#[test]
fn moto_s_eventbridge_etag_spelling_is_read() {
    let body = fixture!("eventbridge_doc_example.json").replace("\"etag\"", "\"eTag\"");
    assert_eq!(
        events(&body)[0].etag.as_deref(),
        Some("b1946ac92492d2347c6235b4d2611184")
    );
}
