//! Rendering throughput: Mailroom's `render` + `build_mime` against a bare minijinja
//! render of the same personalised ~20 KB newsletter, in the same run.
//!
//!   cargo run --release -p mailroom-domain --example bench_render -- -n 20000
//!
//! Run through `bench/render`, which documents the output. Single-threaded: a sender
//! worker renders one message per job, so messages/s per core is the figure that scales.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use mailroom_domain::Id;
use mailroom_domain::rendering::{
    Address, BuiltMessage, CampaignVars, ContactVars, ListUnsubscribe, ListVars, MessageKind,
    MimeInput, RenderContext, RenderLimits, Rendered, TemplateSource, build_mime, html_to_text,
    render, verp_address,
};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde_json::{Map, json};

const ARTICLES: usize = 10;
const WARM_UP: usize = 200;

fn main() -> ExitCode {
    let n = match parse_n() {
        Ok(n) => n,
        Err(message) => {
            eprintln!("bench_render: {message}");
            return ExitCode::from(2);
        }
    };
    match run(n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_render: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_n() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(20_000),
        [flag, value] if flag == "-n" => match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("-n needs a positive integer, not '{value}'")),
        },
        _ => Err("usage: bench_render [-n N]".into()),
    }
}

fn run(n: usize) -> Result<(), String> {
    let source = newsletter();
    let contexts: Vec<RenderContext> = (0..n).map(contact_context).collect();
    let limits = RenderLimits::default();
    let sample =
        render(&source, &contexts[0], &limits, MessageKind::Campaign).map_err(|e| e.to_string())?;
    let html_bytes = sample.html.as_ref().map_or(0, String::len);
    let fuel = fuel_needed(&source, &contexts[0])?;
    let runaway_ms = runaway_stop_ms(&contexts[0], &limits)?;
    println!(
        "render n={n} nproc={} template_bytes={} html_bytes={html_bytes} text_bytes={} fuel_needed={fuel} fuel_limit={} runaway_stopped_ms={runaway_ms:.0}",
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        source.html.len(),
        sample.text.len(),
        limits.fuel,
    );

    let bare = bare_minijinja(&source, &contexts)?;
    let mailroom = mailroom(&source, &contexts, &limits)?;
    let (bare_rate, mailroom_rate) = (n as f64 / bare.0, n as f64 / mailroom.0);
    println!(
        "bare:      messages/s={bare_rate:.0}  wall_s={:.3}  bytes={}",
        bare.0, bare.1
    );
    println!(
        "mailroom:  messages/s={mailroom_rate:.0}  wall_s={:.3}  bytes={}",
        mailroom.0, mailroom.1
    );
    println!("ratio mailroom/bare = {:.2}", mailroom_rate / bare_rate);
    stages(&source, &contexts, &limits)?;
    Ok(())
}

/// Where a Mailroom message's time goes, per message, on up to 2,000 contexts.
fn stages(
    source: &TemplateSource,
    contexts: &[RenderContext],
    limits: &RenderLimits,
) -> Result<(), String> {
    let contexts = &contexts[..contexts.len().min(2000)];
    let per_message_us =
        |started: Instant| started.elapsed().as_secs_f64() * 1e6 / contexts.len() as f64;
    let started = Instant::now();
    let mut rendered = Vec::with_capacity(contexts.len());
    for ctx in contexts {
        rendered
            .push(render(source, ctx, limits, MessageKind::Campaign).map_err(|e| e.to_string())?);
    }
    let render_us = per_message_us(started);
    let started = Instant::now();
    for message in &rendered {
        black_box(html_to_text(message.html.as_deref().unwrap_or_default()));
    }
    let text_us = per_message_us(started);
    let started = Instant::now();
    for (ctx, message) in contexts.iter().zip(&rendered) {
        black_box(build(ctx, message)?);
    }
    let mime_us = per_message_us(started);
    println!(
        "stages_us: render={render_us:.1} (of which text_from_html={text_us:.1})  build_mime={mime_us:.1}"
    );
    Ok(())
}

