//! Defects the cloud world found, each replayed as one scripted scenario on the same simulated
//! queue, bucket and Canvas, so that the promise it broke is defended whatever the seeds draw.

use std::sync::Arc;
use std::time::Duration;

use canvas_sis::ledger::{Ledger, MemoryStore};
use canvas_sis::pipeline::WaitPolicy;
use tokio_util::sync::CancellationToken;

use crate::common::canvas::{OUR_USER, ScriptedCanvas, zip_entry};
use crate::common::trace::Trace;
use crate::common::{sim_clock, users_csv};

use super::cloud::{run_worker, tenant_runtimes, worker_settings};
use super::epoch;
use super::objects::{ObjectFaults, SimObjects};
use super::queue::{QueueFaults, SimQueue};
use super::uploads::upload;

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// The bucket answers 503 on the first batch's objects for a minute while a second batch
/// arrives behind it. The first batch could not be read, so it was not recorded: releasing its
/// message spent one receive per retry until the dead-letter queue took it (`maxReceiveCount`
/// 3), and the second batch went to Canvas first — and the first, once redriven, after it,
/// older data over newer. A batch not yet recorded keeps its message until it is.
#[test]
fn a_batch_the_bucket_cannot_serve_for_a_while_keeps_its_place_and_its_message() {
    paused().block_on(async {
        sim_clock::start(epoch());
        let trace = Trace::default();
        let ledger = Ledger::new(MemoryStore::new()).with_clock(sim_clock::now);
        let canvas = Arc::new(ScriptedCanvas::new(Default::default(), 1, trace.clone()));
        let dlq = SimQueue::new("dlq", 1, None, QueueFaults::default(), trace.clone());
        let queue = SimQueue::new(
            "queue",
            2,
            Some((3, dlq.clone())),
            QueueFaults::default(),
            trace.clone(),
        );
        let objects = SimObjects::new(3, ObjectFaults::default(), trace.clone());
        let (router, runtimes) = tenant_runtimes(canvas.clone(), None, None);
        let work = tempfile::tempdir().unwrap();
        let settings = worker_settings(
            work.path().to_owned(),
            Duration::from_secs(5),
            Duration::from_secs(10),
            WaitPolicy {
                poll_min: Duration::from_millis(50),
                poll_max: Duration::from_millis(500),
                ..WaitPolicy::default()
            },
        );
        let users = [users_csv(20), users_csv(21)];
        objects.outage("main/b0/", Duration::from_secs(60));
        let stop = CancellationToken::new();
        let arrivals = async {
            upload(&objects, &queue, (0, 0), &users[0], None, false).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            upload(&objects, &queue, (1, 1), &users[1], None, false).await;
            tokio::time::sleep(Duration::from_secs(300)).await;
            stop.cancel();
        };
        let worker = run_worker(
            &ledger,
            &queue,
            &dlq,
            &objects,
            (&router, &runtimes),
            settings,
            &stop,
        );
        tokio::join!(arrivals, worker);
        let sent: Vec<usize> = canvas
            .account()
            .made
            .iter()
            .filter(|m| m.by() == OUR_USER)
            .filter_map(|m| {
                let u = zip_entry(&m.zip, "users.csv")?;
                users.iter().position(|x| x.as_bytes() == u.as_slice())
            })
            .collect();
        assert_eq!(sent, [0, 1], "Canvas saw the batches in upload order");
        assert!(dlq.messages().is_empty(), "{:?}", dlq.messages());
        assert!(queue.messages().is_empty(), "{:?}", queue.messages());
    });
}
