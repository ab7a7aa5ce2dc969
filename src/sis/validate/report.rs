//! The validation report: per-file findings plus batch-level ones, rendered as text for people
//! and serialised as JSON for `--json`.

use serde::Serialize;

use super::finding::{Finding, Severity};
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

    /// A human report: one block per file, one line per finding, and a verdict.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let kind = f.kind.map_or("not recognised", |k| k.counts_key());
            out.push_str(&format!(
                "{} ({kind}, {} rows, {} bytes)\n",
                f.name, f.rows, f.bytes
            ));
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
        let (errors, warnings) = (self.error_count(), self.warning_count());
        let verdict = if self.is_rejected() {
            "rejected: fix the errors before sending"
        } else if warnings > 0 {
            "accepted with warnings"
        } else {
            "accepted"
        };
        out.push_str(&format!(
            "{errors} errors, {warnings} warnings: {verdict}\n"
        ));
        out
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
    fn text_has_one_line_per_finding_with_location_rule_and_fix() {
        let text = report().to_text();
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
