//! Compiling an account's templates into a sandboxed minijinja environment.
//!
//! Templates are written by account users, so they are untrusted code: the environment
//! has a fuel budget and a recursion limit ([`RenderLimits`]), no loader (no `include` of
//! files), and undefined names render empty instead of failing a send. Compiling a
//! 20 KB template costs about as much as rendering it, and a campaign renders the same
//! templates thousands of times, so compiled environments are cached by source.

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::escape::html_formatter;

/// Template names inside the environment; also the `field` of a [`TemplateError`].
pub(crate) const SUBJECT: &str = "subject";
pub(crate) const HTML: &str = "html";
pub(crate) const TEXT: &str = "text";

/// The templates of one message: a campaign's content or a transactional template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TemplateSource {
    pub subject: String,
    /// May be empty for a text-only message.
    pub html: String,
    /// `None`: the text part is derived from the rendered HTML.
    pub text: Option<String>,
}

/// A template that does not compile or failed while rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateError {
    /// `"subject"`, `"html"` or `"text"`.
    pub field: String,
    /// 1-based line in that template, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} template, line {line}: {}", self.field, self.message),
            None => write!(f, "{} template: {}", self.field, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

impl TemplateError {
    pub(crate) fn new(field: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        TemplateError {
            field: field.to_owned(),
            line,
            message: message.into(),
        }
    }

    /// Words a template author can act on; minijinja's own detail follows its kind.
    pub(crate) fn from_minijinja(
        field: &str,
        err: &minijinja::Error,
        limits: &RenderLimits,
    ) -> Self {
        let message = match err.kind() {
            minijinja::ErrorKind::OutOfFuel => format!(
                "the template did more work than a message may (fuel limit of {} used up); \
                 look for a loop that runs too often",
                limits.fuel
            ),
            kind => match err.detail() {
                Some(detail) => format!("{kind}: {detail}"),
                None => kind.to_string(),
            },
        };
        TemplateError::new(field, err.line(), message)
    }
}

/// How much work one template render may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RenderLimits {
    /// minijinja fuel per template render: roughly one unit per instruction and per
    /// byte of output.
    pub fuel: u64,
    /// minijinja's recursion counter (a macro call costs about 5).
    pub max_recursion: usize,
}

impl Default for RenderLimits {
    /// `bench/render`'s personalised 20 KB newsletter needs under 1,000 units (fuel counts
    /// instructions, not bytes copied), so this leaves room for large loops over
    /// transactional data, while a loop that never ends is stopped after about 40 ms in
    /// a release build (under a second unoptimised). The benchmark prints both figures.
    fn default() -> Self {
        RenderLimits {
            fuel: 2_000_000,
            max_recursion: 50,
        }
    }
}

