//! The accounting export's pure part: the query (`from`, `to`, `format`), the columns of each
//! kind, and a row written as a CSV record or a JSON line. `channel-spec/export.md` is the
//! contract.
//!
//! - Times are read as UTC: RFC 3339 with `Z` (`2026-12-01T00:00:00Z`, fractions allowed and
//!   dropped), a date (`2026-12-01`, its midnight) or Unix seconds; written as RFC 3339 with
//!   `Z`, to the second.
//! - Every amount is two columns: `NAME_msat` (an integer) and `NAME_sat`, the same value
//!   divided by 1000 written exactly, as a decimal with up to three fractional digits: no
//!   rounding, so summing either column gives the same total.
//! - CSV: RFC 4180 (a header record, CRLF line ends, a field quoted when it holds a comma,
//!   a quote, CR or LF; an absent value is an empty field). JSON: JSON Lines, one object per
//!   row with every column (an absent value is `null`).

use rusqlite::types::Value;

use crate::error::Error;
use crate::store::export::Kind;

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "jsonl",
        }
    }
}

/// What one export asks for: rows with a time in `[from, to)` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportQuery {
    pub from: i64,
    pub to: i64,
    pub format: Format,
}

/// Times after this (the year 10000) are refused: nothing is recorded there, and every time
/// below it formats as a four-digit year.
const MAX_TIME: i64 = 253_402_300_800;

impl ExportQuery {
    /// Reads the raw query string; without `from`/`to` the export starts at the beginning
    /// and runs to the end, without `format` it is CSV.
    pub fn parse(query: Option<&str>) -> Result<Self, Error> {
        let mut q = ExportQuery {
            from: 0,
            to: MAX_TIME,
            format: Format::Csv,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)
                .ok_or_else(|| invalid(format!("{key}: not UTF-8 after percent-decoding")))?;
            match key {
                "from" => q.from = parse_time(&value).map_err(|e| invalid(format!("from: {e}")))?,
                "to" => q.to = parse_time(&value).map_err(|e| invalid(format!("to: {e}")))?,
                "format" => {
                    q.format = match value.as_str() {
                        "csv" => Format::Csv,
                        "json" => Format::Json,
                        other => {
                            return Err(invalid(format!(
                                "format {other:?} is neither csv nor json"
                            )))
                        }
                    }
                }
                other => {
                    return Err(invalid(format!(
                        "unknown query parameter {other:?} (expected from, to, format)"
                    )))
                }
            }
        }
        if q.from >= q.to {
            return Err(invalid("from must be before to".into()));
        }
        Ok(q)
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidRequest(msg)
}

/// `%XX` escapes and `+` (a space) decoded; `None` when the result is not UTF-8 or an escape
/// is malformed.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A UTC time: RFC 3339 with `Z`, a date, or Unix seconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let bad =
        || format!("{s:?} is not a UTC time (2026-12-01T00:00:00Z, 2026-12-01 or Unix seconds)");
    let secs = if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse::<i64>().map_err(|_| bad())?
    } else {
        let full = if s.len() == 10 {
            format!("{s}T00:00:00Z")
        } else {
            s.to_string()
        };
        let t = humantime::parse_rfc3339(&full).map_err(|_| bad())?;
        let d = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?;
        i64::try_from(d.as_secs()).map_err(|_| bad())?
    };
    if secs > MAX_TIME {
        return Err(format!("{s:?} is after the year 9999"));
    }
    Ok(secs)
}

/// Unix seconds as RFC 3339 UTC, to the second.
pub fn format_time(secs: i64) -> String {
    let secs = secs.clamp(0, MAX_TIME - 1) as u64;
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

/// `msat / 1000`, exactly: `1234567` → `1234.567`, `1500` → `1.5`, `-2000` → `-2`.
pub fn sat_of_msat(msat: i64) -> String {
    let sign = if msat < 0 { "-" } else { "" };
    let abs = msat.unsigned_abs();
    let (whole, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:03}");
    format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
}

/// How a column's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Bytes as lowercase hex.
    Hex,
    /// A transaction id: bytes in the chain's order, shown reversed (as block explorers do).
    Txid,
    Text,
    Int,
    /// Unix seconds, written as RFC 3339.
    Time,
    /// 0 or 1, written `true` / `false`.
    Bool,
    /// Millisatoshis: two columns, `NAME_msat` and `NAME_sat`.
    Msat,
    /// A JSON document: as text in CSV, embedded in JSON.
    Json,
}

