//! The validation report: per-file findings plus batch-level ones, rendered as text for people
//! and serialised as JSON for `--json`.
//!
//! The text groups findings by rule: one line per rule with its count, the first finding in full
//! and the next few places, so a feed with the same problem on 100 000 rows prints one line
//! ([`ValidationReport::to_text`]); [`ValidationReport::to_text_all`] prints every listed
//! finding, and the JSON keeps every one too.

use serde::Serialize;

use super::finding::{Finding, RuleCount, Severity};
use crate::sis::SisKind;

/// What validation found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub name: String,
    /// The kind Canvas will read the file as; `None` when it won't recognise it.
    pub kind: Option<SisKind>,
    /// Data rows (records after the header, blank lines not counted).
    pub rows: u64,
    /// Data rows whose status deletes (`deleted`, `deleted_last_completed`).
    pub deleted: u64,
    pub bytes: u64,
    /// The listed findings, in row order; at most `max_findings_per_file` plus one summary.
    pub findings: Vec<Finding>,
    /// Every finding of the file, listed or not, counted per rule and severity.
    pub rule_counts: Vec<RuleCount>,
    /// Every error and warning found in the file, including those not listed.
    pub errors: u64,
    pub warnings: u64,
}

/// Everything validation found in a batch. Files are listed in Canvas's processing order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    pub files: Vec<FileReport>,
    pub batch_findings: Vec<Finding>,
}

impl ValidationReport {
    /// Whether any error was found: the batch must not be sent.
    pub fn is_rejected(&self) -> bool {
        self.error_count() > 0
    }

    pub fn error_count(&self) -> u64 {
        self.files.iter().map(|f| f.errors).sum::<u64>() + self.count(Severity::Error)
    }

    pub fn warning_count(&self) -> u64 {
        self.files.iter().map(|f| f.warnings).sum::<u64>() + self.count(Severity::Warning)
    }

    fn count(&self, sev: Severity) -> u64 {
        self.batch_findings
            .iter()
            .filter(|f| f.severity == sev)
            .count() as u64
    }

    /// Every listed finding, files first (in processing order), then batch-level ones.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.files
            .iter()
            .flat_map(|f| f.findings.iter())
            .chain(self.batch_findings.iter())
    }

    /// The first `n` listed errors, one line each (file, row, column, rule and fix), for the
    /// batch's ledger record and its failure notification.
    pub fn first_errors(&self, n: usize) -> Vec<String> {
        self.findings()
            .filter(|f| f.severity == Severity::Error)
            .take(n)
            .map(Finding::to_line)
            .collect()
    }

    /// A human report: one line per file, one line per rule (grouped: its count, its first
    /// finding and the next few places), and a verdict. Its length grows with the number of
    /// files and rules, never with the number of findings.
    pub fn to_text(&self) -> String {
        let mut out = self.file_lines();
        for g in self.groups() {
            out.push_str(&g.line());
        }
        out.push_str(&self.verdict());
        out
    }

    /// A human report listing every finding kept: one block per file, one line per finding.
    pub fn to_text_all(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&file_line(f));
            for finding in &f.findings {
                out.push_str(&format!("  {}\n", finding.to_line()));
            }
        }
        if !self.batch_findings.is_empty() {
            out.push_str("batch\n");
            for finding in &self.batch_findings {
                out.push_str(&format!("  {}\n", finding.to_line()));
            }
        }
        out.push_str(&self.verdict());
        out
    }

    fn file_lines(&self) -> String {
        self.files.iter().map(file_line).collect()
    }

    /// The findings grouped by severity and rule: errors first, then in order of appearance.
    fn groups(&self) -> Vec<Group<'_>> {
        let mut groups: Vec<Group> = Vec::new();
        let counted = self
            .files
            .iter()
            .flat_map(|f| f.rule_counts.iter().map(|c| (c.severity, c.rule, c.count)))
            .chain(self.batch_findings.iter().map(|f| (f.severity, f.rule, 1)));
        for (severity, rule, count) in counted {
            match groups
                .iter_mut()
                .find(|g| g.severity == severity && g.rule == rule)
            {
                Some(g) => g.count += count,
                None => groups.push(Group {
                    severity,
                    rule,
                    count,
                    listed: Vec::new(),
                }),
            }
        }
        for finding in self.findings() {
            if let Some(g) = groups
                .iter_mut()
                .find(|g| g.severity == finding.severity && g.rule == finding.rule)
                && g.listed.len() <= EXAMPLES
            {
                g.listed.push(finding);
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.severity));
        groups
    }

    fn verdict(&self) -> String {
        let (errors, warnings) = (self.error_count(), self.warning_count());
        let verdict = if self.is_rejected() {
            "rejected: fix the errors before sending"
        } else if warnings > 0 {
            "accepted with warnings"
        } else {
            "accepted"
        };
        format!("{errors} errors, {warnings} warnings: {verdict}\n")
    }
}

/// Places a grouped line names after its first finding.
const EXAMPLES: usize = 3;

/// Findings of one rule a grouped line names: its first and `EXAMPLES` more.
pub(crate) const GROUPED_EXAMPLES: usize = EXAMPLES + 1;

