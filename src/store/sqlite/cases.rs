//! Case rows in SQLite, as a flush writes them: new or written-back cases as upserts, and
//! stored cases that a transaction read and changed as narrow updates of the columns that
//! differ. A column left out of an `UPDATE` leaves the indexes over it alone, and most
//! write-backs (a mention joining a case) change only its counts and times, not the status,
//! priority or category that three of the table's indexes hold.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use sqlx::sqlite::SqliteConnection;

use super::{chunks, json_list, secs, secs_opt, values_sql, Writer};
use crate::domain::case::Case;
use crate::store::pending::CaseChange;
use crate::store::StoreError;

/// The columns a write-back may change, and so the ones the upsert's `DO UPDATE` sets (the
/// others are fixed when the case opens, and the chat adapter's references are never
/// overwritten).
const CHANGEABLE: [&str; 14] = [
    "status",
    "priority",
    "priority_reasons",
    "category",
    "tags",
    "owner_id",
    "owner_name",
    "mention_count",
    "updated_at",
    "first_response_at",
    "last_customer_at",
    "resolved_at",
    "granted",
    "incident_id",
];

/// Writes staged cases, new or written back, many to a statement.
pub(super) async fn write_cases<'a>(
    w: &mut Writer<'a>,
    conn: &mut SqliteConnection,
    cases: &'a [Case],
) -> Result<(), StoreError> {
    if cases.is_empty() {
        return Ok(());
    }
    let set: Vec<String> = CHANGEABLE.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    let upsert = format!(" ON CONFLICT (id) DO UPDATE SET {}", set.join(", "));
    for chunk in chunks(cases) {
        let n = chunk.len();
        w.sql.push_str(&values_sql(
            "INSERT INTO cases (id, customer_id, status, priority, priority_reasons, category, title, tags, owner_id,
                                owner_name, mention_count, unparsed, feed_channel_id, feed_message_id, opened_at,
                                updated_at, first_response_at, last_customer_at, resolved_at, granted,
                                incident_id)",
            21,
            n,
        ));
        w.sql.push_str(&upsert);
        for c in chunk {
            w.bind(c.id.0)?;
            w.bind(c.customer_id)?;
            w.bind(c.status.as_str())?;
            w.bind(c.priority.as_str())?;
            w.bind(json_list(&c.priority_reasons))?;
            w.bind(c.category.as_str())?;
            w.bind(c.title.as_str())?;
            w.bind(json_list(&c.tags))?;
            w.bind(c.owner.as_ref().map(|o| o.id.as_str()))?;
            w.bind(c.owner.as_ref().map(|o| o.name.as_str()))?;
            w.bind(c.mention_count)?;
            w.bind(c.unparsed)?;
            w.bind(c.feed_channel_id.as_deref())?;
            w.bind(c.feed_message_id.as_deref())?;
            w.bind(secs(c.opened_at))?;
            w.bind(secs(c.updated_at))?;
            w.bind(secs_opt(c.first_response_at))?;
            w.bind(secs(c.last_customer_at))?;
            w.bind(secs_opt(c.resolved_at))?;
            w.bind(json_list(&c.granted))?;
            w.bind(c.incident_id)?;
        }
        w.end(conn).await?;
    }
    Ok(())
}

/// A [`CHANGEABLE`] column's value as stored.
#[derive(PartialEq)]
enum Column<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
}

/// Column `col` of [`CHANGEABLE`] of case `c`.
fn column(c: &Case, col: usize) -> Column<'_> {
    use Column::{Int, Text};
    fn text(s: &str) -> Column<'_> {
        Column::Text(Some(Cow::Borrowed(s)))
    }
    match col {
        0 => text(c.status.as_str()),
        1 => text(c.priority.as_str()),
        2 => Text(Some(json_list(&c.priority_reasons).into())),
        3 => text(&c.category),
        4 => Text(Some(json_list(&c.tags).into())),
        5 => Text(c.owner.as_ref().map(|o| Cow::Borrowed(o.id.as_str()))),
        6 => Text(c.owner.as_ref().map(|o| Cow::Borrowed(o.name.as_str()))),
        7 => Int(Some(c.mention_count)),
        8 => Int(Some(secs(c.updated_at))),
        9 => Int(secs_opt(c.first_response_at)),
        10 => Int(Some(secs(c.last_customer_at))),
        11 => Int(secs_opt(c.resolved_at)),
        12 => Text(Some(json_list(&c.granted).into())),
        _ => Int(c.incident_id),
    }
}

