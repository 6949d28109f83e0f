//! What a template author and a recipient see: variables, escaping, limits, footers.

use std::time::{Duration, Instant};

use serde_json::{Map, json};

use super::*;

const UNSUBSCRIBE: &str = "https://mailroom.example/u/tok?x=1&y=2";

fn source(subject: &str, html: &str, text: Option<&str>) -> TemplateSource {
    TemplateSource {
        subject: subject.into(),
        html: html.into(),
        text: text.map(Into::into),
    }
}

fn ada() -> RenderContext {
    let mut properties = Map::new();
    properties.insert("city".into(), json!("Paris"));
    properties.insert("plan".into(), json!("pro"));
    RenderContext {
        contact: ContactVars {
            email: "ada@example.com".into(),
            name: Some("Ada <script>alert(1)</script> & Co".into()),
            properties,
        },
        list: Some(ListVars {
            name: "Weekly news".into(),
        }),
        campaign: Some(CampaignVars {
            name: "June issue".into(),
        }),
        unsubscribe_url: Some(UNSUBSCRIBE.into()),
        variables: Map::new(),
    }
}

fn render_ok(src: &TemplateSource, ctx: &RenderContext, kind: MessageKind) -> Rendered {
    render(src, ctx, &RenderLimits::default(), kind).unwrap()
}

#[test]
fn contact_data_is_escaped_in_html_but_not_in_subject_or_text() {
    let src = source(
        "Hi {{ contact.name }}",
        "<p>Hi {{ contact.name }}</p>",
        Some("Hi {{ contact.name }}"),
    );
    let out = render_ok(&src, &ada(), MessageKind::Transactional);
    let html = out.html.unwrap();
    assert!(
        html.contains("Ada &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    assert_eq!(out.subject, "Hi Ada <script>alert(1)</script> & Co");
    assert_eq!(out.text, "Hi Ada <script>alert(1)</script> & Co");
}

#[test]
fn properties_list_and_campaign_are_available() {
    let src = source(
        "{{ campaign.name }} for {{ list.name }}",
        "<p>{{ contact.email }} in {{ contact.properties.city }} on {{ contact.properties.plan|upper }}</p>",
        None,
    );
    let out = render_ok(&src, &ada(), MessageKind::Transactional);
    assert_eq!(out.subject, "June issue for Weekly news");
    assert_eq!(out.text, "ada@example.com in Paris on PRO\n");
}

#[test]
fn transactional_variables_are_top_level_and_under_vars() {
    let mut ctx = ada();
    ctx.list = None;
    ctx.campaign = None;
    ctx.variables.insert("order_id".into(), json!("A-17"));
    ctx.variables
        .insert("items".into(), json!([{"name": "Tea"}, {"name": "Cake"}]));
    let src = source(
        "Order {{ order_id }}",
        "<ul>{% for item in vars.items %}<li>{{ item.name }}</li>{% endfor %}</ul>{{ vars.order_id }}",
        None,
    );
    let out = render_ok(&src, &ctx, MessageKind::Transactional);
    assert_eq!(out.subject, "Order A-17");
    assert_eq!(out.text, "- Tea\n- Cake\n\nA-17\n");
}

#[test]
fn missing_variables_render_empty() {
    let mut ctx = ada();
    ctx.list = None;
    ctx.campaign = None;
    let src = source(
        "[{{ nothing }}][{{ list.name }}]",
        "<p>[{{ contact.properties.missing }}][{{ campaign.name }}][{{ a.b.c }}]</p>",
        Some("[{{ vars.missing }}]"),
    );
    let out = render_ok(&src, &ctx, MessageKind::Transactional);
    assert_eq!(out.subject, "[][]");
    assert_eq!(out.html.as_deref(), Some("<p>[][][]</p>"));
    assert_eq!(out.text, "[]");
}

#[test]
fn absent_names_and_null_properties_print_nothing_and_fall_back_with_or() {
    let mut ctx = ada();
    ctx.contact.name = None;
    ctx.contact
        .properties
        .insert("city".into(), serde_json::Value::Null);
    let src = source(
        "Hello {{ contact.name }}!",
        "<p>{{ contact.name or 'friend' }} in [{{ contact.properties.city }}]</p>",
        Some("Hello {{ contact.name }}!"),
    );
    let out = render_ok(&src, &ctx, MessageKind::Transactional);
    assert_eq!(out.subject, "Hello !");
    assert_eq!(out.html.as_deref(), Some("<p>friend in []</p>"));
    assert_eq!(out.text, "Hello !");
}

#[test]
fn subject_is_one_line() {
    let mut ctx = ada();
    ctx.contact.name = Some("Ada\r\nBcc: victim@example.com".into());
    let src = source("Hello\n{{ contact.name }}\n", "<p>x</p>", None);
    let out = render_ok(&src, &ctx, MessageKind::Transactional);
    assert_eq!(out.subject, "Hello Ada Bcc: victim@example.com");
}

#[test]
fn compile_errors_report_field_and_line() {
    let src = source(
        "Hi {{ contact.name",
        "<p>\n{% for x in y %}\n</p>",
        Some("ok {{ 1 }}"),
    );
    let errors = check_templates(&src).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].field, "subject");
    assert_eq!(errors[0].line, Some(1));
    assert_eq!(errors[1].field, "html");
    // The unclosed block is reported where it opens.
    assert_eq!(errors[1].line, Some(2), "{}", errors[1]);
    assert!(
        errors[1].message.contains("syntax error"),
        "{}",
        errors[1].message
    );
    assert!(errors[1].to_string().starts_with("html template, line 2: "));

    let err = render(
        &src,
        &ada(),
        &RenderLimits::default(),
        MessageKind::Campaign,
    )
    .unwrap_err();
    assert_eq!(err.field, "subject");
    assert!(check_templates(&source("{{ 1 }}", "<p>{{ 2 }}</p>", None)).is_ok());
}

