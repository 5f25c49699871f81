//! Health and metrics for operators: `[metrics] listen = "127.0.0.1:9464"` serves
//! `GET /metrics` (Prometheus / OpenMetrics text) and `GET /healthz` (200 only while the
//! gateway is connected and the database answers) while `carebot run` runs.
//!
//! Counters of what happens in this process (mentions by outcome, deliveries, 429 and 5xx
//! answers, gateway reconnects, late timers) live in [`global`]; what the database knows
//! (open cases, outbox backlog and age, timers due, open escalations, SLA warnings and
//! breaches) is read at each scrape. The listener is a few lines on tokio: two GET routes
//! need no HTTP framework. No metric carries a token, a URL or customer data.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::store::{OpsSnapshot, Store};

type Labels = Vec<(String, String)>;

/// This process's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    mentions: Family<Labels, Counter>,
    deliveries: Counter,
    rate_limited: Counter,
    server_errors: Counter,
    gateway_reconnects: Counter,
    timers_fired: Counter,
    timers_late: Counter,
}

/// The process-wide counters (like a logger: every part of the bot counts into the same).
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    /// A feed post was handled: `opened`, `merged`, `reopened`, `duplicate` or `ignored`.
    pub fn mention(&self, outcome: &str) {
        self.mentions
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }

    /// Discord accepted an outbox row.
    pub fn delivered(&self) {
        self.deliveries.inc();
    }

    /// Discord answered 429.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Discord answered 5xx.
    pub fn server_error(&self) {
        self.server_errors.inc();
    }

    /// The gateway connected again after a first connection (a new session or a resume).
    pub fn gateway_reconnected(&self) {
        self.gateway_reconnects.inc();
    }

    /// A timer sweep fired `fired` timers, `late` of them after their due time.
    pub fn timers(&self, fired: usize, late: usize) {
        self.timers_fired.inc_by(fired as u64);
        self.timers_late.inc_by(late as u64);
    }
}

