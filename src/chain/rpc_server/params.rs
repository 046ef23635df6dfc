//! Method arguments as Bitcoin Core checks them: positional or named (`{"verbose": true}`),
//! argument count (wrong count answers the usage text, -1), JSON types (-3), then
//! per-argument parsing with Core's messages.

use std::str::FromStr;

use serde_json::Value;

use super::error::{codes, RpcError};

/// The JSON type an argument must have (Core's `RPCArg::Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    Str,
    Num,
    Bool,
    Arr,
    /// A number or a string; checked when parsed.
    Amount,
    /// Checked when parsed (verbosity accepts a number or a bool).
    Any,
}

/// One argument of a method. `names` may hold aliases, `"verbosity|verbose"`.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    pub names: &'static str,
    pub ty: ArgType,
    pub required: bool,
}

pub const fn req(names: &'static str, ty: ArgType) -> Arg {
    Arg {
        names,
        ty,
        required: true,
    }
}

pub const fn opt(names: &'static str, ty: ArgType) -> Arg {
    Arg {
        names,
        ty,
        required: false,
    }
}

/// The arguments of one call, positional, checked against the method's [`Arg`]s.
#[derive(Debug)]
pub struct Params {
    values: Vec<Value>,
}

/// UniValue's name of a JSON type, as Core's messages show it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(got: &Value, expected: &str) -> String {
    format!(
        "JSON value of type {} is not of expected type {expected}",
        type_name(got)
    )
}

/// The usage line Core prints first in its help, e.g. `getblock "blockhash" ( verbosity )`.
pub fn usage(method: &str, args: &[Arg]) -> String {
    let mut out = method.to_owned();
    let mut optional_open = false;
    for a in args {
        let name = a.names.split('|').next().unwrap_or(a.names);
        let shown = match a.ty {
            ArgType::Str => format!("\"{name}\""),
            ArgType::Arr => format!("[\"{name}\",...]"),
            _ => name.to_owned(),
        };
        if !a.required && !optional_open {
            out.push_str(" (");
            optional_open = true;
        }
        out.push(' ');
        out.push_str(&shown);
    }
    if optional_open {
        out.push_str(" )");
    }
    out
}

