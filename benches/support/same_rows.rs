//! The "same rows" baselines of `benches/backends.rs`: every row that carebot's import left in
//! its database, table by table, written again into a fresh database whose tables have the
//! same columns and only their primary keys (no other index, no constraint, no trigger), in as
//! many transactions as the import had batches: one prepared multi-row `INSERT` per table and
//! batch on SQLite, one `COPY ... FROM STDIN` per table and batch on PostgreSQL. That is the
//! physical limit of writing what the import writes; the time excludes reading the rows.

use std::fmt::Write as _;
use std::time::{Duration as StdDuration, Instant};

use sqlx::{Connection, PgConnection, Row, SqlitePool, TypeInfo, ValueRef};

/// A SQLite value as stored.
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A table's definition without its indexes, its indexes, and its rows.
struct Table<R> {
    name: String,
    create: String,
    /// `CREATE INDEX` statements of the table's other indexes (unique ones included), for
    /// [`Indexes::Carebot`].
    indexes: Vec<String>,
    columns: usize,
    rows: Vec<R>,
}

/// Which indexes the baseline's tables have.
#[derive(Clone, Copy, PartialEq)]
pub enum Indexes {
    /// Only their primary keys: the physical limit of writing the rows.
    PrimaryKeys,
    /// Every index of carebot's tables too (no foreign key): the limit of writing them where
    /// carebot keeps them, what its indexes cost included.
    Carebot,
}

/// The rows of the `k`-th of `batches` parts of `len` rows.
fn part(len: usize, k: usize, batches: usize) -> std::ops::Range<usize> {
    len * k / batches..len * (k + 1) / batches
}

/// carebot's tables in the SQLite database of `src` (sqlx's migration log left out).
async fn sqlite_tables(src: &SqlitePool) -> Vec<Table<Vec<Value>>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(src)
    .await
    .expect("tables");
    let mut tables = Vec::new();
    for name in names {
        // (name, declared type, part of the primary key)
        let cols: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT name, type, pk FROM pragma_table_info('{name}') ORDER BY cid"
        ))
        .fetch_all(src)
        .await
        .expect("columns");
        let mut defs: Vec<String> = cols.iter().map(|(c, t, _)| format!("\"{c}\" {t}")).collect();
        let pk: Vec<String> = cols
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(c, _, _)| format!("\"{c}\""))
            .collect();
        if !pk.is_empty() {
            defs.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        )
        .bind(&name)
        .fetch_all(src)
        .await
        .expect("indexes");
        let rows = sqlx::query(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
            .fetch_all(src)
            .await
            .expect("rows")
            .iter()
            .map(|r| {
                (0..cols.len())
                    .map(|i| {
                        let raw = r.try_get_raw(i).expect("column");
                        if raw.is_null() {
                            return Value::Null;
                        }
                        match raw.type_info().name() {
                            "INTEGER" => Value::Int(r.get(i)),
                            "REAL" => Value::Real(r.get(i)),
                            "BLOB" => Value::Blob(r.get(i)),
                            _ => Value::Text(r.get(i)),
                        }
                    })
                    .collect()
            })
            .collect();
        tables.push(Table {
            create: format!("CREATE TABLE \"{name}\" ({})", defs.join(", ")),
            indexes,
            name,
            columns: cols.len(),
            rows,
        });
    }
    tables
}

/// Writes the rows of carebot's SQLite database `src` into the empty one `dst` in `batches`
/// transactions, into tables with `indexes`: (rows written, time).
pub async fn sqlite_same_rows(
    src: &SqlitePool,
    dst: &SqlitePool,
    batches: usize,
    indexes: Indexes,
) -> (usize, StdDuration) {
    let tables = sqlite_tables(src).await;
    for t in &tables {
        sqlx::query(&t.create).execute(dst).await.expect("baseline table");
        if indexes == Indexes::Carebot {
            for index in &t.indexes {
                sqlx::query(index).execute(dst).await.expect("baseline index");
            }
        }
    }
    let mut written = 0;
    let start = Instant::now();
    for k in 0..batches {
        let mut tx = dst.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        for t in &tables {
            let rows = &t.rows[part(t.rows.len(), k, batches)];
            // SQLite binds at most 32,766 values per statement.
            for chunk in rows.chunks((32_766 / t.columns).max(1)) {
                let row = format!("({})", vec!["?"; t.columns].join(", "));
                let sql = format!(
                    "INSERT INTO \"{}\" VALUES {}",
                    t.name,
                    vec![row; chunk.len()].join(", ")
                );
                let mut query = sqlx::query::<sqlx::Sqlite>(&sql);
                for value in chunk.iter().flatten() {
                    query = match value {
                        Value::Null => query.bind(None::<i64>),
                        Value::Int(v) => query.bind(*v),
                        Value::Real(v) => query.bind(*v),
                        Value::Text(v) => query.bind(v.as_str()),
                        Value::Blob(v) => query.bind(v.as_slice()),
                    };
                }
                query.execute(&mut *tx).await.expect("baseline insert");
                written += chunk.len();
            }
        }
        tx.commit().await.expect("commit");
    }
    (written, start.elapsed())
}

