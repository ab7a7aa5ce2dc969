//! The simulated SQS FIFO queue of the cloud world: message groups (the head of a group blocks
//! the rest of it while it is in flight), a visibility timeout and its extension, redelivery
//! with a new receipt once visibility runs out, the five-minute deduplication window, and
//! `maxReceiveCount` → the dead-letter queue on the receive that would pass it. Calls fail by
//! the seed: before they apply, or (a delete) after it applied, with the answer lost; a receive
//! may hand a message out and lose the answer, so nobody holds it until its visibility runs out.
//! All of it on the paused tokio clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvas_sis::aws::queue::{MessageQueue, QueueError, Received};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::common::trace::Trace;

/// SQS keeps a FIFO message's deduplication id this long.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// What the queue does wrong.
#[derive(Debug, Clone, Default)]
pub struct QueueFaults {
    /// Chance that a call fails before it applies.
    pub p_fail: f64,
    /// Chance that a delete or a receive applies and its answer is lost.
    pub p_lose_answer: f64,
    pub latency: Duration,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub group: String,
    receipt: String,
    pub receives: u32,
    visible_at: Instant,
    sent_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Message>,
    /// Messages ever accepted (a send the dedup window dropped is not counted).
    accepted: usize,
    dedup: HashMap<String, Instant>,
    next: u64,
}

#[derive(Debug)]
struct Shared {
    name: String,
    state: Mutex<State>,
    arrived: Notify,
    faults: Mutex<QueueFaults>,
    rng: Mutex<fastrand::Rng>,
    /// `maxReceiveCount` and the dead-letter queue it moves messages to.
    redrive: Option<(u32, SimQueue)>,
    trace: Trace,
}

/// A FIFO queue (module docs); clones share it.
#[derive(Debug, Clone)]
pub struct SimQueue(Arc<Shared>);

impl SimQueue {
    pub fn new(
        name: &str,
        seed: u64,
        redrive: Option<(u32, SimQueue)>,
        faults: QueueFaults,
        trace: Trace,
    ) -> SimQueue {
        SimQueue(Arc::new(Shared {
            name: name.to_owned(),
            state: Mutex::default(),
            arrived: Notify::new(),
            faults: Mutex::new(faults),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            redrive,
            trace,
        }))
    }

    pub fn set_faults(&self, faults: QueueFaults) {
        *self.0.faults.lock().unwrap() = faults;
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.0.rng.lock().unwrap().f64() < p
    }

