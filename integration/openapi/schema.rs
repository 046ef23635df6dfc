//! A validator for the subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that
//! `openapi.yaml` uses. A keyword it does not know is an error, not ignored, so the document
//! cannot promise what the test does not check.

use std::collections::BTreeSet;

use serde_json::Value;

/// Keywords that describe and do not constrain.
const ANNOTATIONS: &[&str] = &["description", "title", "summary", "examples", "format"];

/// The keywords [`validate`] checks.
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "const",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "required",
    "properties",
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
];

/// Keywords in `schema` (and the schemas inside it) that [`validate`] does not know: a typo
/// or a flow mapping split at a comma, which would otherwise only fail when reached.
pub fn unknown_keywords(schema: &Value, at: &str, out: &mut Vec<String>) {
    let Some(o) = schema.as_object() else {
        return out.push(format!("{at}: not a schema"));
    };
    for (k, v) in o {
        let at = format!("{at}/{k}");
        match k.as_str() {
            "properties" => {
                for (name, sub) in v.as_object().unwrap() {
                    unknown_keywords(sub, &format!("{at}/{name}"), out);
                }
            }
            "items" => unknown_keywords(v, &at, out),
            "allOf" | "anyOf" | "oneOf" => {
                for (i, sub) in v.as_array().unwrap().iter().enumerate() {
                    unknown_keywords(sub, &format!("{at}/{i}"), out);
                }
            }
            k if KEYWORDS.contains(&k) || ANNOTATIONS.contains(&k) => {}
            _ => out.push(at),
        }
    }
}

/// Validates `value` against `schema` (`$ref`s resolved in `doc`); every violation, with the
/// JSON pointer of where it is.
pub fn validate(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(doc, schema, value, "", &mut errors);
    errors
}

/// Resolves `#/components/...`.
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local $refs: {reference}"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("$ref {reference} resolves to nothing"))
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => panic!("unknown type {other:?}"),
    }
}

