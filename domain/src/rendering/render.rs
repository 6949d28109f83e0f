//! Rendering one message's templates for one recipient.

use minijinja::Value;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::budget::{RenderBudget, RenderFailure};
use super::context::RenderContext;
use super::escape::escape_html;
use super::footer::{append_html_footer, append_text_footer};
use super::html_text::html_to_text;
use super::templates::{
    CompiledTemplates, HTML, RenderLimits, SUBJECT, TEXT, TemplateError, TemplateSource, compiled,
};

/// RFC 5322's limit on a header line; a longer subject is cut at a character boundary.
const MAX_SUBJECT_CHARS: usize = 998;

/// Why a message is sent decides what Mailroom adds to it: the message's own kind.
pub use crate::messages::MessageKind;

/// A rendered message, ready for [`build_mime`](super::build_mime).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// One line, at most 998 characters.
    pub subject: String,
    /// `None` when the HTML template is empty: a text-only message.
    pub html: Option<String>,
    pub text: String,
}

/// Renders `src` for the recipient described by `ctx`.
///
/// Campaign and test messages need `ctx.unsubscribe_url`; without it they are refused
/// rather than sent without a way out.
pub fn render(
    src: &TemplateSource,
    ctx: &RenderContext,
    limits: &RenderLimits,
    kind: MessageKind,
) -> Result<Rendered, TemplateError> {
    render_within(src, ctx, limits, kind, &mut RenderBudget::unlimited()).map_err(|failure| {
        match failure {
            RenderFailure::Template(e) => e,
            // An unlimited budget never runs out; say so if it ever did.
            RenderFailure::Budget(e) => TemplateError::new(&e.part, None, e.to_string()),
        }
    })
}

/// [`render`], charging every template part's fuel to a request's `budget` and refusing
/// to start a part once the budget is spent.
pub fn render_within(
    src: &TemplateSource,
    ctx: &RenderContext,
    limits: &RenderLimits,
    kind: MessageKind,
    budget: &mut RenderBudget,
) -> Result<Rendered, RenderFailure> {
    let unsubscribe_url = match (
        kind.needs_unsubscribe_link(),
        ctx.unsubscribe_url.as_deref(),
    ) {
        (true, None) => {
            return Err(TemplateError::new(
                HTML,
                None,
                "a marketing message needs an unsubscribe URL to render",
            )
            .into());
        }
        (true, Some(url)) => Some(url),
        (false, _) => None,
    };
    let templates = compiled(src, limits)?;
    let vars = Value::from(Serde(ctx));

    let subject = single_line_subject(&run(&templates, SUBJECT, &vars, limits, budget)?.0);
    let html = if templates.has_html {
        let (mut html, _) = run(&templates, HTML, &vars, limits, budget)?;
        // Judged on the output, not the source: a link inside a branch that did not render
        // for this recipient is no link at all.
        if let Some(url) =
            unsubscribe_url.filter(|url| !html.contains(url) && !html.contains(&escape_html(url)))
        {
            append_html_footer(&mut html, url);
        }
        Some(html)
    } else {
        None
    };
    let text = if templates.has_text {
        let (mut text, _) = run(&templates, TEXT, &vars, limits, budget)?;
        if let Some(url) = unsubscribe_url.filter(|url| !text.contains(url)) {
            append_text_footer(&mut text, url);
        }
        text
    } else {
        // Derived from the final HTML, so it already carries the footer link. With no
        // HTML either, the footer still has to go somewhere.
        match &html {
            Some(html) => html_to_text(html),
            None => {
                let mut text = String::new();
                if let Some(url) = unsubscribe_url {
                    append_text_footer(&mut text, url);
                }
                text
            }
        }
    };
    Ok(Rendered {
        subject,
        html,
        text,
    })
}

/// Renders one template part within the budget; answers its output and the fuel it burnt.
pub(super) fn run(
    templates: &CompiledTemplates,
    name: &str,
    vars: &Value,
    limits: &RenderLimits,
    budget: &mut RenderBudget,
) -> Result<(String, u64), RenderFailure> {
    budget.check(name).map_err(RenderFailure::Budget)?;
    let rendered = templates
        .env
        .get_template(name)
        .and_then(|template| template.render_captured(vars.clone()));
    match rendered {
        Ok(captured) => {
            let fuel = captured
                .state()
                .fuel_levels()
                .map_or(0, |(consumed, _)| consumed);
            budget.charge(name, fuel).map_err(RenderFailure::Budget)?;
            Ok((captured.into_output(), fuel))
        }
        Err(err) => {
            if err.kind() == minijinja::ErrorKind::OutOfFuel {
                // The part burnt its whole limit: that counts too, whatever comes next.
                let _ = budget.charge(name, limits.fuel);
            }
            Err(TemplateError::from_minijinja(name, &err, limits).into())
        }
    }
}

/// Folds line breaks (a template's own or a contact property's) into spaces: a raw
/// CR/LF in a subject would end the header early.
fn single_line_subject(rendered: &str) -> String {
    let mut subject = String::with_capacity(rendered.len());
    for word in rendered
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if !subject.is_empty() {
            subject.push(' ');
        }
        subject.push_str(word);
    }
    if let Some((cut, _)) = subject.char_indices().nth(MAX_SUBJECT_CHARS) {
        subject.truncate(cut);
    }
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_line_breaks_become_spaces_and_length_is_capped() {
        assert_eq!(single_line_subject("  Hello\r\n  Ada \n"), "Hello Ada");
        let long = "é".repeat(2000);
        assert_eq!(
            single_line_subject(&long).chars().count(),
            MAX_SUBJECT_CHARS
        );
    }
}
