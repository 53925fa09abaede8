//! The OAuth 1.0a signature base string (RFC 5849 §3.4.1), built from the request as the
//! product's servlet container reads it.
//!
//! Owns: the RFC 3986 percent-encoding OAuth uses ([`encode`]), servlet-style parameter
//! decoding ([`servlet_params`]: `&`-separated pairs, `+` is a space, `%XX` decoded as UTF-8,
//! a pair without `=` has the empty value, a pair with an empty name or a broken escape is
//! skipped as Tomcat skips it), parameter normalization and the base string itself.

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the RFC 3986 unreserved characters is encoded (RFC 5849 §3.6).
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// RFC 5849 §3.6 percent-encoding: UTF-8, unreserved characters kept, upper-case hex.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, OAUTH_ENCODE).to_string()
}

/// Decodes one name or value as a servlet does; `None` for a broken `%` escape (Tomcat
/// drops such a parameter).
fn servlet_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return None;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let spaced = raw.replace('+', " ");
    Some(
        percent_decode(spaced.as_bytes())
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// True when every name and value of `raw` decodes to valid UTF-8 (where Java's decoder and
/// this one could disagree on the replacement characters, the base strings would differ).
pub fn decodes_as_utf8(raw: &str) -> bool {
    raw.split('&').all(|pair| {
        pair.split('=').all(|part| {
            let spaced = part.replace('+', " ");
            std::str::from_utf8(&percent_decode(spaced.as_bytes()).collect::<Vec<u8>>()).is_ok()
        })
    })
}

/// The parameters of a query string or `application/x-www-form-urlencoded` body, decoded as
/// the servlet container decodes them, in order, repeated names kept.
pub fn servlet_params(raw: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.is_empty() {
            continue;
        }
        if let (Some(k), Some(v)) = (servlet_decode(k), servlet_decode(v)) {
            out.push((k, v));
        }
    }
    out
}

/// RFC 5849 §3.4.1.3.2: every pair encoded, sorted by name then value, joined with `&`.
pub fn normalize(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    let mut out = String::with_capacity(encoded.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// RFC 5849 §3.4.1.1: `METHOD&encoded base URI&encoded normalized parameters`. `base_uri`
/// is already in its §3.4.1.2 form (lower-case scheme and host, no default port, no query).
pub fn base_string(method: &str, base_uri: &str, params: &[(String, String)]) -> String {
    format!(
        "{}&{}&{}",
        encode(&method.to_ascii_uppercase()),
        encode(base_uri),
        encode(&normalize(params))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5849 §3.4.1.1's worked example, parameters as §3.4.1.3.1 collects them.
    #[test]
    fn rfc5849_worked_example() {
        let mut params = servlet_params("b5=%3D%253D&a3=a&c%40=&a2=r%20b");
        params.extend(servlet_params("c2&a3=2+q"));
        params.extend([
            ("oauth_consumer_key".into(), "9djdj82h48djs9d2".into()),
            ("oauth_token".into(), "kkk9d7dh3k39sjv7".into()),
            ("oauth_signature_method".into(), "HMAC-SHA1".into()),
            ("oauth_timestamp".into(), "137131201".into()),
            ("oauth_nonce".into(), "7d8f3e4a".into()),
        ]);
        let expected = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
            %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
            key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
            ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
            9d7dh3k39sjv7";
        assert_eq!(
            base_string("post", "http://example.com/request", &params),
            expected
        );
        // §3.4.1.3.2's normalized form of the same parameters.
        assert_eq!(
            normalize(&params),
            "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9dj\
             dj82h48djs9d2&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1\
             &oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn servlet_decoding_matches_tomcat() {
        assert_eq!(
            servlet_params("jql=a+b%2Bc%20d&x&=skip&y=%zz&&e=%C3%A9"),
            vec![
                ("jql".to_string(), "a b+c d".to_string()),
                ("x".to_string(), String::new()),
                ("e".to_string(), "é".to_string()),
            ]
        );
        assert_eq!(encode("a b+~*é"), "a%20b%2B~%2A%C3%A9");
    }
}