/// One environment, the HTML template added once, rendered per contact.
fn bare_minijinja(
    source: &TemplateSource,
    contexts: &[RenderContext],
) -> Result<(f64, usize), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("html", &source.html)
        .map_err(|e| e.to_string())?;
    let template = env.get_template("html").map_err(|e| e.to_string())?;
    let once = |ctx: &RenderContext| {
        template
            .render(Value::from(Serde(ctx)))
            .map_err(|e| e.to_string())
    };
    for ctx in contexts.iter().cycle().take(WARM_UP) {
        black_box(once(ctx)?);
    }
    let started = Instant::now();
    let mut bytes = 0;
    for ctx in contexts {
        bytes += black_box(once(ctx)?).len();
    }
    Ok((started.elapsed().as_secs_f64(), bytes))
}

/// What the sender does per message: render all parts, then build the MIME message.
fn mailroom(
    source: &TemplateSource,
    contexts: &[RenderContext],
    limits: &RenderLimits,
) -> Result<(f64, usize), String> {
    let once = |ctx: &RenderContext| -> Result<usize, String> {
        let rendered =
            render(source, ctx, limits, MessageKind::Campaign).map_err(|e| e.to_string())?;
        Ok(build(ctx, &rendered)?.raw.len())
    };
    for ctx in contexts.iter().cycle().take(WARM_UP) {
        black_box(once(ctx)?);
    }
    let started = Instant::now();
    let mut bytes = 0;
    for ctx in contexts {
        bytes += black_box(once(ctx)?);
    }
    Ok((started.elapsed().as_secs_f64(), bytes))
}

/// The sender's `build_mime` call for one contact.
fn build(ctx: &RenderContext, rendered: &Rendered) -> Result<BuiltMessage, String> {
    let message_id = Id::new();
    build_mime(&MimeInput {
        message_id,
        from: Address {
            email: "news@shop.example".into(),
            name: Some("Shop News".into()),
        },
        to: Address {
            email: ctx.contact.email.clone(),
            name: ctx.contact.name.clone(),
        },
        reply_to: None,
        rendered,
        list_unsubscribe: Some(ListUnsubscribe {
            https_url: ctx.unsubscribe_url.clone().unwrap_or_default(),
            mailto: Some(format!(
                "unsubscribe+{}@mailroom.example",
                message_id.0.simple()
            )),
        }),
        envelope_from: verp_address(message_id, "bounces.shop.example"),
        extra_headers: Vec::new(),
        message_id_domain: "shop.example".into(),
    })
    .map_err(|e| e.to_string())
}

/// The smallest fuel budget the newsletter renders with (binary search), to show the
/// headroom the default limit leaves.
fn fuel_needed(source: &TemplateSource, ctx: &RenderContext) -> Result<u64, String> {
    let (mut low, mut high) = (1u64, RenderLimits::default().fuel);
    let fits = |fuel| {
        let limits = RenderLimits {
            fuel,
            ..RenderLimits::default()
        };
        render(source, ctx, &limits, MessageKind::Campaign).is_ok()
    };
    if !fits(high) {
        return Err("the benchmark template does not render within the default fuel".into());
    }
    while low < high {
        let mid = low + (high - low) / 2;
        if fits(mid) { high = mid } else { low = mid + 1 }
    }
    Ok(low)
}

/// How long the default limits let a template that never finishes run.
fn runaway_stop_ms(ctx: &RenderContext, limits: &RenderLimits) -> Result<f64, String> {
    let runaway = TemplateSource {
        subject: "s".into(),
        html: "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
            .into(),
        text: None,
    };
    let started = Instant::now();
    match render(&runaway, ctx, limits, MessageKind::Campaign) {
        Ok(_) => Err("a runaway template rendered to the end".into()),
        Err(_) => Ok(started.elapsed().as_secs_f64() * 1e3),
    }
}

