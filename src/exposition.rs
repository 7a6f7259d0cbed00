//! The Prometheus text format 0.0.4 and OpenMetrics 1.0, written from the family
//! catalog of `crate::metrics`.
//!
//! Rendering happens once per snapshot, in both formats, straight into gzip streams; a
//! scrape serves the stored bytes (or inflates them for a client that does not accept
//! gzip). Samples go from the snapshot's compact domain data to text without
//! intermediate per-series objects, so 100,000 series need no more memory than their
//! compressed text.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::Notify;

use crate::metrics::{Family, Inputs, Kind, Sink};
use crate::selfmetrics::SelfMetrics;
use crate::snapshot::Store;

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Renders the store's snapshot once per change into pre-rendered, pre-compressed
/// expositions and swaps them in atomically. A scrape only clones an `Arc` of what was
/// rendered last: it never calls AWS, never waits for a refresh and never renders.
#[derive(Debug)]
pub struct Renderer {
    store: Arc<Store>,
    families: Arc<Vec<Family>>,
    metrics: Arc<SelfMetrics>,
    exposition: RwLock<Arc<Exposition>>,
    /// Set once an exposition of a complete store has been rendered.
    ready: AtomicBool,
    requested: Notify,
    /// When a render for live counters was last asked for.
    last_live_request: std::sync::Mutex<Option<std::time::Instant>>,
}

/// The shortest time between two renders asked for by live counters alone.
pub const LIVE_RENDER_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Renderer {
    /// A renderer of `store` with the catalog `families`, with a first exposition (of
    /// the self-metrics, at least) already rendered.
    pub fn new(store: Arc<Store>, families: Arc<Vec<Family>>, metrics: Arc<SelfMetrics>) -> Arc<Renderer> {
        let renderer = Arc::new(Renderer {
            store,
            families,
            metrics,
            exposition: RwLock::new(Arc::new(Exposition::default())),
            ready: AtomicBool::new(false),
            requested: Notify::new(),
            last_live_request: std::sync::Mutex::new(None),
        });
        renderer.render();
        renderer
    }

    /// The family catalog.
    pub fn families(&self) -> &Arc<Vec<Family>> {
        &self.families
    }

    /// What a scrape serves.
    pub fn exposition(&self) -> Arc<Exposition> {
        self.exposition.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True once an exposition of a complete store (every target refreshed once) is
    /// being served.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Asks for a render without new data, because live counters changed (an OTLP
    /// push counted its requests), unless such a render was asked for less than
    /// [`LIVE_RENDER_EVERY`] ago: a render of the whole exposition costs far more than a
    /// push, so `/metrics` counts pushes at most that late and a short push interval
    /// does not multiply renders. Returns whether a render was asked for.
    pub fn request_render(&self) -> bool {
        let now = std::time::Instant::now();
        let mut last = self.last_live_request.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < LIVE_RENDER_EVERY) {
            return false;
        }
        *last = Some(now);
        self.requested.notify_one();
        true
    }

    /// Renders the current snapshot and swaps it in.
    pub fn render(&self) {
        let complete = self.store.is_complete();
        let snapshot = self.store.snapshot();
        let exposition = Exposition::render(&self.families, &Inputs { snapshot: &snapshot, counters: &self.metrics });
        *self.exposition.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(exposition);
        if complete {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    /// Renders after each change of the store (or request), coalescing bursts, off the
    /// async threads, and tells the store which generation is rendered.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.store.subscribe();
        loop {
            let generation = *changes.borrow_and_update();
            let renderer = self.clone();
            if tokio::task::spawn_blocking(move || renderer.render()).await.is_err() {
                tracing::error!("rendering the exposition panicked; serving the previous one");
            }
            self.store.mark_rendered(generation);
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = self.requested.notified() => {}
            }
        }
    }
}

/// The rendered expositions of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub text_gzip: Bytes,
    pub openmetrics_gzip: Bytes,
    /// Uncompressed sizes.
    pub text_bytes: usize,
    pub openmetrics_bytes: usize,
    /// Samples in one rendering.
    pub series: usize,
}

