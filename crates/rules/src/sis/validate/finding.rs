//! One validation finding (what, where, what to do), and the per-file list that keeps a bounded
//! number of them.
//!
//! A bad export can break every one of its million rows; the report must stay readable and
//! memory must stay bounded, so each file keeps at most `max_findings_per_file` findings and
//! counts the rest per rule, ending with one `findings_truncated` summary. Errors are never
//! crowded out by warnings: once the list is full, an error takes the place of a kept warning.

use serde::Serialize;

/// How bad a finding is. Errors reject the batch before upload; warnings travel with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem: what (rule, message), where (file, row, column) and what to do (fix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The file's name inside the batch; `None` for batch-level findings.
    pub file: Option<String>,
    /// 1-based line on which the record starts, the header being 1, as Canvas counts.
    pub row: Option<u64>,
    /// The (lower-cased) header of the column concerned.
    pub column: Option<String>,
    /// Stable snake_case code, e.g. `missing_required_column`.
    pub rule: &'static str,
    pub message: String,
    pub fix: String,
}

impl Finding {
    pub fn new(
        severity: Severity,
        rule: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            file: None,
            row: None,
            column: None,
            rule,
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn error(rule: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding::new(Severity::Error, rule, message, fix)
    }

    pub fn warning(rule: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding::new(Severity::Warning, rule, message, fix)
    }

    pub fn in_file(mut self, file: &str) -> Self {
        self.file = Some(file.to_owned());
        self
    }

    pub fn at_row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// `file:row:column`, leaving out what is unknown (`batch` when there is no file).
    pub fn location(&self) -> String {
        let mut s = self.file.clone().unwrap_or_else(|| "batch".to_owned());
        if let Some(row) = self.row {
            s.push_str(&format!(":{row}"));
        }
        if let Some(col) = &self.column {
            if self.row.is_none() {
                s.push(':');
            }
            s.push_str(&format!(":{col}"));
        }
        s
    }

    /// The one-line text form: `error users.csv:3:status bad_status: message Fix: fix`.
    pub fn to_line(&self) -> String {
        format!(
            "{} {} {}: {} Fix: {}",
            self.severity.label(),
            self.location(),
            self.rule,
            self.message,
            self.fix
        )
    }
}

/// Every rule a finding can have, by its stable name: what `strict` may name. (The
/// `findings_truncated` summary is not a rule of its own: it counts the others.)
pub const RULES: &[&str] = &[
    // The batch and its files: what fails Canvas's import is an error.
    "no_sis_files",
    "not_a_csv_file",
    "unreadable_file",
    "read_error",
    "checks_incomplete",
    "empty_file",
    "utf16_encoding",
    "invalid_utf8",
    "utf8_bom",
    "malformed_csv",
    "row_too_long",
    "ragged_row",
    "duplicate_lines",
    // Headers.
    "header_too_wide",
    "header_whitespace",
    "duplicate_column",
    "unrecognised_headers",
    "accounts_missing_parent_column",
    "needs_institutional_tags",
    "enrollments_read_as_sections",
    "file_name_mismatch",
    "missing_required_column",
    // Rows: Canvas warns and skips the row or the value.
    "missing_value",
    "status_prefix",
    "bad_status",
    "bad_date",
    "date_ignored",
    "unclear_date",
    "end_before_start",
    "enrollment_date_without_pair",
    "not_an_integer",
    "bad_value",
    "unknown_role",
    "self_observation",
    "conflicting_columns",
    "nul_byte",
    "login_id_too_long",
    "bad_email",
    // Between rows and files.
    "duplicate_id",
    "parent_after_child",
    "reference_not_in_batch",
    "login_id_taken",
    "section_not_in_course",
];

/// Which warnings a tenant has chosen to make reject the batch (Canvas itself imports a batch
/// with them; docs/design.md invariant 8 makes rejecting on them an explicit choice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Strict {
    /// Only what fails Canvas's import rejects.
    #[default]
    Off,
    /// Every warning rejects.
    All,
    /// The warnings of these rules reject.
    Rules(Vec<&'static str>),
}

/// A `strict` rule name that is not one of [`RULES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a validation rule; the rules are: {}", RULES.join(", "))]
pub struct UnknownRule {
    pub name: String,
}

impl Strict {
    /// The rules named, each checked against [`RULES`]; none named is [`Strict::Off`].
    pub fn rules<S: AsRef<str>>(names: &[S]) -> Result<Strict, UnknownRule> {
        let mut rules = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref().trim();
            let rule = RULES
                .iter()
                .find(|r| **r == name)
                .ok_or_else(|| UnknownRule {
                    name: name.to_owned(),
                })?;
            rules.push(*rule);
        }
        Ok(if rules.is_empty() {
            Strict::Off
        } else {
            Strict::Rules(rules)
        })
    }