/// Compiles all three templates and reports every one that does not compile.
pub fn check_templates(src: &TemplateSource) -> Result<(), Vec<TemplateError>> {
    let limits = RenderLimits::default();
    let mut env = environment(&limits);
    let errors: Vec<TemplateError> = sources(src)
        .filter_map(|(field, source)| {
            env.add_template_owned(field, source.to_owned())
                .err()
                .map(|err| TemplateError::from_minijinja(field, &err, &limits))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The templates of one [`TemplateSource`], compiled, with what rendering needs to know
/// about their sources.
pub(crate) struct CompiledTemplates {
    pub(crate) env: Environment<'static>,
    pub(crate) has_html: bool,
    pub(crate) has_text: bool,
    /// The parts that read `contact`: only those differ from one recipient to the next.
    reading_contact: Vec<&'static str>,
}

impl CompiledTemplates {
    /// Whether `part`'s output can differ between two recipients of one message.
    pub(crate) fn reads_contact(&self, part: &str) -> bool {
        self.reading_contact.contains(&part)
    }

    /// The parts a render runs, in order.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &'static str> {
        [
            (SUBJECT, true),
            (HTML, self.has_html),
            (TEXT, self.has_text),
        ]
        .into_iter()
        .filter_map(|(part, runs)| runs.then_some(part))
    }
}

/// Returns the compiled templates for `src`, from the cache when it holds them.
pub(crate) fn compiled(
    src: &TemplateSource,
    limits: &RenderLimits,
) -> Result<Arc<CompiledTemplates>, TemplateError> {
    let key = cache_key(src, limits);
    if let Some(hit) = CACHE.lookup(key, src, limits) {
        return Ok(hit);
    }
    let compiled = Arc::new(compile(src, limits)?);
    CACHE.store(key, src, limits, Arc::clone(&compiled));
    Ok(compiled)
}

fn compile(
    src: &TemplateSource,
    limits: &RenderLimits,
) -> Result<CompiledTemplates, TemplateError> {
    let mut env = environment(limits);
    for (field, source) in sources(src) {
        env.add_template_owned(field, source.to_owned())
            .map_err(|err| TemplateError::from_minijinja(field, &err, limits))?;
    }
    // `contact` is the only name that differs between recipients of one message (the
    // context's other names are the message's own); a template that never names it renders
    // the same for all of them.
    let reading_contact = sources(src)
        .map(|(field, _)| field)
        .filter(|field| {
            env.get_template(field)
                .map(|t| t.undeclared_variables(false).contains("contact"))
                .unwrap_or(true)
        })
        .collect();
    Ok(CompiledTemplates {
        has_html: !src.html.trim().is_empty(),
        has_text: src.text.is_some(),
        reading_contact,
        env,
    })
}

/// The sandbox every account template runs in.
fn environment(limits: &RenderLimits) -> Environment<'static> {
    let mut env = Environment::new();
    // Chainable: `{{ campaign.name }}` in a transactional template or a property the
    // contact lacks renders empty rather than failing the send.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.max_recursion);
    // Only the HTML part is markup; escaping the subject or text would show `&amp;`.
    env.set_auto_escape_callback(|name| {
        if name == HTML {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(html_formatter);
    env
}

fn sources(src: &TemplateSource) -> impl Iterator<Item = (&'static str, &str)> {
    [
        (SUBJECT, Some(src.subject.as_str())),
        (HTML, Some(src.html.as_str())),
        (TEXT, src.text.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, source)| source.map(|s| (field, s)))
}

/// Hashes the lengths and the ends of each template rather than all 20 KB of it: a hit
/// is then confirmed by comparing the full sources, which is much cheaper than hashing.
fn cache_key(src: &TemplateSource, limits: &RenderLimits) -> u64 {
    const SAMPLE: usize = 256;
    let mut hasher = DefaultHasher::new();
    for (field, source) in sources(src) {
        let bytes = source.as_bytes();
        field.hash(&mut hasher);
        bytes.len().hash(&mut hasher);
        bytes[..bytes.len().min(SAMPLE)].hash(&mut hasher);
        bytes[bytes.len().saturating_sub(SAMPLE)..].hash(&mut hasher);
    }
    limits.hash(&mut hasher);
    hasher.finish()
}

/// Enough for every campaign a worker sends at once; past it the cache starts over,
/// which costs one compile per template and needs no bookkeeping.
const CACHE_CAPACITY: usize = 256;

static CACHE: LazyLock<TemplateCache> = LazyLock::new(TemplateCache::default);

struct CacheEntry {
    source: TemplateSource,
    limits: RenderLimits,
    compiled: Arc<CompiledTemplates>,
}

#[derive(Default)]
struct TemplateCache {
    entries: Mutex<HashMap<u64, Vec<CacheEntry>>>,
}

impl TemplateCache {
    fn lookup(
        &self,
        key: u64,
        src: &TemplateSource,
        limits: &RenderLimits,
    ) -> Option<Arc<CompiledTemplates>> {
        // A poisoned lock only means another render panicked; the map is still usable.
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(&key)?
            .iter()
            .find(|entry| entry.limits == *limits && entry.source == *src)
            .map(|entry| Arc::clone(&entry.compiled))
    }

    fn store(
        &self,
        key: u64,
        src: &TemplateSource,
        limits: &RenderLimits,
        compiled: Arc<CompiledTemplates>,
    ) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        let bucket = entries.entry(key).or_default();
        if !bucket
            .iter()
            .any(|entry| entry.limits == *limits && entry.source == *src)
        {
            bucket.push(CacheEntry {
                source: src.clone(),
                limits: *limits,
                compiled,
            });
        }
    }
}
