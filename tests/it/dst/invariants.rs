//! The promises, checked after every seed against what the scripted Canvas saw, what the
//! operator acknowledged and what the ledger says (`docs/simulation.md`, "What is checked").

use std::time::Duration;

use canvas_sis::config::Blackout;
use canvas_sis::ledger::{BatchRecord, LedgerStore, Stage};

use crate::common::canvas::{Fate, OUR_USER, zip_entry};

use super::world::World;

/// One of our imports, as the invariants look at it.
#[derive(Debug)]
pub(super) struct Ours {
    id: u64,
    /// The batch whose `users.csv` it holds, if any.
    batch: Option<usize>,
    created: tokio::time::Instant,
    /// When Canvas ended it failed, if it did.
    failed_at: Option<tokio::time::Instant>,
}

impl World {
    /// The batch whose content a posted zip carries, by its `users.csv`.
    pub(super) fn batch_of(&self, zip: &[u8]) -> Option<usize> {
        let users = zip_entry(zip, "users.csv")?;
        (0..self.plan.batches).find(|n| self.users_of(*n).as_bytes() == users.as_slice())
    }

    /// The invariants (module docs): every breach found, empty when the seed is clean.
    pub(super) async fn breaches(&self) -> Vec<String> {
        let mut out = Vec::new();
        let batches = self.batches().await;
        // Canvas's side: each import (id, batch, created, ended if it failed), each refusal.
        let (made, refused) = {
            let a = self.canvas.account();
            out.extend(a.overlaps.iter().cloned());
            out.extend(a.sent_during_restore.iter().cloned());
            let made: Vec<_> = a
                .made
                .iter()
                .filter(|m| m.by() == OUR_USER)
                .map(|m| Ours {
                    id: m.import.id,
                    batch: self.batch_of(&m.zip),
                    created: m.created,
                    failed_at: (m.fate == Fate::Failed).then(|| m.ends()),
                })
                .collect();
            let refused: Vec<_> = a
                .refused
                .iter()
                .map(|r| (r.at, self.batch_of(&r.zip)))
                .collect();
            (made, refused)
        };
        let sent: Vec<usize> = made.iter().filter_map(|m| m.batch).collect();
        if sent.len() != made.len() {
            out.push(format!("Canvas holds an import of no batch: {made:?}"));
        }
        for (n, fate) in self.plan.fates.iter().enumerate() {
            let ids: Vec<u64> = made
                .iter()
                .filter(|m| m.batch == Some(n))
                .map(|m| m.id)
                .collect();
            let superseded = self
                .record_of(&batches, n)
                .is_some_and(|b| matches!(b.stage, Stage::Superseded { .. }));
            let rejected = self
                .record_of(&batches, n)
                .is_some_and(|b| self.rejected_for_deleted_objects(n, b));
            let expected = usize::from(*fate != Fate::Refused && !superseded && !rejected);
            if ids.len() != expected {
                out.push(format!(
                    "b{n} ({fate:?}) reached Canvas {} times (imports {ids:?})",
                    ids.len()
                ));
            }
        }
        // Arrival is the ledger's order (a cloud world records an upload whose message came
        // back from the dead-letter queue after later ones).
        let arrived: Vec<Option<usize>> = sent
            .iter()
            .map(|n| {
                let id = &self.record_of(&batches, *n)?.id;
                batches.iter().position(|b| &b.id == id)
            })
            .collect();
        if !arrived.is_sorted() {
            out.push(format!(
                "Canvas saw the batches out of arrival order: {sent:?} (ledger positions {arrived:?})"
            ));
        }
        out.extend(self.sent_past_a_failure(&batches, &made, &refused));
        out.extend(self.sent_in_a_blackout());
        out.extend(self.sent_unapproved(&batches));
        out.extend(self.noise.lock().unwrap().iter().cloned());
        if !self.finished().await {
            let stages: Vec<_> = batches.iter().map(|b| b.stage.name()).collect();
            out.push(format!(
                "the healthy round did not finish the stream: {stages:?}"
            ));
        }
        out.extend(self.cloud_breaches().await);
        out.extend(self.token_in_the_ledger().await);
        let ends: Vec<String> = batches
            .iter()
            .map(|b| {
                let line = format!("{} {}: {} {:?}", b.id, b.source.location, b.stage, b.errors);
                self.without_temporary_paths(&line)
            })
            .collect();
        self.trace
            .log(format!("harness: the ledger ends with {ends:?}"));
        out.extend(self.superseded_by_the_rule(&batches));
        for b in &batches {
            let Some(n) = self.index_of(b) else { continue };
            if matches!(b.stage, Stage::Superseded { .. })
                || self.rejected_for_deleted_objects(n, b)
            {
                continue;
            }
            let fate = self.plan.fates[n];
            let (state, ok) = match fate {
                Fate::Imported => ("imported", true),
                Fate::ImportedWithMessages => ("imported_with_messages", true),
                Fate::Failed => ("failed_with_messages", false),
                Fate::Refused => ("rejected", false),
            };
            let expected = Stage::Terminal {
                state: state.into(),
                ok,
            };
            let canvas_id = made.iter().find(|m| m.batch == Some(n)).map(|m| m.id);
            if b.stage != expected || b.canvas_import_id != canvas_id {
                out.push(format!(
                    "ledger disagrees with Canvas on b{n} ({fate:?}): {:?} with import {:?}, Canvas made {canvas_id:?}",
                    b.stage, b.canvas_import_id
                ));
            }
        }
        out
    }