/// The limits stop the template (a fuel or size error, not a hang); how fast is for
/// `bench/render` to measure (`runaway_stopped_ms`), not for a test on a busy machine.
fn assert_stops_quickly(src: &TemplateSource, field: &str, expected: &str) {
    let started = Instant::now();
    let err = render(
        src,
        &ada(),
        &RenderLimits::default(),
        MessageKind::Transactional,
    )
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    assert_eq!(err.field, field);
    assert!(err.message.contains(expected), "{err}");
}

#[test]
fn runaway_loops_are_stopped_by_fuel() {
    let huge =
        "{% for i in range(1000000000) %}{% for j in range(1000000000) %}x{% endfor %}{% endfor %}";
    assert_stops_quickly(
        &source("s", huge, None),
        "html",
        "range has too many elements",
    );
    let nested =
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
    assert_stops_quickly(&source("s", nested, None), "html", "fuel");
    assert_stops_quickly(&source(nested, "<p>x</p>", None), "subject", "fuel");
}

#[test]
fn recursive_macros_hit_the_recursion_limit() {
    let recursive = "{% macro down(n) %}{{ n }}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}";
    assert_stops_quickly(
        &source("s", "<p>x</p>", Some(recursive)),
        "text",
        "recursion limit",
    );
}

#[test]
fn campaign_without_an_unsubscribe_link_gets_a_footer_in_both_parts() {
    let src = source(
        "News",
        "<html><body><p>Hello</p></body></html>",
        Some("Hello"),
    );
    for kind in [MessageKind::Campaign, MessageKind::Test] {
        let out = render_ok(&src, &ada(), kind);
        let html = out.html.unwrap();
        let link = "<a href=\"https://mailroom.example/u/tok?x=1&amp;y=2\"";
        assert!(
            html.find(link).unwrap() < html.find("</body>").unwrap(),
            "{html}"
        );
        assert_eq!(out.text, format!("Hello\n\nUnsubscribe: {UNSUBSCRIBE}\n"));
    }
}

#[test]
fn derived_text_carries_the_footer_link() {
    let src = source("News", "<p>Hello</p>", None);
    let out = render_ok(&src, &ada(), MessageKind::Campaign);
    assert_eq!(out.text, format!("Hello\n\nUnsubscribe ({UNSUBSCRIBE})\n"));
}

#[test]
fn templates_that_place_the_link_themselves_get_no_footer() {
    let src = source(
        "News",
        "<p>Hello</p><a href=\"{{ unsubscribe_url }}\">Leave</a>",
        Some("Hello. Leave: {{ unsubscribe_url }}"),
    );
    let out = render_ok(&src, &ada(), MessageKind::Campaign);
    let html = out.html.unwrap();
    assert_eq!(html.matches("mailroom.example/u/tok").count(), 1);
    assert!(!html.contains("Unsubscribe"));
    assert_eq!(out.text, format!("Hello. Leave: {UNSUBSCRIBE}"));
}

#[test]
fn transactional_and_confirmation_mail_get_no_footer() {
    let src = source("Receipt", "<p>Thanks</p>", Some("Thanks"));
    for kind in [MessageKind::Transactional, MessageKind::Confirmation] {
        let out = render_ok(&src, &ada(), kind);
        assert_eq!(out.html.as_deref(), Some("<p>Thanks</p>"));
        assert_eq!(out.text, "Thanks");
    }
}

#[test]
fn a_campaign_cannot_render_without_an_unsubscribe_url() {
    let mut ctx = ada();
    ctx.unsubscribe_url = None;
    let src = source("News", "<p>Hello</p>", None);
    let err = render(&src, &ctx, &RenderLimits::default(), MessageKind::Campaign).unwrap_err();
    assert!(err.message.contains("unsubscribe URL"), "{err}");
}

#[test]
fn an_empty_html_template_makes_a_text_only_message() {
    let src = source("Plain", "  ", Some("Just text"));
    let out = render_ok(&src, &ada(), MessageKind::Campaign);
    assert_eq!(out.html, None);
    assert_eq!(
        out.text,
        format!("Just text\n\nUnsubscribe: {UNSUBSCRIBE}\n")
    );
}

#[test]
fn rendering_the_same_templates_again_uses_the_cache_and_the_new_context() {
    let src = source("Hi {{ contact.email }}", "<p>{{ contact.email }}</p>", None);
    let first = render_ok(&src, &ada(), MessageKind::Transactional);
    let mut other = ada();
    other.contact.email = "grace@example.com".into();
    let second = render_ok(&src, &other, MessageKind::Transactional);
    assert_eq!(first.subject, "Hi ada@example.com");
    assert_eq!(second.subject, "Hi grace@example.com");
}
