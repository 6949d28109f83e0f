//! The baseline of `bench/send`: a plain pooled lettre client feeding the same SMTP sink
//! with messages of the same size and shape as the campaign Mailroom sends.
//!
//!   cargo run --release -p mailroom-worker --example bench_send_baseline -- template
//!   cargo run --release -p mailroom-worker --example bench_send_baseline -- \
//!       send --host 127.0.0.1 --port 2525 -n 50000 -c 16
//!
//! `template` prints the campaign as JSON (`name`, `list_name`, `from_email`, `from_name`,
//! `subject`, `html`): a table-based newsletter,
//! ~20 KB of HTML once rendered, personalised with `contact.name`, `contact.email`,
//! `contact.properties.*` and `unsubscribe_url` (the shape of `bench_render`'s, with its
//! ten articles written out, since a campaign has no per-message variables). `bench/send`
//! creates its campaign from it.
//!
//! `size -n N` builds the first N of those messages (as `send` does) and prints their
//! average size, for a baseline that sends messages as large as the campaign's:
//!
//!   size: n=… raw_bytes_avg=… html_bytes=… text_bytes=…
//!
//! `send` renders that template with minijinja for contacts `1..=N` (the same contacts
//! `bench/send` loads: `bench-<i>@example.com`, `Bench Reader <i>`, city, plan, points),
//! derives the text part with Mailroom's `html_to_text` (so the parts are the size of
//! Mailroom's), builds `multipart/alternative` MIME with lettre's builder (Message-ID,
//! List-Unsubscribe, a VERP envelope sender), all before the clock starts; then sends the
//! N messages over one `AsyncSmtpTransport` pooled to C connections, with C sends in
//! flight, and times only that. Output, one line:
//!
//!   baseline: n=… concurrency=… messages/s=… wall_s=… build_s=… raw_bytes_avg=… html_bytes=… text_bytes=…

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mailroom_domain::rendering::html_to_text;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};

const ARTICLES: usize = 10;
const CAMPAIGN_NAME: &str = "June issue";
const LIST_NAME: &str = "Weekly journal";
const FROM_EMAIL: &str = "news@shop.example";
const FROM_NAME: &str = "Shop News";
const BOUNCE_DOMAIN: &str = "mailroom.localhost";

struct SendArgs {
    host: String,
    port: u16,
    n: usize,
    concurrency: usize,
}

