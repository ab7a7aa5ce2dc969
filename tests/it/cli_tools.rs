//! `validate`, `pack` and `demo` as a user runs them: exit codes and what they print.

use crate::common::{assert_says, output_text, run_cli};

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/northwind");

#[test]
fn validate_passes_the_example_institution() {
    let out = run_cli(&["validate", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

#[test]
fn validate_rejects_with_exit_3_naming_file_row_and_column() {
    // A stray quote: Canvas fails the whole import ("Malformed CSV").
    let dir = folder(&[(
        "users.csv",
        "user_id,login_id,status\nU1,u1,active\nU2,u\"2,active\n",
    )]);
    let out = run_cli(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    let t = output_text(&out);
    assert!(
        t.contains("users.csv:3") && t.contains("malformed_csv"),
        "{t}"
    );

    let out = run_cli(&["validate", dir.path().to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["files"][0]["findings"][0];
    assert_eq!(f["file"], "users.csv");
    assert_eq!(f["row"], 3);
    assert_eq!(f["severity"], "error");
    assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()));
}

/// What Canvas skips per row is a warning: the batch goes (exit 0), the report names the place;
/// `--strict` or `--strict-rule` make warnings reject, and an unknown rule is a usage error.
#[test]
fn validate_warns_on_what_canvas_skips_and_rejects_it_only_when_strict() {
    let dir = folder(&[(
        "users.csv",
        "user_id,login_id,status\nU1,u1,active\nU2,u2,retired\n",
    )]);
    let path = dir.path().to_str().unwrap();
    let out = run_cli(&["validate", path]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let t = output_text(&out);
    assert!(
        t.contains("users.csv:3:status") && t.contains("bad_status"),
        "{t}"
    );
    assert!(t.contains("accepted with warnings"), "{t}");

    let out = run_cli(&["validate", path, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["findings"][0]["severity"], "warning");

    for strict in [&["--strict"][..], &["--strict-rule", "bad_status"]] {
        let out = run_cli(&[&["validate", path][..], strict].concat());
        assert_eq!(
            out.status.code(),
            Some(3),
            "{strict:?}: {}",
            output_text(&out)
        );
        assert_says(&out, "strict setting covers bad_status");
    }
    let out = run_cli(&["validate", path, "--strict-rule", "bad_date"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "another rule: {}",
        output_text(&out)
    );
    let out = run_cli(&["validate", path, "--strict-rule", "bad_stat"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert_says(&out, "\"bad_stat\" is not a validation rule");
    assert!(
        output_text(&out).contains("bad_status"),
        "lists the rules: {}",
        output_text(&out)
    );
}

/// One problem on every row prints one line with a count and the first places, not a line per
/// row; `--all` lists every one (issue 14).
#[test]
fn validate_groups_a_repeated_problem_into_one_line_and_all_lists_every_one() {
    let mut users = String::from("user_id,login_id,status\n");
    let mut enrollments = String::from("course_id,user_id,role,status\n");
    for i in 0..2000 {
        users.push_str(&format!("U{i},u{i},active\n"));
        enrollments.push_str(&format!("C1,F{i},student,active\n"));
    }
    let courses = "course_id,short_name,long_name,status\nC1,C1,Course 1,active\n";
    let dir = folder(&[
        ("users.csv", &users),
        ("courses.csv", courses),
        ("enrollments.csv", &enrollments),
    ]);
    let path = dir.path().to_str().unwrap();
    let out = run_cli(&["validate", path]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.lines().count() < 10, "{stdout}");
    assert!(
        stdout.contains("2000 warnings reference_not_in_batch: user_id \"F0\"")
            && stdout.contains("(at enrollments.csv:2:user_id); also at enrollments.csv:3:user_id"),
        "{stdout}"
    );
    let out = run_cli(&["validate", path, "--all"]);
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(all.matches("reference_not_in_batch").count(), 2000, "{all}");
    let out = run_cli(&["validate", path, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let enr = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "enrollments.csv")
        .unwrap();
    assert_eq!(
        enr["findings"].as_array().unwrap().len(),
        2000,
        "the JSON keeps every finding"
    );
}

#[test]
fn validate_refuses_a_zip_slip_archive() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("evil.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    w.start_file(
        "../../etc/users.csv",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut w, b"user_id,login_id,status\n").unwrap();
    w.finish().unwrap();
    let out = run_cli(&["validate", zip_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    assert_says(&out, "../../etc/users.csv");
}

#[test]
fn pack_is_deterministic_and_in_canvas_order() {
    let out_dir = tempfile::tempdir().unwrap();
    let a = out_dir.path().join("a.zip");
    let b = out_dir.path().join("b.zip");
    for p in [&a, &b] {
        let out = run_cli(&["pack", EXAMPLE, "-o", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same input, same bytes"
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
    let ordered: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned())
        .collect();
    assert_eq!(
        ordered,
        vec![
            "accounts.csv",
            "terms.csv",
            "courses.csv",
            "sections.csv",
            "users.csv",
            "enrollments.csv"
        ]
    );
}

#[test]
fn pack_refuses_an_invalid_batch_unless_told() {
    let dir = folder(&[("mystery.csv", "foo,bar\n1,2\n")]);
    let out_zip = dir.path().join("out.zip");
    let out = run_cli(&[
        "pack",
        dir.path().to_str().unwrap(),
        "-o",
        out_zip.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    assert!(!out_zip.exists());
    let out = run_cli(&[
        "pack",
        dir.path().to_str().unwrap(),
        "-o",
        out_zip.to_str().unwrap(),
        "--no-validate",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(out_zip.exists());
}

#[test]
fn pack_and_pack_without_validation_write_the_same_zip_of_a_valid_batch() {
    let dir = folder(&[
        (
            "enrollments.csv",
            "course_id,user_id,role,status\nC1,U1,student,active\n",
        ),
        (
            "users.csv",
            "user_id,login_id,first_name,last_name,email,status\nU1,u1,A,B,u1@x.edu,active\n",
        ),
        (
            "courses.csv",
            "course_id,short_name,long_name,status\nC1,C1,Course 1,active\n",
        ),
    ]);
    let zip_of = |extra: &[&str]| {
        let out_zip = dir.path().join(format!("out{}.zip", extra.len()));
        let mut args = vec![
            "pack",
            dir.path().to_str().unwrap(),
            "-o",
            out_zip.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = run_cli(&args);
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        std::fs::read(&out_zip).unwrap()
    };
    let validated = zip_of(&[]);
    assert_eq!(validated, zip_of(&["--no-validate"]));
    // Canvas's processing order, from the headers: courses, users, then enrollments.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&validated)).unwrap();
    let names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned())
        .collect();
    assert_eq!(names, ["courses.csv", "users.csv", "enrollments.csv"]);
}

#[test]
fn demo_imports_the_example_institution_into_the_simulator() {
    let out = run_cli(&["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("SIS import 1 imported"), "{t}");
    assert!(t.contains("160 enrollments"), "{t}");
    assert!(t.contains("Try next"), "{t}");
}

// Citations of the project's documents. Module docs and comments cite `docs/<file>.md §N` (a
// heading numbered N, or item k of the numbered list under heading M for `§M.k`) and
// `docs/design.md invariant N`; a renumbered section or a moved file must fail here rather than
// leave a reader at a dead end.

/// A document's citable places: its heading numbers, `M.k` for item k of a numbered list under
/// heading M, and `invariant k` for the items under a heading named "Invariants".
fn citable_sections(doc: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut current: Option<String> = None;
    let mut invariants = false;
    for line in doc.lines() {
        if let Some(title) = line.strip_prefix('#') {
            let title = title.trim_start_matches('#').trim();
            let number: String = title
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.').to_owned();
            invariants = title.starts_with("Invariants");
            current = (!number.is_empty()).then_some(number.clone());
            if !number.is_empty() {
                found.insert(number);
            }
        } else if let Some((item, _)) = line.split_once(". ")
            && !item.is_empty()
            && item.chars().all(|c| c.is_ascii_digit())
        {
            if let Some(section) = &current {
                found.insert(format!("{section}.{item}"));
            }
            if invariants {
                found.insert(format!("invariant {item}"));
            }
        }
    }
    found
}

/// The places cited right after a document's name: `§1.2`, `§1.1 and §6.3`, `§1.3–§1.7`,
/// `§2, §1.8` or `invariant 3`.
fn cited_after(rest: &str) -> Vec<String> {
    let mut cited = Vec::new();
    let mut rest = rest.trim_start_matches('`');
    loop {
        rest = rest.trim_start_matches([' ', ',', '–', '-']);
        rest = rest.strip_prefix("and ").unwrap_or(rest);
        let (prefix, tail) = if let Some(tail) = rest.strip_prefix('§') {
            ("", tail)
        } else if let Some(tail) = rest.strip_prefix("invariant ") {
            ("invariant ", tail)
        } else {
            return cited;
        };
        let number: String = tail
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let number = number.trim_end_matches('.');
        if number.is_empty() {
            return cited;
        }
        cited.push(format!("{prefix}{number}"));
        rest = &tail[number.len()..];
    }
}

/// Every text file under `dir` that may hold citations (fixtures are data, not prose).
fn cited_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("fixtures") && !path.ends_with("__pycache__") {
                cited_files(&path, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| ["rs", "py", "md", "sh", "toml"].contains(&e.to_str().unwrap()))
        {
            out.push(path);
        }
    }
}

#[test]
fn every_citation_of_a_document_names_a_file_and_section_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for dir in ["src", "crates", "tests", "scripts"] {
        if root.join(dir).is_dir() {
            cited_files(&root.join(dir), &mut files);
        }
    }
    // Spelled in two pieces so that this file does not cite itself.
    let bare = ["reference", " §"].concat();
    let mut broken = Vec::new();
    let mut citations = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{shown}:{}", n + 1);
            if line.to_lowercase().contains(&bare) {
                broken.push(format!("{at}: bare `{bare}`; cite docs/canvas-api.md §N"));
            }
            for (start, _) in line.match_indices("docs/") {
                let name: String = line[start + 5..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || ['-', '_', '.'].contains(c))
                    .collect();
                let Some(stem) = name.strip_suffix(".md") else {
                    continue;
                };
                let doc = root.join("docs").join(format!("{stem}.md"));
                let Ok(doc_text) = std::fs::read_to_string(&doc) else {
                    broken.push(format!("{at}: docs/{stem}.md does not exist"));
                    continue;
                };
                let sections = citable_sections(&doc_text);
                for cited in cited_after(&line[start + 5 + name.len()..]) {
                    citations += 1;
                    if !sections.contains(&cited) {
                        broken.push(format!("{at}: docs/{stem}.md has no {cited}"));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken citations:\n{}",
        broken.join("\n")
    );
    // The scan must see the citations it is meant to check (a broken pattern would pass vacuously).
    assert!(citations > 50, "only {citations} citations found");
}

/// Every subcommand `canvas-sis --help` lists (the names in its Commands section).
fn subcommands() -> Vec<String> {
    let help = String::from_utf8(run_cli(&["--help"]).stdout).unwrap();
    let listed: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|n| n != "help")
        .collect();
    assert!(listed.len() >= 10, "read the commands from --help: {help}");
    listed
}

#[test]
fn the_bash_completion_names_every_subcommand_and_bash_accepts_it() {
    let out = run_cli(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let script = String::from_utf8(out.stdout).unwrap();
    for name in subcommands() {
        assert!(
            script.contains(&format!("canvas__sis,{name})")),
            "{name} is not completed"
        );
    }
    assert!(script.contains("--dir") && script.contains("--json"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "bash -n: {}", output_text(&check));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run_cli(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", output_text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("doctor"),
            "{shell}"
        );
    }
    let out = run_cli(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_is_roff_with_the_name_and_every_subcommand() {
    let out = run_cli(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie") || page.contains("\n.TH "), "{page}");
    assert!(page.contains(".TH canvas-sis"), "{page}");
    assert!(page.contains("canvas\\-sis") || page.contains("canvas-sis"));
    for name in subcommands() {
        assert!(page.contains(&name), "{name} is not in the man page");
    }
}

/// Whether `bytes` hold an ANSI SGR sequence (colors, bold, reset): `ESC [ digits;... m`.
fn has_sgr(bytes: &[u8]) -> bool {
    bytes.windows(2).enumerate().any(|(i, w)| {
        w == b"\x1b[" && {
            let rest = &bytes[i + 2..];
            let n = rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b';')
                .count();
            rest.get(n) == Some(&b'm')
        }
    })
}

/// `canvas-sis import EXAMPLE --dry-run` against `s`: logs a line per stage on stderr.
fn dry_run(s: &crate::common::Sim, work: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_canvas-sis"));
    cmd.args(["import", EXAMPLE, "--dry-run", "--work-dir"])
        .arg(work)
        .env("CANVAS_BASE_URL", s.sim.url())
        .env("CANVAS_TOKEN", crate::common::ADMIN)
        .env_remove("CANVAS_TOKEN_FILE")
        .env_remove("CANVAS_ACCOUNT_ID")
        .env_remove("CANVAS_SIS_LOG_FORMAT")
        .env_remove("NO_COLOR");
    cmd
}

/// Cron mail and journald read stderr through a pipe: no escape sequence may reach them.
#[tokio::test(flavor = "multi_thread")]
async fn logs_to_a_pipe_carry_no_ansi_escapes() {
    let s = crate::common::watch_sim().await;
    let work = tempfile::tempdir().unwrap();
    let mut cmd = dry_run(&s, work.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("INFO") && stderr.contains("stage"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "escapes on a pipe: {stderr:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

/// On a terminal the logs are colored, unless NO_COLOR is set to anything non-empty. The
/// terminal is a pseudo-terminal from util-linux `script` (Debian's essential `bsdutils`): a
/// machine without it fails this test, it never skips.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_logs_are_colored_unless_no_color_is_set() {
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    assert!(
        script.is_ok_and(|o| o.status.success()),
        "util-linux `script` (a pseudo-terminal for this test) is missing: install util-linux/bsdutils"
    );
    let s = crate::common::watch_sim().await;
    let on_tty = |no_color: Option<&'static str>| {
        let work = tempfile::tempdir().unwrap();
        let inner = dry_run(&s, work.path());
        let line = std::iter::once(inner.get_program())
            .chain(inner.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        async move {
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            drop(work);
            out
        }
    };
    let colored = on_tty(None).await;
    assert_eq!(colored.status.code(), Some(0), "{}", output_text(&colored));
    assert!(has_sgr(&colored.stdout), "{}", output_text(&colored));
    let empty = on_tty(Some("")).await;
    assert!(has_sgr(&empty.stdout), "an empty NO_COLOR is as if unset");
    let plain = on_tty(Some("1")).await;
    assert_eq!(plain.status.code(), Some(0), "{}", output_text(&plain));
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.contains("INFO"), "{text}");
    assert!(!has_sgr(&plain.stdout), "colors despite NO_COLOR: {text:?}");
}

#[test]
fn the_sgr_reader_tells_colors_from_other_escapes() {
    assert!(has_sgr(b"\x1b[32mINFO\x1b[0m"));
    assert!(has_sgr(b"x\x1b[1;2m"));
    assert!(!has_sgr(b"\x1b[2K\r\x1b[1A plain"));
    assert!(!has_sgr(b"no escapes"));
}
