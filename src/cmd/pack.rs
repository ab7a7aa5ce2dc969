//! `canvas-sis pack PATH -o OUT.zip`: validate (unless told not to), then write the zip Canvas
//! would receive. The same inputs always give the same bytes.

use canvas_sis::pack::{PackOptions, ZipLimits};
use canvas_sis::pipeline::collect::collect;
use canvas_sis::sis::validate::ValidateOptions;

use crate::cli::PackArgs;
use crate::cmd::exit;

pub fn run(args: PackArgs) -> anyhow::Result<u8> {
    let collected = match collect(&args.path, &ZipLimits::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::REJECTED);
        }
    };
    let report = canvas_sis::pipeline::validate(&collected, &ValidateOptions::default());
    if report.is_rejected() && !args.no_validate {
        eprint!("{}", report.to_text());
        eprintln!("not packed: fix the errors above, or pass --no-validate to pack anyway");
        return Ok(exit::REJECTED);
    }
    let opts = PackOptions {
        level: args.level,
        ..PackOptions::default()
    };
    match canvas_sis::pipeline::pack(
        &collected,
        &canvas_sis::pipeline::kinds_of(&report),
        &args.output,
        &opts,
    ) {
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