enum Command {
    Template,
    Size(usize),
    Send(SendArgs),
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1).collect()) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("bench_send_baseline: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Template => print_template(),
        Command::Size(n) => print_size(n),
        Command::Send(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")
            .and_then(|runtime| runtime.block_on(send(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_send_baseline: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str =
    "usage: bench_send_baseline template | size -n N | send --host HOST --port PORT -n N -c C";

fn parse_args(args: Vec<String>) -> anyhow::Result<Command> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("template") if args.len() == 0 => Ok(Command::Template),
        Some("size") => match (args.next().as_deref(), args.next(), args.next()) {
            (Some("-n"), Some(n), None) => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Command::Size(n)),
                _ => bail!("-n needs a positive integer, not '{n}'"),
            },
            _ => bail!(USAGE),
        },
        Some("send") => {
            let (mut host, mut port, mut n, mut concurrency) = (None, None, None, None);
            while let Some(flag) = args.next() {
                let value = args
                    .next()
                    .with_context(|| format!("{flag} needs a value"))?;
                let positive = |value: &str| -> anyhow::Result<usize> {
                    match value.parse::<usize>() {
                        Ok(v) if v > 0 => Ok(v),
                        _ => bail!("{flag} needs a positive integer, not '{value}'"),
                    }
                };
                match flag.as_str() {
                    "--host" => host = Some(value),
                    "--port" => {
                        port = Some(
                            u16::try_from(positive(&value)?)
                                .with_context(|| format!("--port {value} is not a port"))?,
                        )
                    }
                    "-n" => n = Some(positive(&value)?),
                    "-c" => concurrency = Some(positive(&value)?),
                    _ => bail!("unknown option {flag}; {USAGE}"),
                }
            }
            match (host, port, n, concurrency) {
                (Some(host), Some(port), Some(n), Some(concurrency)) => {
                    Ok(Command::Send(SendArgs {
                        host,
                        port,
                        n,
                        concurrency,
                    }))
                }
                _ => bail!(USAGE),
            }
        }
        _ => bail!(USAGE),
    }
}

fn print_template() -> anyhow::Result<()> {
    let campaign = serde_json::json!({
        "name": CAMPAIGN_NAME,
        "list_name": LIST_NAME,
        "from_email": FROM_EMAIL,
        "from_name": FROM_NAME,
        "subject": subject_template(),
        "html": newsletter(),
    });
    println!("{campaign}");
    Ok(())
}

/// The size of the messages, without sending them: what `smtp-source -l` needs to send
/// messages as large as the campaign's.
fn print_size(n: usize) -> anyhow::Result<()> {
    let (messages, html_bytes, text_bytes) = build_all(n)?;
    let raw_bytes: usize = messages.iter().map(|m| m.raw.len()).sum();
    println!(
        "size: n={n} raw_bytes_avg={} html_bytes={html_bytes} text_bytes={text_bytes}",
        raw_bytes / n
    );
    Ok(())
}

/// One prepared message: its envelope and its bytes.
struct Prepared {
    envelope: Envelope,
    raw: Vec<u8>,
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let build_started = Instant::now();
    let (messages, html_bytes, text_bytes) = build_all(args.n)?;
    let build_s = build_started.elapsed().as_secs_f64();
    let raw_bytes: usize = messages.iter().map(|m| m.raw.len()).sum();

    let pool_size = u32::try_from(args.concurrency).context("-c is too large")?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(args.host.as_str())
        .port(args.port)
        .pool_config(PoolConfig::new().max_size(pool_size))
        .build();
    let messages = Arc::new(messages);
    let next = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (transport, messages, next) = (transport.clone(), messages.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(message) = messages.get(i) else {
                    return Ok::<usize, anyhow::Error>(sent);
                };
                transport
                    .send_raw(&message.envelope, &message.raw)
                    .await
                    .with_context(|| format!("sending message {}", i + 1))?;
                sent += 1;
            }
        }));
    }
    let mut sent = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await.context("a sending task panicked")? {
            Ok(count) => sent += count,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        return Err(e.context(format!("{sent} of {} messages sent", args.n)));
    }
    if sent != args.n {
        bail!("{sent} of {} messages sent", args.n);
    }
    println!(
        "baseline: n={} concurrency={} messages/s={:.0} wall_s={wall_s:.3} build_s={build_s:.3} raw_bytes_avg={} html_bytes={html_bytes} text_bytes={text_bytes}",
        args.n,
        args.concurrency,
        args.n as f64 / wall_s,
        raw_bytes / args.n,
    );
    Ok(())
}