/// Writes back stored cases: for each, the columns that differ from how it was read (its
/// first read when staged more than once, its last version), in one `UPDATE ... FROM
/// (VALUES ...)` per set of changed columns and chunk. A case that did not change is not
/// written.
pub(super) async fn write_case_changes(
    w: &mut Writer<'_>,
    conn: &mut SqliteConnection,
    changes: &[CaseChange],
) -> Result<(), StoreError> {
    let mut first: HashMap<i64, (&Case, &Case)> = HashMap::with_capacity(changes.len());
    let mut order: Vec<i64> = Vec::with_capacity(changes.len());
    for c in changes {
        first
            .entry(c.after.id.0)
            .and_modify(|e| e.1 = &c.after)
            .or_insert_with(|| {
                order.push(c.after.id.0);
                (&c.before, &c.after)
            });
    }
    // By set of changed columns (a bit each), in staging order within each set.
    let mut by_columns: BTreeMap<u16, Vec<&Case>> = BTreeMap::new();
    for id in order {
        let (before, after) = first[&id];
        let mask = (0..CHANGEABLE.len())
            .filter(|&col| column(before, col) != column(after, col))
            .fold(0u16, |m, col| m | 1 << col);
        if mask != 0 {
            by_columns.entry(mask).or_default().push(after);
        }
    }
    for (mask, cases) in by_columns {
        let cols: Vec<usize> = (0..CHANGEABLE.len()).filter(|c| mask & 1 << c != 0).collect();
        let set = cols
            .iter()
            .enumerate()
            .map(|(i, &col)| format!("{} = v.column{}", CHANGEABLE[col], i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        for chunk in chunks(cases.as_slice()) {
            let n = chunk.len();
            let values = values_sql("", cols.len() + 1, n);
            w.sql.push_str(&format!(
                "UPDATE cases SET {set} FROM ({}) AS v WHERE cases.id = v.column1",
                values.trim_start()
            ));
            for c in chunk {
                w.bind(c.id.0)?;
                for &col in &cols {
                    match column(c, col) {
                        Column::Text(text) => w.bind(text.map(Cow::into_owned))?,
                        Column::Int(n) => w.bind(n)?,
                    }
                }
            }
            w.end(conn).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::super::Store;
    use crate::domain::case::{Case, CaseStatus, Owner};
    use crate::domain::{CaseId, Priority};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).single().expect("time")
    }

    fn case(id: i64) -> Case {
        Case::sample(CaseId(id), at(0))
    }

    #[tokio::test]
    async fn a_written_back_case_reads_back_as_its_last_version_whatever_changed() {
        let store = Store::connect("sqlite::memory:").await.expect("store");
        let mut tx = store.begin().await.expect("begin");
        sqlx::query("INSERT INTO customers (id, network, handle, created_at) VALUES (1, 'x', 'a', 0)")
            .execute(tx.tx.conn().await.expect("begin"))
            .await
            .expect("customer");
        for id in 1..=3 {
            tx.pending.cases.push(case(id));
        }
        tx.commit().await.expect("commit");

        let mut tx = store.begin().await.expect("begin");
        let mut joined = case(1);
        joined.mention_count = 2;
        joined.updated_at = at(60);
        joined.last_customer_at = at(60);
        let mut raised = joined.clone();
        raised.id = CaseId(2);
        raised.priority = Priority::P1;
        raised.priority_reasons = vec!["angry".into()];
        raised.owner = Some(Owner {
            id: "u1".into(),
            name: "Ann".into(),
        });
        raised.status = CaseStatus::Resolved;
        raised.resolved_at = Some(at(90));
        raised.incident_id = None;
        let mut staged_twice = case(1);
        staged_twice.mention_count = 3;
        let changes = [
            (case(1), joined.clone()),
            (case(2), raised.clone()),
            (case(3), case(3)),
            (joined, staged_twice.clone()),
        ];
        for (before, after) in changes {
            tx.pending
                .case_changes
                .push(crate::store::pending::CaseChange { before, after });
        }
        tx.commit().await.expect("commit");

        let mut tx = store.begin().await.expect("begin");
        assert_eq!(tx.case(CaseId(1)).await.expect("read"), Some(staged_twice));
        assert_eq!(tx.case(CaseId(2)).await.expect("read"), Some(raised));
        assert_eq!(tx.case(CaseId(3)).await.expect("read"), Some(case(3)));
        tx.commit().await.expect("commit");
        store.close().await;
    }
}