fn file_line(f: &FileReport) -> String {
    let kind = f.kind.map_or("not recognised", |k| k.counts_key());
    format!("{} ({kind}, {} rows, {} bytes)\n", f.name, f.rows, f.bytes)
}

/// The findings of one rule and severity across the batch.
struct Group<'a> {
    severity: Severity,
    rule: &'static str,
    count: u64,
    /// The first few listed findings (at most `EXAMPLES + 1`).
    listed: Vec<&'a Finding>,
}

impl Group<'_> {
    /// `  160 warnings reference_not_in_batch: <first message> (at f.csv:2:col); also at f.csv:3,
    /// f.csv:4, f.csv:5 and 156 more. Fix: <first fix>`; a single finding is its own line.
    fn line(&self) -> String {
        let Some(first) = self.listed.first() else {
            return format!(
                "  {} {}s {}: none listed (raise max_findings_per_file to list them)\n",
                self.count,
                self.severity.label(),
                self.rule
            );
        };
        if self.count == 1 {
            return format!("  {}\n", first.to_line());
        }
        let others: Vec<String> = self.listed[1..].iter().map(|f| f.location()).collect();
        let shown = self.listed.len() as u64;
        let also = match (others.is_empty(), self.count.saturating_sub(shown)) {
            (true, 0) => String::new(),
            (true, more) => format!("; {more} more"),
            (false, 0) => format!("; also at {}", others.join(", ")),
            (false, more) => format!("; also at {} and {more} more", others.join(", ")),
        };
        format!(
            "  {} {}s {}: {} (at {}){also}. Fix: {}\n",
            self.count,
            self.severity.label(),
            self.rule,
            first.message,
            first.location(),
            first.fix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ValidationReport {
        ValidationReport {
            files: vec![FileReport {
                name: "users.csv".into(),
                kind: Some(SisKind::User),
                rows: 2,
                deleted: 0,
                bytes: 60,
                findings: vec![
                    Finding::error("bad_status", "status \"x\" is wrong", "Use active.")
                        .in_file("users.csv")
                        .at_row(3)
                        .in_column("status"),
                ],
                rule_counts: vec![RuleCount {
                    rule: "bad_status",
                    severity: Severity::Error,
                    count: 4,
                }],
                errors: 4,
                warnings: 0,
            }],
            batch_findings: vec![Finding::warning("w", "m", "f")],
        }
    }

    #[test]
    fn counts_include_findings_not_listed() {
        let r = report();
        assert!(r.is_rejected());
        assert_eq!(r.error_count(), 4);
        assert_eq!(r.warning_count(), 1);
    }

    #[test]
    fn text_groups_findings_by_rule_with_count_and_first_places() {
        let text = report().to_text();
        assert!(
            text.contains(
                "  4 errors bad_status: status \"x\" is wrong (at users.csv:3:status); 3 more. Fix: Use active.\n"
            ),
            "{text}"
        );
        assert!(text.contains("  warning batch w: m Fix: f\n"), "{text}");
        assert!(
            text.find("bad_status") < text.find(" w: m"),
            "errors first: {text}"
        );
    }

    #[test]
    fn a_hundred_thousand_findings_of_one_rule_print_one_line() {
        let findings: Vec<Finding> = (0..100_000u64)
            .map(|i| {
                Finding::warning(
                    "reference_not_in_batch",
                    format!("user_id \"F{i}\" is not in users.csv"),
                    "Add it.",
                )
                .in_file("enrollments.csv")
                .at_row(i + 2)
                .in_column("user_id")
            })
            .collect();
        let r = ValidationReport {
            files: vec![FileReport {
                name: "enrollments.csv".into(),
                kind: Some(SisKind::Enrollment),
                rows: 100_000,
                deleted: 0,
                bytes: 1,
                findings,
                rule_counts: vec![RuleCount {
                    rule: "reference_not_in_batch",
                    severity: Severity::Warning,
                    count: 100_000,
                }],
                errors: 0,
                warnings: 100_000,
            }],
            batch_findings: vec![],
        };
        let text = r.to_text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains(
            "  100000 warnings reference_not_in_batch: user_id \"F0\" is not in users.csv (at enrollments.csv:2:user_id); also at enrollments.csv:3:user_id, enrollments.csv:4:user_id, enrollments.csv:5:user_id and 99996 more. Fix: Add it.\n"
        ), "{text}");
        assert_eq!(r.to_text_all().lines().count(), 100_002);
    }

    #[test]
    fn text_all_has_one_line_per_finding_with_location_rule_and_fix() {
        let text = report().to_text_all();
        assert!(text.contains(
            "  error users.csv:3:status bad_status: status \"x\" is wrong Fix: Use active.\n"
        ));
        assert!(text.starts_with("users.csv (users, 2 rows, 60 bytes)\n"));
        assert!(text.ends_with("4 errors, 1 warnings: rejected: fix the errors before sending\n"));
    }

    #[test]
    fn json_names_kinds_and_severities_in_snake_case() {
        let v = serde_json::to_value(report()).expect("serialises");
        assert_eq!(v["files"][0]["kind"], "user");
        assert_eq!(v["files"][0]["findings"][0]["severity"], "error");
        assert_eq!(v["files"][0]["findings"][0]["column"], "status");
    }
}