    async fn call(&self, op: &'static str) -> Result<QueueFaults, QueueError> {
        let faults = self.0.faults.lock().unwrap().clone();
        let max = faults.latency.as_millis() as u64;
        if max > 0 {
            let ms = self.0.rng.lock().unwrap().u64(0..=max);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if self.chance(faults.p_fail) {
            self.0
                .trace
                .log(format!("{}: {op} FAILS before applying", self.0.name));
            return Err(self.error(op, "injected failure"));
        }
        Ok(faults)
    }

    fn error(&self, operation: &'static str, detail: &str) -> QueueError {
        QueueError {
            operation,
            queue: self.0.name.clone(),
            detail: detail.to_owned(),
            advice: "the simulation's queue",
        }
    }

    /// Sends a message (as EventBridge does): dropped if `dedup` was sent within the window.
    pub fn send(&self, body: &str, group: &str, dedup: &str) -> Option<String> {
        let now = Instant::now();
        let mut s = self.0.state.lock().unwrap();
        if s.dedup
            .get(dedup)
            .is_some_and(|at| now < *at + DEDUP_WINDOW)
        {
            self.0.trace.log(format!(
                "{}: a send of {dedup} inside the dedup window is dropped",
                self.0.name
            ));
            return None;
        }
        s.dedup.insert(dedup.to_owned(), now);
        s.accepted += 1;
        s.next += 1;
        let id = format!("{}-m{}", self.0.name, s.next);
        s.messages.push(Message {
            id: id.clone(),
            body: body.to_owned(),
            group: group.to_owned(),
            receipt: String::new(),
            receives: 0,
            visible_at: now,
            sent_at: now,
        });
        drop(s);
        self.0
            .trace
            .log(format!("{}: {id} sent (dedup {dedup})", self.0.name));
        self.0.arrived.notify_waiters();
        Some(id)
    }

    /// How many messages the queue ever accepted.
    pub fn accepted(&self) -> usize {
        self.0.state.lock().unwrap().accepted
    }

    /// Every message still in the queue, in flight or not.
    pub fn messages(&self) -> Vec<Message> {
        self.0.state.lock().unwrap().messages.clone()
    }

    /// Takes every message out (an operator's redrive reads the dead-letter queue empty).
    pub fn take_all(&self) -> Vec<Message> {
        std::mem::take(&mut self.0.state.lock().unwrap().messages)
    }

    /// The message a receive hands out now: the head of a group whose head is visible, the
    /// oldest such head first. Heads past `maxReceiveCount` go to the dead-letter queue first.
    fn take_head(&self, visibility: Duration) -> Option<Received> {
        let now = Instant::now();
        let mut s = self.0.state.lock().unwrap();
        loop {
            let mut seen = Vec::new();
            let mut pick = None;
            for (i, m) in s.messages.iter().enumerate() {
                if seen.contains(&m.group) {
                    continue;
                }
                seen.push(m.group.clone());
                if m.visible_at <= now {
                    pick = Some(i);
                    break;
                }
            }
            let i = pick?;
            if let Some(r) = self.hand_out(&mut s, i, visibility) {
                return Some(r);
            }
        }
    }

    /// The messages of `group` that follow the ones just handed out (`taken`), in order, while
    /// they are visible: what one receive of several messages adds to its first.
    fn take_following(
        &self,
        group: &str,
        taken: &[String],
        visibility: Duration,
    ) -> Option<Received> {
        let now = Instant::now();
        let mut s = self.0.state.lock().unwrap();
        loop {
            let i = s
                .messages
                .iter()
                .position(|m| m.group == group && !taken.contains(&m.id))?;
            if s.messages[i].visible_at > now {
                return None;
            }
            if let Some(r) = self.hand_out(&mut s, i, visibility) {
                return Some(r);
            }
        }
    }

    /// Hands message `i` out with a new receipt, or moves it to the dead-letter queue (`None`)
    /// when it was received `maxReceiveCount` times.
    fn hand_out(&self, s: &mut State, i: usize, visibility: Duration) -> Option<Received> {
        let now = Instant::now();
        if let Some((max, dlq)) = &self.0.redrive
            && s.messages[i].receives >= *max
        {
            let m = s.messages.remove(i);
            self.0.trace.log(format!(
                "{}: {} received {} times: moved to the dead-letter queue",
                self.0.name, m.id, m.receives
            ));
            dlq.send(&m.body, &m.group, &m.id);
            return None;
        }
        s.next += 1;
        let receipt = format!("r{}", s.next);
        let m = &mut s.messages[i];
        m.receives += 1;
        m.receipt = receipt.clone();
        m.visible_at = now + visibility;
        Some(Received {
            message_id: m.id.clone(),
            receipt,
            body: m.body.clone(),
            group: Some(m.group.clone()),
            receive_count: m.receives,
            received_at: now,
            sent_at_ms: Some(
                crate::common::sim_clock::now().timestamp_millis()
                    - now.duration_since(m.sent_at).as_millis() as i64,
            ),
            trace_parent: None,
            trace_state: None,
        })
    }

    /// A receive of up to `max` messages, as a Lambda event source mapping makes for FIFO: the
    /// first as [`MessageQueue::receive_one`] hands it out, then the visible messages that
    /// follow it in its group. Fails or loses its answer as a receive does.
    pub async fn receive_some(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        let Some(first) = self.receive_one(wait, visibility).await? else {
            return Ok(Vec::new());
        };
        let group = first.group.clone().unwrap_or_default();
        let mut got = vec![first];
        while got.len() < max {
            let taken: Vec<String> = got.iter().map(|r| r.message_id.clone()).collect();
            let Some(next) = self.take_following(&group, &taken, visibility) else {
                break;
            };
            self.0.trace.log(format!(
                "{}: {} received with {} (receive {})",
                self.0.name, next.message_id, got[0].message_id, next.receive_count
            ));
            got.push(next);
        }
        Ok(got)
    }

    /// When the next hidden message becomes visible, if any is hidden.
    fn next_visible(&self) -> Option<Instant> {
        let now = Instant::now();
        let s = self.0.state.lock().unwrap();
        s.messages
            .iter()
            .map(|m| m.visible_at)
            .filter(|at| *at > now)
            .min()
    }

    /// Applies `f` to the message of this receipt, if the receipt is still its latest.
    fn with_receipt<T>(&self, m: &Received, f: impl FnOnce(&mut State, usize) -> T) -> Option<T> {
        let mut s = self.0.state.lock().unwrap();
        let i = s
            .messages
            .iter()
            .position(|x| x.id == m.message_id && x.receipt == m.receipt)?;
        Some(f(&mut s, i))
    }
}

impl MessageQueue for SimQueue {
    fn url(&self) -> &str {
        &self.0.name
    }

