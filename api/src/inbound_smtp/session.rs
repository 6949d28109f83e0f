//! One SMTP conversation: greeting, envelope, message, and the report it makes.
//!
//! Recipients are checked when given: a bounce address of a message that exists is
//! accepted, anything else refused with `550` (Mailroom relays nothing). After `DATA` the
//! message is read into memory up to the size limit, dot-unstuffed, and processed as a
//! report once per account its recipients belong to; the answer comes after the report
//! is stored. A database failure answers `451`, so the sending server tries again later
//! and nothing is lost.

use std::collections::BTreeMap;
use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::inbound;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

use super::Context;
use super::command::Command;

/// How long the client may take to send a command or a chunk of the message.
const IDLE: Duration = Duration::from_secs(60);
/// Longest command line (RFC 5321 allows 512 octets).
const MAX_COMMAND: usize = 2048;
/// Recipients per message (RFC 5321 requires accepting 100).
const MAX_RECIPIENTS: usize = 100;

#[derive(Default)]
struct Envelope {
    started: bool,
    /// Accepted recipients and their accounts.
    recipients: Vec<(String, Id)>,
}

pub async fn converse<S>(stream: S, ctx: &Context) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut read = tokio::io::BufReader::new(read);
    let domain = &ctx.domain;
    send(
        &mut write,
        &format!("220 {domain} Mailroom ESMTP bounce receiver"),
    )
    .await?;
    let mut greeted = false;
    let mut envelope = Envelope::default();
    loop {
        let line = match tokio::time::timeout(IDLE, read_line(&mut read, MAX_COMMAND)).await {
            Err(_) => {
                return send(&mut write, "421 4.4.2 idle too long; closing").await;
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::End)) => return Ok(()),
            Ok(Ok(Line::TooLong)) => {
                return send(&mut write, "500 5.5.2 line too long; closing").await;
            }
            Ok(Ok(Line::Text(line))) => line,
        };
        let reply = match Command::parse(&String::from_utf8_lossy(&line)) {
            Command::Ehlo => {
                greeted = true;
                envelope = Envelope::default();
                format!(
                    "250-{domain}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES",
                    ctx.size_limit
                )
            }
            Command::Helo => {
                greeted = true;
                envelope = Envelope::default();
                format!("250 {domain}")
            }
            Command::MailFrom { .. } if !greeted => "503 5.5.1 say EHLO first".into(),
            Command::MailFrom { .. } if envelope.started => {
                "503 5.5.1 a message is already started; RSET first".into()
            }
            Command::MailFrom { size: Some(size) } if size > ctx.size_limit as u64 => {
                "552 5.3.4 message larger than this server accepts".into()
            }
            Command::MailFrom { .. } => {
                envelope.started = true;
                "250 2.1.0 sender ok".into()
            }
            Command::RcptTo(_) if !envelope.started => "503 5.5.1 MAIL FROM first".into(),
            Command::RcptTo(_) if envelope.recipients.len() >= MAX_RECIPIENTS => {
                "452 4.5.3 too many recipients".into()
            }
            Command::RcptTo(address) => match account_of(ctx, &address).await {
                Ok(Some(account)) => {
                    envelope.recipients.push((address, account));
                    "250 2.1.5 recipient ok".into()
                }
                Ok(None) => "550 5.1.1 no such bounce address here".into(),
                Err(e) => {
                    tracing::warn!(error = %e, "inbound SMTP: recipient lookup failed");
                    "451 4.3.0 try again later".into()
                }
            },
            Command::Data if envelope.recipients.is_empty() => {
                "503 5.5.1 no valid recipient yet".into()
            }
            Command::Data => {
                send(&mut write, "354 end data with <CR><LF>.<CR><LF>").await?;
                let data = match tokio::time::timeout(IDLE, read_data(&mut read, ctx.size_limit))
                    .await
                {
                    Err(_) => return send(&mut write, "421 4.4.2 idle too long; closing").await,
                    Ok(result) => result?,
                };
                let recipients = std::mem::take(&mut envelope).recipients;
                match data {
                    None => "552 5.3.4 message larger than this server accepts".into(),
                    Some(raw) => match keep_reports(ctx, raw, recipients).await {
                        Ok(ids) => format!("250 2.0.0 kept as report {}", ids.join(", ")),
                        Err(e) => {
                            tracing::warn!(error = %e, "inbound SMTP: could not keep a report");
                            "451 4.3.0 try again later".into()
                        }
                    },
                }
            }
            Command::Rset => {
                envelope = Envelope::default();
                "250 2.0.0 ok".into()
            }
            Command::Noop => "250 2.0.0 ok".into(),
            Command::Vrfy => "252 2.5.0 cannot verify; send the message".into(),
            Command::Quit => return send(&mut write, "221 2.0.0 bye").await,
            Command::BadArguments(reason) => format!("501 5.5.4 {reason}"),
            Command::Unknown => "502 5.5.2 command not implemented".into(),
        };
        send(&mut write, &reply).await?;
    }
}

