//! The pure core: no Discord, no SQL, no clock (`now` is always a parameter).

pub mod case;
pub mod digest;
pub mod escalation;
pub mod feed;
pub mod friction;
pub mod offer;
pub mod playbook;
pub mod similarity;
pub mod sla;
pub mod surge;
pub mod triage;
pub mod types;

pub use types::{CaseId, Handle, Money, Network, ParseError, Priority, Role, Segment};
