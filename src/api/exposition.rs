//! The Prometheus text exposition format, version 0.0.4, written by hand: `# HELP` and
//! `# TYPE` lines, then one `name{label="value"} number` line per sample.
//!
//! Escaping follows the format: in a label value `\`, `"` and a newline become `\\`, `\"`
//! and `\n`; in a help text only `\` and the newline are escaped. Names are ours (constants),
//! so they are checked in debug builds only.

use std::fmt::Write;

/// What `Content-Type` says of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type, as the `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (a decrease is read as a restart).
    Counter,
    /// Goes up and down.
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Observations counted into buckets by upper bound, with their sum and count: what a
/// Prometheus histogram exposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds, ascending and finite; the `+Inf` bucket is implicit.
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative); one more than `bounds`, the last for `+Inf`.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// # Panics
    /// If `bounds` is not strictly ascending or holds a value that is not finite.
    pub fn new(bounds: &[f64]) -> Histogram {
        assert!(
            bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]),
            "histogram bounds must be finite and strictly ascending"
        );
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Counts `n` observations of `value` (in the first bucket whose bound is at least it).
    pub fn observe_n(&mut self, value: f64, n: u64) {
        let i = self.bounds.partition_point(|b| *b < value);
        self.counts[i] += n;
        self.sum += value * n as f64;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A Prometheus float: integers without a fraction, infinities as `+Inf` / `-Inf`.
fn float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's shortest round-trip form ("0.05", "1", "NaN"), which Go's ParseFloat reads.
        v.to_string()
    }
}

fn valid_name(name: &str, colon: bool) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The text of one scrape, family by family. Each family is written whole (HELP, TYPE,
/// samples), so a family's lines are never interleaved with another's, as the format requires.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    fn header(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_name(name, true), "metric name {name:?}");
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(help, &mut self.out);
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.as_str());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(
                    valid_name(k, false) && !k.starts_with("__"),
                    "label name {k:?}"
                );
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label_value(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.header(name, kind, help);
        self.sample(name, &[], &value.to_string());
    }

    /// A family with one label: a sample per `(label value, value)`.
    pub fn labelled(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        label: &str,
        samples: &[(&str, u64)],
    ) {
        self.header(name, kind, help);
        for (v, value) in samples {
            self.sample(name, &[(label, v)], &value.to_string());
        }
    }

    /// A family with any labels: a sample per `(labels, value)`.
    pub fn family(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: &[(&[(&str, &str)], u64)],
    ) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            self.sample(name, labels, &value.to_string());
        }
    }

    /// A histogram: cumulative `name_bucket{le="..."}` lines ending with `+Inf`, then
    /// `name_sum` and `name_count`.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        let bounds = h.bounds.iter().copied().chain([f64::INFINITY]);
        for (bound, n) in bounds.zip(&h.counts) {
            cumulative += n;
            self.sample(&bucket, &[("le", &float(bound))], &cumulative.to_string());
        }
        self.sample(&format!("{name}_sum"), &[], &float(h.sum));
        self.sample(&format!("{name}_count"), &[], &h.count().to_string());
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_samples() {
        let mut e = Exposition::new();
        e.single("x_height", Kind::Gauge, "The height.", 7);
        e.labelled(
            "x_things",
            Kind::Counter,
            "Things.",
            "kind",
            &[("a", 1), ("b", 0)],
        );
        assert_eq!(
            e.finish(),
            "# HELP x_height The height.\n\
             # TYPE x_height gauge\n\
             x_height 7\n\
             # HELP x_things Things.\n\
             # TYPE x_things counter\n\
             x_things{kind=\"a\"} 1\n\
             x_things{kind=\"b\"} 0\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::new();
        e.labelled(
            "x",
            Kind::Gauge,
            "a \\ b\nc \"q\"",
            "v",
            &[("back\\slash \"quoted\"\nline", 1)],
        );
        let text = e.finish();
        let lines: Vec<&str> = text.lines().collect();
        // In help only the backslash and the newline are escaped; quotes stay.
        assert_eq!(lines[0], "# HELP x a \\\\ b\\nc \"q\"");
        assert_eq!(lines[2], "x{v=\"back\\\\slash \\\"quoted\\\"\\nline\"} 1");
        assert_eq!(lines.len(), 3, "an escaped newline does not break the line");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let mut h = Histogram::new(&[0.5, 1.0, 2.5]);
        h.observe_n(0.0, 2);
        h.observe_n(1.0, 1); // on a bound: counted in that bucket (le means <=)
        h.observe_n(2.0, 3);
        h.observe_n(100.0, 1);
        assert_eq!(h.count(), 7);
        let mut e = Exposition::new();
        e.histogram("x_seconds", "Took.", &h);
        assert_eq!(
            e.finish(),
            "# HELP x_seconds Took.\n\
             # TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.5\"} 2\n\
             x_seconds_bucket{le=\"1\"} 3\n\
             x_seconds_bucket{le=\"2.5\"} 6\n\
             x_seconds_bucket{le=\"+Inf\"} 7\n\
             x_seconds_sum 107\n\
             x_seconds_count 7\n"
        );
    }

    #[test]
    fn an_empty_histogram_has_every_bucket_at_zero() {
        let mut e = Exposition::new();
        e.histogram("h", "H.", &Histogram::new(&[1.0]));
        let text = e.finish();
        assert!(
            text.contains("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n")
        );
    }

    #[test]
    #[should_panic(expected = "ascending")]
    fn bounds_out_of_order_are_refused() {
        Histogram::new(&[1.0, 0.5]);
    }

    #[test]
    fn floats_are_written_as_prometheus_reads_them() {
        assert_eq!(float(0.05), "0.05");
        assert_eq!(float(1.0), "1");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert!(valid_name("chanhub_x:y_1", true));
        assert!(!valid_name("1x", true) && !valid_name("a-b", true) && !valid_name("a:b", false));
    }
}