impl Params {
    /// Checks `raw` (an array, an object of named arguments, or absent) against `args`.
    pub fn check(method: &str, args: &[Arg], raw: &Value) -> Result<Params, RpcError> {
        let values = match raw {
            Value::Array(a) => a.clone(),
            Value::Object(o) => named_to_positional(args, o)?,
            _ => Vec::new(),
        };
        let required = args.iter().take_while(|a| a.required).count();
        if values.len() < required || values.len() > args.len() {
            return Err(RpcError::misc(format!(
                "{}\n\nWrong number of arguments: {} given, {}{} expected.",
                usage(method, args),
                values.len(),
                required,
                if required == args.len() {
                    String::new()
                } else {
                    format!(" to {}", args.len())
                }
            )));
        }
        let mut mismatches = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let v = values.get(i).unwrap_or(&Value::Null);
            if !a.required && v.is_null() {
                continue;
            }
            let expected = match a.ty {
                ArgType::Str => Some(("string", v.is_string())),
                ArgType::Num => Some(("number", v.is_number())),
                ArgType::Bool => Some(("bool", v.is_boolean())),
                ArgType::Arr => Some(("array", v.is_array())),
                ArgType::Amount | ArgType::Any => None,
            };
            if let Some((name, false)) = expected {
                mismatches.push(format!(
                    "    \"Position {} ({})\": \"{}\"",
                    i + 1,
                    a.names,
                    type_error(v, name)
                ));
            }
        }
        if !mismatches.is_empty() {
            return Err(RpcError::new(
                codes::TYPE_ERROR,
                format!("Wrong type passed:\n{{\n{}\n}}", mismatches.join(",\n")),
            ));
        }
        Ok(Params { values })
    }

    /// The argument at `i`, `None` when absent or null.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    pub fn str(&self, i: usize) -> Result<&str, RpcError> {
        let v = self.values.get(i).unwrap_or(&Value::Null);
        v.as_str()
            .ok_or_else(|| RpcError::new(codes::TYPE_ERROR, type_error(v, "string")))
    }

    /// An integer argument. Non-integers and out-of-range values fail as UniValue's `getInt`.
    pub fn int(&self, i: usize) -> Result<i64, RpcError> {
        let v = self.values.get(i).unwrap_or(&Value::Null);
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| RpcError::misc("JSON integer out of range")),
            _ => Err(RpcError::new(codes::TYPE_ERROR, type_error(v, "number"))),
        }
    }

    /// An integer argument that must fit in `T` (Core's `getInt<T>`).
    pub fn int_as<T: TryFrom<i64>>(&self, i: usize) -> Result<T, RpcError> {
        T::try_from(self.int(i)?).map_err(|_| RpcError::misc("JSON integer out of range"))
    }

    pub fn bool_or(&self, i: usize, default: bool) -> Result<bool, RpcError> {
        match self.get(i) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(RpcError::new(codes::TYPE_ERROR, type_error(v, "bool"))),
        }
    }

    pub fn array(&self, i: usize) -> Result<&Vec<Value>, RpcError> {
        let v = self.values.get(i).unwrap_or(&Value::Null);
        v.as_array()
            .ok_or_else(|| RpcError::new(codes::TYPE_ERROR, type_error(v, "array")))
    }

    /// A 256-bit hash in Core's hex (e.g. a txid), with `ParseHashV`'s messages.
    pub fn hash<T: FromStr>(&self, i: usize, name: &str) -> Result<T, RpcError> {
        parse_hash(self.str(i)?, name)
    }

    /// Core's `ParseVerbosity`: a number, or a bool when `allow_bool`.
    pub fn verbosity(&self, i: usize, default: i64, allow_bool: bool) -> Result<i64, RpcError> {
        match self.get(i) {
            None => Ok(default),
            Some(Value::Bool(b)) if allow_bool => Ok(*b as i64),
            Some(Value::Bool(_)) => Err(RpcError::new(
                codes::TYPE_ERROR,
                "Verbosity was boolean but only integer allowed",
            )),
            Some(_) => self.int_as::<i32>(i).map(i64::from),
        }
    }

    /// An amount in BTC (number or string, at most eight decimals), in satoshis, or `default`.
    pub fn amount_or(&self, i: usize, default: i64) -> Result<i64, RpcError> {
        let Some(v) = self.get(i) else {
            return Ok(default);
        };
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => {
                return Err(RpcError::new(
                    codes::TYPE_ERROR,
                    "Amount is not a number or string",
                ))
            }
        };
        let sat = parse_fixed_point(&text, 8)
            .ok_or_else(|| RpcError::new(codes::TYPE_ERROR, "Invalid amount"))?;
        if !(0..=21_000_000 * 100_000_000).contains(&sat) {
            return Err(RpcError::new(codes::TYPE_ERROR, "Amount out of range"));
        }
        Ok(sat)
    }
}

/// Core's `ParseHashV`.
pub fn parse_hash<T: FromStr>(hex: &str, name: &str) -> Result<T, RpcError> {
    if hex.len() != 64 {
        return Err(RpcError::invalid_parameter(format!(
            "{name} must be of length 64 (not {}, for '{hex}')",
            hex.len()
        )));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RpcError::invalid_parameter(format!(
            "{name} must be hexadecimal string (not '{hex}')"
        )));
    }
    T::from_str(hex).map_err(|_| {
        RpcError::invalid_parameter(format!("{name} must be hexadecimal string (not '{hex}')"))
    })
}

