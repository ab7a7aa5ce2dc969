//! The architecture, checked where the compiler does not: the crates of the workspace cannot
//! depend on each other in a cycle (cargo refuses it), but the modules inside one crate can.
//! So: the top-level modules of `canvas-sis-core` (`crates/core/src`) form a graph without
//! cycles, no command of `src/cmd` borrows from another command (shared helpers live in
//! `cmd/common.rs` and the other helper modules), and only the simulator's commands use the
//! simulator. `docs/architecture.md` draws the crates and core's module graph.
//!
//! The graph is read from the source text: every `crate::NAME` (also in `use crate::{a, b::c}`
//! groups) path outside comments is an edge from the file's top-level module to `NAME`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges `from -> to`, each with the files that make it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The helper modules of `src/cmd` that commands may share; every other module is a command.
const CMD_HELPERS: &[&str] = &[
    "checkup",
    "common",
    "connect",
    "exit",
    "gate_report",
    "ledger_at",
    "listen",
    "notify",
    "output",
    "page",
    "progress",
];

/// The binary's sources (`src/`).
fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The sources of `canvas-sis-core`, whose modules the graph is drawn between.
fn core_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/core/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc links are not dependencies) and string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first segments of the paths under `prefix` (`crate::`, `canvas_sis::`, `crate::cmd::`).
fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        // `my_crate::` must not count as `crate::`.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            for part in body.split(',') {
                let name = ident_at(part.trim());
                if !name.is_empty() {
                    found.insert(name.to_owned());
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.insert(name.to_owned());
            }
        }
    }
    found
}

/// The top-level module a file belongs to (`None` for the crate roots).
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for path in files {
        let rel = path.strip_prefix(src).expect("under src").to_path_buf();
        let Some(from) = top_module(&rel) else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&path).expect("read file"));
        let mut to = targets(&code, "crate::");
        to.extend(targets(&code, "canvas_sis::"));
        let node = graph.entry(from.clone()).or_default();
        for t in to {
            if t != from && t != "self" && t != "super" {
                node.entry(t).or_default().insert(rel.display().to_string());
            }
        }
    }
    graph
}

/// One cycle through `graph`, as the list of modules `a, b, ..., a`, if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(graph, start, &mut Vec::new(), &mut done))
}

/// The cycle, one edge a line, with the files that make each edge.
fn describe(graph: &Graph, cycle: &[String]) -> String {
    cycle
        .windows(2)
        .map(|w| {
            let files: Vec<_> = graph[&w[0]][&w[1]].iter().cloned().collect();
            format!("  {} -> {}  ({})", w[0], w[1], files.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn core_modules_form_no_cycle() {
    let graph = module_graph(&core_dir());
    assert!(graph.len() >= 7, "read core's modules: {:?}", graph.keys());
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "cycle between top-level modules: {}\n{}",
            cycle.join(" -> "),
            describe(&graph, &cycle)
        );
    }
}

#[test]
fn commands_do_not_borrow_from_other_commands() {
    let dir = src_dir().join("cmd");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut borrowed = Vec::new();
    for path in files {
        let module = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if module == "mod" || CMD_HELPERS.contains(&module) {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&path).expect("read file"));
        let mut used = targets(&code, "crate::cmd::");
        used.extend(targets(&code, "super::"));
        for other in used {
            if other != module && !CMD_HELPERS.contains(&other.as_str()) && other != "exit" {
                borrowed.push(format!("cmd/{module}.rs uses cmd::{other}"));
            }
        }
    }
    assert!(
        borrowed.is_empty(),
        "commands borrow from commands:\n{}",
        borrowed.join("\n")
    );
}

/// The simulator is optional (cargo feature `sim`; the worker image is built without it), so
/// only the files of its commands may use it: a `#[cfg]`-gated use elsewhere would compile
/// both ways yet tie the binary to the simulator. (That the simulator itself leans on
/// `canvas-sis-rules` only is its crate's dependency list.)
#[test]
fn only_the_simulator_commands_use_the_simulator() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed = ["cli.rs", "cmd/demo.rs", "cmd/simulate.rs", "lib.rs"];
    let mut users = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        let code = code_only(&std::fs::read_to_string(&path).expect("read file"));
        let uses = targets(&code, "canvas_sis::").contains("sim")
            || targets(&code, "crate::").contains("sim")
            || code.contains("canvas_sis_sim");
        if uses && !allowed.contains(&rel.as_str()) {
            users.push(rel);
        }
    }
    assert!(
        users.is_empty(),
        "the simulator is used outside its commands: {users:?}"
    );
}

#[test]
fn the_reader_sees_paths_in_groups_and_skips_comments() {
    let code =
        code_only("use crate::{a, b::c};\n// crate::d\nlet x = crate::e::f(\"crate::g\");\n");
    let found: Vec<_> = targets(&code, "crate::").into_iter().collect();
    assert_eq!(found, ["a", "b", "e"]);
}
