//! The token page's form bodies: `application/x-www-form-urlencoded`, as browsers send them.

/// `application/x-www-form-urlencoded` pairs (`+` is a space), as browsers send forms.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The first value of `name`.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_as_browsers_encode_them() {
        let f = parse_form(b"name=my+laptop%21&csrf=ab&read_only=on&x");
        assert_eq!(field(&f, "name"), Some("my laptop!"));
        assert_eq!(field(&f, "read_only"), Some("on"));
        assert_eq!(field(&f, "x"), Some(""));
        assert_eq!(field(&f, "y"), None);
    }
}
