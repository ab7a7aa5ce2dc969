//! Benchmark driver for `pack::pack_to_file`: packs every `.csv` of a folder into a zip.
//!
//! Used by `scripts/bench_pack.sh` until the real `canvas-sis pack` command exists. Kinds are
//! detected from each file's header row, as the pipeline will, so the entry order is Canvas's.
//!
//! Usage: `pack_bench DIR OUT.zip [--threads N] [--level L] [--chunk-bytes B]`

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use canvas_sis::pack::{PackEntry, PackOptions, pack_to_file};
use canvas_sis::sis::SisKind;
use canvas_sis::store::local::LocalFile;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        bail!("usage: pack_bench DIR OUT.zip [--threads N] [--level L] [--chunk-bytes B]");
    }
    let opts = parse_options(&args[2..])?;
    let files = csv_files(Path::new(&args[0]))?;
    let entries: Vec<PackEntry<'_>> = files
        .iter()
        .map(|(f, kind)| PackEntry {
            name: canvas_sis::store::BatchFile::name(f).to_string(),
            kind: *kind,
            file: f,
        })
        .collect();
    let started = std::time::Instant::now();
    let summary = pack_to_file(&entries, Path::new(&args[1]), &opts)?;
    eprintln!(
        "packed {} entries into {} bytes in {:.2?} (sha256 {})",
        summary.entries.len(),
        summary.bytes,
        started.elapsed(),
        summary.sha256
    );
    Ok(())
}

fn parse_options(rest: &[String]) -> anyhow::Result<PackOptions> {
    let mut opts = PackOptions::default();
    for pair in rest.chunks(2) {
        let value = pair.get(1).context("option without a value")?;
        match pair[0].as_str() {
            "--threads" => opts.threads = value.parse()?,
            "--level" => opts.level = value.parse()?,
            "--chunk-bytes" => opts.chunk_bytes = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(opts)
}

/// Every `.csv` in `dir` with its kind detected from the header row.
fn csv_files(dir: &Path) -> anyhow::Result<Vec<(LocalFile, Option<SisKind>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("csv") {
            continue;
        }
        let mut header = String::new();
        std::io::BufReader::new(std::fs::File::open(&path)?).read_line(&mut header)?;
        let columns: Vec<&str> = header.trim_end().split(',').collect();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("file name")?;
        out.push((
            LocalFile::new(name, &path),
            SisKind::detect(&columns, false),
        ));
    }
    Ok(out)
}
