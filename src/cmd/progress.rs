//! Progress for people: a spinner per stage and a bar while Canvas imports, on a terminal only.
//!
//! Off a terminal (cron, CI, containers) nothing is drawn and every event is a log line instead.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use canvas_sis::pipeline::{BatchEvent, Observer, Stage, observer::log_batch_event};

pub struct TerminalObserver {
    bar: Option<ProgressBar>,
}

impl TerminalObserver {
    /// Draws on stderr when it is a terminal; otherwise only logs.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        TerminalObserver { bar }
    }
}

impl Observer for TerminalObserver {
    fn stage(&self, stage: Stage) {
        tracing::info!(stage = stage.as_str(), "stage");
        if let Some(bar) = &self.bar {
            bar.set_style(ProgressStyle::default_spinner());
            bar.set_message(format!("{}…", stage.as_str()));
        }
    }

    fn progress(&self, stage: Stage, done: u64, total: Option<u64>) {
        let Some(bar) = &self.bar else { return };
        if let Some(total) = total {
            if bar.length() != Some(total) {
                let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_length(total);
            }
            bar.set_position(done);
            bar.set_message(stage.as_str().to_owned());
        }
    }

    fn note(&self, message: &str) {
        tracing::info!("{message}");
        if let Some(bar) = &self.bar {
            bar.println(message);
        }
    }

    fn batch_event(&self, tenant: &str, event: BatchEvent<'_>) {
        log_batch_event(tenant, event);
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
