//! Test logging: a fmt layer on the test writer (filter from `RUST_LOG`, default `warn`, so
//! serenity's warnings show in a failing test's output) and a capture of every WARN/ERROR event
//! from serenity, so tests can assert that no gateway payload failed to deserialise.
//!
//! How serenity 0.12 drops gateway frames it cannot read (the handler never sees them):
//! - a known dispatch whose payload does not fit the model (missing field, wrong type)
//!   becomes `Event::Unknown` and is logged at DEBUG only, target `serenity::client::dispatch`:
//!   `An unknown event was received: UnknownEvent { kind: "MESSAGE_CREATE", .. }` (the serde
//!   error is lost; `FakeDiscord::assert_gateway_frames_deserialise` recovers it);
//! - a frame that is not a gateway payload at all (bad JSON, bad op, no `s`) is logged at WARN:
//!   `Err deserializing text: ...` (gateway/ws.rs) then `Unhandled error: Json(..)` (shard.rs).
//!
//! Both are captured here, whatever `RUST_LOG` says.
//!
//! `capture()` installs the subscriber for the current thread only, so in a
//! `#[tokio::test]` (current-thread runtime, where serenity's tasks run on the test's thread)
//! each test sees only its own client's warnings even when tests run in parallel.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::subscriber::DefaultGuard;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer};

/// Logging for one test; dropping it uninstalls it.
pub struct LogCapture {
    lines: Arc<Mutex<Vec<String>>>,
    /// carebot's own WARN/ERROR events.
    carebot: Arc<Mutex<Vec<String>>>,
    _guard: DefaultGuard,
}

/// Installs test logging + serenity warning capture on this thread.
pub fn capture() -> LogCapture {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let carebot = Arc::new(Mutex::new(Vec::new()));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(filter),
        )
        .with(
            SerenityWarnings {
                lines: Arc::clone(&lines),
            }
            .with_filter(
                Targets::new()
                    .with_target("serenity", LevelFilter::WARN)
                    .with_target("serenity::client::dispatch", LevelFilter::DEBUG),
            ),
        )
        .with(
            CarebotEvents {
                lines: Arc::clone(&carebot),
            }
            .with_filter(Targets::new().with_target("carebot", LevelFilter::WARN)),
        );
    LogCapture {
        lines,
        carebot,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl LogCapture {
    /// Every WARN/ERROR serenity logged so far, as `LEVEL target: message fields`.
    pub fn serenity_warnings(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .filter(|l| l.starts_with("WARN") || l.starts_with("ERROR"))
            .cloned()
            .collect()
    }

    /// serenity's traces of gateway frames it dropped because it could not read them.
    pub fn dropped_dispatches(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|w| {
                let w = w.to_lowercase();
                w.contains("unknown event")
                    || w.contains("deserializ")
                    || w.contains("unhandled error")
                    || w.contains("decompress")
            })
            .cloned()
            .collect()
    }
}

impl LogCapture {
    /// carebot's WARN and ERROR events so far, as `LEVEL target: message fields`.
    pub fn carebot_events(&self) -> Vec<String> {
        self.carebot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

struct CarebotEvents {
    lines: Arc<Mutex<Vec<String>>>,
}

impl<S: Subscriber> Layer<S> for CarebotEvents {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = format!("{} {}:", meta.level(), meta.target());
        event.record(&mut FieldWriter(&mut line));
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

struct SerenityWarnings {
    lines: Arc<Mutex<Vec<String>>>,
}

impl<S: Subscriber> Layer<S> for SerenityWarnings {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let unknown_event = meta.target() == "serenity::client::dispatch" && *meta.level() == Level::DEBUG;
        if !meta.target().starts_with("serenity") || (*meta.level() > Level::WARN && !unknown_event) {
            return;
        }
        let mut line = format!("{} {}:", meta.level(), meta.target());
        event.record(&mut FieldWriter(&mut line));
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

struct FieldWriter<'a>(&'a mut String);

impl Visit for FieldWriter<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}
