//! Forgetting a customer on request: their personal data is erased in one transaction (see
//! `Tx::erase_customer`), the bot's case cards about them are edited to say the content was
//! removed, and each case's timeline records the erasure without any personal data. Counts,
//! statuses and times stay, so digests keep their numbers.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::outbox::Outgoing;
use super::{Actor, CommandError, CustomerRef, Engine};
use crate::domain::case::Customer;
use crate::domain::{CaseId, Role};
use crate::store::Tx;

/// What was erased (no personal data: it is printed and returned to the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// The customer's id and the pseudonym that replaced their handle.
    pub customer: i64,
    pub pseudonym: String,
    pub cases: Vec<CaseId>,
    pub mentions: i64,
    /// Case cards queued for an edit that says the content was removed.
    pub cards_edited: usize,
    /// Messages about them not yet delivered, dropped.
    pub undelivered_dropped: i64,
}

impl Engine {
    /// `customers forget` / `/customer forget`: admins only.
    pub async fn forget_customer(
        &self,
        actor: &Actor,
        who: &CustomerRef,
        now: DateTime<Utc>,
    ) -> Result<Forgotten, CommandError> {
        if !actor.may(Role::Admin) {
            return Err(CommandError::NotAllowed {
                command: "customer forget",
                needs: Role::Admin,
            });
        }
        let mut tx = self.store.begin().await?;
        let customer = self.find_customer(&mut tx, who).await?;
        self.erase(actor, customer, tx, now).await
    }

    /// The customer `who` names, for a confirmation before forgetting them (admins only).
    pub async fn customer_to_forget(
        &self,
        actor: &Actor,
        who: &CustomerRef,
    ) -> Result<Customer, CommandError> {
        if !actor.may(Role::Admin) {
            return Err(CommandError::NotAllowed {
                command: "customer forget",
                needs: Role::Admin,
            });
        }
        let mut tx = self.store.read().await?;
        self.find_customer(&mut tx, who).await
    }

    /// [`Engine::forget_customer`] by the customer's id (the confirmation button's).
    pub async fn forget_customer_id(
        &self,
        actor: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Forgotten, CommandError> {
        if !actor.may(Role::Admin) {
            return Err(CommandError::NotAllowed {
                command: "customer forget",
                needs: Role::Admin,
            });
        }
        let mut tx = self.store.begin().await?;
        let customer = tx
            .customer(id)
            .await?
            .ok_or_else(|| CommandError::UnknownCustomer(format!("with id {id}")))?;
        if customer.handle.as_str().starts_with("forgotten-") {
            return Err(CommandError::UnknownCustomer(format!(
                "{} (already forgotten)",
                customer.handle
            )));
        }
        self.erase(actor, customer, tx, now).await
    }

    async fn erase(
        &self,
        actor: &Actor,
        customer: Customer,
        mut tx: Tx,
        now: DateTime<Utc>,
    ) -> Result<Forgotten, CommandError> {
        let pseudonym = format!("forgotten-{}", customer.id);
        let erased = tx.erase_customer(customer.id, &pseudonym).await?;
        let mut cards_edited = 0;
        for &id in &erased.cases {
            let Some(case) = tx.case(id).await? else { continue };
            tx.append_event(
                id,
                now,
                &actor.name,
                "erased",
                &serde_json::json!({ "by": actor.name, "mentions": erased.mentions }),
            )
            .await?;
            if case.card_ref.is_some() {
                // Rendered when delivered: from the erased case, without the post.
                self.enqueue(&mut tx, &Outgoing::UpdateCard { case_id: id }, now)
                    .await?;
                cards_edited += 1;
            }
        }
        tx.commit().await?;
        tracing::info!(
            customer = customer.id,
            cases = erased.cases.len(),
            "customer forgotten"
        );
        Ok(Forgotten {
            customer: customer.id,
            pseudonym,
            cases: erased.cases,
            mentions: erased.mentions,
            cards_edited,
            undelivered_dropped: erased.undelivered_dropped,
        })
    }
}
