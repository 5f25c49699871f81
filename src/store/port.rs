//! The storage port: [`Store`] and [`Tx`] are what the app talks to, whichever database the
//! URL names. Each method goes to the adapter's own of the same name and signature (the
//! macros below spell the list once; an adapter missing one does not compile). The rows a
//! transaction buffers ([`Pending`]) are the same for both adapters and buffered here.

use chrono::{DateTime, Utc};

use super::pending::{CaseChange, Pending};
use super::{
    postgres, sqlite, CaseCards, CaseEvent, CaseFilter, CaseSummary, CustomerKey, CustomersAndCases,
    DigestCase, EscalationFilter, IncidentRow, KnownPosts, NewTimer, NotableRow, OutboxRow, PendingDigest,
    SlaRow, StoreError, StoredMention, TimedCase, Timer, VolumeRow,
};
use crate::domain::case::{Case, Customer};
use crate::domain::escalation::{Escalation, EscalationId};
use crate::domain::feed::Mention;
use crate::domain::offer::Grant;
use crate::domain::playbook::RemedyKind;
use crate::domain::sla::Clock;
use crate::domain::surge::{Incident, IncidentId};
use crate::domain::{CaseId, Handle, Money, Network, Segment};

/// The database handle; cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(sqlite::Store),
    Postgres(postgres::Store),
}

/// One database transaction; dropped without [`Tx::commit`] it rolls back.
pub enum Tx {
    Sqlite(sqlite::Tx),
    Postgres(postgres::Tx),
}

/// Which adapter a database URL names.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating when missing) the database at `url` and applies migrations:
    /// `sqlite://FILE`, `sqlite::memory:` or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if is_postgres(url) {
            return Ok(Store::Postgres(postgres::Store::connect(url).await?));
        }
        if url.starts_with("sqlite:") {
            return Ok(Store::Sqlite(sqlite::Store::connect(url).await?));
        }
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }

    /// Starts a write transaction. Write transactions take turns (SQLite's one writer; on
    /// PostgreSQL a transaction-scoped advisory lock), so ids read as the highest so far stay
    /// free until the commit, across processes too.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => Tx::Sqlite(s.begin().await?),
            Store::Postgres(s) => Tx::Postgres(s.begin().await?),
        })
    }

    /// A read-only snapshot.
    pub async fn read(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => Tx::Sqlite(s.read().await?),
            Store::Postgres(s) => Tx::Postgres(s.read().await?),
        })
    }

    /// What `carebot doctor` finds out about the database at `url` without changing it
    /// (reachable, which migrations are applied).
    pub async fn probe(url: &str) -> Result<super::DbProbe, StoreError> {
        if is_postgres(url) {
            return postgres::Store::probe(url).await;
        }
        if url.starts_with("sqlite:") {
            return sqlite::Store::probe(url).await;
        }
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }

    /// When the next pending timer is due, if any: a timer row or the next point of a
    /// running SLA clock.
    pub async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (timer, clock) = match self {
            Store::Sqlite(s) => (s.next_timer_due().await?, s.next_clock_point().await?),
            Store::Postgres(s) => (s.next_timer_due().await?, s.next_clock_point().await?),
        };
        Ok(timer.into_iter().chain(clock).min())
    }

    /// Which database this is, for logs and `doctor`: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

