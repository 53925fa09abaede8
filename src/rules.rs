//! Rule patterns (`[METHOD ]PATH`, docs/http.md#rule-patterns), compiled once at config check.
//!
//! Owns: parsing a pattern into a [`Rule`] and matching a canonical path against a
//! [`RuleSet`]. Input comes from the config (`api_paths`, `bypass`, `public_restricted`,
//! `deny`, `read_posts`) and, per request, from the canonical path made by `pipeline::path`
//! with the context path already removed. Matching is case-sensitive; `*` is one whole
//! segment; a trailing `/**` matches any rest, or nothing. A single trailing `/` on the
//! request path is ignored for matching (JAX-RS serves both forms).

use std::fmt;

use http::Method;

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The pattern as written, for logs and audit rows.
    pub text: String,
    method: Option<Method>,
    segments: Vec<Segment>,
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
}

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Rule {
    /// Parses `[METHOD ]PATH`.
    pub fn parse(text: &str) -> Result<Rule, PatternError> {
        let trimmed = text.trim();
        let (method, path) = match trimmed.split_once(' ') {
            Some((m, p)) => {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(PatternError(format!(
                        "`{text}`: the method must be an upper-case HTTP method such as GET or POST"
                    )));
                }
                let method = Method::from_bytes(m.as_bytes())
                    .map_err(|_| PatternError(format!("`{text}`: `{m}` is not an HTTP method")))?;
                (Some(method), p.trim())
            }
            None => (None, trimmed),
        };
        if !path.starts_with('/') {
            return Err(PatternError(format!(
                "`{text}`: the path must start with `/` (e.g. \"/rest/api/2/**\")"
            )));
        }
        if path.contains("//") || path.contains(['?', '#', ';', '%', '\\', ' ']) {
            return Err(PatternError(format!(
                "`{text}`: a path pattern may not contain `//`, `?`, `#`, `;`, `%`, `\\` or spaces"
            )));
        }
        let mut parts: Vec<&str> = path[1..].split('/').collect();
        let mut rest = false;
        if parts.last() == Some(&"**") {
            parts.pop();
            rest = true;
        }
        if parts.last() == Some(&"") {
            // "/" alone, or a trailing slash: match without it.
            parts.pop();
        }
        let mut segments = Vec::with_capacity(parts.len());
        for part in parts {
            let seg = match part {
                "*" => Segment::Any,
                "**" => {
                    return Err(PatternError(format!(
                        "`{text}`: `**` is allowed only as the last segment"
                    )))
                }
                "." | ".." | "" => {
                    return Err(PatternError(format!(
                        "`{text}`: empty, `.` and `..` segments never match a canonical path"
                    )))
                }
                p if p.contains('*') => {
                    return Err(PatternError(format!(
                        "`{text}`: `*` must be a whole segment (`/a/*/b`), not part of one"
                    )))
                }
                p => Segment::Literal(p.to_string()),
            };
            segments.push(seg);
        }
        Ok(Rule {
            text: trimmed.to_string(),
            method,
            segments,
            rest,
        })
    }

    /// True when `method` and the canonical `path` match. A `GET` rule also matches `HEAD`
    /// (JAX-RS answers `HEAD` with the `GET` resource), and on `/rest/<name>/<version>/…`
    /// the version segment `latest` and a version number match each other (Atlassian REST
    /// serves every API under both).
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if let Some(m) = &self.method {
            if m != method && !(*m == Method::GET && *method == Method::HEAD) {
                return false;
            }
        }
        let rest_api = matches!(self.segments.first(), Some(Segment::Literal(l)) if l == "rest");
        let body = path.strip_prefix('/').unwrap_or(path);
        let body = body.strip_suffix('/').unwrap_or(body);
        let mut segs = if body.is_empty() {
            None
        } else {
            Some(body.split('/'))
        };
        for (i, want) in self.segments.iter().enumerate() {
            let Some(got) = segs.as_mut().and_then(|s| s.next()) else {
                return false;
            };
            match want {
                Segment::Any => {}
                Segment::Literal(l) => {
                    if l != got && !(rest_api && i == 2 && same_rest_version(l, got)) {
                        return false;
                    }
                }
            }
        }
        self.rest || segs.is_none_or(|mut s| s.next().is_none())
    }
}