/// One column as the store selects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: Ty,
}

const fn c(name: &'static str, ty: Ty) -> Column {
    Column { name, ty }
}

use Ty::*;

const PAYMENTS: &[Column] = &[
    c("payment_hash", Hex),
    c("status", Text),
    c("amount", Msat),
    c("fee", Msat),
    c("payee", Hex),
    c("created_at", Time),
    c("resolved_at", Time),
    c("failure", Text),
    c("bolt11", Text),
];

const INVOICES: &[Column] = &[
    c("payment_hash", Hex),
    c("status", Text),
    c("amount", Msat),
    c("received", Msat),
    c("description", Text),
    c("created_at", Time),
    c("expires_at", Time),
    c("paid_at", Time),
    c("bolt11", Text),
];

const FORWARDS: &[Column] = &[
    c("payment_hash", Hex),
    c("status", Text),
    c("in_channel_id", Hex),
    c("in_htlc_id", Int),
    c("out_channel_id", Hex),
    c("out_htlc_id", Int),
    c("in", Msat),
    c("out", Msat),
    c("fee", Msat),
    c("fee_earned", Msat),
    c("created_at", Time),
    c("resolved_at", Time),
    c("failure", Text),
];

const ONCHAIN: &[Column] = &[
    c("txid", Txid),
    c("first_seen_at", Time),
    c("block_height", Int),
    c("coinbase", Bool),
    c("received", Msat),
    c("sent", Msat),
    c("net", Msat),
    c("fee", Msat),
];

const EVENTS: &[Column] = &[
    c("id", Int),
    c("type", Text),
    c("created_at", Time),
    c("payment_hash", Text),
    c("channel_id", Text),
    c("amount", Msat),
    c("fee", Msat),
    c("data", Json),
];

/// The columns of each kind, in the order `store::export` selects them.
pub fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Payments => PAYMENTS,
        Kind::Invoices => INVOICES,
        Kind::Forwards => FORWARDS,
        Kind::Onchain => ONCHAIN,
        Kind::Events => EVENTS,
    }
}

/// The output column names of `kind` (an amount is two of them).
pub fn header_names(kind: Kind) -> Vec<String> {
    let mut out = Vec::new();
    for col in columns(kind) {
        if col.ty == Ty::Msat {
            out.push(format!("{}_msat", col.name));
            out.push(format!("{}_sat", col.name));
        } else {
            out.push(col.name.to_string());
        }
    }
    out
}

/// The CSV header record, CRLF included.
pub fn csv_header(kind: Kind) -> String {
    let mut out = String::new();
    for (i, name) in header_names(kind).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(name, &mut out);
    }
    out.push_str("\r\n");
    out
}