impl Exposition {
    /// Renders every family of the catalog in both formats.
    pub fn render(families: &[Family], inputs: &Inputs<'_>) -> Exposition {
        let (text_gzip, text_bytes, series) = gzip_render(families, inputs, Format::Text);
        let (openmetrics_gzip, openmetrics_bytes, _) = gzip_render(families, inputs, Format::OpenMetrics);
        Exposition { text_gzip, openmetrics_gzip, text_bytes, openmetrics_bytes, series }
    }

    /// The compressed body for a format.
    pub fn gzip(&self, format: Format) -> &Bytes {
        match format {
            Format::Text => &self.text_gzip,
            Format::OpenMetrics => &self.openmetrics_gzip,
        }
    }

    /// The uncompressed body for a format, inflated on demand (tests and tools; the
    /// server streams it instead).
    pub fn plain(&self, format: Format) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::with_capacity(match format {
            Format::Text => self.text_bytes,
            Format::OpenMetrics => self.openmetrics_bytes,
        });
        flate2::read::GzDecoder::new(&self.gzip(format)[..]).read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    bytes: usize,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn gzip_render(families: &[Family], inputs: &Inputs<'_>, format: Format) -> (Bytes, usize, usize) {
    // Fast compression: the text is highly repetitive, and rendering happens on every refresh.
    let encoder = GzEncoder::new(Vec::new(), Compression::new(3));
    let mut counting = Counting { inner: io::BufWriter::with_capacity(64 * 1024, encoder), bytes: 0 };
    let series = render(families, inputs, format, &mut counting).expect("writing into memory cannot fail");
    let bytes = counting.bytes;
    let encoder = counting.inner.into_inner().map_err(|e| e.into_error()).expect("flushing into memory cannot fail");
    let compressed = encoder.finish().expect("finishing a gzip stream in memory cannot fail");
    (Bytes::from(compressed), bytes, series)
}

/// Writes the whole exposition, every family of the catalog in order; returns the
/// number of samples.
pub fn render(families: &[Family], inputs: &Inputs<'_>, format: Format, out: &mut impl Write) -> io::Result<usize> {
    let mut w = Writer { out, format, series: 0, name: String::new() };
    for family in families {
        w.header(family.name, family.kind, &family.help, family.unit)?;
        w.name = family.sample_name();
        family.samples(inputs, &mut w)?;
    }
    w.finish()?;
    Ok(w.series)
}

/// Writes families and samples in one format.
struct Writer<'a, W> {
    out: &'a mut W,
    format: Format,
    series: usize,
    /// The sample name of the family being written.
    name: String,
}

impl<W: Write> Sink for Writer<'_, W> {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> io::Result<()> {
        let name = std::mem::take(&mut self.name);
        let result = self.write_sample(&name, labels, value);
        self.name = name;
        result
    }
}

impl<W: Write> Writer<'_, W> {
    /// Writes a family's metadata. `base` is the family name without `_total` or `_info`.
    fn header(&mut self, base: &str, kind: Kind, help: &str, unit: Option<&str>) -> io::Result<()> {
        match self.format {
            Format::Text => {
                let (name, type_name) = match kind {
                    Kind::Gauge => (base.to_owned(), "gauge"),
                    Kind::Counter => (format!("{base}_total"), "counter"),
                    Kind::Info => (format!("{base}_info"), "gauge"),
                };
                writeln!(self.out, "# HELP {name} {}", escape_help(help, false))?;
                writeln!(self.out, "# TYPE {name} {type_name}")
            }
            Format::OpenMetrics => {
                let type_name = match kind {
                    Kind::Gauge => "gauge",
                    Kind::Counter => "counter",
                    Kind::Info => "info",
                };
                writeln!(self.out, "# TYPE {base} {type_name}")?;
                if let Some(unit) = unit {
                    writeln!(self.out, "# UNIT {base} {unit}")?;
                }
                writeln!(self.out, "# HELP {base} {}", escape_help(help, true))
            }
        }
    }

    fn write_sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> io::Result<()> {
        self.out.write_all(name.as_bytes())?;
        if !labels.is_empty() {
            self.out.write_all(b"{")?;
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(k.as_bytes())?;
                self.out.write_all(b"=\"")?;
                write_label_value(self.out, v)?;
                self.out.write_all(b"\"")?;
            }
            self.out.write_all(b"}")?;
        }
        self.out.write_all(b" ")?;
        write_value(self.out, value)?;
        self.out.write_all(b"\n")?;
        self.series += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::OpenMetrics {
            self.out.write_all(b"# EOF\n")?;
        }
        self.out.flush()
    }
}