/// A decimal number (optionally with an exponent, as JSON allows) as an integer scaled by
/// `10^decimals`; `None` if it has more decimals or does not fit.
pub fn parse_fixed_point(text: &str, decimals: u32) -> Option<i64> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(pos) => (&text[..pos], text[pos + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    // value = digits * 10^(exp - frac_len); scaled = digits * 10^(exp - frac_len + decimals)
    let shift = exp - frac_part.len() as i32 + decimals as i32;
    let mut value: i128 = if digits.is_empty() {
        0
    } else {
        if digits.len() > 30 {
            return None;
        }
        digits.parse().ok()?
    };
    if shift >= 0 {
        for _ in 0..shift.min(40) {
            value = value.checked_mul(10)?;
        }
    } else {
        for _ in 0..(-shift) {
            if value % 10 != 0 {
                return None;
            }
            value /= 10;
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).ok()
}

/// Core's `transformNamedArguments`: named arguments into positions, holes as null, the
/// `args` key as leading positional arguments, anything unknown refused.
fn named_to_positional(
    args: &[Arg],
    named: &serde_json::Map<String, Value>,
) -> Result<Vec<Value>, RpcError> {
    let mut left: serde_json::Map<String, Value> = named.clone();
    let mut out: Vec<Value> = Vec::new();
    let mut hole = 0;
    let mut initial_hole = 0;
    let mut initial_param: Option<&str> = None;
    for a in args {
        let found = a.names.split('|').find_map(|n| left.remove(n));
        match found {
            Some(v) => {
                out.extend(std::iter::repeat(Value::Null).take(hole));
                hole = 0;
                initial_param.get_or_insert(a.names);
                out.push(v);
            }
            None => {
                hole += 1;
                if out.is_empty() {
                    initial_hole = hole;
                }
            }
        }
    }
    if let Some(Value::Array(positional)) = left.remove("args") {
        if let Some(p) = initial_param {
            if initial_hole < positional.len() {
                return Err(RpcError::invalid_parameter(format!(
                    "Parameter {p} specified twice both as positional and named argument"
                )));
            }
        }
        let named_part = std::mem::take(&mut out);
        out = positional.clone();
        out.extend(named_part.into_iter().skip(positional.len()));
    }
    if let Some(unknown) = left.keys().next() {
        return Err(RpcError::invalid_parameter(format!(
            "Unknown named parameter {unknown}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARGS: &[Arg] = &[
        req("blockhash", ArgType::Str),
        opt("verbosity|verbose", ArgType::Any),
    ];

    #[test]
    fn named_arguments_take_their_positions() {
        let p = Params::check("getblock", ARGS, &json!({"verbose": 0, "blockhash": "ab"})).unwrap();
        assert_eq!(p.str(0).unwrap(), "ab");
        assert_eq!(p.verbosity(1, 1, true).unwrap(), 0);
        let e = Params::check("getblock", ARGS, &json!({"blockhash": "ab", "x": 1})).unwrap_err();
        assert_eq!(e.code, codes::INVALID_PARAMETER);
    }

    #[test]
    fn wrong_count_and_type_are_refused_as_core_does() {
        let e = Params::check("getblock", ARGS, &json!([])).unwrap_err();
        assert_eq!(e.code, codes::MISC_ERROR);
        assert!(e
            .message
            .starts_with("getblock \"blockhash\" ( verbosity )"));
        let e = Params::check("getblock", ARGS, &json!([1])).unwrap_err();
        assert_eq!(e.code, codes::TYPE_ERROR);
        assert!(e.message.contains("Position 1 (blockhash)"));
    }

    #[test]
    fn fixed_point_amounts() {
        assert_eq!(parse_fixed_point("0.1", 8), Some(10_000_000));
        assert_eq!(parse_fixed_point("1e-8", 8), Some(1));
        assert_eq!(parse_fixed_point("0.000000001", 8), None);
        assert_eq!(parse_fixed_point("21", 8), Some(2_100_000_000));
        assert_eq!(parse_fixed_point("x", 8), None);
    }
}
