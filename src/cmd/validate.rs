//! `canvas-sis validate PATH [--json] [--all] [--strict | --strict-rule RULE]...`: the report
//! (grouped by rule unless `--all`), and exit 3 when the batch would be rejected.

use canvas_sis::pack::ZipLimits;
use canvas_sis::pipeline::collect::collect;
use canvas_sis::sis::validate::{GROUPED_EXAMPLES, Strict, ValidateOptions};

use crate::cli::ValidateArgs;
use crate::cmd::exit;

pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let strict = if args.strict {
        Strict::All
    } else {
        match Strict::rules(&args.strict_rules) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: --strict-rule: {e}");
                return Ok(exit::USAGE);
            }
        }
    };
    let collected = match collect(&args.path, &ZipLimits::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::REJECTED);
        }
    };
    for s in collected.skipped() {
        eprintln!("skipped {s}");
    }
    let opts = ValidateOptions {
        institutional_tags: args.institutional_tags,
        strict,
        // The grouped report names a few findings per rule: keeping more only costs memory.
        max_findings_per_rule: if args.json || args.all {
            usize::MAX
        } else {
            GROUPED_EXAMPLES
        },
        ..ValidateOptions::default()
    };
    let report = canvas_sis::pipeline::validate(&collected, &opts);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if args.all {
        print!("{}", report.to_text_all());
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.is_rejected() {
        exit::REJECTED
    } else {
        exit::OK
    })
}