    /// Whether a warning of `rule` rejects.
    pub fn covers(&self, rule: &str) -> bool {
        match self {
            Strict::Off => false,
            Strict::All => true,
            Strict::Rules(rules) => rules.contains(&rule),
        }
    }

    /// Makes `f` an error if it is a warning this setting covers, saying so in its fix.
    pub(crate) fn apply(&self, mut f: Finding) -> Finding {
        if f.severity == Severity::Warning && self.covers(f.rule) {
            f.severity = Severity::Error;
            f.fix = format!(
                "{} (Canvas itself would only warn: this is an error because the strict setting covers {}.)",
                f.fix, f.rule
            );
        }
        f
    }
}

/// The findings of one file, bounded.
#[derive(Debug)]
pub(crate) struct FindingList {
    file: String,
    cap: usize,
    strict: Strict,
    /// Findings kept of each rule and severity, at most.
    per_rule: usize,
    kept: Vec<Finding>,
    kept_warnings: usize,
    /// Findings not kept: (rule, severity, count), in first-seen order.
    dropped: Vec<(&'static str, Severity, u64)>,
    /// Every finding pushed, kept or not, counted per rule and severity in first-seen order.
    tally: Vec<RuleCount>,
}

/// How many findings of one rule and severity a file has, listed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    pub rule: &'static str,
    pub severity: Severity,
    pub count: u64,
}

impl FindingList {
    pub(crate) fn new(file: &str, cap: usize, strict: &Strict) -> Self {
        FindingList {
            file: file.to_owned(),
            cap: cap.max(1),
            per_rule: usize::MAX,
            strict: strict.clone(),
            kept: Vec::new(),
            kept_warnings: 0,
            dropped: Vec::new(),
            tally: Vec::new(),
        }
    }

    /// Keeps at most `n` findings of each rule and severity (0 counts as 1); the rest are
    /// counted only.
    pub(crate) fn per_rule(mut self, n: usize) -> Self {
        self.per_rule = n.max(1);
        self
    }

    /// Adds a warning of `rule`, built by `build` only if it is to be kept: past the per-rule
    /// limit it is only counted, so a feed with a million of them does not format a million
    /// messages nobody reads.
    pub(crate) fn push_warning_with(
        &mut self,
        rule: &'static str,
        build: impl FnOnce() -> Finding,
    ) {
        let severity = if self.strict.covers(rule) {
            Severity::Error
        } else {
            Severity::Warning
        };
        if self.tallied(rule, severity) >= self.per_rule as u64 {
            self.tally_one(rule, severity);
            self.count_dropped_of(rule, severity);
            return;
        }
        let finding = build();
        debug_assert!(finding.rule == rule && finding.severity == Severity::Warning);
        self.push(finding);
    }

    /// Findings of this rule and severity pushed so far.
    fn tallied(&self, rule: &str, severity: Severity) -> u64 {
        self.tally
            .iter()
            .find(|t| t.rule == rule && t.severity == severity)
            .map_or(0, |t| t.count)
    }

