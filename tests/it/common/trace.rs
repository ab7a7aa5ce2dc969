//! The event log of a simulated run, shared by the scripted Canvas, the simulation's other
//! fakes and its harness, printed when a seed fails.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// A shared, ordered log of what happened in a run: the scripted Canvas and a test's other
/// fakes append to it, and a failing test prints it. Times are tokio's (paused in a simulation,
/// so a replay prints the same trace), relative to the first event. A verbose trace also logs
/// every call and its wait ([`Trace::detail`]).
#[derive(Debug, Clone, Default)]
pub struct Trace {
    lines: Arc<Mutex<(Option<Instant>, Vec<String>)>>,
    verbose: bool,
}

impl Trace {
    /// A trace that logs details too.
    pub fn verbose() -> Self {
        Trace {
            verbose: true,
            ..Trace::default()
        }
    }

    /// Logs `event` only in a verbose trace: every call and its wait, to find where two runs of
    /// a seed part.
    pub fn detail(&self, event: impl FnOnce() -> String) {
        if self.verbose {
            self.log(event());
        }
    }

    pub fn log(&self, event: impl AsRef<str>) {
        let now = Instant::now();
        let mut t = self.lines.lock().unwrap();
        let origin = *t.0.get_or_insert(now);
        let ms = now.saturating_duration_since(origin).as_millis();
        t.1.push(format!("{ms:>7}ms {}", event.as_ref()));
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().1.clone()
    }
}
