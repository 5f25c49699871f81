//! Triage: priority from keyword rules, customer segment and reach.