    /// Counts one more finding of this rule and severity; returns how many there are now.
    fn tally_one(&mut self, rule: &'static str, severity: Severity) -> u64 {
        match self
            .tally
            .iter_mut()
            .find(|t| t.rule == rule && t.severity == severity)
        {
            Some(t) => {
                t.count += 1;
                t.count
            }
            None => {
                self.tally.push(RuleCount {
                    rule,
                    severity,
                    count: 1,
                });
                1
            }
        }
    }

    /// Adds a finding of this file (its `file` is filled in; made an error if `strict` says so).
    pub(crate) fn push(&mut self, finding: Finding) {
        let finding = self.strict.apply(Finding {
            file: Some(self.file.clone()),
            ..finding
        });
        if self.tally_one(finding.rule, finding.severity) > self.per_rule as u64 {
            self.count_dropped(&finding);
            return;
        }
        if self.kept.len() < self.cap {
            self.keep(finding);
            return;
        }
        if finding.severity == Severity::Error
            && self.kept_warnings > 0
            && let Some(i) = self
                .kept
                .iter()
                .rposition(|f| f.severity == Severity::Warning)
        {
            let evicted = self.kept.remove(i);
            self.kept_warnings -= 1;
            self.count_dropped(&evicted);
            self.keep(finding);
            return;
        }
        self.count_dropped(&finding);
    }

    fn keep(&mut self, finding: Finding) {
        if finding.severity == Severity::Warning {
            self.kept_warnings += 1;
        }
        self.kept.push(finding);
    }

    fn count_dropped(&mut self, f: &Finding) {
        self.count_dropped_of(f.rule, f.severity);
    }

    fn count_dropped_of(&mut self, rule: &'static str, severity: Severity) {
        match self
            .dropped
            .iter_mut()
            .find(|(r, s, _)| *r == rule && *s == severity)
        {
            Some(entry) => entry.2 += 1,
            None => self.dropped.push((rule, severity, 1)),
        }
    }

