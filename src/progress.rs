//! The progress bar of long work (`carebot ingest`): drawn on stderr only when both stdout and
//! stderr are a terminal and the output is not JSON, so scripts and pipes get nothing extra.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to draw a bar: a person is watching (`stdout` and `stderr` are terminals) and the
/// output is not for a script (`json`).
pub fn wanted(json: bool, stdout_terminal: bool, stderr_terminal: bool) -> bool {
    !json && stdout_terminal && stderr_terminal
}

/// [`wanted`] for this process.
pub fn wanted_here(json: bool) -> bool {
    wanted(
        json,
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    )
}

/// A bar over `total` bytes, with the rate and the time left; or nothing.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar when `show`, else a progress that draws nothing.
    pub fn bytes(total: u64, show: bool) -> Progress {
        if !show {
            return Progress(None);
        }
        let style = ProgressStyle::with_template(
            "{bar:30} {percent:>3}% {bytes}/{total_bytes} · {bytes_per_sec} · {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▉▊▋▌▍▎▏ ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
        Progress(Some(bar))
    }

    /// `done` bytes handled, `items` mentions so far.
    pub fn set(&self, done: u64, items: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
            bar.set_message(format!("{items} mentions"));
        }
    }

    /// Removes the bar (the summary follows).
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }

    /// A stderr writer that does not tear the bar (it is redrawn below what was written).
    pub fn stderr(&self) -> ProgressStderr<'_> {
        ProgressStderr(self)
    }
}

/// See [`Progress::stderr`].
pub struct ProgressStderr<'a>(&'a Progress);

impl Write for ProgressStderr<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 .0 {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_only_to_a_person_at_a_terminal_without_json() {
        assert!(wanted(false, true, true));
        assert!(!wanted(true, true, true), "--json");
        assert!(!wanted(false, false, true), "stdout piped");
        assert!(!wanted(false, true, false), "stderr redirected");
    }
}