async fn send<W: AsyncWrite + Unpin>(write: &mut W, reply: &str) -> std::io::Result<()> {
    write.write_all(reply.as_bytes()).await?;
    write.write_all(b"\r\n").await?;
    write.flush().await
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    End,
}

/// Up to `max` bytes, ending at the first line feed if one comes sooner; `None` at the
/// end of the stream.
async fn read_piece<R: AsyncBufRead + Unpin>(
    read: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut piece = Vec::new();
    let n = read.take(max as u64).read_until(b'\n', &mut piece).await?;
    Ok((n > 0).then_some(piece))
}

/// A command line of at most `max` bytes, its line ending included.
async fn read_line<R: AsyncBufRead + Unpin>(read: &mut R, max: usize) -> std::io::Result<Line> {
    Ok(match read_piece(read, max + 1).await? {
        None => Line::End,
        Some(line) if !line.ends_with(b"\n") && line.len() > max => Line::TooLong,
        Some(line) => Line::Text(line),
    })
}

/// The message after `DATA`, up to the line holding a single dot, with the leading dot
/// of other lines removed (RFC 5321 §4.5.2). `None` when it grew past `limit`: the rest
/// is read and dropped, so the conversation can go on.
async fn read_data<R: AsyncBufRead + Unpin>(
    read: &mut R,
    limit: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    /// Lines longer than this are read in pieces.
    const PIECE: usize = 64 * 1024;
    let mut data = Vec::new();
    let mut too_big = false;
    let mut at_line_start = true;
    loop {
        let Some(piece) = read_piece(read, PIECE).await? else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client left in the middle of a message",
            ));
        };
        let mut text: &[u8] = &piece;
        if at_line_start {
            if text == b".\r\n" || text == b".\n" {
                return Ok((!too_big).then_some(data));
            }
            if text.starts_with(b".") {
                text = &text[1..];
            }
        }
        at_line_start = piece.ends_with(b"\n");
        if !too_big {
            if data.len() + text.len() > limit {
                too_big = true;
                data = Vec::new();
            } else {
                data.extend_from_slice(text);
            }
        }
    }
}

async fn account_of(ctx: &Context, address: &str) -> mailroom_domain::Result<Option<Id>> {
    let (address, domain) = (address.to_owned(), ctx.domain.clone());
    ctx.db(move |conn| inbound::account_of_bounce_address(conn, &address, &domain))
        .await
}

/// Processes the message once per account among its recipients (each account sees the
/// report as delivered to its own addresses); answers the stored reports' ids.
async fn keep_reports(
    ctx: &Context,
    raw: Vec<u8>,
    recipients: Vec<(String, Id)>,
) -> mailroom_domain::Result<Vec<String>> {
    let mut per_account: BTreeMap<Id, Vec<String>> = BTreeMap::new();
    for (address, account) in recipients {
        per_account.entry(account).or_default().push(address);
    }
    let policy = ctx.policy.clone();
    ctx.db(move |conn| {
        let parsed = inbound::parse_report(&raw);
        let mut kept = Vec::new();
        for (account, addresses) in per_account {
            let mut report = parsed.clone();
            for address in addresses.iter().rev() {
                report.delivered_to(address);
            }
            kept.push(
                inbound::process_report(conn, account, &policy, &report)?
                    .id
                    .to_string(),
            );
        }
        Ok(kept)
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn data(input: &str, limit: usize) -> Option<Vec<u8>> {
        let mut read = tokio::io::BufReader::new(input.as_bytes());
        read_data(&mut read, limit).await.unwrap()
    }

    #[tokio::test]
    async fn the_message_ends_at_a_lone_dot_and_leading_dots_are_unstuffed() {
        let got = data("Subject: x\r\n\r\n..hidden\r\n.\r\nQUIT\r\n", 1000).await;
        assert_eq!(got.unwrap(), b"Subject: x\r\n\r\n.hidden\r\n");
        // Bare line feeds, as some clients send them.
        let got = data("a\n.b\n.\n", 1000).await;
        assert_eq!(got.unwrap(), b"a\nb\n");
    }

    #[tokio::test]
    async fn a_message_past_the_limit_is_read_to_its_end_and_refused() {
        assert_eq!(data("0123456789\r\n0123456789\r\n.\r\n", 15).await, None);
        let mut read = tokio::io::BufReader::new(&b"cut off"[..]);
        assert!(read_data(&mut read, 100).await.is_err());
    }
}