/// Appends `s` as one CSV field (RFC 4180): quoted when it holds a separator, a quote or a
/// line break, its quotes doubled.
pub fn csv_field(s: &str, out: &mut String) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Free text a spreadsheet would run as a formula (a description or a failure a stranger
/// wrote: `=HYPERLINK(...)`) starts with a quote instead, as OWASP advises for CSV.
fn defused(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

/// One value as text (CSV), `None` when absent.
fn text_of(v: &Value, ty: Ty) -> Option<String> {
    Some(match (v, ty) {
        (Value::Null, _) => return None,
        (Value::Blob(b), Ty::Txid) => {
            let mut b = b.clone();
            b.reverse();
            hex::encode(b)
        }
        (Value::Blob(b), _) => hex::encode(b),
        (Value::Integer(n), Ty::Time) => format_time(*n),
        (Value::Integer(n), Ty::Bool) => (*n != 0).to_string(),
        (Value::Integer(n), Ty::Msat) => sat_of_msat(*n),
        (Value::Integer(n), _) => n.to_string(),
        (Value::Real(f), _) => f.to_string(),
        (Value::Text(s), Ty::Text) => defused(s.clone()),
        (Value::Text(s), _) => s.clone(),
    })
}

/// Appends one row as a CSV record, CRLF included.
pub fn csv_row(kind: Kind, cells: &[Value], out: &mut String) {
    let mut first = true;
    let mut field = |s: Option<&str>, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        if let Some(s) = s {
            csv_field(s, out);
        }
    };
    for (col, v) in columns(kind).iter().zip(cells) {
        if col.ty == Ty::Msat {
            let msat = match v {
                Value::Integer(n) => Some(n.to_string()),
                _ => None,
            };
            field(msat.as_deref(), out);
        }
        field(text_of(v, col.ty).as_deref(), out);
    }
    out.push_str("\r\n");
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Appends one row as a JSON object on its own line.
pub fn json_row(kind: Kind, cells: &[Value], out: &mut String) {
    out.push('{');
    let mut first = true;
    let mut member = |name: &str, value: &str, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&json_string(name));
        out.push(':');
        out.push_str(value);
    };
    for (col, v) in columns(kind).iter().zip(cells) {
        let text = text_of(v, col.ty);
        match (col.ty, v) {
            (_, Value::Null) if col.ty == Ty::Msat => {
                member(&format!("{}_msat", col.name), "null", out);
                member(&format!("{}_sat", col.name), "null", out);
            }
            (_, Value::Null) => member(col.name, "null", out),
            (Ty::Msat, Value::Integer(n)) => {
                member(&format!("{}_msat", col.name), &n.to_string(), out);
                member(&format!("{}_sat", col.name), &sat_of_msat(*n), out);
            }
            (Ty::Int | Ty::Bool, Value::Integer(_)) => {
                member(col.name, text.as_deref().unwrap_or("null"), out)
            }
            (Ty::Json, Value::Text(s))
                if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() =>
            {
                member(col.name, s, out)
            }
            _ => member(
                col.name,
                &json_string(text.as_deref().unwrap_or_default()),
                out,
            ),
        }
    }
    out.push_str("}\n");
}

