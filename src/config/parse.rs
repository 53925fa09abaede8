//! The schema step: TOML text -> [`RawConfig`], with `${VAR}` interpolation.
//!
//! Owns: syntax and schema errors (unknown keys, wrong types), each with its TOML path and
//! line; the whole-string `${NAME}` substitution; and pointing any error path back at its line
//! in the text. Schema errors are found on the text as written, before interpolation, so no
//! value read from the environment (a secret) can ever appear in one.

use serde::Deserialize;

use super::errors::ConfigErrors;
use super::raw::RawConfig;

/// Schema errors reported from one file at most (each one found costs a deserialization).
const MAX_SCHEMA_ERRORS: usize = 32;

/// Parses and interpolates without checking (the schema step only).
pub fn parse_raw(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RawConfig, ConfigErrors> {
    let (raw, mut missing) = parse_interpolated(text, env)?;
    if missing.is_empty() {
        Ok(raw)
    } else {
        add_lines(text, &mut missing);
        Err(missing)
    }
}

/// Syntax and schema errors are final (`Err`). Otherwise the raw config, with every `${VAR}`
/// that could not be filled left empty, and those interpolation errors, so the caller can
/// still check the rest of the file and report everything at once.
pub(super) fn parse_interpolated(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(RawConfig, ConfigErrors), ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let line = e.span().map(|s| line_at(text, s.start));
            // toml's message spans lines ("invalid table header\nexpected ..."): keep it one.
            let msg = e
                .message()
                .trim()
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(", ");
            errors.push_at("file", format!("is not valid TOML: {msg}"), line);
            return Err(errors);
        }
    };
    schema_errors(&table, &mut errors);
    if !errors.is_empty() {
        add_lines(text, &mut errors);
        return Err(errors);
    }
    for (k, v) in table.iter_mut() {
        interpolate(v, k, env, &mut errors);
    }
    // Interpolation replaces strings by strings, so the schema still holds.
    let raw = RawConfig::deserialize(toml::Value::Table(table)).map_err(|e| {
        let mut errs = ConfigErrors::default();
        errs.push("file", e.message().to_string());
        errs
    })?;
    Ok((raw, errors))
}

/// True when `path` is `parent` or inside it (`a.b` is inside `a`, `a[0]` too).
pub(super) fn is_within(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Collects every unknown key and wrong type: serde stops at the first, so each one found is
/// recorded, removed from a copy of the table, and the rest is tried again.
fn schema_errors(table: &toml::Table, errors: &mut ConfigErrors) {
    let mut work = toml::Value::Table(table.clone());
    for _ in 0..MAX_SCHEMA_ERRORS {
        let Err(e) = serde_path_to_error::deserialize::<_, RawConfig>(work.clone()) else {
            return;
        };
        let mut segments = parse_path(&e.path().to_string());
        let message = e.into_inner().message().trim().to_string();
        // serde names the table of an unknown key, not the key: name the key itself.
        if let Some(key) = message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            if segments.last() != Some(&Segment::Key(key.to_string())) {
                segments.push(Segment::Key(key.to_string()));
            }
        }
        errors.push(render_path(&segments), message);
        // A missing field or a bad array element cannot be removed without shifting what
        // follows; stop there rather than report errors at the wrong place.
        if matches!(segments.last(), None | Some(Segment::Index(_)))
            || !remove(&mut work, &segments)
        {
            return;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `providers[0].name` -> [providers, 0, name]. `.` and empty mean the whole file.
fn parse_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        let key_end = rest.find('[').unwrap_or(rest.len());
        if key_end > 0 {
            out.push(Segment::Key(rest[..key_end].to_string()));
        }
        rest = &rest[key_end..];
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { break };
            if let Ok(i) = r[..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &r[end + 1..];
        }
    }
    out
}

fn render_path(segments: &[Segment]) -> String {
    let mut s = String::new();
    for seg in segments {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        s.push_str("file");
    }
    s
}

fn remove(root: &mut toml::Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut v = root;
    for seg in parents {
        let next = match (seg, v) {
            (Segment::Key(k), toml::Value::Table(t)) => t.get_mut(k),
            (Segment::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    match (last, v) {
        (Segment::Key(k), toml::Value::Table(t)) => t.remove(k).is_some(),
        _ => false,
    }
}

/// Adds the line of each error's path in `text`, where it has none yet.
pub(super) fn add_lines(text: &str, errors: &mut ConfigErrors) {
    let Ok(doc) = toml_edit::ImDocument::parse(text) else {
        return;
    };
    for e in errors.0.iter_mut().filter(|e| e.line.is_none()) {
        e.line = span_of(doc.as_item(), &parse_path(&e.path)).map(|start| line_at(text, start));
    }
    // In file order (errors without a line, e.g. about a default, last).
    errors.0.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
}

/// Byte offset of the deepest part of `segments` found in the document: the key itself
/// when it exists, else the nearest table that does.
fn span_of(root: &toml_edit::Item, segments: &[Segment]) -> Option<usize> {
    let mut item = root;
    let mut best = None;
    for seg in segments {
        let next = match seg {
            Segment::Key(k) => {
                let key_span = item
                    .as_table_like()
                    .and_then(|t| t.get_key_value(k))
                    .and_then(|(key, _)| key.span());
                if let Some(s) = key_span {
                    best = Some(s.start);
                }
                item.get(k.as_str())
            }
            Segment::Index(i) => item.get(*i),
        };
        match next {
            Some(n) => {
                item = n;
                if let Some(s) = n.span() {
                    // A key's own span is better than its value's; a table or element's
                    // span (header, array entry) is better than its parent's.
                    if !matches!(seg, Segment::Key(_)) || best.is_none() {
                        best = Some(s.start);
                    }
                }
            }
            None => break,
        }
    }
    best
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn interpolate(
    v: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) {
    match v {
        toml::Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                let name = name.to_string();
                let valid = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !name.as_bytes()[0].is_ascii_digit();
                if !valid {
                    errors.push(
                        path,
                        format!(
                            "`${{{name}}}` is not a valid variable name (letters, digits and `_`)"
                        ),
                    );
                    s.clear();
                    return;
                }
                match env(&name) {
                    Some(value) => *s = value,
                    None => {
                        s.clear();
                        errors.push(
                        path,
                            format!("environment variable {name} is not set (the value is \"${{{name}}}\"); set it or write the value"),
                        );
                    }
                }
            }
        }
        toml::Value::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), env, errors);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                interpolate(item, &format!("{path}.{k}"), env, errors);
            }
        }
        _ => {}
    }
}