/// carebot's tables in the PostgreSQL database at `src`, each row one CSV record.
async fn postgres_tables(src: &mut PgConnection) -> Vec<Table<Vec<u8>>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
         AND tablename NOT LIKE '_sqlx%' ORDER BY tablename",
    )
    .fetch_all(&mut *src)
    .await
    .expect("tables");
    let mut tables = Vec::new();
    for name in names {
        // (name, type, part of the primary key)
        let cols: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary
                            AND a.attnum = ANY(i.indkey))
             FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
        )
        .bind(&name)
        .fetch_all(&mut *src)
        .await
        .expect("columns");
        let mut defs: Vec<String> = cols.iter().map(|(c, t, _)| format!("\"{c}\" {t}")).collect();
        let pk: Vec<String> = cols
            .iter()
            .filter(|(_, _, pk)| *pk)
            .map(|(c, _, _)| format!("\"{c}\""))
            .collect();
        if !pk.is_empty() {
            defs.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::regclass
             AND NOT indisprimary",
        )
        .bind(&name)
        .fetch_all(&mut *src)
        .await
        .expect("indexes");
        let mut csv = Vec::new();
        let mut out = src
            .copy_out_raw(&format!(
                "COPY (SELECT * FROM \"{name}\" ORDER BY 1) TO STDOUT (FORMAT csv)"
            ))
            .await
            .expect("COPY out");
        use futures_util::StreamExt as _;
        while let Some(bytes) = out.next().await {
            csv.extend_from_slice(&bytes.expect("COPY data"));
        }
        drop(out);
        tables.push(Table {
            create: format!("CREATE TABLE \"{name}\" ({})", defs.join(", ")),
            indexes,
            name,
            columns: cols.len(),
            rows: csv_records(&csv),
        });
    }
    tables
}

/// CSV text cut into its records (a line break inside quotes belongs to its field).
fn csv_records(csv: &[u8]) -> Vec<Vec<u8>> {
    let (mut records, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, b) in csv.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                records.push(csv[start..=i].to_vec());
                start = i + 1;
            }
            _ => {}
        }
    }
    records
}

/// Writes the rows of carebot's PostgreSQL database at `src` into the empty one at `dst` in
/// `batches` transactions, into tables with `indexes`: (rows written, time).
pub async fn postgres_same_rows(
    src: &str,
    dst: &str,
    batches: usize,
    indexes: Indexes,
) -> (usize, StdDuration) {
    let mut from = PgConnection::connect(src).await.expect("carebot's database");
    let tables = postgres_tables(&mut from).await;
    from.close().await.expect("close");
    let mut to = PgConnection::connect(dst).await.expect("baseline database");
    for t in &tables {
        sqlx::query(&t.create)
            .execute(&mut to)
            .await
            .expect("baseline table");
        if indexes == Indexes::Carebot {
            for index in &t.indexes {
                sqlx::query(index).execute(&mut to).await.expect("baseline index");
            }
        }
    }
    let mut written = 0;
    let mut buf = Vec::new();
    let start = Instant::now();
    for k in 0..batches {
        let mut tx = to.begin().await.expect("begin");
        for t in &tables {
            let rows = &t.rows[part(t.rows.len(), k, batches)];
            if rows.is_empty() {
                continue;
            }
            buf.clear();
            for r in rows {
                buf.extend_from_slice(r);
            }
            let mut sql = String::new();
            let _ = write!(sql, "COPY \"{}\" FROM STDIN (FORMAT csv)", t.name);
            let mut sink = tx.copy_in_raw(&sql).await.expect("COPY starts");
            sink.send(buf.as_slice()).await.expect("COPY data");
            let n = sink.finish().await.expect("COPY ends");
            assert_eq!(n as usize, rows.len(), "COPY wrote every row of {}", t.name);
            written += rows.len();
        }
        tx.commit().await.expect("commit");
    }
    (written, start.elapsed())
}