    async fn receive_one(
        &self,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Option<Received>, QueueError> {
        let faults = self.call("ReceiveMessage").await?;
        let deadline = Instant::now() + wait;
        loop {
            let arrived = self.0.arrived.notified();
            if let Some(r) = self.take_head(visibility) {
                if self.chance(faults.p_lose_answer) {
                    self.0.trace.log(format!(
                        "{}: {} handed out, the answer LOST",
                        self.0.name, r.message_id
                    ));
                    return Err(self.error("ReceiveMessage", "injected lost answer"));
                }
                self.0.trace.log(format!(
                    "{}: {} received (receive {})",
                    self.0.name, r.message_id, r.receive_count
                ));
                return Ok(Some(r));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let until = self.next_visible().map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                biased;
                _ = arrived => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn delete(&self, m: &Received) -> Result<(), QueueError> {
        let faults = self.call("DeleteMessage").await?;
        let deleted = self.with_receipt(m, |s, i| s.messages.remove(i));
        let Some(gone) = deleted else {
            // SQS refuses a receipt handle a later receive replaced; a message already deleted
            // is deleted.
            let still = self.messages().iter().any(|x| x.id == m.message_id);
            if still {
                self.0.trace.log(format!(
                    "{}: delete of {} with a stale receipt refused",
                    self.0.name, m.message_id
                ));
                return Err(self.error("DeleteMessage", "ReceiptHandleIsInvalid"));
            }
            return Ok(());
        };
        self.0
            .trace
            .log(format!("{}: {} deleted", self.0.name, gone.id));
        if self.chance(faults.p_lose_answer) {
            self.0
                .trace
                .log(format!("{}: the delete's answer LOST", self.0.name));
            return Err(self.error("DeleteMessage", "injected lost answer"));
        }
        Ok(())
    }

    async fn set_visibility(&self, m: &Received, visibility: Duration) -> Result<(), QueueError> {
        self.call("ChangeMessageVisibility").await?;
        let now = Instant::now();
        let set = self.with_receipt(m, |s, i| {
            let x = &mut s.messages[i];
            // A message whose visibility ran out is no longer in flight for this receipt.
            if x.visible_at <= now {
                return false;
            }
            x.visible_at = now + visibility;
            true
        });
        if set != Some(true) {
            return Err(self.error("ChangeMessageVisibility", "MessageNotInflight"));
        }
        self.0.trace.detail(|| {
            format!(
                "{}: {} hidden for {visibility:?}",
                self.0.name, m.message_id
            )
        });
        if visibility.is_zero() {
            self.0.arrived.notify_waiters();
        }
        Ok(())
    }

    async fn waiting(&self) -> Result<u64, QueueError> {
        self.call("GetQueueAttributes").await?;
        let now = Instant::now();
        let s = self.0.state.lock().unwrap();
        Ok(s.messages.iter().filter(|m| m.visible_at <= now).count() as u64)
    }

    async fn send_copy(&self, m: &Received, reason: &str) -> Result<(), QueueError> {
        self.call("SendMessage").await?;
        let group = m.group.clone().unwrap_or_default();
        self.0.trace.log(format!(
            "{}: poison copy of {} ({reason})",
            self.0.name, m.message_id
        ));
        self.send(&m.body, &group, &m.message_id);
        Ok(())
    }
}
