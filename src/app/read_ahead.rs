//! Ranking an import's mentions ahead of placing them: the playbook ranking of a post (language,
//! triggers, similarity) depends on its text, not on the database, so an import works it out
//! for the next batch on another thread while the current batch is written.

use std::sync::Arc;

use super::Engine;
use crate::domain::feed::Mention;
use crate::domain::playbook::{PlaybookMatch, PlaybookSet};
use crate::domain::Segment;

/// The segment a ranking ahead assumes: every customer's until a command changes it.
const ASSUMED_SEGMENT: Segment = Segment::Standard;

/// Ranks mentions with the playbook set in force when it was made; `Send`, for another thread.
pub struct Ranker {
    playbooks: Arc<PlaybookSet>,
    /// As many as a new case's card shows (a mention that joins a case uses the first).
    limit: usize,
}

/// The rankings of a batch of mentions, in its order.
pub struct Rankings {
    playbooks: Arc<PlaybookSet>,
    ranked: Vec<Option<Vec<PlaybookMatch>>>,
}

impl Engine {
    /// A ranker with the playbook set in force now.
    pub fn ranker(&self) -> Ranker {
        Ranker {
            playbooks: self.playbooks(),
            limit: self.settings.suggestions_on_card.max(1),
        }
    }
}

impl Ranker {
    /// Ranks each mention as placing it would, for a customer of the assumed segment.
    pub fn rank(&self, mentions: &[Mention]) -> Rankings {
        let ranked = mentions
            .iter()
            .map(|m| {
                Some(
                    self.playbooks
                        .classify_top(&m.text, &m.network, ASSUMED_SEGMENT, self.limit),
                )
            })
            .collect();
        Rankings {
            playbooks: self.playbooks.clone(),
            ranked,
        }
    }
}

impl Rankings {
    /// The first `limit` playbooks of mention `i`'s ranking, taken out, if the ranking still
    /// holds: made with `playbooks`, and for `segment` unless no playbook limits itself to
    /// segments. Otherwise (and the second time) none: the caller ranks the mention itself.
    pub(super) fn take(
        &mut self,
        i: usize,
        playbooks: &Arc<PlaybookSet>,
        segment: Segment,
        limit: usize,
    ) -> Option<Vec<PlaybookMatch>> {
        let holds = Arc::ptr_eq(&self.playbooks, playbooks)
            && (segment == ASSUMED_SEGMENT || !playbooks.limits_segments());
        let mut matches = self.ranked.get_mut(i)?.take().filter(|_| holds)?;
        // A ranking's first `limit` are the ranking with that limit: the order is total.
        matches.truncate(limit);
        Some(matches)
    }
}
