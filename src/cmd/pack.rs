//! `canvas-sis pack PATH -o OUT.zip`: write the zip Canvas would receive, validating the batch
//! at the same time (the worker's path: `pipeline::validate_and_prepack`), and keep it only when
//! validation passes. `--no-validate` packs without validating. The same inputs always give the
//! same bytes.

use std::path::Path;

use canvas_sis::pack::{PackOptions, PackSummary, ZipLimits};
use canvas_sis::pipeline::collect::{Collected, collect};
use canvas_sis::sis::SisKind;
use canvas_sis::sis::validate::{GROUPED_EXAMPLES, ValidateOptions, sniff_kinds};
use canvas_sis::telemetry::spans::in_stage_sync;

use crate::cli::PackArgs;
use crate::cmd::exit;

/// The tenant label of one-shot runs in spans and metrics.
const LOCAL: &str = "local";

type Kinds = std::collections::BTreeMap<String, SisKind>;

pub fn run(args: PackArgs) -> anyhow::Result<u8> {
    // Traced and timed like a batch's stages (tenant "local"): the telemetry overhead benchmark
    // (scripts/bench_telemetry.sh) measures this command.
    let collected = match in_stage_sync(LOCAL, "collect", || {
        collect(&args.path, &ZipLimits::default())
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::REJECTED);
        }
    };
    let opts = PackOptions {
        level: args.level,
        ..PackOptions::default()
    };
    let packed = if args.no_validate {
        // As they are: each file in Canvas's order by the kind its header names.
        let kinds = sniff_kinds(&collected.files(), false);
        pack(&collected, &kinds, &args.output, &opts)
    } else {
        let (report, prepacked) = in_stage_sync(LOCAL, "validate", || {
            canvas_sis::pipeline::validate_and_prepack(
                &collected,
                // Only the grouped report is printed: a few findings per rule are enough.
                &ValidateOptions {
                    max_findings_per_rule: GROUPED_EXAMPLES,
                    ..ValidateOptions::default()
                },
                &args.output,
                &opts,
            )
        });
        if report.is_rejected() {
            let _ = std::fs::remove_file(&args.output);
            eprint!("{}", report.to_text());
            eprintln!("not packed: fix the errors above, or pass --no-validate to pack anyway");
            return Ok(exit::REJECTED);
        }
        let kinds = canvas_sis::pipeline::kinds_of(&report);
        match prepacked {
            Some((guess, summary)) if guess == kinds => Ok(summary),
            // A header read differently from validation's (an unreadable file): pack again in
            // the order validation found.
            _ => pack(&collected, &kinds, &args.output, &opts),
        }
    };
    match packed {
        Ok(summary) => {
            for e in &summary.entries {
                println!("{:>12} -> {:>12}  {}", e.uncompressed, e.compressed, e.name);
            }
            println!(
                "{} ({} bytes, sha256 {})",
                args.output.display(),
                summary.bytes,
                summary.sha256
            );
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::REJECTED)
        }
    }
}

fn pack(
    collected: &Collected,
    kinds: &Kinds,
    out: &Path,
    opts: &PackOptions,
) -> Result<PackSummary, String> {
    in_stage_sync(LOCAL, "pack", || {
        canvas_sis::pipeline::pack(collected, kinds, out, opts)
    })
}
