//! Another tenant on the same queue (cloud and Lambda worlds): a second SIS, with its own Canvas
//! account (a second scripted Canvas, with the seed's faults), uploading zips under `second/`
//! whose events go to the same FIFO queue in a message group of their own, interleaved with the
//! first tenant's. Nobody pauses it and every one of its batches imports cleanly; what it adds
//! is a second stream beside the first's halts, pauses, blackouts, held purges and undos, on the
//! same workers, queue, dead-letter queue and sweeps. Checked: its batches are routed to it
//! alone, and its imports keep the same promises — each upload recorded and imported once, in
//! upload order (unless a message was dead-lettered), never two in flight, the ledger agreeing
//! with its Canvas — and the world settles only once its stream is finished too. (That it is
//! never held up by the first tenant's closed gate is not checked: the healthy round's operator
//! reopens that gate within a second.)
//!
//! Drawn from a stream of its own (`seed` mixed), so that a seed's first tenant sees the same
//! plan, Canvas and faults whether or not the second tenant uploads anything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvas_sis::ledger::{BatchRecord, Stage};

use crate::common::canvas::{CanvasFaults, OUR_USER, ScriptedCanvas, zip_entry};
use crate::common::trace::Trace;
use crate::common::{COURSES, users_csv};

use super::uploads::{event, zip_of};
use super::world::World;

/// The second tenant's name, S3 prefix (with a `/`) and message group.
pub const SECOND: &str = "second";

/// The second tenant of a cloud world (module docs).
pub struct Second {
    /// When each of its batches is uploaded, after the one before (the first after the start).
    pub(super) arrivals: Vec<Duration>,
    pub(super) canvas: Arc<ScriptedCanvas>,
    /// The sha256 of each zip uploaded, and its batch.
    pub(super) zipped: Mutex<Vec<(String, usize)>>,
}

impl Second {
    /// 1–3 batches in half the seeds, none in the others, drawn from `seed`'s own stream, over
    /// a Canvas with `faults`.
    pub fn draw(seed: u64, faults: &CanvasFaults, trace: &Trace) -> Second {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5ec0_9d7e_4a41_7b1d);
        let batches = if rng.bool() { rng.usize(1..=3) } else { 0 };
        let arrivals = (0..batches)
            .map(|_| Duration::from_millis(rng.u64(0..=3000)))
            .collect();
        Second {
            arrivals,
            canvas: Arc::new(ScriptedCanvas::new(
                faults.clone(),
                rng.u64(..),
                trace.clone(),
            )),
            zipped: Mutex::default(),
        }
    }
}

/// The `users.csv` of the second tenant's batch `k`: under 20 rows (the mass-change guard
/// leaves it alone), its size naming the batch.
fn users(k: usize) -> String {
    users_csv(3 + k)
}

impl World {
    fn second(&self) -> Option<&Second> {
        self.cloud.as_ref()?.second.as_ref()
    }

