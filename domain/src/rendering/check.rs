//! A transactional send's render check: every recipient's message renders, within the
//! request's [`RenderBudget`], before anything is queued.
//!
//! The check costs what the send will cost: a part that reads `contact` is rendered for
//! each recipient; a part that does not renders the same for all of them, so it is rendered
//! once (once per request, when several messages share it) and charged to the budget once
//! per recipient — the workers will render it that many times.

use std::collections::HashMap;

use minijinja::Value;
use minijinja::value::Serde;
use sha2::{Digest, Sha256};

use super::budget::{RenderBudget, RenderFailure};
use super::context::{ContactVars, RenderContext};
use super::render::run;
use super::templates::{RenderLimits, TemplateSource, compiled};

/// One message to check: its templates, the context its recipients share (the `contact`
/// is filled in per recipient), and the recipients.
pub struct RenderCheck<'a> {
    pub template: &'a TemplateSource,
    pub shared: &'a RenderContext,
    pub recipients: &'a [ContactVars],
}

/// The recipient (by index) whose render failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    pub recipient: usize,
    pub failure: RenderFailure,
}

/// The fuel of parts already rendered in this request that read no recipient data, by a
/// digest of the part's source and its context: another message with the same part and
/// variables costs the same without rendering it again.
#[derive(Default)]
pub struct SharedRenders(HashMap<[u8; 32], u64>);

impl SharedRenders {
    fn key(part: &str, source: &str, shared: &RenderContext) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(part.as_bytes());
        hasher.update([0]);
        hasher.update((source.len() as u64).to_le_bytes());
        hasher.update(source.as_bytes());
        // Serialising a map of JSON values cannot fail; an empty context is still a key.
        hasher.update(serde_json::to_vec(shared).unwrap_or_default());
        hasher.finalize().into()
    }
}

/// Renders each part of `check.template` for each recipient (or once, for a part that
/// reads no recipient data), charging `budget`.
pub fn check_renders(
    check: &RenderCheck<'_>,
    limits: &RenderLimits,
    budget: &mut RenderBudget,
    shared: &mut SharedRenders,
) -> Result<(), CheckFailure> {
    let fail = |recipient: usize| move |failure: RenderFailure| CheckFailure { recipient, failure };
    let Some(first) = check.recipients.first() else {
        return Ok(());
    };
    let templates = compiled(check.template, limits).map_err(|e| fail(0)(e.into()))?;
    let context_for = |contact: &ContactVars| {
        let mut ctx = check.shared.clone();
        ctx.contact = contact.clone();
        Value::from(Serde(ctx))
    };
    for part in templates.parts() {
        if templates.reads_contact(part) {
            for (i, contact) in check.recipients.iter().enumerate() {
                run(&templates, part, &context_for(contact), limits, budget).map_err(fail(i))?;
            }
            continue;
        }
        let source = match part {
            super::templates::SUBJECT => check.template.subject.as_str(),
            super::templates::HTML => check.template.html.as_str(),
            _ => check.template.text.as_deref().unwrap_or_default(),
        };
        let key = SharedRenders::key(part, source, check.shared);
        let (fuel, charged) = match shared.0.get(&key) {
            Some(&fuel) => (fuel, 0),
            None => {
                let (_, fuel) =
                    run(&templates, part, &context_for(first), limits, budget).map_err(fail(0))?;
                shared.0.insert(key, fuel);
                (fuel, 1)
            }
        };
        for i in charged..check.recipients.len() {
            budget
                .charge(part, fuel)
                .map_err(|e| fail(i)(RenderFailure::Budget(e)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rendering::budget::BudgetSpent;

    fn recipients(n: usize) -> Vec<ContactVars> {
        (0..n)
            .map(|i| ContactVars {
                email: format!("r{i}@example.com"),
                ..ContactVars::default()
            })
            .collect()
    }

    fn source(html: &str) -> TemplateSource {
        TemplateSource {
            subject: "Order".into(),
            html: html.into(),
            text: None,
        }
    }

    /// A loop that burns about `n` × a few fuel units.
    fn busy(n: u32, per_recipient: bool) -> String {
        let body = if per_recipient {
            "{{ contact.email|length }}"
        } else {
            "{{ i }}"
        };
        format!("{{% for i in range({n}) %}}{body}{{% endfor %}}")
    }

    fn check(
        template: &TemplateSource,
        n: usize,
        budget: &mut RenderBudget,
        shared: &mut SharedRenders,
    ) -> Result<(), CheckFailure> {
        let ctx = RenderContext::default();
        check_renders(
            &RenderCheck {
                template,
                shared: &ctx,
                recipients: &recipients(n),
            },
            &RenderLimits::default(),
            budget,
            shared,
        )
    }

    #[test]
    fn a_heavy_template_for_many_recipients_runs_out_of_the_requests_fuel() {
        let template = source(&busy(5_000, true));
        let mut budget = RenderBudget::new(100_000, Duration::from_secs(600));
        let err = check(&template, 50, &mut budget, &mut SharedRenders::default()).unwrap_err();
        assert!(err.recipient > 0 && err.recipient < 50, "{err:?}");
        assert!(matches!(
            err.failure,
            RenderFailure::Budget(ref e) if e.part == "html" && e.spent == BudgetSpent::Fuel { budget: 100_000 }
        ));
    }

    #[test]
    fn a_part_without_recipient_data_renders_once_but_is_charged_per_recipient() {
        let template = source(&busy(5_000, false));
        let mut one = RenderBudget::unlimited();
        check(&template, 1, &mut one, &mut SharedRenders::default()).unwrap();
        let single = one.spent();

        let mut many = RenderBudget::unlimited();
        let mut shared = SharedRenders::default();
        check(&template, 40, &mut many, &mut shared).unwrap();
        assert_eq!(many.spent(), single * 40);
        // The same part again in another message of the request: charged, not rendered.
        check(&template, 10, &mut many, &mut shared).unwrap();
        assert_eq!(many.spent(), single * 50);

        // The subject costs next to nothing; the loop's part runs out at the fourth recipient.
        let mut small = RenderBudget::new(single * 7 / 2, Duration::from_secs(600));
        let err = check(&template, 40, &mut small, &mut SharedRenders::default()).unwrap_err();
        assert_eq!(err.recipient, 3, "{err:?}");
    }

    #[test]
    fn a_broken_template_names_the_recipient_it_broke_for() {
        let template = source("{% if contact.email == 'r2@example.com' %}{{ 1 / 0 }}{% endif %}");
        let err = check(
            &template,
            5,
            &mut RenderBudget::unlimited(),
            &mut SharedRenders::default(),
        )
        .unwrap_err();
        assert_eq!(err.recipient, 2);
        assert!(matches!(err.failure, RenderFailure::Template(ref e) if e.field == "html"));
    }
}