    /// The findings kept so far.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.kept.iter()
    }

    /// Errors and warnings pushed so far, kept or not.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let mut errors = (self.kept.len() - self.kept_warnings) as u64;
        let mut warnings = self.kept_warnings as u64;
        for (_, sev, n) in &self.dropped {
            match sev {
                Severity::Error => errors += n,
                Severity::Warning => warnings += n,
            }
        }
        (errors, warnings)
    }

    /// Every finding pushed, counted per rule and severity, in the catalogue's order ([`RULES`]):
    /// not in the order first seen, which depends on which checks were resolved after the last
    /// file (the id tables' spill).
    pub(crate) fn tally(&self) -> Vec<RuleCount> {
        let mut tally = self.tally.clone();
        let place = |rule: &str| RULES.iter().position(|r| *r == rule).unwrap_or(RULES.len());
        tally.sort_by_key(|t| (place(t.rule), t.severity));
        tally
    }

    /// The kept findings in row order, then the summary of the others if any were dropped.
    pub(crate) fn finish(mut self) -> Vec<Finding> {
        self.kept.sort_by_key(|f| f.row.unwrap_or(0));
        if self.dropped.is_empty() {
            return self.kept;
        }
        let total: u64 = self.dropped.iter().map(|d| d.2).sum();
        let any_error = self.dropped.iter().any(|d| d.1 == Severity::Error);
        let parts: Vec<String> = self
            .dropped
            .iter()
            .map(|(rule, sev, n)| format!("{n} {rule} ({})", sev.label()))
            .collect();
        let summary = Finding::new(
            if any_error {
                Severity::Error
            } else {
                Severity::Warning
            },
            "findings_truncated",
            format!(
                "{total} more findings not listed (only the first {} per file are): {}",
                self.cap,
                parts.join(", ")
            ),
            "Fix the listed findings and validate again to see the rest.",
        )
        .in_file(&self.file);
        self.kept.push(summary);
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(row: u64) -> Finding {
        Finding::warning("ragged_row", "m", "f").at_row(row)
    }

    fn e(row: u64) -> Finding {
        Finding::error("bad_status", "m", "f").at_row(row)
    }

    #[test]
    fn findings_past_the_cap_are_summarised_with_counts() {
        let mut list = FindingList::new("u.csv", 2, &Strict::Off);
        for row in 2..7 {
            list.push(w(row));
        }
        assert_eq!(list.counts(), (0, 5));
        let out = list.finish();
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].rule, "findings_truncated");
        assert_eq!(out[2].severity, Severity::Warning);
        assert!(
            out[2].message.contains("3 ragged_row (warning)"),
            "{}",
            out[2].message
        );
    }

    #[test]
    fn past_the_per_rule_limit_a_warning_is_counted_without_being_built() {
        for strict in [Strict::Off, Strict::rules(&["ragged_row"]).unwrap()] {
            let mut lazy = FindingList::new("u.csv", 100, &strict).per_rule(2);
            let mut eager = FindingList::new("u.csv", 100, &strict).per_rule(2);
            let mut built = 0;
            for row in 2..12 {
                lazy.push_warning_with("ragged_row", || {
                    built += 1;
                    w(row)
                });
                eager.push(w(row));
            }
            assert_eq!(built, 2, "only the two kept were built");
            assert_eq!(lazy.counts(), eager.counts());
            assert_eq!(lazy.tally(), eager.tally());
            assert_eq!(lazy.finish(), eager.finish());
        }
    }

    #[test]
    fn errors_are_not_crowded_out_by_warnings() {
        let mut list = FindingList::new("u.csv", 2, &Strict::Off);
        list.push(w(2));
        list.push(w(3));
        list.push(e(9));
        assert_eq!(list.counts(), (1, 2));
        let out = list.finish();
        assert_eq!(out[0].row, Some(2));
        assert_eq!(out[1].severity, Severity::Error);
        assert_eq!(out[1].row, Some(9));
        assert_eq!(
            out[2].severity,
            Severity::Warning,
            "only a warning was dropped"
        );
    }

    #[test]
    fn dropped_errors_make_the_summary_an_error() {
        let mut list = FindingList::new("u.csv", 1, &Strict::Off);
        list.push(e(2));
        list.push(e(3));
        let out = list.finish();
        assert_eq!(out[1].severity, Severity::Error);
    }

    #[test]
    fn strict_makes_the_warnings_it_covers_errors() {
        let mut list = FindingList::new("u.csv", 10, &Strict::rules(&["ragged_row"]).unwrap());
        list.push(w(2));
        list.push(Finding::warning("bad_date", "m", "f").at_row(3));
        assert_eq!(list.counts(), (1, 1));
        let out = list.finish();
        assert_eq!(out[0].severity, Severity::Error);
        assert!(
            out[0].fix.contains("strict setting covers ragged_row"),
            "{}",
            out[0].fix
        );
        assert_eq!(out[1].severity, Severity::Warning);
        let mut all = FindingList::new("u.csv", 10, &Strict::All);
        all.push(w(2));
        assert_eq!(all.counts(), (1, 0));
    }

    #[test]
    fn strict_refuses_unknown_rules_naming_the_known_ones() {
        let e = Strict::rules(&["bad_date", "bad_dates"]).unwrap_err();
        assert_eq!(e.name, "bad_dates");
        assert!(e.to_string().contains("bad_date, date_ignored"), "{e}");
        assert_eq!(Strict::rules::<&str>(&[]), Ok(Strict::Off));
    }

    #[test]
    fn locations_name_file_row_and_column() {
        let f = e(3).in_file("users.csv").in_column("status");
        assert_eq!(f.location(), "users.csv:3:status");
        let f = Finding::error("x", "m", "f")
            .in_file("users.csv")
            .in_column("status");
        assert_eq!(f.location(), "users.csv::status");
        assert_eq!(Finding::error("x", "m", "f").location(), "batch");
    }
}
