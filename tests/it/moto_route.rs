//! The test harness's moto really routes S3 → EventBridge → SQS FIFO (docs/aws.md §1.2 route A) and
//! S3 → standard queue notifications, and what arrives parses with the worker's own parser —
//! the base every cloud-worker test stands on.

use canvas_sis::trigger::events::{Parsed, parse_message};

use crate::common::moto::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_reaches_the_fifo_queue_through_eventbridge_and_parses() {
    let m = Moto::start();
    m.create_bucket("drop").await;
    let (url, arn) = m.create_fifo("sis.fifo", None).await;
    m.route_bucket_to_fifo("drop", &arn, "main").await;
    let key = "main/fall 2026+x%/été.zip";
    m.put("drop", key, b"PK".to_vec()).await;
    let bodies = m.peek(&url, 10).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let parsed = parse_message(&bodies[0]).expect("parses");
    let Parsed::Objects { events, .. } = parsed else {
        panic!("not objects: {parsed:?}")
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].bucket, "drop");
    assert_eq!(events[0].key, key, "EventBridge keys arrive as they are");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_queue_notification_arrives_form_encoded_and_decodes() {
    let m = Moto::start();
    m.create_bucket("drop").await;
    let url = m.notify_standard_queue("drop", "std").await;
    let key = "main/a b/c+d=e%f/ü.zip";
    m.put("drop", key, b"PK".to_vec()).await;
    let bodies = m.peek(&url, 10).await;
    let parsed: Vec<Parsed> = bodies.iter().map(|b| parse_message(b).unwrap()).collect();
    assert!(
        parsed.iter().any(|p| matches!(p, Parsed::TestEvent { .. })),
        "moto sends the test event first: {bodies:?}"
    );
    let keys: Vec<String> = parsed
        .iter()
        .flat_map(|p| p.events().iter().map(|e| e.key.clone()))
        .collect();
    assert_eq!(keys, vec![key.to_owned()], "{bodies:?}");
}