/// The `/metrics` body: this process's counters and the database's numbers as of `now`.
pub fn render(metrics: &Metrics, db: &OpsSnapshot, connected: bool, now: DateTime<Utc>) -> String {
    let mut r = <Registry>::with_prefix("carebot");
    r.register(
        "mentions",
        "Feed posts handled, by outcome (opened, merged, reopened, duplicate, ignored)",
        metrics.mentions.clone(),
    );
    r.register(
        "deliveries",
        "Outbox messages Discord accepted",
        metrics.deliveries.clone(),
    );
    r.register(
        "discord_rate_limited",
        "Discord answers with status 429 (rate limited)",
        metrics.rate_limited.clone(),
    );
    r.register(
        "discord_server_errors",
        "Discord answers with a 5xx status",
        metrics.server_errors.clone(),
    );
    r.register(
        "gateway_reconnects",
        "Gateway connections after the first (new sessions and resumes)",
        metrics.gateway_reconnects.clone(),
    );
    r.register(
        "timers_fired",
        "Timers fired by this process",
        metrics.timers_fired.clone(),
    );
    r.register(
        "timers_late",
        "Timers fired after their due time (e.g. carebot was down)",
        metrics.timers_late.clone(),
    );
    r.register(
        "gateway_connected",
        "1 while the Discord gateway is connected",
        ConstGauge::new(i64::from(connected)),
    );
    let open = Family::<Labels, prometheus_client::metrics::gauge::Gauge>::default();
    for priority in ["P1", "P2", "P3", "P4"] {
        let n = db
            .open_cases
            .iter()
            .find(|(p, _)| p == priority)
            .map_or(0, |(_, n)| *n);
        open.get_or_create(&vec![("priority".to_string(), priority.to_string())])
            .set(n);
    }
    r.register(
        "open_cases",
        "Active cases (new, open, waiting, escalated) by priority",
        open,
    );
    r.register(
        "outbox_backlog",
        "Outbox messages Discord has not accepted yet",
        ConstGauge::new(db.outbox_backlog),
    );
    let age = db
        .outbox_oldest
        .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    r.register(
        "outbox_oldest_age_seconds",
        "Age of the oldest undelivered outbox message (0 when there is none)",
        ConstGauge::new(age),
    );
    r.register(
        "timers_due",
        "Timers due and not fired yet",
        ConstGauge::new(db.timers_due),
    );
    r.register(
        "escalations_open",
        "Escalations waiting for a decision",
        ConstGauge::new(db.escalations_open),
    );
    r.register(
        "sla_warnings",
        "SLA warnings recorded (all time)",
        ConstCounter::new(db.sla_warnings.max(0) as u64),
    );
    r.register(
        "sla_breaches",
        "SLA breaches recorded (all time)",
        ConstCounter::new(db.sla_breaches.max(0) as u64),
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// Whether the gateway is connected right now.
pub type GatewayProbe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// What the listener answers from.
#[derive(Clone)]
pub struct Health {
    pub store: Store,
    pub gateway: GatewayProbe,
}

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `listen` (port 0: any free port) and serves `/metrics` and `/healthz` until the task
/// is dropped or aborted; returns the bound address.
pub async fn serve(
    listen: &str,
    health: Health,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use anyhow::Context as _;
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("[metrics] listen = \"{listen}\": cannot listen there (in use, or not an address:port)")
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let health = health.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &health).await {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok((addr, task))
}

/// Reads one request (its head, at most 8 KiB) and answers it; the connection then closes.
async fn answer(mut stream: TcpStream, health: &Health) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(READ_TIMEOUT, read).await.is_err() {
        return Ok(());
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let connected = (health.gateway)().await;
            match health.store.ops_snapshot(crate::app::wall_clock()).await {
                Ok(db) => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    render(global(), &db, connected, crate::app::wall_clock()),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: the database did not answer");
                    (
                        "503 Service Unavailable",
                        "text/plain",
                        "the database did not answer\n".into(),
                    )
                }
            }
        }
        ("GET", "/healthz") => {
            let connected = (health.gateway)().await;
            let db = health.store.ping().await;
            match (connected, db) {
                (true, Ok(())) => ("200 OK", "text/plain", "ok\n".to_string()),
                (false, _) => (
                    "503 Service Unavailable",
                    "text/plain",
                    "gateway not connected\n".into(),
                ),
                (true, Err(_)) => (
                    "503 Service Unavailable",
                    "text/plain",
                    "database not answering\n".into(),
                ),
            }
        }
        (_, "/metrics" | "/healthz") => ("405 Method Not Allowed", "text/plain", "use GET\n".into()),
        _ => ("404 Not Found", "text/plain", "try /metrics or /healthz\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_text_names_every_metric_with_its_value() {
        let m = Metrics::default();
        m.mention("opened");
        m.mention("opened");
        m.mention("duplicate");
        m.delivered();
        m.rate_limited();
        m.server_error();
        m.gateway_reconnected();
        m.timers(3, 1);
        let now = Utc::now();
        let db = OpsSnapshot {
            open_cases: vec![("P1".into(), 2), ("P3".into(), 5)],
            outbox_backlog: 4,
            outbox_oldest: Some(now - chrono::Duration::seconds(90)),
            timers_due: 1,
            escalations_open: 2,
            sla_warnings: 6,
            sla_breaches: 3,
        };
        let text = render(&m, &db, true, now);
        for line in [
            "carebot_mentions_total{outcome=\"opened\"} 2",
            "carebot_mentions_total{outcome=\"duplicate\"} 1",
            "carebot_deliveries_total 1",
            "carebot_discord_rate_limited_total 1",
            "carebot_discord_server_errors_total 1",
            "carebot_gateway_reconnects_total 1",
            "carebot_timers_fired_total 3",
            "carebot_timers_late_total 1",
            "carebot_gateway_connected 1",
            "carebot_open_cases{priority=\"P1\"} 2",
            "carebot_open_cases{priority=\"P2\"} 0",
            "carebot_open_cases{priority=\"P3\"} 5",
            "carebot_outbox_backlog 4",
            "carebot_outbox_oldest_age_seconds 90.0",
            "carebot_timers_due 1",
            "carebot_escalations_open 2",
            "carebot_sla_warnings_total 6",
            "carebot_sla_breaches_total 3",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }
}