fn contact_context(i: usize) -> RenderContext {
    let mut properties = Map::new();
    properties.insert(
        "city".into(),
        json!(["Paris", "Lyon", "Berlin", "Zürich", "Oslo"][i % 5]),
    );
    properties.insert(
        "plan".into(),
        json!(if i.is_multiple_of(3) { "pro" } else { "free" }),
    );
    properties.insert("points".into(), json!(i * 7 % 1000));
    properties.insert("first_name".into(), json!(format!("Reader{i}")));
    let mut variables = Map::new();
    let articles: Vec<_> = (0..ARTICLES)
        .map(|a| {
            json!({
                "title": format!("Article {a}: what changed in the shop this week & why"),
                "url": format!("https://shop.example/journal/{a}?utm_source=newsletter&utm_campaign=june"),
                "image": format!("https://cdn.shop.example/img/{a}.jpg"),
                "summary": "A few paragraphs about products, people and places: new arrivals, \
                            a behind-the-scenes look at the workshop, and the events coming up \
                            near you. Read on for the details and a small surprise at the end.",
            })
        })
        .collect();
    variables.insert("articles".into(), json!(articles));
    RenderContext {
        contact: ContactVars {
            email: format!("reader{i}@example.com"),
            name: Some(format!("Reader {i} <O'Brien & Sons>")),
            properties,
        },
        list: Some(ListVars {
            name: "Weekly journal".into(),
        }),
        campaign: Some(CampaignVars {
            name: "June issue".into(),
        }),
        unsubscribe_url: Some(format!("https://mailroom.example/v1/unsubscribe/tok{i:08}")),
        variables,
    }
}

/// A table-based newsletter with inline styles, as email builders produce them.
fn newsletter() -> TemplateSource {
    let cell = "font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:22px;color:#333333;padding:0 24px";
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{{ campaign.name }}</title>\n<style>\n",
    );
    for rule in 0..40 {
        html.push_str(&format!(
            ".c{rule} {{ margin:0; padding:{rule}px; color:#{:06x}; font-family:Helvetica,Arial,sans-serif; }}\n",
            rule * 4099
        ));
    }
    html.push_str("</style></head><body style=\"margin:0;padding:0;background:#f4f4f4\">\n");
    html.push_str(&format!(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td align=\"center\">\n\
         <table role=\"presentation\" width=\"600\" style=\"background:#ffffff\">\n\
         <tr><td style=\"{cell}\"><h1 style=\"font-size:24px\">Hello {{{{ contact.properties.first_name or contact.name }}}},</h1>\n\
         <p>Here is {{{{ campaign.name }}}} of {{{{ list.name }}}} for readers in {{{{ contact.properties.city }}}}.\n\
         {{% if contact.properties.plan == \"pro\" %}}As a Pro member you have {{{{ contact.properties.points }}}} points.\
         {{% else %}}Upgrade to Pro to collect points.{{% endif %}}</p></td></tr>\n"
    ));
    html.push_str(&format!(
        "{{% for article in articles %}}\n\
         <tr><td style=\"{cell}\">\n\
         <table role=\"presentation\" width=\"100%\"><tr>\n\
         <td width=\"160\" valign=\"top\" style=\"padding:12px 0\"><a href=\"{{{{ article.url }}}}\">\
         <img src=\"{{{{ article.image }}}}\" width=\"150\" height=\"100\" alt=\"{{{{ article.title }}}}\" \
         style=\"display:block;border:0;border-radius:4px\"></a></td>\n\
         <td valign=\"top\" style=\"{cell};padding:12px 0 12px 12px\">\n\
         <h2 style=\"font-size:18px;margin:0 0 8px\"><a href=\"{{{{ article.url }}}}\" style=\"color:#1a73e8;text-decoration:none\">\
         {{{{ loop.index }}}}. {{{{ article.title }}}}</a></h2>\n\
         <p style=\"margin:0 0 8px\">{{{{ article.summary }}}}</p>\n\
         <p style=\"margin:0 0 8px\">{{{{ article.summary }}}}</p>\n\
         <p style=\"margin:0\"><a href=\"{{{{ article.url }}}}\" style=\"color:#1a73e8\">Read more, {{{{ contact.name }}}}</a></p>\n\
         </td></tr></table></td></tr>\n\
         {{% endfor %}}\n"
    ));
    html.push_str(&format!(
        "<tr><td style=\"{cell};font-size:12px;color:#888888\"><p>You receive {{{{ list.name }}}} at {{{{ contact.email }}}}.\n\
         <a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a></p></td></tr>\n\
         </table></td></tr></table></body></html>\n"
    ));
    TemplateSource {
        subject:
            "{{ campaign.name }}: {{ articles[0].title }}, {{ contact.properties.first_name }}"
                .into(),
        html,
        text: None,
    }
}