    /// Whether batch `n` (record `b`) ended rejected, as it may when the SIS deleted its objects
    /// before they were read (a withdrawn upload; a manifest naming files that are not there),
    /// with an error that says what is gone or missing.
    fn rejected_for_deleted_objects(&self, n: usize, b: &BatchRecord) -> bool {
        let may = self
            .cloud
            .as_ref()
            .is_some_and(|c| c.plan.may_be_rejected_when_deleted(n));
        may && matches!(&b.stage, Stage::Terminal { state, ok: false } if state == "rejected")
            && b.canvas_import_id.is_none()
            && b.errors
                .iter()
                .any(|e| e.contains(" is gone") || e.contains(".csv"))
    }

    /// `text` with the world's temporary directories (inputs, each worker's disk) named as
    /// they are in every run.
    fn without_temporary_paths(&self, text: &str) -> String {
        let mut out = text.replace(&self.inputs.path().display().to_string(), "inputs");
        for (w, dir) in self.work.iter().enumerate() {
            out = out.replace(&dir.path().display().to_string(), &format!("work{w}"));
        }
        out
    }

    /// No record, archive or poison record in the ledger holds the Canvas token.
    async fn token_in_the_ledger(&self) -> Vec<String> {
        let store = self.clean.store();
        let mut out = Vec::new();
        for key in store.list("").await.unwrap_or_default() {
            let Ok(Some((body, _))) = store.get(&key).await else {
                continue;
            };
            if String::from_utf8_lossy(&body).contains(super::TOKEN) {
                out.push(format!("the Canvas token is in the ledger, in {key}"));
            }
        }
        out
    }

    /// A batch is superseded only by the documented rule: in batch mode, by a batch that arrived
    /// after it, whose own chain of supersessions ends in a batch that was not superseded (the
    /// newest snapshot, which went its way).
    pub(super) fn superseded_by_the_rule(&self, batches: &[BatchRecord]) -> Vec<String> {
        let mut out = Vec::new();
        for b in batches {
            let Stage::Superseded { by } = &b.stage else {
                continue;
            };
            if !self.plan.snapshots {
                out.push(format!("{} was superseded outside batch mode", b.id));
            }
            let mut at = b;
            let mut next = by;
            loop {
                let Some(newer) = batches.iter().find(|x| &x.id == next) else {
                    out.push(format!(
                        "{} was superseded by {next}, which is no batch",
                        b.id
                    ));
                    break;
                };
                if newer.arrival_seq <= at.arrival_seq {
                    out.push(format!(
                        "{} was superseded by {}, which arrived before it",
                        at.id, newer.id
                    ));
                    break;
                }
                match &newer.stage {
                    Stage::Superseded { by } => (at, next) = (newer, by),
                    _ => break,
                }
            }
        }
        out
    }

