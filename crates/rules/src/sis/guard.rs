//! The mass-change guard: hold a batch whose size or deletions jump against the tenant's last
//! accepted batch, before Canvas sees it.
//!
//! Half-empty exports are the classic way a cron script wipes a term of enrollments. The guard
//! compares, per data type, the rows and the `deleted` rows of this batch with those of the last
//! batch that Canvas accepted for the tenant. Defaults follow the rostering hubs: hold when more
//! than 10% would be deleted, or when the row count changes by more than 50%. For batch-mode
//! imports, rows that vanished (fewer rows than last time) count as deletions too, since Canvas
//! deletes what the feed no longer has. This is an estimate from counts, not ids: it is the
//! operator's early warning; Canvas's own `change_threshold` is still passed through and is exact.
//! A held batch goes ahead only when an operator approves it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sis::validate::ValidationReport;

/// Rows and deleting rows of one data type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindStats {
    pub rows: u64,
    pub deleted: u64,
}

/// Per data type (Canvas's counts key, e.g. `enrollments`), what a batch holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStats(pub BTreeMap<String, KindStats>);

impl BatchStats {
    /// Sums the validator's per-file counts by detected kind.
    pub fn from_report(report: &ValidationReport) -> Self {
        let mut m: BTreeMap<String, KindStats> = BTreeMap::new();
        for f in &report.files {
            let Some(kind) = f.kind else { continue };
            let e = m.entry(kind.counts_key().to_owned()).or_default();
            e.rows += f.rows;
            e.deleted += f.deleted;
        }
        BatchStats(m)
    }
}

/// Limits for one data type, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Hold when more than this share of the type would be deleted.
    pub max_deleted_percent: f64,
    /// Hold when the type's row count changes by more than this.
    pub max_changed_percent: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_deleted_percent: 10.0,
            max_changed_percent: 50.0,
        }
    }
}

/// The guard's settings for a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub enabled: bool,
    pub default: Limits,
    /// Overrides by counts key (`enrollments`, `users`, ...).
    pub per_kind: BTreeMap<String, Limits>,
    /// Below this many rows in the previous batch, changes are not judged (tiny feeds swing).
    pub min_rows: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            enabled: true,
            default: Limits::default(),
            per_kind: BTreeMap::new(),
            min_rows: 20,
        }
    }
}

impl Thresholds {
    fn limits(&self, kind: &str) -> Limits {
        self.per_kind.get(kind).copied().unwrap_or(self.default)
    }
}

/// Why a batch is held: one line an operator can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldReason {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    Pass,
    Hold(Vec<HoldReason>),
}

/// The kinds Canvas's batch mode cleans up (docs/canvas-api.md §4.1).
fn batch_mode_cleans(kind: &str) -> bool {
    matches!(kind, "courses" | "sections" | "enrollments")
}

