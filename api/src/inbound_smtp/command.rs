//! One SMTP command line, read (RFC 5321 §4.1): the verbs a bounce mailbox needs.

/// A command as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo,
    Helo,
    /// `MAIL FROM:<path>` with the size the client declared (`SIZE=`), if any. The path is
    /// not kept: reports come from the null sender `<>` or from anyone.
    MailFrom {
        size: Option<u64>,
    },
    /// `RCPT TO:<address>`.
    RcptTo(String),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    /// A known verb with arguments that do not parse.
    BadArguments(&'static str),
    Unknown,
}

impl Command {
    pub fn parse(line: &str) -> Command {
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, rest) = match line.split_once(' ') {
            Some((verb, rest)) => (verb, rest.trim()),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" if !rest.is_empty() => Command::Ehlo,
            "HELO" if !rest.is_empty() => Command::Helo,
            "EHLO" | "HELO" => Command::BadArguments("a domain or address literal is required"),
            "MAIL" => match path_after(rest, "FROM:") {
                Some((_, params)) => match size_param(params) {
                    Ok(size) => Command::MailFrom { size },
                    Err(reason) => Command::BadArguments(reason),
                },
                None => Command::BadArguments("expected MAIL FROM:<reverse-path>"),
            },
            "RCPT" => match path_after(rest, "TO:") {
                Some((path, _)) if path.contains('@') => Command::RcptTo(path.to_owned()),
                _ => Command::BadArguments("expected RCPT TO:<address>"),
            },
            "DATA" => Command::Data,
            "RSET" => Command::Rset,
            "NOOP" => Command::Noop,
            "QUIT" => Command::Quit,
            "VRFY" => Command::Vrfy,
            _ => Command::Unknown,
        }
    }
}

/// `FROM:<path> params` → `(path, params)`; the keyword is case-insensitive and a space
/// after the colon is tolerated, as many clients send one.
fn path_after<'a>(rest: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let (path, params) = inner.split_once('>')?;
    Some((path.trim(), params.trim()))
}

/// The `SIZE=` parameter of `MAIL FROM` (RFC 1870); other parameters (`BODY=8BITMIME`,
/// `SMTPUTF8`, …) are accepted and ignored.
fn size_param(params: &str) -> Result<Option<u64>, &'static str> {
    for param in params.split_ascii_whitespace() {
        if let Some((key, value)) = param.split_once('=')
            && key.eq_ignore_ascii_case("SIZE")
        {
            return value
                .parse()
                .map(Some)
                .map_err(|_| "SIZE must be a number of bytes");
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_whatever_their_case() {
        assert_eq!(Command::parse("EHLO mx.example\r\n"), Command::Ehlo);
        assert_eq!(Command::parse("helo mx.example"), Command::Helo);
        assert!(matches!(Command::parse("EHLO"), Command::BadArguments(_)));
        assert_eq!(Command::parse("data\r\n"), Command::Data);
        assert_eq!(Command::parse("QUIT"), Command::Quit);
        assert_eq!(Command::parse("STARTTLS"), Command::Unknown);
        assert_eq!(Command::parse(""), Command::Unknown);
    }

    #[test]
    fn envelope_paths_and_sizes() {
        assert_eq!(
            Command::parse("MAIL FROM:<>"),
            Command::MailFrom { size: None }
        );
        assert_eq!(
            Command::parse("mail from: <MAILER-DAEMON@mx.example> BODY=8BITMIME SIZE=2048"),
            Command::MailFrom { size: Some(2048) }
        );
        assert!(matches!(
            Command::parse("MAIL FROM:<> SIZE=big"),
            Command::BadArguments(_)
        ));
        assert!(matches!(
            Command::parse("MAIL TO:<a@b>"),
            Command::BadArguments(_)
        ));
        assert_eq!(
            Command::parse("RCPT TO:<bounces+0123@mailroom.example>"),
            Command::RcptTo("bounces+0123@mailroom.example".into())
        );
        assert!(matches!(
            Command::parse("RCPT TO:<postmaster>"),
            Command::BadArguments(_)
        ));
        assert!(matches!(
            Command::parse("RCPT TO:bounces@x"),
            Command::BadArguments(_)
        ));
    }
}