/// Checks `value`; returns the property names it evaluated (for `unevaluatedProperties`).
fn check(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) -> BTreeSet<String> {
    let schema = schema
        .as_object()
        .unwrap_or_else(|| panic!("a schema is an object, at {at}: {schema}"));
    let mut evaluated = BTreeSet::new();
    let fail = |errors: &mut Vec<String>, what: String| errors.push(format!("{at}: {what}"));
    for (keyword, arg) in schema {
        match keyword.as_str() {
            "$ref" => {
                let target = resolve(doc, arg.as_str().expect("$ref is a string"));
                evaluated.extend(check(doc, target, value, at, errors));
            }
            "type" => {
                let names: Vec<&str> = match arg {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("bad type {arg}"),
                };
                if !names.iter().any(|n| type_matches(n, value)) {
                    fail(errors, format!("{value} is not of type {names:?}"));
                }
            }
            "const" => {
                if value != arg {
                    fail(errors, format!("{value} is not {arg}"));
                }
            }
            "enum" => {
                if !arg.as_array().unwrap().contains(value) {
                    fail(errors, format!("{value} is not one of {arg}"));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(v), Some(bound)) = (value.as_f64(), arg.as_f64()) {
                    let ok = if keyword == "minimum" {
                        v >= bound
                    } else {
                        v <= bound
                    };
                    if !ok {
                        fail(errors, format!("{value} is outside its {keyword} {arg}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(s) = value.as_str() {
                    let n = s.chars().count() as u64;
                    let bound = arg.as_u64().unwrap();
                    let ok = if keyword == "minLength" {
                        n >= bound
                    } else {
                        n <= bound
                    };
                    if !ok {
                        fail(
                            errors,
                            format!("{value} has {n} characters ({keyword} {arg})"),
                        );
                    }
                }
            }
            "required" => {
                if let Some(o) = value.as_object() {
                    for name in arg.as_array().unwrap() {
                        let name = name.as_str().unwrap();
                        if !o.contains_key(name) {
                            fail(errors, format!("required field {name:?} is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = value.as_object() {
                    for (name, sub) in arg.as_object().unwrap() {
                        if let Some(v) = o.get(name) {
                            check(doc, sub, v, &format!("{at}/{name}"), errors);
                            evaluated.insert(name.clone());
                        }
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(arg, &Value::Bool(false), "only additionalProperties: false");
                let known = schema.get("properties").and_then(Value::as_object);
                if let Some(o) = value.as_object() {
                    for name in o.keys() {
                        if !known.is_some_and(|k| k.contains_key(name)) {
                            fail(errors, format!("field {name:?} is not in the document"));
                        }
                    }
                }
            }
            // Checked last, once every other keyword has said what it evaluated.
            "unevaluatedProperties" => {
                assert_eq!(
                    arg,
                    &Value::Bool(false),
                    "only unevaluatedProperties: false"
                )
            }
            "items" => {
                if let Some(a) = value.as_array() {
                    for (i, v) in a.iter().enumerate() {
                        check(doc, arg, v, &format!("{at}/{i}"), errors);
                    }
                }
            }
            "allOf" => {
                for sub in arg.as_array().unwrap() {
                    evaluated.extend(check(doc, sub, value, at, errors));
                }
            }
            "anyOf" | "oneOf" => {
                let mut passed = 0;
                let mut why = Vec::new();
                for sub in arg.as_array().unwrap() {
                    let mut errs = Vec::new();
                    let names = check(doc, sub, value, at, &mut errs);
                    if errs.is_empty() {
                        passed += 1;
                        evaluated.extend(names);
                    } else {
                        why.push(errs.join("; "));
                    }
                }
                if passed == 0 {
                    fail(
                        errors,
                        format!("matches none of {keyword}: [{}]", why.join(" | ")),
                    );
                } else if keyword == "oneOf" && passed > 1 {
                    fail(errors, format!("matches {passed} schemas of a oneOf"));
                }
            }
            k if ANNOTATIONS.contains(&k) => {}
            other => panic!("the validator does not know the keyword {other:?} (at {at})"),
        }
    }
    if schema.get("unevaluatedProperties").is_some() {
        if let Some(o) = value.as_object() {
            for name in o.keys() {
                if !evaluated.contains(name) {
                    fail(errors, format!("field {name:?} is not in the document"));
                }
            }
        }
    }
    evaluated
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"components": {"schemas": {
            "Fields": {"type": "object", "required": ["a"], "properties": {
                "a": {"type": "integer", "minimum": 0},
                "b": {"type": ["string", "null"], "enum": ["x", null]}
            }},
            "Closed": {"allOf": [{"$ref": "#/components/schemas/Fields"}],
                       "unevaluatedProperties": false},
            "Strict": {"type": "object", "additionalProperties": false,
                       "properties": {"n": {"const": true}}},
            "List": {"type": "array", "items": {"$ref": "#/components/schemas/Strict"}},
            "Either": {"anyOf": [{"$ref": "#/components/schemas/Strict"}, {"type": "null"}]}
        }}})
    }

    fn errors(name: &str, v: Value) -> Vec<String> {
        let d = doc();
        let s = json!({"$ref": format!("#/components/schemas/{name}")});
        validate(&d, &s, &v)
    }

    #[test]
    fn the_validator_refuses_what_the_document_does_not_say() {
        assert!(errors("Closed", json!({"a": 1, "b": null})).is_empty());
        assert!(errors("Closed", json!({"a": 1, "b": "x"})).is_empty());
        assert_eq!(errors("Closed", json!({"b": "x"})).len(), 1, "missing a");
        assert_eq!(
            errors("Closed", json!({"a": 1, "c": 2})).len(),
            1,
            "extra c"
        );
        assert_eq!(errors("Closed", json!({"a": -1})).len(), 1, "minimum");
        assert_eq!(errors("Closed", json!({"a": 1.5})).len(), 1, "integer");
        assert_eq!(errors("Closed", json!({"a": 1, "b": "y"})).len(), 1, "enum");
        assert_eq!(
            errors("Closed", json!({"a": 1, "b": 5})).len(),
            2,
            "type, enum"
        );
        assert!(errors("Fields", json!({"a": 1, "c": 2})).is_empty(), "open");
        assert!(errors("List", json!([{"n": true}, {}])).is_empty());
        assert_eq!(errors("List", json!([{"n": false}])).len(), 1, "const");
        assert_eq!(errors("List", json!([{"m": 1}])).len(), 1, "closed");
        assert!(errors("Either", json!(null)).is_empty());
        assert_eq!(errors("Either", json!({"m": 1})).len(), 1, "anyOf");
    }
}
