//! Running seeds: one on a paused current-thread runtime, many across threads, stopping at the
//! first failing seed in seed order.

use std::sync::Mutex;

use super::TOKEN;
use super::world::{Kind, World};

/// A soak prints a line every this many seeds.
const PROGRESS_EVERY: usize = 10_000;

/// Runs one seed on a paused current-thread runtime on this thread: its breaches and its trace
/// (with every call and wait if `verbose`). What the code logs meanwhile (info and above, as a
/// worker's log shows it) is kept, must not hold the Canvas token, and is printed with
/// `SIM_LOG=1` (a replay's companion to the trace).
fn simulate(seed: u64, verbose: bool, kind: Kind) -> (Vec<String>, Vec<String>) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(logs.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let world = World::new(seed, verbose, kind);
        world.trace.log(format!("seed {seed}: {:?}", world.plan));
        world.run().await;
        let mut breaches = world.breaches().await;
        let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        if std::env::var_os("SIM_LOG").is_some() {
            eprintln!("--- seed {seed} log ---\n{logged}");
        }
        if logged.contains(TOKEN) {
            let line = logged
                .lines()
                .find(|l| l.contains(TOKEN))
                .unwrap_or_default();
            breaches.push(format!("the Canvas token was logged: {line}"));
        }
        (breaches, world.trace.lines())
    })
}

/// What the code logged during one seed.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// A seed that broke something: where it stands in the run order, its breaches (or its panic)
/// and its trace.
pub struct Failed {
    pub(super) position: usize,
    pub(super) seed: u64,
    pub(super) breaches: Vec<String>,
    pub(super) trace: Vec<String>,
}

/// Runs `seeds` on `threads` threads, each taking the next seed in order; after a failure no
/// new seed starts. Returns the traces of every seed run if `keep_traces`, and the failure
/// earliest in the order (every seed before it ran, so it is the first failing seed whatever
/// the thread count).
pub fn run_seeds(
    seeds: &[u64],
    threads: usize,
    keep_traces: bool,
    kind: Kind,
) -> (Vec<Vec<String>>, Option<Failed>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::<Failed>::new());
    let traces = Mutex::new(vec![Vec::new(); if keep_traces { seeds.len() } else { 0 }]);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            // The pipeline's futures are large in a debug build: a roomy stack.
            std::thread::Builder::new()
                .stack_size(32 << 20)
                .spawn_scoped(scope, || {
                    while !stop.load(Ordering::SeqCst) {
                        let position = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&seed) = seeds.get(position) else {
                            return;
                        };
                        let run = std::panic::catch_unwind(|| simulate(seed, keep_traces, kind));
                        let (breaches, trace) = run.unwrap_or_else(|panic| {
                            let what = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default();
                            (vec![format!("the simulation panicked: {what}")], Vec::new())
                        });
                        if breaches.is_empty() {
                            // A soak says how far it got (stderr, shown by `--nocapture`).
                            let done = position + 1;
                            if done.is_multiple_of(PROGRESS_EVERY) {
                                eprintln!(
                                    "dst: {done} of {} seeds run, seed {seed} clean",
                                    seeds.len()
                                );
                            }
                            if keep_traces {
                                traces.lock().unwrap()[position] = trace;
                            }
                            continue;
                        }
                        stop.store(true, Ordering::SeqCst);
                        failures.lock().unwrap().push(Failed {
                            position,
                            seed,
                            breaches,
                            trace,
                        });
                    }
                })
                .unwrap();
        }
    });
    let first = failures
        .into_inner()
        .unwrap()
        .into_iter()
        .min_by_key(|f| f.position);
    (traces.into_inner().unwrap(), first)
}

pub fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
    )
}

/// `SIM_THREADS`, else every core.
pub fn threads() -> usize {
    env_u64("SIM_THREADS").map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    )
}
