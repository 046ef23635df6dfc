//! `chanhub export KIND [--from T] [--to T] [--format csv|json]`: the accounting export,
//! streamed from the node to standard output as it arrives (never held whole in memory).

use std::io::Write;

use crate::api::client::ApiClient;

/// The export's path and query: times are passed through for the node to check, each
/// percent-encoded where a URL needs it.
pub fn path(kind: &str, from: Option<&str>, to: Option<&str>, format: Option<&str>) -> String {
    let mut query = Vec::new();
    for (name, value) in [("from", from), ("to", to), ("format", format)] {
        if let Some(v) = value {
            query.push(format!("{name}={}", encode(v)));
        }
    }
    let mut p = format!("/v1/export/{}", encode(kind));
    if !query.is_empty() {
        p.push('?');
        p.push_str(&query.join("&"));
    }
    p
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes the export to `out` (standard output) chunk by chunk as it arrives; the error names
/// what failed (the node's own error for a bad kind or time).
pub async fn run(client: &ApiClient, path: &str, out: &mut impl Write) -> Result<u64, String> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let written = client
        .download(path, &mut out)
        .await
        .map_err(|e| e.to_string())?;
    out.flush().map_err(|e| format!("writing: {e}"))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_encodes_what_the_user_typed() {
        assert_eq!(path("payments", None, None, None), "/v1/export/payments");
        assert_eq!(
            path(
                "forwards",
                Some("2026-12-01T00:00:00Z"),
                Some("1796169600"),
                Some("json")
            ),
            "/v1/export/forwards?from=2026-12-01T00%3A00%3A00Z&to=1796169600&format=json"
        );
        assert_eq!(
            path("events", Some("a b&c=d"), None, None),
            "/v1/export/events?from=a%20b%26c%3Dd"
        );
    }
}
