//! The Lambda world's function: each worker slot is one execution environment of
//! `canvas-sis lambda`, fed as an SQS event source mapping feeds it — a receive of up to the
//! batch size of one message group's messages, one invocation with them by the function's
//! deadline (`handle_invocation`, the production code), then the mapping deletes every record
//! the response does not report; the reported ones come back when the function set them to
//! (its `ChangeMessageVisibility`, before it answers) or once their visibility runs out (each
//! receive counts towards `maxReceiveCount`). Poison goes to the dead-letter queue, as the
//! worker sends it. An invocation still running at the function's
//! timeout is ended by Lambda (its future dropped) and its whole batch comes back.
//!
//! Slot 0 is also the target of the sweep's EventBridge schedule; that invocation runs in an
//! environment of its own (its own `/tmp`), alongside the queue's. Lambda sends no SIGTERM: a
//! stopped slot finishes the invocation under way and takes no more.

use std::sync::Arc;
use std::time::Duration;

use canvas_sis::aws::lambda::event::RecordAttributes;
use canvas_sis::aws::lambda::{
    BatchResponse, EventQueues, Invocation, SqsEvent, SqsRecord, handle_invocation,
};
use canvas_sis::aws::queue::{MessageHandler, MessageQueue, Received};
use canvas_sis::ledger::Ledger;
use canvas_sis::pipeline::LogObserver;
use tokio_util::sync::CancellationToken;

use super::cloud::worker_settings;
use super::cloud_plan::LambdaPlan;
use super::store::FaultyStore;
use super::world::World;

/// How long the event source mapping's receive waits (long polling).
const POLL: Duration = Duration::from_secs(2);
/// The queue's ARN as the records name it.
const QUEUE_ARN: &str = "arn:aws:sqs:eu-west-1:000000000000:queue";

impl World {
    /// Slot `w`'s environment in `round`: invocations by the queue (and, for slot 0, by the
    /// sweep's schedule) until `stop`.
    pub(super) async fn lambda_worker(
        &self,
        lambda: &LambdaPlan,
        w: usize,
        round: usize,
        stop: &CancellationToken,
    ) {
        let cloud = self.cloud();
        let queue_fed = self.function(w, "lambda");
        let polling = async {
            while !stop.is_cancelled() {
                let received = tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    r = cloud.queue.receive_some(lambda.batch_size, POLL, cloud.plan.visibility) => r,
                };
                let records = match received {
                    Ok(r) if r.is_empty() => continue,
                    Ok(r) => r,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let ids: Vec<&str> = records.iter().map(|r| r.message_id.as_str()).collect();
                self.trace
                    .log(format!("w{w} r{round}: invocation with {ids:?}"));
                let event = Invocation::Queue(SqsEvent {
                    records: records.iter().map(record_of).collect(),
                });
                let Some(response) = self.invoke(&queue_fed, lambda, &event, w, round).await else {
                    continue;
                };
                let reported: Vec<&str> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.as_str())
                    .collect();
                self.trace
                    .log(format!("w{w} r{round}: invocation reports {reported:?}"));
                for r in records
                    .iter()
                    .filter(|r| !reported.contains(&r.message_id.as_str()))
                {
                    // The mapping's delete; one that fails leaves the message to come back.
                    let _ = cloud.queue.delete(r).await;
                }
            }
        };
        let sweeping = async {
            if w != 0 {
                return;
            }
            let scheduled = self.function(w, "lambda-sweep");
            loop {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(lambda.sweep_every) => {}
                }
                self.trace
                    .log(format!("w{w} r{round}: invocation by the sweep's schedule"));
                self.invoke(&scheduled, lambda, &Invocation::Sweep, w, round)
                    .await;
            }
        };
        tokio::join!(polling, sweeping);
        self.trace.log(format!("w{w} r{round}: environment stops"));
    }

    /// The function as one environment of slot `w` runs it, with its own `/tmp` (`dir`).
    fn function(&self, w: usize, dir: &str) -> MessageHandler<'_, FaultyStore> {
        let cloud = self.cloud();
        let ledger: &Ledger<FaultyStore> = &self.ledger;
        MessageHandler {
            objects: Arc::new(cloud.objects.clone()),
            ledger,
            router: cloud.router.clone(),
            runtimes: &cloud.runtimes,
            settings: worker_settings(
                self.work[w].path().join(dir),
                cloud.plan.visibility,
                self.plan.lease,
                self.staged(w).request.wait,
            ),
            obs: &LogObserver,
            in_flight: Default::default(),
            // Lambda ends work by the invocation's deadline, not by a signal.
            stop: Default::default(),
        }
    }

    /// One invocation, ended by Lambda at the function's timeout if it still runs then (`None`).
    async fn invoke(
        &self,
        function: &MessageHandler<'_, FaultyStore>,
        lambda: &LambdaPlan,
        invocation: &Invocation,
        w: usize,
        round: usize,
    ) -> Option<BatchResponse> {
        let deadline = tokio::time::Instant::now() + lambda.timeout;
        let cloud = self.cloud();
        let queues = EventQueues {
            source: cloud.queue.clone(),
            dlq: Some(cloud.dlq.clone()),
        };
        let handling = handle_invocation(function, &queues, invocation, deadline, lambda.margin);
        let answered = tokio::time::timeout_at(deadline, Box::pin(handling))
            .await
            .ok();
        if answered.is_none() {
            self.trace.log(format!(
                "w{w} r{round}: invocation TIMED OUT: Lambda ends it"
            ));
        }
        answered
    }
}

/// A received message as the event source mapping puts it in an event.
fn record_of(r: &Received) -> SqsRecord {
    SqsRecord {
        message_id: r.message_id.clone(),
        receipt_handle: r.receipt.clone(),
        body: r.body.clone(),
        attributes: RecordAttributes {
            message_group_id: r.group.clone(),
            approximate_receive_count: Some(r.receive_count.to_string()),
            sent_timestamp: r.sent_at_ms.map(|ms| ms.to_string()),
        },
        message_attributes: Default::default(),
        event_source_arn: Some(QUEUE_ARN.into()),
    }
}
