//! `canvas-sis validate PATH [--json]`: the report, and exit 3 when the batch would be rejected.

use canvas_sis::pack::ZipLimits;
use canvas_sis::pipeline::collect::collect;
use canvas_sis::sis::validate::ValidateOptions;

use crate::cli::ValidateArgs;
use crate::cmd::exit;

pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
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
        ..ValidateOptions::default()
    };
    let report = canvas_sis::pipeline::validate(&collected, &opts);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.is_rejected() {
        exit::REJECTED
    } else {
        exit::OK
    })
}
