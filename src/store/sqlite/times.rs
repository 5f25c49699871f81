//! How the SQLite adapter stores times: whole seconds since the Unix epoch in `INTEGER`
//! columns (migration 0010 turned the RFC 3339 text of earlier versions into them), except in
//! the outbox.

use chrono::{DateTime, Utc};

/// A time as carebot's SQLite tables store it (since migration 0010): whole seconds since the
/// Unix epoch, an `INTEGER` (8 bytes at most, where RFC 3339 text took 25; sqlx reads it back
/// as a `DateTime<Utc>`). Every time carebot stores is to the second already
/// ([`crate::app::wall_clock`]). The outbox's times are the exception: see [`outbox_time`].
pub(super) fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// [`secs`] of a time that may be missing.
pub(super) fn secs_opt(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(secs)
}

/// A time as the outbox stores it: RFC 3339 text with its fraction of a second (delivery
/// retries and rate-limit waits are shorter than a second).
pub(super) fn outbox_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use sqlx::{Connection, Row, SqliteConnection};

    use super::super::Store;
    use super::*;
    use crate::domain::CaseId;

    /// Migration 0010 turns the text times an older carebot wrote into numbers, keeps every
    /// row and reference, and carebot reads the same times back.
    #[tokio::test]
    async fn the_migration_to_integer_times_keeps_every_time_and_reference() {
        let file = std::env::temp_dir().join(format!("carebot-times-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let mut conn = SqliteConnection::connect(&url).await.expect("open");
        // The schema as migrations 1 to 9 left it, recorded as sqlx records them.
        sqlx::query(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
                 installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL,
                 checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
        )
        .execute(&mut conn)
        .await
        .expect("migrations table");
        for m in super::super::MIGRATOR.iter().filter(|m| m.version <= 9) {
            sqlx::raw_sql(&m.sql)
                .execute(&mut conn)
                .await
                .expect("old migration");
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES (?, ?, TRUE, ?, 0)",
            )
            .bind(m.version)
            .bind(&*m.description)
            .bind(&*m.checksum)
            .execute(&mut conn)
            .await
            .expect("record");
        }
        // Rows as that version wrote them: times as RFC 3339 text.
        sqlx::raw_sql(
            "INSERT INTO customers (id, network, handle, created_at) VALUES (1, 'twitter', 'dana', '2026-11-27T08:00:00+00:00');
             INSERT INTO cases (id, customer_id, status, priority, category, title, opened_at, updated_at,
                                last_customer_at, first_response_at)
                 VALUES (1, 1, 'open', 'P3', 'roadside-breakdown', 'Flat tyre', '2026-11-27T08:00:00+00:00',
                         '2026-11-27T08:30:00+00:00', '2026-11-27T08:00:00+00:00', '2026-11-27T08:10:00+00:00');
             INSERT INTO mentions (id, case_id, customer_id, source_id, network, handle, text, posted_at, received_at)
                 VALUES (1, 1, 1, 'import:1', 'twitter', 'dana', 'Flat tyre', '2026-11-27T07:59:30+00:00',
                         '2026-11-27T08:00:00+00:00');
             INSERT INTO case_events (case_id, at, actor, kind) VALUES (1, '2026-11-27T08:00:00+00:00', 'carebot', 'opened');
             INSERT INTO timers (kind, case_id, detail, due_at, created_at)
                 VALUES ('incident_check', 1, '{}', '2026-11-27T09:00:00+00:00', '2026-11-27T08:00:00+00:00');
             INSERT INTO outbox (case_id, payload, created_at, next_attempt_at)
                 VALUES (1, '{\"kind\":\"update_card\",\"case_id\":1}', '2026-11-27T08:00:00.250+00:00',
                         '2026-11-27T08:00:00.250+00:00');",
        )
        .execute(&mut conn)
        .await
        .expect("old rows");
        conn.close().await.expect("close");

        let store = Store::connect(&url).await.expect("migration 10 applies");
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 27, h, m, s).unwrap();
        let mut tx = store.begin().await.expect("begin");
        let case = tx.case(CaseId(1)).await.expect("read").expect("the case");
        assert_eq!(
            (case.opened_at, case.updated_at, case.first_response_at),
            (at(8, 0, 0), at(8, 30, 0), Some(at(8, 10, 0)))
        );
        let mentions = tx.mentions(CaseId(1)).await.expect("mentions");
        assert_eq!(mentions[0].posted_at, at(7, 59, 30));
        assert_eq!(store.next_timer_due().await.expect("next"), Some(at(9, 0, 0)));
        assert!(tx
            .claim_due_timers(at(8, 59, 59), 10)
            .await
            .expect("claim")
            .is_empty());
        assert_eq!(
            tx.claim_due_timers(at(9, 0, 0), 10).await.expect("claim").len(),
            1
        );
        // Foreign keys are on again once migrations have run.
        let orphan =
            sqlx::query("INSERT INTO case_events (case_id, at, actor, kind) VALUES (99, 0, 'x', 'note')")
                .execute(tx.tx.conn().await.expect("conn"))
                .await;
        assert!(orphan.is_err(), "a reference to no case is refused");
        drop(tx);
        let pool = &store.pool;
        let kinds: Vec<String> = sqlx::query(
            "SELECT typeof(opened_at) FROM cases UNION ALL SELECT typeof(posted_at) FROM mentions
             UNION ALL SELECT typeof(at) FROM case_events UNION ALL SELECT typeof(due_at) FROM timers
             UNION ALL SELECT typeof(created_at) FROM customers",
        )
        .fetch_all(pool)
        .await
        .expect("types")
        .iter()
        .map(|r| r.get(0))
        .collect();
        assert!(kinds.iter().all(|k| k == "integer"), "{kinds:?}");
        let outbox: String = sqlx::query_scalar("SELECT created_at FROM outbox")
            .fetch_one(pool)
            .await
            .expect("outbox");
        assert_eq!(
            outbox, "2026-11-27T08:00:00.250+00:00",
            "the outbox keeps its text times"
        );
        store.close().await;
        let _ = std::fs::remove_file(&file);
    }
}