/// Escapes a label value: backslash, double quote and line feed (both formats).
fn write_label_value(out: &mut impl Write, v: &str) -> io::Result<()> {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return out.write_all(v.as_bytes());
    }
    for c in v.chars() {
        match c {
            '\\' => out.write_all(b"\\\\")?,
            '"' => out.write_all(b"\\\"")?,
            '\n' => out.write_all(b"\\n")?,
            c => write!(out, "{c}")?,
        }
    }
    Ok(())
}

/// Escapes HELP text: backslash and line feed, and in OpenMetrics also double quotes.
fn escape_help(help: &str, quotes: bool) -> String {
    let mut s = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '"' if quotes => s.push_str("\\\""),
            c => s.push(c),
        }
    }
    s
}

/// Formats a value as both formats expect: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
fn write_value(out: &mut impl Write, v: f64) -> io::Result<()> {
    if v.is_nan() {
        out.write_all(b"NaN")
    } else if v.is_infinite() {
        out.write_all(if v > 0.0 { b"+Inf" } else { b"-Inf" })
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write!(out, "{}", v as i64)
    } else {
        write!(out, "{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_counters_ask_for_a_render_at_most_once_a_minute() {
        let store = Store::new();
        let renderer = Renderer::new(store, Arc::new(Vec::new()), Arc::new(SelfMetrics::new()));
        assert!(renderer.request_render(), "the first push is counted at once");
        assert!(!renderer.request_render(), "the next within a minute waits for the next render");
        *renderer.last_live_request.lock().expect("not poisoned") = Some(std::time::Instant::now() - LIVE_RENDER_EVERY);
        assert!(renderer.request_render(), "a minute later, again");
    }

    fn label(v: &str) -> String {
        let mut out = Vec::new();
        write_label_value(&mut out, v).expect("in memory");
        String::from_utf8(out).expect("utf-8")
    }

    fn value(v: f64) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v).expect("in memory");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        assert_eq!(label(r#"Running On-Demand (A, C) "x"/y\z"#), r#"Running On-Demand (A, C) \"x\"/y\\z"#);
        assert_eq!(label("two\nlines"), "two\\nlines");
        assert_eq!(label("plain"), "plain");
    }

    #[test]
    fn values_are_integers_where_whole_and_special_values_are_spelt_out() {
        assert_eq!(value(640.0), "640");
        assert_eq!(value(0.85), "0.85");
        assert_eq!(value(-3.0), "-3");
        assert_eq!(value(1e20), "100000000000000000000");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn help_escapes_quotes_only_in_openmetrics() {
        assert_eq!(escape_help("a \"b\"\\c\nd", false), "a \"b\"\\\\c\\nd");
        assert_eq!(escape_help("a \"b\"", true), "a \\\"b\\\"");
    }

    #[test]
    fn counters_and_info_families_are_named_per_format() {
        let mut text = Vec::new();
        let mut w = Writer { out: &mut text, format: Format::Text, series: 0, name: String::new() };
        w.header("x_calls", Kind::Counter, "h", None).expect("in memory");
        w.header("x", Kind::Info, "h", None).expect("in memory");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(text.contains("# TYPE x_calls_total counter\n"));
        assert!(text.contains("# TYPE x_info gauge\n"));

        let mut om = Vec::new();
        let mut w = Writer { out: &mut om, format: Format::OpenMetrics, series: 0, name: String::new() };
        w.header("x_calls", Kind::Counter, "h", None).expect("in memory");
        w.header("x", Kind::Info, "h", None).expect("in memory");
        w.header("x_seconds", Kind::Gauge, "h", Some("seconds")).expect("in memory");
        w.finish().expect("in memory");
        let om = String::from_utf8(om).expect("utf-8");
        assert!(om.contains("# TYPE x_calls counter\n"));
        assert!(om.contains("# TYPE x info\n"));
        assert!(om.contains("# UNIT x_seconds seconds\n"));
        assert!(om.ends_with("# EOF\n"));
    }
}