    /// No create of ours (made or refused) was sent inside the blackout window, past the few calls a send that
    /// checked the window just before it opened still makes (the listing, `users/self`, the
    /// lease's write). An upload sent before the window may end inside it.
    pub(super) fn sent_in_a_blackout(&self) -> Vec<String> {
        let Some(Blackout::Range { from, to }) = self.blackout() else {
            return Vec::new();
        };
        let calls = self.plan.canvas.latency * 4 + self.plan.store.latency * 6;
        let grace = chrono::TimeDelta::from_std(calls + Duration::from_millis(100)).unwrap();
        let a = self.canvas.account();
        let made = a
            .made
            .iter()
            .filter(|m| m.by() == OUR_USER)
            .map(|m| (m.sent_at, format!("import {}", m.import.id)));
        let refused = a.refused.iter().map(|r| {
            let b = self
                .batch_of(&r.zip)
                .map_or("?".into(), |n| format!("b{n}"));
            (r.sent_at, format!("a refused create of {b}"))
        });
        made.chain(refused)
            .filter_map(|(at, what)| {
                (from + grace <= at && at < to).then(|| {
                    format!(
                        "{what} was sent {} into the blackout {from} - {to}",
                        at - from
                    )
                })
            })
            .collect()
    }

    /// A purge (which the mass-change guard holds) was sent only after an operator approved it:
    /// no create of its content, made or refused, left before the approval.
    pub(super) fn sent_unapproved(&self, batches: &[BatchRecord]) -> Vec<String> {
        let approved = self.approved.lock().unwrap();
        let a = self.canvas.account();
        let sends = a
            .made
            .iter()
            .filter(|m| m.by() == OUR_USER)
            .map(|m| (m.sent_at, &m.zip))
            .chain(a.refused.iter().map(|r| (r.sent_at, &r.zip)));
        let mut out = Vec::new();
        for (sent_at, zip) in sends {
            let Some(n) = self.batch_of(zip).filter(|n| self.plan.purges[*n]) else {
                continue;
            };
            let Some(id) = self.record_of(batches, n).map(|b| &b.id) else {
                continue;
            };
            if !approved.iter().any(|(at, b)| b == id && *at <= sent_at) {
                out.push(format!(
                    "b{n}, a purge the guard holds, was sent at {sent_at} before an operator approved it"
                ));
            }
        }
        out
    }

    /// "Never past a failure": after a batch failed in Canvas (its import ended failed, or its
    /// create was refused), Canvas saw no create until an operator's resume acknowledged it.
    pub(super) fn sent_past_a_failure(
        &self,
        batches: &[BatchRecord],
        made: &[Ours],
        refused: &[(tokio::time::Instant, Option<usize>)],
    ) -> Vec<String> {
        let failures = made
            .iter()
            .filter_map(|m| Some((m.failed_at?, m.batch?)))
            .chain(refused.iter().filter_map(|r| Some((r.0, r.1?))));
        let acks = self.acks.lock().unwrap();
        let mut out = Vec::new();
        for (failed_at, n) in failures {
            let Some(rec) = self.record_of(batches, n) else {
                continue;
            };
            // A refusal whose answer never reached the ledger (its worker died, or its write
            // failed) is unknown to everyone after it: the batch, found never imported, waits to
            // be sent again — and a newer snapshot may supersede it first (cloud seed 7932).
            if matches!(rec.stage, Stage::Superseded { .. }) {
                continue;
            }
            let id = &rec.id;
            for Ours {
                id: import,
                created,
                ..
            } in made.iter().filter(|m| m.created > failed_at)
            {
                let acknowledged = acks
                    .iter()
                    .any(|(at, ids)| *at >= failed_at && *at <= *created && ids.contains(id));
                if !acknowledged {
                    out.push(format!(
                        "import {import} was created {:?} after b{n} failed, before any resume acknowledged it",
                        *created - failed_at
                    ));
                }
            }
        }
        out
    }
}