impl Tx {
    fn pending(&mut self) -> &mut Pending {
        match self {
            Tx::Sqlite(t) => &mut t.pending,
            Tx::Postgres(t) => &mut t.pending,
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    /// Records a post that was read but deliberately not turned into a mention (buffered until
    /// the commit; a source id already recorded stays as it was).
    pub fn record_ignored(&mut self, source_id: &str, reason: &'static str, at: DateTime<Utc>) {
        self.pending().record_ignored(source_id, reason, at);
    }

    /// Stores a new case or writes back a changed one (buffered until the commit; the
    /// chat adapter's references are never overwritten). The caller assigns new ids: see
    /// [`KnownPosts::max_case_id`].
    pub fn stage_case(&mut self, case: Case) {
        self.pending().cases.push(case);
    }

    /// Writes back a stored case that this transaction read as `before` (buffered like
    /// [`Tx::stage_case`], and the same row in the end; an adapter may write only what changed).
    pub fn stage_case_change(&mut self, before: Case, after: Case) {
        self.pending().case_changes.push(CaseChange { before, after });
    }

    /// Stores a mention (buffered until the next read of mentions or the commit).
    pub fn insert_mention(
        &mut self,
        case_id: CaseId,
        customer_id: i64,
        m: &Mention,
        feed_channel_id: Option<&str>,
        feed_message_id: Option<&str>,
        at: DateTime<Utc>,
    ) {
        self.pending()
            .insert_mention(case_id, customer_id, m, feed_channel_id, feed_message_id, at);
    }

    /// Appends to the case timeline (buffered until the next read of events or the commit).
    pub async fn append_event(
        &mut self,
        case_id: CaseId,
        at: DateTime<Utc>,
        actor: &str,
        kind: &str,
        detail: &(impl serde::Serialize + ?Sized),
    ) -> Result<(), StoreError> {
        self.pending().append_event(case_id, at, actor, kind, detail)
    }

    /// Queues a message for the chat adapters, in this transaction (written at commit).
    pub async fn enqueue(
        &mut self,
        case_id: Option<CaseId>,
        payload: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.pending().enqueue(case_id, payload.into(), at);
        Ok(())
    }

    /// Moves a feed channel's cursor forward (never backwards: ids are snowflakes, compared as
    /// numbers); written at the commit.
    pub fn advance_feed_cursor(&mut self, channel_id: &str, message_id: &str) {
        self.pending()
            .cursors
            .push((channel_id.to_string(), message_id.to_string()));
    }

    /// Records a granted remedy (buffered until the next read of grants or the commit).
    pub async fn insert_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        self.pending().grants.push(g.clone());
        Ok(())
    }

    /// Schedules a timer (buffered until the next read of timers or the commit).
    pub fn schedule_timer(&mut self, timer: NewTimer, now: DateTime<Utc>) {
        self.pending().timers.push((timer, now));
    }

    /// Cancels the pending timers of an escalation (it was decided or moved on): timers not
    /// written yet are dropped, stored ones are marked cancelled at the next flush, before the
    /// timers scheduled after this call are written.
    pub fn cancel_escalation_timers(&mut self, escalation: EscalationId, now: DateTime<Utc>) {
        self.pending().cancel_escalation_timers(escalation, now);
    }

    /// Gives new clocks (id 0) their ids and stages all of them for the commit.
    pub async fn stage_clocks(&mut self, clocks: &mut [Clock]) -> Result<(), StoreError> {
        for c in clocks.iter_mut() {
            if c.id == 0 {
                c.id = self.take_clock_id().await?;
            }
            self.pending().clocks.push(c.clone());
        }
        Ok(())
    }
}

/// `impl Tx` methods that go to the adapter's transaction.
macro_rules! tx_methods {
    ($( $(#[$doc:meta])* fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Tx {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Tx::Sqlite(t) => t.$name($($arg),*).await,
                        Tx::Postgres(t) => t.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

/// `impl Store` methods that go to the adapter's store.
macro_rules! store_methods {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Store::Sqlite(s) => s.$name($($arg),*).await,
                        Store::Postgres(s) => s.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

store_methods! {
    /// Retention: removes the text and link of every mention (and the title derived from it)
    /// of the cases no longer active and unchanged since `before`; how many mentions.
    fn purge_mention_texts(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// One round trip to the database (`/healthz`).
    fn ping(&self) -> Result<(), StoreError>;
    /// The numbers `/metrics` shows from the database.
    fn ops_snapshot(&self, now: DateTime<Utc>) -> Result<super::OpsSnapshot, StoreError>;
    /// Records where a feed channel's history starts to matter when carebot first watches it
    /// (`message_id`: a snowflake of that moment), unless it already has a cursor.
    fn start_feed_cursor(&self, channel_id: &str, message_id: &str) -> Result<(), StoreError>;
    fn close(&self) -> ();
    /// Undelivered outbox rows, oldest first, due or not: delivery keeps each case's order, so
    /// a row that is not due yet holds back the later rows of its case.
    fn undelivered_outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError>;
    /// Leases up to `limit` undelivered rows to `owner` (a bot process) until `until`, oldest
    /// first: rows nobody holds, rows whose lease expired before `now` (their holder died or
    /// hangs) and `owner`'s own, renewed; never a row of a case whose earlier undelivered row
    /// another live lease holds. Each case's rows thus go out in order from one process.
    fn lease_outbox(&self, owner: &str, limit: i64, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError>;
    /// Deletes the rows delivered before `before` (the newest row of all stays, so ids, and
    /// the nonces made from them, never repeat); how many.
    fn prune_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Deletes the timers fired or cancelled before `before` (the newest row of all stays, so
    /// ids never repeat); how many.
    fn prune_timers(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Returns the space that deletes freed to the file system where the backend needs
    /// telling (SQLite's `incremental_vacuum`); PostgreSQL's autovacuum does it by itself.
    fn reclaim_space(&self) -> Result<(), StoreError>;
    /// Outbox rows after `id`, delivered or not, oldest first (what the console shows).
    fn outbox_after(&self, id: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError>;
    /// The newest outbox row id (0 when empty).
    fn last_outbox_id(&self) -> Result<i64, StoreError>;
    fn mark_delivered(&self, outbox_id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;
    fn mark_failed(&self, outbox_id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records where the case lives in the chat adapter (thread, card message).
    fn set_case_refs(&self, case_id: CaseId, thread_ref: Option<&str>, card_ref: Option<&str>) -> Result<(), StoreError>;
    /// The chat adapter's references for a case: (thread, card message).
    fn case_refs(&self, case_id: CaseId) -> Result<(Option<String>, Option<String>), StoreError>;
    /// The case whose thread is `thread_ref`.
    fn case_by_thread(&self, thread_ref: &str) -> Result<Option<CaseId>, StoreError>;
    fn feed_cursor(&self, channel_id: &str) -> Result<Option<String>, StoreError>;
    /// When the next point of a running SLA clock (its warning, else its breach) is due, if
    /// any: clocks are their own timers.
    fn next_clock_point(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// How many timers are pending.
    fn pending_timers(&self) -> Result<i64, StoreError>;
    /// The chat adapter's message of an escalation's packet.
    fn escalation_ref(&self, id: EscalationId) -> Result<Option<String>, StoreError>;
    fn set_escalation_ref(&self, id: EscalationId, message_ref: &str) -> Result<(), StoreError>;
    /// `(category, received_at)` of every mention received since `since`, oldest first.
    fn mention_history(&self, since: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// The thread of the incident a case is grouped under, once it exists.
    fn case_incident_thread(&self, case: CaseId) -> Result<Option<String>, StoreError>;
    /// The chat adapter's alert message and thread of an incident.
    fn incident_refs(&self, id: IncidentId) -> Result<(Option<String>, Option<String>), StoreError>;
    fn set_incident_refs(&self, id: IncidentId, alert_ref: Option<&str>, thread_ref: Option<&str>) -> Result<(), StoreError>;
}

tx_methods! {
    /// Every `recategorised` and `suggestion_used` event at or after `since`, oldest first,
    /// with the chosen playbook and the case's first post.
    fn agent_choices(&mut self, since: Option<DateTime<Utc>>) -> Result<Vec<crate::domain::playbook::eval::AgentChoice>, StoreError>;
    /// Erases a customer's personal data in this transaction (see the adapters); counts,
    /// statuses, times, grants and SLA clocks stay.
    fn erase_customer(&mut self, customer_id: i64, pseudonym: &str) -> Result<super::Erased, StoreError>;
    /// One read for a whole batch, right after `begin`: which of these source ids are already
    /// stored (as mentions or ignored posts), which network ids are stored, and the highest
    /// case id.
    fn known_posts(&mut self, source_ids: &[&str], external_ids: &[&str]) -> Result<KnownPosts, StoreError>;
    /// For a batch of new mentions: the stored display names of `old_names_for` as they were
    /// before this call, then finds or creates every customer in `customers` (a newly seen
    /// display name is kept: give the last one of the batch), then each customer's most recent
    /// case.
    fn customers_for_mentions(&mut self, customers: &[CustomerKey<'_>], old_names_for: &[CustomerKey<'_>], at: DateTime<Utc>) -> Result<CustomersAndCases, StoreError>;
    fn customer(&mut self, id: i64) -> Result<Option<Customer>, StoreError>;
    fn customer_by_handle(&mut self, network: &Network, handle: &Handle) -> Result<Option<Customer>, StoreError>;
    /// Customers with this handle on any network.
    fn customers_by_handle(&mut self, handle: &Handle) -> Result<Vec<Customer>, StoreError>;
    fn set_segment(&mut self, customer_id: i64, segment: Segment) -> Result<(), StoreError>;
    /// All cases of a customer, newest first.
    fn customer_cases(&mut self, customer_id: i64) -> Result<Vec<CaseSummary>, StoreError>;
    /// A case as this transaction sees it (staged changes included).
    fn case(&mut self, id: CaseId) -> Result<Option<Case>, StoreError>;
    /// For a batch of cases (staged changes included): the cases, their customers, the text
    /// and link of each one's first post and their SLA clocks: what their cards show (open
    /// escalations left empty).
    fn case_cards(&mut self, ids: &[CaseId]) -> Result<CaseCards, StoreError>;
    /// The cases, their customers and their open escalations (first posts and clocks left
    /// empty): what commands on them and settling decisions need.
    fn cases_at_hand(&mut self, ids: &[CaseId]) -> Result<CaseCards, StoreError>;
    /// The post that opened the case.
    fn opening_mention(&mut self, case_id: CaseId) -> Result<Option<StoredMention>, StoreError>;
    fn mentions(&mut self, case_id: CaseId) -> Result<Vec<StoredMention>, StoreError>;
    /// The post with this source id.
    fn mention_by_source(&mut self, source_id: &str) -> Result<Option<StoredMention>, StoreError>;
    /// What an escalation packet tells of a case (staged changes included): its posts and
    /// its timeline, oldest first, and all cases of its customer, newest first.
    fn case_story(&mut self, case_id: CaseId, customer_id: i64) -> Result<(Vec<StoredMention>, Vec<CaseEvent>, Vec<CaseSummary>), StoreError>;
    fn events(&mut self, case_id: CaseId) -> Result<Vec<CaseEvent>, StoreError>;
    fn list_cases(&mut self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError>;
    /// How many offers were made, by outcome (`granted`, `escalated`).
    fn offer_outcomes(&mut self) -> Result<Vec<(String, i64)>, StoreError>;
    /// How many posts were ignored, by reason.
    fn ignored_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Stores a new escalation (its `id` is ignored) and returns the id it got.
    fn insert_escalation(&mut self, e: &Escalation) -> Result<EscalationId, StoreError>;
    /// Writes back a changed escalation, only if it is still open in the database. Returns
    /// false when it was decided meanwhile (by another transaction): nothing is written then.
    fn update_escalation(&mut self, e: &Escalation) -> Result<bool, StoreError>;
    /// Writes back changed escalations (ids unique), each only if it is still open in the
    /// database. Returns false when any was decided meanwhile (by another transaction): the
    /// others are written, so the caller rolls back.
    fn update_escalations(&mut self, list: &[&Escalation]) -> Result<bool, StoreError>;
    fn escalation(&mut self, id: EscalationId) -> Result<Option<Escalation>, StoreError>;
    /// What a decision on an escalation needs: the escalation and the [`Tx::cases_at_hand`]
    /// of its case.
    fn escalation_for_decision(&mut self, id: EscalationId) -> Result<Option<(Escalation, CaseCards)>, StoreError>;
    /// Several escalations (in no particular order).
    fn escalations_by_id(&mut self, ids: &[EscalationId]) -> Result<Vec<Escalation>, StoreError>;
    /// The escalations of a case, oldest first.
    fn case_escalations(&mut self, case: CaseId) -> Result<Vec<Escalation>, StoreError>;
    /// Escalations by status and creation time: open ones by deadline (soonest first), the
    /// others by id.
    fn list_escalations(&mut self, filter: &EscalationFilter) -> Result<Vec<Escalation>, StoreError>;
    /// What an offer's limits need: granted of `remedy` on `case` by anyone, and granted by
    /// `actor` in `unit` against their budget in `[from, to)`.
    fn offer_totals(&mut self, case: CaseId, remedy: RemedyKind, actor: &str, unit: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(Money, Money), StoreError>;
    /// The remedies granted on a case, oldest first.
    fn case_grants(&mut self, case: CaseId) -> Result<Vec<Grant>, StoreError>;
    /// Claims up to `limit` timers due at `now`, earliest first, by marking them fired in this
    /// transaction: a concurrent sweep cannot claim them too, and a rollback releases them.
    fn claim_due_timers(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Timer>, StoreError>;
    /// Running SLA clocks whose next point (the warning while it is due, else the breach) is
    /// due at `now`, soonest first: clocks are their own timers. Read in a write transaction,
    /// which holds the write lock until it commits what it noticed (`warned`,
    /// `breach_noticed`), so another sweep finds them noticed: each point fires once.
    fn due_clocks(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Clock>, StoreError>;
    /// The id the next new SLA clock gets (taken: the next call gives the one after).
    fn take_clock_id(&mut self) -> Result<i64, StoreError>;
    /// The clocks of these cases, oldest first per case.
    fn clocks(&mut self, cases: &[CaseId]) -> Result<Vec<Clock>, StoreError>;
    fn clocks_by_id(&mut self, ids: &[i64]) -> Result<Vec<Clock>, StoreError>;
    /// Running clocks of active cases whose warning point has passed at `now` (at risk or
    /// breached), soonest due first.
    fn clocks_at_risk(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Clock>, StoreError>;
    /// Stores a new incident (its id is ignored) and returns the id it got.
    fn insert_incident(&mut self, i: &Incident) -> Result<IncidentId, StoreError>;
    /// Writes back an incident's status, counts and samples.
    fn update_incident(&mut self, i: &Incident) -> Result<(), StoreError>;
    fn incident(&mut self, id: IncidentId) -> Result<Option<Incident>, StoreError>;
    /// Incidents still open (new cases of their category join them).
    fn open_incidents(&mut self) -> Result<Vec<Incident>, StoreError>;
    /// The most recent incidents, newest first.
    fn recent_incidents(&mut self, limit: i64) -> Result<Vec<Incident>, StoreError>;
    /// Groups the stored active cases of `category` opened since `since` under `incident`;
    /// returns their ids.
    fn group_cases(&mut self, incident: IncidentId, category: &str, since: DateTime<Utc>) -> Result<Vec<CaseId>, StoreError>;
    /// The active cases grouped under an incident, oldest first.
    fn incident_cases(&mut self, incident: IncidentId) -> Result<Vec<CaseId>, StoreError>;
    /// Mentions of `category` received since `since` (what ended an incident is measured with).
    fn category_mentions_since(&mut self, category: &str, since: DateTime<Utc>) -> Result<u32, StoreError>;
    /// The texts of the latest mentions of `category`, newest first.
    fn category_samples(&mut self, category: &str, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Mentions received in `[from, to)`, by network and by the category of their case.
    fn digest_mentions(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<VolumeRow>, StoreError>;
    /// Cases opened in `[from, to)`, by their customer's network and their category.
    fn digest_opened(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<VolumeRow>, StoreError>;
    /// Cases opened in `[from, to)` by category.
    fn digest_opened_by_category(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<(String, u64)>, StoreError>;
    /// Cases opened in each `(from, to)` slot, by category: `(slot index, category, count)`.
    fn digest_opened_per_slot(&mut self, slots: &[(DateTime<Utc>, DateTime<Utc>)]) -> Result<Vec<(usize, String, u64)>, StoreError>;
    /// Cases active at `at`: opened before it and not resolved before it (a case resolved
    /// then and reopened since counts as active: `resolved_at` is cleared on reopening).
    fn digest_backlog(&mut self, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Cases opened in `[from, to)` whose first public reply came before `to`, with the time
    /// from opening to that reply.
    fn digest_first_responses(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<TimedCase>, StoreError>;
    /// Cases resolved in `[from, to)` (a `resolved` event in the period), with the time from
    /// opening to their last resolution in the period.
    fn digest_resolutions(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<TimedCase>, StoreError>;
    /// SLA clocks stopped in `[from, to)` as met or breached.
    fn digest_sla(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<SlaRow>, StoreError>;
    /// Surge incidents that were open at some time in `[from, to)`, oldest first.
    fn digest_incidents(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<IncidentRow>, StoreError>;
    /// Cases with an SLA breach in the period, P1 cases opened in it and cases reopened in
    /// it: the most urgent `limit` of them, and how many there are in all.
    fn digest_notable(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<(Vec<NotableRow>, u64), StoreError>;
    /// Every case opened in `[from, to)`, oldest first (the digest's CSV).
    fn digest_cases(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DigestCase>, StoreError>;
    /// Records that the period starting at `from` is posted; false when it already was (by
    /// another process, or before a restart): then nothing may be posted.
    fn record_digest(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, timezone: &str, late: bool, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Whether the period starting at `from` was posted.
    fn digest_posted(&mut self, from: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Schedules the digest timer of `[from, to)`, due at `to`, unless one is already pending
    /// for that time (a unique index makes that hold across processes). True when added.
    fn schedule_digest_timer(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The digest timers not fired yet, soonest first.
    fn pending_digest_timers(&mut self) -> Result<Vec<PendingDigest>, StoreError>;
    /// Marks these pending timers cancelled (the schedule changed).
    fn cancel_timers(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError>;
}