/// True when `a` and `b` name the same REST version: one is `latest` and the other a version
/// number (`2`, `1.0`).
fn same_rest_version(a: &str, b: &str) -> bool {
    let number = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    };
    (a == "latest" && number(b)) || (b == "latest" && number(a))
}

/// An ordered list of compiled rules; the first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Compiles every pattern; errors carry the index in `Err((index, error))`.
    pub fn compile(patterns: &[String]) -> Result<RuleSet, Vec<(usize, PatternError)>> {
        let mut rules = Vec::with_capacity(patterns.len());
        let mut errors = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            match Rule::parse(p) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push((i, e)),
            }
        }
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    /// The first rule that matches, if any.
    pub fn first_match(&self, method: &Method, path: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(method, path))
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_rules_match_head_and_rest_versions_match_latest() {
        let r = Rule::parse("GET /rest/api/2/user/picker").unwrap();
        assert!(r.matches(&Method::HEAD, "/rest/api/2/user/picker"));
        assert!(r.matches(&Method::GET, "/rest/api/latest/user/picker"));
        assert!(!r.matches(&Method::POST, "/rest/api/2/user/picker"));
        let r = Rule::parse("/rest/api/latest/groupuserpicker").unwrap();
        assert!(r.matches(&Method::GET, "/rest/api/2/groupuserpicker"));
        assert!(r.matches(&Method::GET, "/rest/api/1.0/groupuserpicker"));
        assert!(!r.matches(&Method::GET, "/rest/api/two/groupuserpicker"));
        let r = Rule::parse("/rest/agile/1.0/**").unwrap();
        assert!(r.matches(&Method::GET, "/rest/agile/latest/board"));
        // Only the version position of a /rest/ path.
        let r = Rule::parse("/other/api/2/x").unwrap();
        assert!(!r.matches(&Method::GET, "/other/api/latest/x"));
        let r = Rule::parse("/rest/api/2/latest").unwrap();
        assert!(!r.matches(&Method::GET, "/rest/api/2/3"));
    }

    #[test]
    fn patterns_match_as_documented() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("/rest/**", "GET", "/rest", true),
            ("/rest/**", "GET", "/rest/api/2/issue/ABC-1", true),
            ("/rest/**", "GET", "/restx", false),
            ("/rest/**", "GET", "/", false),
            ("/rest/api/*/issue", "GET", "/rest/api/2/issue", true),
            ("/rest/api/*/issue", "GET", "/rest/api/2/issue/", true),
            ("/rest/api/*/issue", "GET", "/rest/api/2/issue/X", false),
            ("/rest/api/*/issue", "GET", "/rest/api/issue", false),
            (
                "POST /rest/api/2/search",
                "POST",
                "/rest/api/2/search",
                true,
            ),
            (
                "POST /rest/api/2/search",
                "GET",
                "/rest/api/2/search",
                false,
            ),
            ("/status", "GET", "/Status", false),
            ("/", "GET", "/", true),
            ("/**", "GET", "/anything/at/all", true),
            ("/**", "GET", "/", true),
        ];
        for (pat, m, path, want) in cases {
            let r = Rule::parse(pat).unwrap();
            let got = r.matches(&Method::from_bytes(m.as_bytes()).unwrap(), path);
            assert_eq!(got, *want, "{pat} vs {m} {path}");
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern_named() {
        for bad in [
            "rest/**",
            "/rest/**/x",
            "/a*b",
            "get /rest",
            "/a//b",
            "/a;b",
            "/a/../b",
            "/a%2fb",
        ] {
            let e = Rule::parse(bad).unwrap_err();
            assert!(e.0.contains(bad), "{bad}: {e}");
        }
    }
}
