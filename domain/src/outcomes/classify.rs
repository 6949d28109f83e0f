//! The classification table: what an answer about one message means, whether it came as an
//! SMTP reply or a DSN's `Status:` field. (A feedback report, ARF, carries no status code:
//! it is a complaint, recorded by the same `outcomes::record`.)
//!
//! The enhanced status code (RFC 3463) decides: its subject says what went wrong
//! ([`STATUS_TABLE`]), its class whether the server meant it for good (5) or for now (4).
//! Only an addressing failure (`x.1.x`) is the address's fault and suppresses it; a full
//! or disabled mailbox (`x.2.x`) is a soft bounce, retried, and suppressed only when it
//! repeats across campaigns; everything else — policy, protocol, the mail system, the
//! network, the content — blames the sending, not the address: **blocked**. A reply
//! without an enhanced code (or with the undefined `x.0.x`) falls back to
//! [`REPLY_TABLE`], by reply code and text. A refusal that blames our own setup (the relay
//! wants a login, or will not relay for us) is never the address's fault whatever its
//! code: it is blocked and retried, so a fixed configuration delivers the message.

use super::status::EnhancedStatus;

/// What an answer means for the recipient's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerClass {
    /// The address does not exist: it is suppressed.
    HardBounce,
    /// The mailbox cannot take mail now (full, disabled, over a size limit): the address
    /// stays; repeated soft bounces across campaigns suppress it.
    SoftBounce,
    /// The sending was refused, not the address (policy, authentication, reputation,
    /// protocol, a mail system or network failure): nothing is suppressed, and these
    /// answers count toward pausing the campaign.
    Blocked,
}

impl AnswerClass {
    pub const ALL: [AnswerClass; 3] = [Self::HardBounce, Self::SoftBounce, Self::Blocked];

    /// The stored name (a message's `outcome_class`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HardBounce => "hard_bounce",
            Self::SoftBounce => "soft_bounce",
            Self::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The short name reports and events use: `hard`, `soft` or `blocked`.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::HardBounce => "hard",
            Self::SoftBounce => "soft",
            Self::Blocked => "blocked",
        }
    }
}

/// What to do about an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub class: AnswerClass,
    /// Deliver again later (up to the last attempt); otherwise the message is closed now.
    /// Only an SMTP answer can be retried: a report comes after the relay took the message.
    pub retry: bool,
}

const fn rule(class: AnswerClass, retry: bool) -> Classification {
    Classification { class, retry }
}

const HARD: Classification = rule(AnswerClass::HardBounce, false);
const SOFT_RETRIED: Classification = rule(AnswerClass::SoftBounce, true);
const BLOCKED: Classification = rule(AnswerClass::Blocked, false);
const BLOCKED_RETRIED: Classification = rule(AnswerClass::Blocked, true);

/// No answer at all: the relay could not be reached, the session failed (TLS, login) or
/// timed out, or the relay refused our sender. Blocked, retried.
pub const NO_ANSWER: Classification = BLOCKED_RETRIED;

/// One row of [`STATUS_TABLE`].
#[derive(Debug, Clone, Copy)]
pub struct StatusRule {
    /// The codes, as RFC 3463 writes them (`x.1.x`: either class, any detail).
    pub codes: &'static str,
    pub subject: u16,
    /// `None`: any detail of the subject.
    pub detail: Option<u16>,
    pub meaning: &'static str,
    /// For a permanent code (5.x.x).
    pub permanent: Classification,
    /// For a transient code (4.x.x): always retried.
    pub transient: Classification,
}