/// A CSV document read back into records (tests): the inverse of [`csv_row`].
#[cfg(test)]
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "a complete last line"
    );
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_and_format_back() {
        assert_eq!(parse_time("2026-12-01T00:00:00Z").unwrap(), 1_796_083_200);
        assert_eq!(parse_time("2026-12-01").unwrap(), 1_796_083_200);
        assert_eq!(
            parse_time("2026-12-01T00:00:01.75Z").unwrap(),
            1_796_083_201
        );
        assert_eq!(parse_time("1796083200").unwrap(), 1_796_083_200);
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(format_time(1_796_083_200), "2026-12-01T00:00:00Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        for bad in [
            "",
            "yesterday",
            "2026-12-01T00:00:00+01:00",
            "2026-13-01",
            "2026-12-01T25:00:00Z",
            "-5",
            "1.5",
            "99999999999999999999",
            "253402300801",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sat_is_msat_over_1000_exactly() {
        for (msat, sat) in [
            (0, "0"),
            (1, "0.001"),
            (10, "0.01"),
            (999, "0.999"),
            (1000, "1"),
            (1500, "1.5"),
            (1_234_567, "1234.567"),
            (-1, "-0.001"),
            (-2000, "-2"),
            (-1_234_567, "-1234.567"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            assert_eq!(sat_of_msat(msat), sat, "{msat}");
        }
    }

    #[test]
    fn queries_take_from_to_and_format_and_refuse_the_rest() {
        let q = ExportQuery::parse(Some(
            "from=2026-12-01T00%3A00%3A00Z&to=1796169600&format=json",
        ))
        .unwrap();
        assert_eq!(
            q,
            ExportQuery {
                from: 1_796_083_200,
                to: 1_796_169_600,
                format: Format::Json
            }
        );
        let d = ExportQuery::parse(None).unwrap();
        assert_eq!((d.from, d.format), (0, Format::Csv));
        assert!(d.to > 4_000_000_000);
        for bad in [
            "from=tomorrow",
            "to=",
            "format=xml",
            "limit=5",
            "from=200&to=100",
            "from=100&to=100",
            "from=%ZZ",
            "from=%ff",
        ] {
            match ExportQuery::parse(Some(bad)) {
                Err(Error::InvalidRequest(_)) => {}
                other => panic!("{bad}: expected invalid_request, got {other:?}"),
            }
        }
    }

    fn payment(failure: &str) -> Vec<Value> {
        vec![
            Value::Blob(vec![0xab; 32]),
            Value::Text("failed".into()),
            Value::Integer(1_234_567),
            Value::Integer(1_000),
            Value::Blob(vec![2; 33]),
            Value::Integer(1_796_083_200),
            Value::Null,
            Value::Text(failure.into()),
            Value::Null,
        ]
    }

    #[test]
    fn csv_rows_quote_what_needs_it_and_read_back() {
        let mut doc = csv_header(Kind::Payments);
        assert_eq!(
            doc,
            "payment_hash,status,amount_msat,amount_sat,fee_msat,fee_sat,payee,created_at,\
             resolved_at,failure,bolt11\r\n"
        );
        let nasty = "no route, \"temporary\"\r\nchannel failure";
        csv_row(Kind::Payments, &payment(nasty), &mut doc);
        csv_row(Kind::Payments, &payment("plain"), &mut doc);
        let records = parse_csv(&doc);
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r.len() == 11));
        let r = &records[1];
        assert_eq!(r[0], "ab".repeat(32));
        assert_eq!(&r[1..6], ["failed", "1234567", "1234.567", "1000", "1"]);
        assert_eq!(r[6], "02".repeat(33));
        assert_eq!(r[7], "2026-12-01T00:00:00Z");
        assert_eq!(r[8], "", "absent");
        assert_eq!(r[9], nasty);
        assert_eq!(records[2][9], "plain");
        assert!(doc.ends_with(",plain,\r\n"), "unquoted when plain");
        // Text a spreadsheet would evaluate is defused; numbers are not text.
        for (given, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("a=b", "a=b"),
        ] {
            let mut d = String::new();
            csv_row(Kind::Payments, &payment(given), &mut d);
            assert_eq!(parse_csv(&d)[0][9], written, "{given:?}");
        }
    }

    #[test]
    fn json_rows_are_one_object_per_line_with_every_column() {
        let mut doc = String::new();
        json_row(Kind::Payments, &payment("a \"quoted\"\nfailure"), &mut doc);
        assert_eq!(doc.matches('\n').count(), 1, "one line: {doc}");
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(
            obj.keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            header_names(Kind::Payments).into_iter().collect()
        );
        assert_eq!(v["amount_msat"], 1_234_567);
        assert_eq!(v["amount_sat"].to_string(), "1234.567");
        assert_eq!(v["fee_sat"], 1);
        assert_eq!(v["resolved_at"], serde_json::Value::Null);
        assert_eq!(v["failure"], "a \"quoted\"\nfailure");
        assert_eq!(v["created_at"], "2026-12-01T00:00:00Z");
    }

    #[test]
    fn txids_read_reversed_and_events_embed_their_json() {
        let mut txid = vec![0u8; 32];
        txid[0] = 1;
        let row = vec![
            Value::Blob(txid),
            Value::Integer(5),
            Value::Null,
            Value::Integer(1),
            Value::Integer(2_000),
            Value::Integer(0),
            Value::Integer(-7_000),
            Value::Null,
        ];
        let mut csv = String::new();
        csv_row(Kind::Onchain, &row, &mut csv);
        assert_eq!(
            csv,
            format!(
                "{}01,1970-01-01T00:00:05Z,,true,2000,2,0,0,-7000,-7,,\r\n",
                "0".repeat(62)
            )
        );
        let event = vec![
            Value::Integer(7),
            Value::Text("invoice_paid".into()),
            Value::Integer(0),
            Value::Text("ab".into()),
            Value::Null,
            Value::Integer(5),
            Value::Null,
            Value::Text(r#"{"type":"invoice_paid","amount_msat":5}"#.into()),
        ];
        let mut line = String::new();
        json_row(Kind::Events, &event, &mut line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["data"]["amount_msat"], 5);
        assert_eq!(v["amount_sat"].to_string(), "0.005");
        let mut csv = String::new();
        csv_row(Kind::Events, &event, &mut csv);
        let data = r#","{""type"":""invoice_paid"",""amount_msat"":5}""#;
        assert!(csv.ends_with(&format!("{data}\r\n")), "{csv}");
    }

    #[test]
    fn every_kind_selects_as_many_cells_as_it_has_columns() {
        let store = crate::store::Store::open_in_memory().unwrap();
        for kind in Kind::ALL {
            let n = store
                .blocking(|c| Ok(c.prepare(kind.sql())?.column_count()))
                .unwrap();
            assert_eq!(n - 2, columns(kind).len(), "{kind:?}");
        }
    }
}