/// Renders and builds the N messages; also returns the first one's HTML and text sizes.
fn build_all(n: usize) -> anyhow::Result<(Vec<Prepared>, usize, usize)> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_template_owned("html", newsletter())?;
    env.add_template_owned("subject", subject_template())?;
    let html_template = env.get_template("html")?;
    let subject_template = env.get_template("subject")?;
    let from = Mailbox::new(Some(FROM_NAME.to_owned()), FROM_EMAIL.parse()?);

    let mut messages = Vec::with_capacity(n);
    let (mut html_bytes, mut text_bytes) = (0, 0);
    for i in 1..=n {
        let email = format!("bench-{i}@example.com");
        let name = format!("Bench Reader {i}");
        let message_id = format!("0190c0de-0000-7000-8000-{i:012}");
        // As long as Mailroom's signed unsubscribe link (44 characters of base64).
        let unsubscribe_url = format!("http://127.0.0.1:8080/u/{i:A>44}");
        let ctx = context! {
            contact => context! {
                email => &email,
                name => &name,
                properties => context! {
                    city => ["Paris", "Lyon", "Berlin", "Zürich", "Oslo"][i % 5],
                    plan => if i.is_multiple_of(3) { "pro" } else { "free" },
                    points => i * 7 % 1000,
                },
            },
            list => context! { name => LIST_NAME },
            campaign => context! { name => CAMPAIGN_NAME },
            unsubscribe_url => &unsubscribe_url,
        };
        let html = html_template.render(&ctx)?;
        let subject = subject_template.render(&ctx)?;
        let text = html_to_text(&html);
        if i == 1 {
            (html_bytes, text_bytes) = (html.len(), text.len());
        }
        let to = Mailbox::new(Some(name), email.parse()?);
        let envelope = Envelope::new(
            Some(format!("bounces+{message_id}@{BOUNCE_DOMAIN}").parse()?),
            vec![to.email.clone()],
        )?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@{BOUNCE_DOMAIN}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Mailroom-Message-Id"),
                message_id.clone(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{unsubscribe_url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            .envelope(envelope.clone())
            .multipart(MultiPart::alternative_plain_html(text, html))?;
        messages.push(Prepared {
            envelope,
            raw: message.formatted(),
        });
    }
    Ok((messages, html_bytes, text_bytes))
}

fn subject_template() -> String {
    "{{ campaign.name }}: what changed in the shop this week, {{ contact.name }}".into()
}

/// A table-based newsletter with inline styles, as email builders produce them: the
/// template of `domain/examples/bench_render.rs` with its articles written out.
fn newsletter() -> String {
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
         <tr><td style=\"{cell}\"><h1 style=\"font-size:24px\">Hello {{{{ contact.name }}}},</h1>\n\
         <p>Here is {{{{ campaign.name }}}} of {{{{ list.name }}}} for readers in {{{{ contact.properties.city }}}}.\n\
         {{% if contact.properties.plan == \"pro\" %}}As a Pro member you have {{{{ contact.properties.points }}}} points.\
         {{% else %}}Upgrade to Pro to collect points.{{% endif %}}</p></td></tr>\n"
    ));
    let summary = "A few paragraphs about products, people and places: new arrivals, a \
                   behind-the-scenes look at the workshop, and the events coming up near you. \
                   Read on for the details and a small surprise at the end.";
    for a in 0..ARTICLES {
        let title = format!("Article {a}: what changed in the shop this week &amp; why");
        let url =
            format!("https://shop.example/journal/{a}?utm_source=newsletter&amp;utm_campaign=june");
        let image = format!("https://cdn.shop.example/img/{a}.jpg");
        html.push_str(&format!(
            "<tr><td style=\"{cell}\">\n\
             <table role=\"presentation\" width=\"100%\"><tr>\n\
             <td width=\"160\" valign=\"top\" style=\"padding:12px 0\"><a href=\"{url}\">\
             <img src=\"{image}\" width=\"150\" height=\"100\" alt=\"{title}\" \
             style=\"display:block;border:0;border-radius:4px\"></a></td>\n\
             <td valign=\"top\" style=\"{cell};padding:12px 0 12px 12px\">\n\
             <h2 style=\"font-size:18px;margin:0 0 8px\"><a href=\"{url}\" style=\"color:#1a73e8;text-decoration:none\">\
             {}. {title}</a></h2>\n\
             <p style=\"margin:0 0 8px\">{summary}</p>\n\
             <p style=\"margin:0 0 8px\">{summary}</p>\n\
             <p style=\"margin:0\"><a href=\"{url}\" style=\"color:#1a73e8\">Read more, {{{{ contact.name }}}}</a></p>\n\
             </td></tr></table></td></tr>\n",
            a + 1
        ));
    }
    html.push_str(&format!(
        "<tr><td style=\"{cell};font-size:12px;color:#888888\"><p>You receive {{{{ list.name }}}} at {{{{ contact.email }}}}.\n\
         <a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a></p></td></tr>\n\
         </table></td></tr></table></body></html>\n"
    ));
    html
}