/// Enhanced status codes, most specific first. `x.0.x` and subjects RFC 3463 does not
/// define are not here: such answers are read by [`REPLY_TABLE`].
pub static STATUS_TABLE: [StatusRule; 9] = [
    StatusRule {
        codes: "x.1.7",
        subject: 1,
        detail: Some(7),
        meaning: "the sender's address is malformed",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
    StatusRule {
        codes: "x.1.8",
        subject: 1,
        detail: Some(8),
        meaning: "the sender's domain is refused",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
    StatusRule {
        codes: "x.1.x",
        subject: 1,
        detail: None,
        meaning: "addressing: unknown user (5.1.1), bad domain (5.1.2), bad syntax (5.1.3), moved (5.1.6), null MX (5.1.10)",
        permanent: HARD,
        transient: SOFT_RETRIED,
    },
    StatusRule {
        codes: "x.2.x",
        subject: 2,
        detail: None,
        meaning: "mailbox state: disabled (5.2.1), full (5.2.2), message too big for it (5.2.3)",
        permanent: SOFT_RETRIED,
        transient: SOFT_RETRIED,
    },
    StatusRule {
        codes: "x.3.x",
        subject: 3,
        detail: None,
        meaning: "the receiving mail system: full, not accepting mail, message too big",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
    StatusRule {
        codes: "x.4.x",
        subject: 4,
        detail: None,
        meaning: "network and routing: no answer, unable to route, loops, expired",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
    StatusRule {
        codes: "x.5.x",
        subject: 5,
        detail: None,
        meaning: "the mail protocol: command or HELO rejected (5.5.2), too many recipients",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
    StatusRule {
        codes: "x.6.x",
        subject: 6,
        detail: None,
        meaning: "the message content: media or conversion not supported",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
    StatusRule {
        codes: "x.7.x",
        subject: 7,
        detail: None,
        meaning: "security and policy: refused by policy (5.7.1), SPF, DKIM or DMARC failure (5.7.23–5.7.27), blocklists, greylisting (4.7.1)",
        permanent: BLOCKED,
        transient: BLOCKED_RETRIED,
    },
];

/// One row of [`REPLY_TABLE`].
#[derive(Debug, Clone, Copy)]
pub struct ReplyRule {
    /// The reply codes it covers, as the documentation shows them.
    pub replies: &'static str,
    /// The text it looks for, as the documentation shows it (empty: any text).
    pub text: &'static str,
    pub meaning: &'static str,
    pub classification: Classification,
    matches: fn(Reply<'_>) -> bool,
}

/// A reply code (absent when a report gives none) with its text, lower-cased.
#[derive(Debug, Clone, Copy)]
struct Reply<'a> {
    code: Option<u16>,
    /// 4 or 5: from the code, or else from the report's status class.
    class: u8,
    text: &'a str,
}

const OUR_SETUP: [&str; 6] = [
    "relay access denied",
    "relaying denied",
    "unable to relay",
    "relay not permitted",
    "relaying not allowed",
    "authentication required",
];
const MAILBOX_FULL: [&str; 7] = [
    "mailbox full",
    "mailbox is full",
    "over quota",
    "quota exceeded",
    "exceeds quota",
    "exceeded storage allocation",
    "mailbox size limit",
];
const UNKNOWN_USER: [&str; 12] = [
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "does not exist",
    "doesn't exist",
    "unknown recipient",
    "recipient unknown",
    "invalid recipient",
    "invalid mailbox",
    "mailbox unavailable",
    "mailbox not found",
];

fn says_any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|phrase| text.contains(phrase))
}

/// Replies without an enhanced code (or with `x.0.x`), first match wins. The first row
/// also applies before [`STATUS_TABLE`], to every reply.
pub static REPLY_TABLE: [ReplyRule; 8] = [
    ReplyRule {
        replies: "530, 535, or any",
        text: "relay access denied, relaying denied, unable to relay, relay not permitted, relaying not allowed, authentication required",
        meaning: "the relay refuses us, not the address: a login is needed or it will not relay for us",
        classification: BLOCKED_RETRIED,
        matches: |r| matches!(r.code, Some(530 | 535)) || says_any(r.text, &OUR_SETUP),
    },
    ReplyRule {
        replies: "4xx, 5xx",
        text: "mailbox full, mailbox is full, over quota, quota exceeded, exceeds quota, exceeded storage allocation, mailbox size limit",
        meaning: "the mailbox is full",
        classification: SOFT_RETRIED,
        matches: |r| says_any(r.text, &MAILBOX_FULL),
    },
    ReplyRule {
        replies: "552",
        text: "",
        meaning: "exceeded storage allocation (RFC 5321)",
        classification: SOFT_RETRIED,
        matches: |r| r.code == Some(552),
    },
    ReplyRule {
        replies: "5xx",
        text: "user unknown, unknown user, no such user, no such mailbox, does not exist, doesn't exist, unknown recipient, recipient unknown, invalid recipient, invalid mailbox, mailbox unavailable, mailbox not found",
        meaning: "the address does not exist",
        classification: HARD,
        matches: |r| r.class == 5 && says_any(r.text, &UNKNOWN_USER),
    },
    ReplyRule {
        replies: "551",
        text: "",
        meaning: "user not local (RFC 5321)",
        classification: HARD,
        matches: |r| r.code == Some(551),
    },
    ReplyRule {
        replies: "521, 556",
        text: "",
        meaning: "the domain accepts no mail (RFC 7504)",
        classification: HARD,
        matches: |r| matches!(r.code, Some(521 | 556)),
    },
    ReplyRule {
        replies: "4xx",
        text: "",
        meaning: "any other temporary failure",
        classification: BLOCKED_RETRIED,
        matches: |r| r.class == 4,
    },
    ReplyRule {
        replies: "5xx",
        text: "",
        meaning: "any other permanent failure (550 without a known text, 554, 5xx protocol errors)",
        classification: BLOCKED,
        matches: |_| true,
    },
];

/// The row of [`STATUS_TABLE`] for a code, if any.
pub fn status_rule(status: EnhancedStatus) -> Option<&'static StatusRule> {
    STATUS_TABLE.iter().find(|rule| {
        rule.subject == status.subject && rule.detail.is_none_or(|detail| detail == status.detail)
    })
}

fn by_status(status: EnhancedStatus) -> Option<Classification> {
    let rule = status_rule(status)?;
    match status.class {
        5 => Some(rule.permanent),
        4 => Some(rule.transient),
        _ => None,
    }
}

fn by_reply(reply: Reply<'_>) -> Classification {
    REPLY_TABLE
        .iter()
        .find(|rule| (rule.matches)(reply))
        .map_or(BLOCKED, |rule| rule.classification)
}

/// Classifies a refusal from an SMTP server: its reply code and text (which usually
/// starts with an enhanced code, `5.1.1 <x@example.net>: Recipient address rejected`).
pub fn classify_reply(code: u16, text: &str) -> Classification {
    let lower = text.to_ascii_lowercase();
    let reply = Reply {
        code: Some(code),
        class: if code / 100 == 4 { 4 } else { 5 },
        text: &lower,
    };
    if (REPLY_TABLE[0].matches)(reply) {
        return REPLY_TABLE[0].classification;
    }
    EnhancedStatus::find_in(text)
        .and_then(by_status)
        .unwrap_or_else(|| by_reply(reply))
}

/// Classifies a report's answer: a DSN entry's `Status:` and `Diagnostic-Code:`
/// (`smtp; 550 5.1.1 …`), which decides when the status is undefined (`x.0.x`).
pub fn classify_report(status: EnhancedStatus, diagnostic: Option<&str>) -> Classification {
    if let Some(classification) = by_status(status) {
        return classification;
    }
    let text = diagnostic.unwrap_or_default().to_ascii_lowercase();
    by_reply(Reply {
        code: reply_code_in(&text),
        class: if status.class == 4 { 4 } else { 5 },
        text: &text,
    })
}

/// The reply code a diagnostic quotes: `smtp; 550 user unknown` → 550.
fn reply_code_in(diagnostic: &str) -> Option<u16> {
    let reply = diagnostic.split_once(';').map_or(diagnostic, |(_, r)| r);
    let code = reply.trim_start().get(..3)?;
    let code: u16 = code.parse().ok()?;
    (400..600).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnswerClass::{Blocked, HardBounce, SoftBounce};

    fn reply(code: u16, text: &str) -> (AnswerClass, bool) {
        let c = classify_reply(code, text);
        (c.class, c.retry)
    }

    fn report(status: &str, diagnostic: Option<&str>) -> (AnswerClass, bool) {
        let c = classify_report(EnhancedStatus::parse(status).unwrap(), diagnostic);
        (c.class, c.retry)
    }

    #[test]
    fn sender_address_codes_blame_the_sending_not_the_recipient() {
        assert_eq!(
            reply(553, "5.1.7 bad sender mailbox syntax"),
            (Blocked, false)
        );
        assert_eq!(reply(451, "4.1.7 sender syntax"), (Blocked, true));
        assert_eq!(
            reply(
                550,
                "5.1.8 <bounces@x>: Sender address rejected: Domain not found"
            ),
            (Blocked, false)
        );
        assert_eq!(reply(450, "4.1.8 sender domain not found"), (Blocked, true));
    }

    #[test]
    fn addressing_failures_are_hard_bounces_and_temporary_ones_soft() {
        for code in ["5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.1.0"] {
            assert_eq!(
                reply(550, &format!("{code} no")),
                (HardBounce, false),
                "{code}"
            );
        }
        assert_eq!(
            reply(450, "4.1.1 recipient verification failed, try later"),
            (SoftBounce, true)
        );
    }

    #[test]
    fn mailbox_states_are_soft_bounces_and_retried() {
        assert_eq!(
            reply(
                552,
                "5.2.2 <full@inbox.test>: Recipient address rejected: Mailbox full"
            ),
            (SoftBounce, true)
        );
        assert_eq!(
            reply(
                550,
                "5.2.1 The email account that you tried to reach is disabled"
            ),
            (SoftBounce, true)
        );
        assert_eq!(reply(452, "4.2.2 over quota"), (SoftBounce, true));
    }

    #[test]
    fn system_network_protocol_content_and_policy_answers_are_blocked() {
        // The relay's HELO policy, the answer that once suppressed a whole list.
        assert_eq!(
            reply(
                504,
                "5.5.2 <vm>: Helo command rejected: need fully-qualified hostname"
            ),
            (Blocked, false)
        );
        assert_eq!(
            reply(
                550,
                "5.7.1 <a@inbox.test>: Recipient address rejected: blocked by policy"
            ),
            (Blocked, false)
        );
        assert_eq!(
            reply(
                550,
                "5.7.26 Unauthenticated email is not accepted due to DMARC policy"
            ),
            (Blocked, false)
        );
        assert_eq!(
            reply(
                554,
                "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
            ),
            (Blocked, false)
        );
        assert_eq!(
            reply(450, "4.7.1 greylisted, try again in 5 minutes"),
            (Blocked, true)
        );
        assert_eq!(
            reply(554, "5.3.4 message too big for system"),
            (Blocked, false)
        );
        assert_eq!(reply(451, "4.3.0 try again later"), (Blocked, true));
        assert_eq!(reply(554, "5.4.4 unable to route"), (Blocked, false));
        assert_eq!(reply(421, "4.4.2 connection dropped"), (Blocked, true));
        assert_eq!(reply(554, "5.6.1 media not supported"), (Blocked, false));
        assert_eq!(reply(452, "4.5.3 too many recipients"), (Blocked, true));
    }

    #[test]
    fn a_relay_refusing_us_is_blocked_and_retried_whatever_its_code() {
        assert_eq!(reply(530, "5.7.0 Authentication required"), (Blocked, true));
        assert_eq!(reply(535, "5.7.8 bad credentials"), (Blocked, true));
        assert_eq!(
            reply(554, "5.7.1 <a@example.com>: Relay access denied"),
            (Blocked, true)
        );
        assert_eq!(
            reply(
                550,
                "5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
            ),
            (Blocked, true)
        );
        assert_eq!(reply(554, "5.7.1 rejected as spam"), (Blocked, false));
    }

    #[test]
    fn replies_without_an_enhanced_code_fall_back_to_the_reply_table() {
        assert_eq!(reply(550, "mailbox full"), (SoftBounce, true));
        assert_eq!(reply(452, "Mailbox is full, try later"), (SoftBounce, true));
        assert_eq!(
            reply(552, "Requested mail action aborted"),
            (SoftBounce, true)
        );
        assert_eq!(reply(550, "No such user here"), (HardBounce, false));
        assert_eq!(
            reply(553, "sorry, mailbox name not allowed: user unknown"),
            (HardBounce, false)
        );
        assert_eq!(
            reply(551, "User not local; please try <x@y>"),
            (HardBounce, false)
        );
        assert_eq!(reply(521, "Host does not accept mail"), (HardBounce, false));
        assert_eq!(
            reply(556, "Domain does not accept mail"),
            (HardBounce, false)
        );
        assert_eq!(
            reply(450, "Requested mail action not taken"),
            (Blocked, true)
        );
        assert_eq!(
            reply(421, "Service not available, closing channel"),
            (Blocked, true)
        );
        assert_eq!(reply(550, "Message rejected"), (Blocked, false));
        assert_eq!(reply(554, "Transaction failed"), (Blocked, false));
        // x.0.x is "other or undefined": the text decides.
        assert_eq!(reply(550, "5.0.0 <x@y>: User unknown"), (HardBounce, false));
        assert_eq!(reply(550, "5.0.0 rejected"), (Blocked, false));
        // qmail writes the code at the end.
        assert_eq!(
            reply(
                553,
                "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
            ),
            (Blocked, false)
        );
    }

    #[test]
    fn no_answer_is_blocked_and_retried() {
        assert_eq!((NO_ANSWER.class, NO_ANSWER.retry), (Blocked, true));
    }

    #[test]
    fn reports_are_classified_by_their_status_then_by_their_diagnostic() {
        assert_eq!(
            report("5.1.1", Some("smtp; 550 5.1.1 user unknown")),
            (HardBounce, false)
        );
        assert_eq!(
            report("5.2.2", Some("smtp; 552 5.2.2 Mailbox full")),
            (SoftBounce, true)
        );
        assert_eq!(report("5.7.26", None), (Blocked, false));
        assert_eq!(
            report("4.4.7", Some("X-Postfix; delivery temporarily suspended")),
            (Blocked, true)
        );
        assert_eq!(
            report("5.0.0", Some("smtp; 550 user unknown")),
            (HardBounce, false)
        );
        assert_eq!(
            report("5.0.0", Some("smtp; 552 Requested action aborted")),
            (SoftBounce, true)
        );
        assert_eq!(
            report("5.0.0", Some("X-Postfix; host said: go away")),
            (Blocked, false)
        );
        assert_eq!(report("5.0.0", None), (Blocked, false));
        assert_eq!(report("4.0.0", None), (Blocked, true));
        assert_eq!(reply_code_in("smtp; 550-5.1.1 the"), Some(550));
        assert_eq!(reply_code_in("x-postfix; unknown user"), None);
    }

    #[test]
    fn each_status_row_decides_a_permanent_and_a_transient_code_alike_in_replies_and_reports() {
        // Per row of STATUS_TABLE, in order: a 5.x.x and a 4.x.x code it covers, and what
        // each means.
        let rows = [
            ("5.1.7", (Blocked, false), "4.1.7", (Blocked, true)),
            ("5.1.8", (Blocked, false), "4.1.8", (Blocked, true)),
            ("5.1.1", (HardBounce, false), "4.1.1", (SoftBounce, true)),
            ("5.2.2", (SoftBounce, true), "4.2.2", (SoftBounce, true)),
            ("5.3.4", (Blocked, false), "4.3.1", (Blocked, true)),
            ("5.4.4", (Blocked, false), "4.4.7", (Blocked, true)),
            ("5.5.2", (Blocked, false), "4.5.3", (Blocked, true)),
            ("5.6.1", (Blocked, false), "4.6.5", (Blocked, true)),
            ("5.7.1", (Blocked, false), "4.7.1", (Blocked, true)),
        ];
        assert_eq!(rows.len(), STATUS_TABLE.len());
        for (rule, (permanent, on_permanent, transient, on_transient)) in
            STATUS_TABLE.iter().zip(rows)
        {
            for (code, expected, reply_code) in [
                (permanent, on_permanent, 550),
                (transient, on_transient, 450),
            ] {
                let status = EnhancedStatus::parse(code).unwrap();
                assert!(std::ptr::eq(status_rule(status).unwrap(), rule), "{code}");
                assert_eq!(
                    reply(reply_code, &format!("{code} refused")),
                    expected,
                    "{code}"
                );
                assert_eq!(report(code, None), expected, "{code}");
            }
        }
    }

    #[test]
    fn every_row_of_both_tables_is_reachable() {
        // Each status row is the first to match one of its own codes.
        for rule in &STATUS_TABLE {
            let status = EnhancedStatus {
                class: 5,
                subject: rule.subject,
                detail: rule.detail.unwrap_or(99),
            };
            assert!(
                std::ptr::eq(status_rule(status).unwrap(), rule),
                "{}",
                rule.codes
            );
        }
        assert!(status_rule(EnhancedStatus::parse("5.0.0").unwrap()).is_none());
        assert!(status_rule(EnhancedStatus::parse("5.9.1").unwrap()).is_none());
        // Each reply row is the first to match one reply.
        let examples = [
            (Some(530), 5, "x"),
            (Some(550), 5, "mailbox full"),
            (Some(552), 5, "x"),
            (Some(550), 5, "user unknown"),
            (Some(551), 5, "x"),
            (Some(556), 5, "x"),
            (Some(450), 4, "x"),
            (Some(554), 5, "x"),
        ];
        for (rule, (code, class, text)) in REPLY_TABLE.iter().zip(examples) {
            let reply = Reply { code, class, text };
            let first = REPLY_TABLE.iter().find(|r| (r.matches)(reply)).unwrap();
            assert!(
                std::ptr::eq(first, rule),
                "{}: {}",
                rule.replies,
                rule.meaning
            );
        }
    }

    /// A table row as the documentation writes it.
    fn row(cells: &[&str]) -> String {
        let cells: Vec<String> = cells
            .iter()
            .map(|c| {
                if c.is_empty() {
                    " ".into()
                } else {
                    format!(" {c} ")
                }
            })
            .collect();
        format!("|{}|", cells.join("|"))
    }

    fn outcome(c: Classification) -> &'static str {
        match (c.class, c.retry) {
            (HardBounce, false) => "hard bounce, suppressed",
            (SoftBounce, true) => "soft bounce, retried",
            (Blocked, false) => "blocked, failed",
            (Blocked, true) => "blocked, retried",
            other => panic!("no documented outcome for {other:?}"),
        }
    }

    fn status_rows() -> Vec<String> {
        STATUS_TABLE
            .iter()
            .map(|rule| {
                let codes = format!("`{}`", rule.codes);
                row(&[
                    &codes,
                    rule.meaning,
                    outcome(rule.permanent),
                    outcome(rule.transient),
                ])
            })
            .collect()
    }

    #[test]
    fn the_readme_lists_the_table_as_it_is() {
        let readme = include_str!("../../../README.md");
        for line in status_rows() {
            assert!(readme.contains(&line), "README.md lacks\n{line}");
        }
    }

    #[test]
    fn the_documentation_lists_both_tables_as_they_are() {
        let docs = include_str!("../../../docs/sending.md");
        for line in status_rows() {
            assert!(docs.contains(&line), "docs/sending.md lacks\n{line}");
        }
        for rule in &REPLY_TABLE {
            let line = row(&[
                rule.replies,
                rule.text,
                rule.meaning,
                outcome(rule.classification),
            ]);
            assert!(docs.contains(&line), "docs/sending.md lacks\n{line}");
        }
    }

    #[test]
    fn class_names_round_trip() {
        for class in AnswerClass::ALL {
            assert_eq!(AnswerClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(AnswerClass::parse("hard"), None);
    }
}