/// Compares `current` with the last accepted batch. `batch_mode` says whether Canvas will
/// delete what the feed no longer holds.
pub fn evaluate(
    current: &BatchStats,
    previous: Option<&BatchStats>,
    t: &Thresholds,
    batch_mode: bool,
) -> Decision {
    if !t.enabled {
        return Decision::Pass;
    }
    let mut reasons = Vec::new();
    for (kind, now) in &current.0 {
        let before = previous.and_then(|p| p.0.get(kind)).copied();
        reasons.extend(judge(kind, *now, before, t, batch_mode));
    }
    // Types absent from this batch are not judged: Canvas's batch mode cleans only the types
    // present in the upload, and an incremental feed often carries a few types only.
    if reasons.is_empty() {
        Decision::Pass
    } else {
        Decision::Hold(reasons)
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn judge(
    kind: &str,
    now: KindStats,
    before: Option<KindStats>,
    t: &Thresholds,
    batch_mode: bool,
) -> Vec<HoldReason> {
    let lim = t.limits(kind);
    let mut out = Vec::new();
    let base = before.map_or(now.rows, |b| b.rows);
    if base < t.min_rows {
        return out;
    }
    let vanished = match before {
        Some(b) if batch_mode && batch_mode_cleans(kind) => {
            b.rows.saturating_sub(now.rows - now.deleted.min(now.rows))
        }
        _ => 0,
    };
    let deleting = now.deleted.max(vanished);
    let deleted_pct = pct(deleting, base);
    if deleted_pct > lim.max_deleted_percent {
        let how = if vanished > now.deleted {
            format!(
                "{vanished} of the {base} {kind} of the last accepted batch are missing, and batch mode deletes them"
            )
        } else {
            format!(
                "{} {kind} rows delete ({}% of {base})",
                now.deleted,
                deleted_pct.round()
            )
        };
        out.push(HoldReason {
            kind: kind.to_owned(),
            message: format!(
                "{how}: over the {}% limit. Check the export; if it is right, approve the batch.",
                lim.max_deleted_percent
            ),
        });
    }
    if let Some(b) = before {
        let changed = pct(b.rows.abs_diff(now.rows), b.rows);
        if changed > lim.max_changed_percent {
            out.push(HoldReason {
                kind: kind.to_owned(),
                message: format!(
                    "{kind} went from {} to {} rows ({}% change): over the {}% limit. Check the export; if it is right, approve the batch.",
                    b.rows,
                    now.rows,
                    changed.round(),
                    lim.max_changed_percent
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[(&str, u64, u64)]) -> BatchStats {
        BatchStats(
            v.iter()
                .map(|(k, r, d)| {
                    (
                        (*k).to_owned(),
                        KindStats {
                            rows: *r,
                            deleted: *d,
                        },
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn a_steady_feed_passes() {
        let prev = stats(&[("enrollments", 1000, 5), ("users", 400, 0)]);
        let now = stats(&[("enrollments", 1010, 8), ("users", 405, 1)]);
        assert_eq!(
            evaluate(&now, Some(&prev), &Thresholds::default(), false),
            Decision::Pass
        );
    }

    #[test]
    fn many_deleted_rows_hold_the_batch() {
        let prev = stats(&[("enrollments", 1000, 0)]);
        let now = stats(&[("enrollments", 1000, 150)]);
        let Decision::Hold(r) = evaluate(&now, Some(&prev), &Thresholds::default(), false) else {
            panic!("should hold")
        };
        assert_eq!(r.len(), 1);
        assert!(
            r[0].message.contains("150 enrollments rows delete"),
            "{}",
            r[0].message
        );
    }

    #[test]
    fn a_half_empty_feed_holds_on_change() {
        let prev = stats(&[("users", 1000, 0)]);
        let now = stats(&[("users", 400, 0)]);
        let Decision::Hold(r) = evaluate(&now, Some(&prev), &Thresholds::default(), false) else {
            panic!("should hold")
        };
        assert!(
            r[0].message.contains("from 1000 to 400"),
            "{}",
            r[0].message
        );
    }

    #[test]
    fn in_batch_mode_missing_rows_count_as_deletions() {
        let prev = stats(&[("enrollments", 1000, 0)]);
        let now = stats(&[("enrollments", 850, 0)]);
        assert_eq!(
            evaluate(&now, Some(&prev), &Thresholds::default(), false),
            Decision::Pass,
            "15% fewer rows is not a deletion without batch mode"
        );
        let Decision::Hold(r) = evaluate(&now, Some(&prev), &Thresholds::default(), true) else {
            panic!("batch mode deletes what vanished")
        };
        assert!(
            r[0].message.contains("150 of the 1000 enrollments"),
            "{}",
            r[0].message
        );
    }

    #[test]
    fn per_kind_limits_and_disabling_work() {
        let prev = stats(&[("enrollments", 1000, 0)]);
        let now = stats(&[("enrollments", 1000, 60)]);
        let mut t = Thresholds::default();
        assert_eq!(evaluate(&now, Some(&prev), &t, false), Decision::Pass);
        t.per_kind.insert(
            "enrollments".into(),
            Limits {
                max_deleted_percent: 5.0,
                ..Limits::default()
            },
        );
        assert!(matches!(
            evaluate(&now, Some(&prev), &t, false),
            Decision::Hold(_)
        ));
        t.enabled = false;
        assert_eq!(evaluate(&now, Some(&prev), &t, false), Decision::Pass);
    }

    #[test]
    fn a_first_batch_is_judged_on_its_own_deletions_and_tiny_feeds_are_not_judged() {
        let now = stats(&[("users", 100, 50)]);
        assert!(matches!(
            evaluate(&now, None, &Thresholds::default(), false),
            Decision::Hold(_)
        ));
        let tiny = stats(&[("users", 5, 5)]);
        assert_eq!(
            evaluate(&tiny, None, &Thresholds::default(), false),
            Decision::Pass
        );
    }
}