    /// The second tenant's uploads, each a zip `second/s<k>.zip` and its event.
    pub(super) async fn second_uploads(&self) {
        let (Some(second), Some(cloud)) = (self.second(), self.cloud.as_ref()) else {
            return;
        };
        for (k, wait) in second.arrivals.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            let zip = zip_of(&[("users.csv", &users(k)), ("courses.csv", COURSES)]);
            let key = format!("{SECOND}/s{k}.zip");
            let put = cloud.objects.put(&key, &zip);
            let id = format!("event-s{k}");
            cloud.queue.send(&event(&id, &key, &put), SECOND, &id);
            second.zipped.lock().unwrap().push((sha(&zip), k));
            self.trace.log(format!("arrival: s{k} uploaded as {key}"));
        }
    }

    /// The second tenant's batches, as its ledger has them.
    async fn second_batches(&self) -> Vec<BatchRecord> {
        self.clean.list_batches(SECOND).await.unwrap()
    }

    /// Which of the second tenant's uploads a record is (by its zip's sha256).
    fn second_index(&self, rec: &BatchRecord) -> Option<usize> {
        let second = self.second()?;
        let [zip] = rec.source.files.as_slice() else {
            return None;
        };
        let zipped = second.zipped.lock().unwrap();
        zipped
            .iter()
            .find(|(sha, _)| *sha == zip.sha256)
            .map(|(_, k)| *k)
    }

    /// Whether a dead-lettered message is of an upload of the second tenant's that its ledger
    /// recorded; `None` when it is not the second tenant's.
    pub(super) async fn second_recorded(&self, body: &str) -> Option<bool> {
        let second = self.second()?;
        let k = (0..second.arrivals.len()).find(|k| body.contains(&format!("\"event-s{k}\"")))?;
        let batches = self.second_batches().await;
        Some(batches.iter().any(|b| self.second_index(b) == Some(k)))
    }

    /// Every upload of the second tenant arrived and ended (true when it has none).
    pub(super) async fn second_finished(&self) -> bool {
        let Some(second) = self.second() else {
            return true;
        };
        let batches = self.second_batches().await;
        batches.len() == second.arrivals.len()
            && batches
                .iter()
                .all(|b| matches!(b.stage, Stage::Terminal { .. }))
    }

    /// The second tenant's promises: each upload recorded once and imported once, in upload
    /// order (unless a message went to the dead-letter queue), never two in flight, the ledger
    /// naming the import its Canvas made.
    pub(super) async fn second_breaches(&self, dead_lettered: bool) -> Vec<String> {
        let Some(second) = self.second() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let batches = self.second_batches().await;
        let order: Vec<Option<usize>> = batches.iter().map(|b| self.second_index(b)).collect();
        let account = second.canvas.account();
        out.extend(
            account
                .overlaps
                .iter()
                .map(|o| format!("second tenant: {o}")),
        );
        let made: Vec<(u64, Option<usize>)> = account
            .made
            .iter()
            .filter(|m| m.by() == OUR_USER)
            .map(|m| (m.import.id, self.second_batch_of(&m.zip)))
            .collect();
        for k in 0..second.arrivals.len() {
            let recorded = order.iter().filter(|o| **o == Some(k)).count();
            let imports: Vec<u64> = made
                .iter()
                .filter(|(_, b)| *b == Some(k))
                .map(|(id, _)| *id)
                .collect();
            if recorded != 1 || imports.len() != 1 {
                out.push(format!(
                    "s{k} was recorded {recorded} times and reached its Canvas {} times (imports {imports:?})",
                    imports.len()
                ));
                continue;
            }
            let rec = batches
                .iter()
                .find(|b| self.second_index(b) == Some(k))
                .expect("recorded once");
            let imported = matches!(rec.stage, Stage::Terminal { ok: true, .. });
            if !imported || rec.canvas_import_id != Some(imports[0]) {
                out.push(format!(
                    "the second tenant's ledger disagrees with its Canvas on s{k}: {:?} with import {:?}, Canvas made {}",
                    rec.stage, rec.canvas_import_id, imports[0]
                ));
            }
        }
        if made.iter().any(|(_, b)| b.is_none()) || order.contains(&None) {
            out.push(format!(
                "the second tenant holds a batch of no upload: ledger {order:?}, Canvas {made:?}"
            ));
        }
        let sent: Vec<Option<usize>> = made.iter().map(|(_, b)| *b).collect();
        let in_order = order.is_sorted() && sent.is_sorted();
        if !dead_lettered && !in_order {
            out.push(format!(
                "the second tenant's uploads out of order: ledger {order:?}, Canvas {sent:?}"
            ));
        }
        out
    }

    /// The second tenant's batch whose content a posted zip carries, by its `users.csv`.
    fn second_batch_of(&self, zip: &[u8]) -> Option<usize> {
        let second = self.second()?;
        let got = zip_entry(zip, "users.csv")?;
        (0..second.arrivals.len()).find(|k| users(*k).as_bytes() == got.as_slice())
    }
}

/// The hex sha256 of `bytes`.
fn sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
