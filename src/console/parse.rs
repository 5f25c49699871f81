//! Parsing slash-style commands typed in the console or a scenario script.

use crate::app::{Command, CustomerRef, QueueView};
use crate::domain::case::Owner;
use crate::domain::escalation::EscalationId;
use crate::domain::surge::IncidentId;
use crate::domain::{CaseId, Handle, Network, ParseError, Priority, Segment};

/// A console command line that could not be understood; says what to type instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("unknown command `{0}`; type /help for the list")]
    Unknown(String),
    #[error("`{command}` needs {what}; usage: {usage}")]
    Missing {
        command: &'static str,
        what: &'static str,
        usage: &'static str,
    },
    #[error("{0}")]
    Value(#[from] ParseError),
}

/// Usage lines, shown by `/help`.
pub const HELP: &str = "\
/case show #ID                    the case, its posts and its timeline
/case claim #ID                   take ownership
/case assign #ID NAME             give it to someone (senior)
/case note #ID TEXT               internal note, never sent to the customer
/case reply #ID TEXT              record the public reply you sent (no TEXT: the used suggestion's reply)
/case category #ID PLAYBOOK       re-categorise the case (audited; teaches the suggestions)
/case tag #ID TAG...              add tags
/case priority #ID P1..P4         change the priority
/case waiting #ID                 waiting on the customer
/case resolve #ID [NOTE]          resolve
/case reopen #ID                  reopen
/case escalate #ID REASON         ask the approvers for a decision (no amount)
/case offer #ID REMEDY AMOUNT [NOTE]   grant a remedy of the case's playbook; above your limits it escalates
/escalations                      open escalations, oldest deadline first
/escalation show E3               the escalation's packet
/escalation approve E3 [AMOUNT] [NOTE]   approve (an AMOUNT below the request is a partial approval)
/escalation deny E3 REASON        deny, with the reason the requester reads
/escalation ask E3 QUESTION       ask the requester; their next note or reply answers it
/incidents                        surge incidents, newest first
/incident reply I3 TEXT           record one public reply on every open case of the incident
/incident resolve I3 [NOTE]       resolve the incident and its open cases
/suggest #ID                      ranked playbook suggestions
/suggest use #ID N                use suggestion N: its playbook becomes the category, its reply the draft
/customer show @HANDLE [NETWORK]  or /customer show #ID
/customer segment @HANDLE vip|promising|standard [NETWORK]   (senior)
/queue [unassigned|mine|oldest|breaching]   work queues (breaching: SLA at risk, soonest first)
/playbook list | show ID | reload (admin)
/digest [FROM] [TO]               the digest of a period (dates YYYY-MM-DD, TO included; none: the last week)
";

fn case_arg(command: &'static str, usage: &'static str, arg: Option<&str>) -> Result<CaseId, SyntaxError> {
    let arg = arg.ok_or(SyntaxError::Missing {
        command,
        what: "a case number",
        usage,
    })?;
    Ok(CaseId::parse(arg)?)
}

fn escalation_arg(
    command: &'static str,
    usage: &'static str,
    arg: Option<&str>,
) -> Result<EscalationId, SyntaxError> {
    let arg = arg.ok_or(SyntaxError::Missing {
        command,
        what: "an escalation id",
        usage,
    })?;
    Ok(EscalationId::parse(arg)?)
}

/// A word that reads as an amount (`180`, `180.50`), not as the start of a note.
fn is_amount(word: &str) -> bool {
    let (whole, frac) = word.split_once('.').unwrap_or((word, ""));
    !whole.is_empty() && whole.chars().all(|c| c.is_ascii_digit()) && frac.chars().all(|c| c.is_ascii_digit())
}

fn rest_text(words: &[&str]) -> String {
    words.join(" ")
}

fn customer_ref(
    command: &'static str,
    usage: &'static str,
    words: &[&str],
) -> Result<CustomerRef, SyntaxError> {
    let first = words.first().ok_or(SyntaxError::Missing {
        command,
        what: "a handle or a case number",
        usage,
    })?;
    if first.starts_with('#') || first.chars().all(|c| c.is_ascii_digit()) {
        return Ok(CustomerRef::Case(CaseId::parse(first)?));
    }
    let handle = Handle::parse(first)?;
    let network = words.get(1).map(|n| Network::parse(n)).transpose()?;
    Ok(CustomerRef::Handle { network, handle })
}

