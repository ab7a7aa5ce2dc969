//! `canvas-sis pack PATH -o OUT.zip`: validate (unless told not to), then write the zip Canvas
//! would receive. The same inputs always give the same bytes.

use canvas_sis::pack::{PackOptions, ZipLimits};
use canvas_sis::pipeline::collect::collect;
use canvas_sis::sis::validate::ValidateOptions;
use canvas_sis::telemetry::spans::in_stage_sync;

use crate::cli::PackArgs;
use crate::cmd::exit;

/// The tenant label of one-shot runs in spans and metrics.
const LOCAL: &str = "local";

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
    let report = in_stage_sync(LOCAL, "validate", || {
        canvas_sis::pipeline::validate(&collected, &ValidateOptions::default())
    });
    if report.is_rejected() && !args.no_validate {
        eprint!("{}", report.to_text());
        eprintln!("not packed: fix the errors above, or pass --no-validate to pack anyway");
        return Ok(exit::REJECTED);
    }
    let opts = PackOptions {
        level: args.level,
        ..PackOptions::default()
    };
    let kinds = canvas_sis::pipeline::kinds_of(&report);
    match in_stage_sync(LOCAL, "pack", || {
        canvas_sis::pipeline::pack(&collected, &kinds, &args.output, &opts)
    }) {
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