/// Parses `/case claim #3`-style text into a [`Command`].
pub fn command(line: &str) -> Result<Command, SyntaxError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (head, sub) = (words.first().copied().unwrap_or(""), words.get(1).copied());
    let arg = |i: usize| words.get(i).copied();
    let after = |i: usize| {
        if words.len() > i {
            rest_text(&words[i..])
        } else {
            String::new()
        }
    };
    match (head, sub) {
        ("/case", Some("show")) => Ok(Command::Show {
            case: case_arg("/case show", "/case show #ID", arg(2))?,
        }),
        ("/case", Some("claim")) => Ok(Command::Claim {
            case: case_arg("/case claim", "/case claim #ID", arg(2))?,
        }),
        ("/case", Some("assign")) => {
            let usage = "/case assign #ID NAME";
            let case = case_arg("/case assign", usage, arg(2))?;
            let name = arg(3).ok_or(SyntaxError::Missing {
                command: "/case assign",
                what: "who to assign",
                usage,
            })?;
            let name = name.trim_start_matches('@');
            Ok(Command::Assign {
                case,
                to: Owner {
                    id: name.to_string(),
                    name: name.to_string(),
                },
            })
        }
        ("/case", Some("note")) => Ok(Command::Note {
            case: case_arg("/case note", "/case note #ID TEXT", arg(2))?,
            text: after(3),
        }),
        ("/case", Some("reply")) => Ok(Command::Reply {
            case: case_arg("/case reply", "/case reply #ID TEXT", arg(2))?,
            text: after(3),
        }),
        ("/case", Some("tag")) => {
            let usage = "/case tag #ID TAG...";
            let case = case_arg("/case tag", usage, arg(2))?;
            if words.len() < 4 {
                return Err(SyntaxError::Missing {
                    command: "/case tag",
                    what: "at least one tag",
                    usage,
                });
            }
            Ok(Command::Tag {
                case,
                tags: words[3..].iter().map(|t| t.to_string()).collect(),
            })
        }
        ("/case", Some("priority")) => {
            let usage = "/case priority #ID P1..P4";
            let case = case_arg("/case priority", usage, arg(2))?;
            let p = arg(3).ok_or(SyntaxError::Missing {
                command: "/case priority",
                what: "a priority",
                usage,
            })?;
            Ok(Command::Priority {
                case,
                priority: Priority::parse(p)?,
            })
        }
        ("/case", Some("waiting")) => Ok(Command::Waiting {
            case: case_arg("/case waiting", "/case waiting #ID", arg(2))?,
        }),
        ("/case", Some("resolve")) => {
            let case = case_arg("/case resolve", "/case resolve #ID [NOTE]", arg(2))?;
            let note = after(3);
            Ok(Command::Resolve {
                case,
                note: (!note.is_empty()).then_some(note),
            })
        }
        ("/case", Some("escalate")) => {
            let usage = "/case escalate #ID REASON";
            let case = case_arg("/case escalate", usage, arg(2))?;
            let reason = after(3);
            if reason.is_empty() {
                return Err(SyntaxError::Missing {
                    command: "/case escalate",
                    what: "a reason",
                    usage,
                });
            }
            Ok(Command::Escalate { case, reason })
        }
        ("/case", Some("offer")) => {
            let usage = "/case offer #ID REMEDY AMOUNT [NOTE]";
            let case = case_arg("/case offer", usage, arg(2))?;
            let (Some(remedy), Some(amount)) = (arg(3), arg(4)) else {
                return Err(SyntaxError::Missing {
                    command: "/case offer",
                    what: "a remedy and an amount",
                    usage,
                });
            };
            let note = after(5);
            Ok(Command::Offer {
                case,
                remedy: remedy.to_string(),
                amount: amount.to_string(),
                note: (!note.is_empty()).then_some(note),
            })
        }
        ("/escalations", _) => Ok(Command::Escalations),
        ("/incidents", _) => Ok(Command::Incidents),
        ("/incident", Some(verb @ ("reply" | "resolve"))) => {
            let usage = if verb == "reply" {
                "/incident reply I3 TEXT"
            } else {
                "/incident resolve I3 [NOTE]"
            };
            let command = if verb == "reply" {
                "/incident reply"
            } else {
                "/incident resolve"
            };
            let id = arg(2).ok_or(SyntaxError::Missing {
                command,
                what: "an incident id",
                usage,
            })?;
            let incident = IncidentId::parse(id)?;
            let text = after(3);
            if verb == "reply" {
                if text.is_empty() {
                    return Err(SyntaxError::Missing {
                        command,
                        what: "the reply",
                        usage,
                    });
                }
                Ok(Command::IncidentReply { incident, text })
            } else {
                Ok(Command::IncidentResolve {
                    incident,
                    note: (!text.is_empty()).then_some(text),
                })
            }
        }
        ("/escalation", Some("show")) => Ok(Command::EscalationShow {
            escalation: escalation_arg("/escalation show", "/escalation show E3", arg(2))?,
        }),
        ("/escalation", Some("approve")) => {
            let escalation = escalation_arg(
                "/escalation approve",
                "/escalation approve E3 [AMOUNT] [NOTE]",
                arg(2),
            )?;
            let (amount, note) = match arg(3) {
                Some(word) if is_amount(word) => (Some(word.to_string()), after(4)),
                _ => (None, after(3)),
            };
            Ok(Command::Approve {
                escalation,
                amount,
                note: (!note.is_empty()).then_some(note),
            })
        }
        ("/escalation", Some(verb @ ("deny" | "ask"))) => {
            let (command, usage, what) = if verb == "deny" {
                ("/escalation deny", "/escalation deny E3 REASON", "a reason")
            } else {
                ("/escalation ask", "/escalation ask E3 QUESTION", "a question")
            };
            let escalation = escalation_arg(command, usage, arg(2))?;
            let text = after(3);
            if text.is_empty() {
                return Err(SyntaxError::Missing { command, what, usage });
            }
            Ok(if verb == "deny" {
                Command::Deny {
                    escalation,
                    reason: text,
                }
            } else {
                Command::Ask {
                    escalation,
                    question: text,
                }
            })
        }
        ("/case", Some("reopen")) => Ok(Command::Reopen {
            case: case_arg("/case reopen", "/case reopen #ID", arg(2))?,
        }),
        ("/suggest", Some("use")) => {
            let usage = "/suggest use #ID N";
            let case = case_arg("/suggest use", usage, arg(2))?;
            let rank = arg(3)
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or(SyntaxError::Missing {
                    command: "/suggest use",
                    what: "the number of the suggestion (1, 2 or 3)",
                    usage,
                })?;
            Ok(Command::SuggestUse { case, rank })
        }
        ("/case", Some("category")) => {
            let usage = "/case category #ID PLAYBOOK";
            let case = case_arg("/case category", usage, arg(2))?;
            let playbook = arg(3).ok_or(SyntaxError::Missing {
                command: "/case category",
                what: "a playbook id (see /playbook list)",
                usage,
            })?;
            Ok(Command::Category {
                case,
                playbook: playbook.to_string(),
            })
        }
        ("/suggest", _) => Ok(Command::Suggest {
            case: case_arg("/suggest", "/suggest #ID", arg(1))?,
        }),
        ("/customer", Some("show")) => Ok(Command::CustomerShow {
            customer: customer_ref("/customer show", "/customer show @HANDLE [NETWORK]", &words[2..])?,
        }),
        ("/customer", Some("segment")) => {
            let usage = "/customer segment @HANDLE vip|promising|standard [NETWORK]";
            let handle = arg(2).ok_or(SyntaxError::Missing {
                command: "/customer segment",
                what: "a handle",
                usage,
            })?;
            let segment = arg(3).ok_or(SyntaxError::Missing {
                command: "/customer segment",
                what: "a segment",
                usage,
            })?;
            let mut who = vec![handle];
            who.extend(arg(4));
            Ok(Command::CustomerSegment {
                customer: customer_ref("/customer segment", usage, &who)?,
                segment: Segment::parse(segment)?,
            })
        }
        ("/queue", view) => {
            let view = match view.unwrap_or("unassigned") {
                "unassigned" => QueueView::Unassigned,
                "mine" => QueueView::Mine,
                "oldest" => QueueView::Oldest,
                "breaching" => QueueView::Breaching,
                other => return Err(SyntaxError::Unknown(format!("/queue {other}"))),
            };
            Ok(Command::Queue { view })
        }
        ("/playbook", Some("list")) => Ok(Command::PlaybookList),
        ("/playbook", Some("show")) => {
            let id = arg(2).ok_or(SyntaxError::Missing {
                command: "/playbook show",
                what: "a playbook id",
                usage: "/playbook show ID",
            })?;
            Ok(Command::PlaybookShow { id: id.to_string() })
        }
        ("/playbook", Some("reload")) => Ok(Command::PlaybookReload),
        ("/digest", _) => Ok(Command::Digest {
            from: arg(1).map(str::to_string),
            to: arg(2).map(str::to_string),
        }),
        _ => Err(SyntaxError::Unknown(line.trim().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_commands_parse_with_their_arguments() {
        assert_eq!(
            command("/case claim #3").unwrap(),
            Command::Claim { case: CaseId(3) }
        );
        assert_eq!(
            command("/case note 3 called the depot, car on its way").unwrap(),
            Command::Note {
                case: CaseId(3),
                text: "called the depot, car on its way".into()
            }
        );
        assert_eq!(
            command("/case priority #2 p1").unwrap(),
            Command::Priority {
                case: CaseId(2),
                priority: Priority::P1
            }
        );
        assert_eq!(
            command("/case resolve #2").unwrap(),
            Command::Resolve {
                case: CaseId(2),
                note: None
            }
        );
        assert_eq!(
            command("/queue").unwrap(),
            Command::Queue {
                view: QueueView::Unassigned
            }
        );
    }

    #[test]
    fn offers_and_decisions_parse_with_optional_amounts_and_notes() {
        assert_eq!(
            command("/case offer #1 fee_waiver 180 tyre billed anyway").unwrap(),
            Command::Offer {
                case: CaseId(1),
                remedy: "fee_waiver".into(),
                amount: "180".into(),
                note: Some("tyre billed anyway".into())
            }
        );
        assert_eq!(
            command("/escalation approve E3 150.50 good catch").unwrap(),
            Command::Approve {
                escalation: EscalationId(3),
                amount: Some("150.50".into()),
                note: Some("good catch".into())
            }
        );
        assert_eq!(
            command("/escalation approve e3 go ahead").unwrap(),
            Command::Approve {
                escalation: EscalationId(3),
                amount: None,
                note: Some("go ahead".into())
            }
        );
        assert!(command("/escalation deny E3")
            .unwrap_err()
            .to_string()
            .contains("a reason"));
        assert!(command("/case offer #1 refund")
            .unwrap_err()
            .to_string()
            .contains("AMOUNT"));
        assert_eq!(command("/escalations").unwrap(), Command::Escalations);
    }

    #[test]
    fn the_digest_takes_an_optional_period() {
        assert_eq!(
            command("/digest").unwrap(),
            Command::Digest { from: None, to: None }
        );
        assert_eq!(
            command("/digest 2026-11-23 2026-11-29").unwrap(),
            Command::Digest {
                from: Some("2026-11-23".into()),
                to: Some("2026-11-29".into())
            }
        );
    }

    #[test]
    fn a_missing_case_number_says_the_usage() {
        let err = command("/case claim").unwrap_err();
        assert!(err.to_string().contains("/case claim #ID"), "{err}");
        assert!(matches!(command("/case claim abc"), Err(SyntaxError::Value(_))));
        assert!(matches!(command("/dance"), Err(SyntaxError::Unknown(_))));
    }

    #[test]
    fn customers_are_found_by_handle_or_case() {
        assert_eq!(
            command("/customer show @Dana twitter").unwrap(),
            Command::CustomerShow {
                customer: CustomerRef::Handle {
                    network: Some(Network::parse("twitter").unwrap()),
                    handle: Handle::parse("dana").unwrap()
                }
            }
        );
        assert_eq!(
            command("/customer segment @dana vip").unwrap(),
            Command::CustomerSegment {
                customer: CustomerRef::Handle {
                    network: None,
                    handle: Handle::parse("dana").unwrap()
                },
                segment: Segment::Vip
            }
        );
        assert_eq!(
            command("/customer show #4").unwrap(),
            Command::CustomerShow {
                customer: CustomerRef::Case(CaseId(4))
            }
        );
    }
}
