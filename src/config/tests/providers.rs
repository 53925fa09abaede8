//! The `[[providers]]` table: key sources, algorithms, introspection settings, claims.

use super::*;

#[test]
fn providers_table() {
    let two_sources = format!("{JWT}public_key_file = \"k.pem\"\njwks_url = \"https://idp/certs\"");
    let no_source = JWT.to_string();
    let short_hmac = format!("{JWT}hmac_secret = \"tooshort\"\nalgorithms = [\"HS256\"]");
    let no_issuer = "[[providers]]\nname = \"a\"\nkind = \"jwt\"\naudiences = [\"x\"]\npublic_key_file = \"k.pem\"";
    let alg_none = format!("{JWT}public_key_file = \"k.pem\"\nalgorithms = [\"none\"]");
    let hs_with_pem =
        format!("{JWT}public_key_file = \"k.pem\"\nalgorithms = [\"RS256\", \"HS256\"]");
    let rs_with_hmac = format!(
        "{JWT}hmac_secret = \"0123456789abcdef0123456789abcdef\"\nalgorithms = [\"RS256\"]"
    );
    let bad_kind = "[[providers]]\nname = \"a\"\nkind = \"saml\"";
    let dup = format!(
        "{JWT}public_key_file = \"k.pem\"\n{}public_key_file = \"k2.pem\"",
        JWT.replace("https://idp", "https://idp2")
    );
    let dup_issuer = format!(
        "{JWT}public_key_file = \"k.pem\"\n{}public_key_file = \"k2.pem\"",
        JWT.replace("corp", "other")
    );
    let intro_with_jwks =
        "[[providers]]\nname = \"o\"\nkind = \"introspection\"\njwks_url = \"https://idp/certs\"";
    let jwt_with_client = format!("{JWT}public_key_file = \"k.pem\"\nclient_id = \"x\"");
    let long_leeway = format!("{JWT}public_key_file = \"k.pem\"\nleeway = \"10m\"");
    let no_group = format!("{JWT}public_key_file = \"k.pem\"\nusername_regex = \"[a-z]+\"");
    let bad_regex = format!("{JWT}public_key_file = \"k.pem\"\nusername_regex = \"(\"");
    let bad_claim = format!("{JWT}public_key_file = \"k.pem\"\nusername_claim = \"user..login\"");
    let bad_jwks = format!("{JWT}jwks_url = \"not a url\"");
    let intro = |n: &str| {
        format!("[[providers]]\nname = \"{n}\"\nkind = \"introspection\"\nintrospection_url = \"https://idp/i\"\nclient_id = \"c\"\nclient_secret = \"s\"\naudiences = [\"jira\"]\n")
    };
    let two_intro = format!("{}{}", intro("a"), intro("b"));
    let bad_method = format!("{}auth_method = \"private_key_jwt\"", intro("a"));
    type Expected<'a> = Vec<(&'a str, Vec<&'a str>)>;
    let rows: Vec<(String, Expected)> = vec![
        (
            two_sources,
            vec![(
                "providers[0]",
                vec![
                    "exactly one key source is required",
                    "found public_key_file and jwks_url",
                ],
            )],
        ),
        (
            no_source,
            vec![(
                "providers[0]",
                vec!["exactly one key source is required", "found none"],
            )],
        ),
        (
            short_hmac,
            vec![(
                "providers[0].hmac_secret",
                vec!["at least 32 bytes (it has 8)"],
            )],
        ),
        (
            no_issuer.into(),
            vec![("providers[0].issuer", vec!["required for kind = \"jwt\""])],
        ),
        (
            alg_none,
            vec![(
                "providers[0].algorithms[0]",
                vec!["`none` is not an allowed algorithm"],
            )],
        ),
        (
            hs_with_pem,
            vec![(
                "providers[0].algorithms[1]",
                vec!["HS256 needs hmac_secret"],
            )],
        ),
        (
            rs_with_hmac,
            vec![(
                "providers[0].algorithms[0]",
                vec!["RS256 does not fit hmac_secret"],
            )],
        ),
        (
            bad_kind.into(),
            vec![("providers[0].kind", vec!["`saml` is not a provider kind"])],
        ),
        (
            dup,
            vec![(
                "providers[1].name",
                vec!["`corp` is used by another provider"],
            )],
        ),
        (
            dup_issuer,
            vec![("providers[1].issuer", vec!["same issuer"])],
        ),
        (
            intro_with_jwks.into(),
            // Missing keys point at their table's header (line 1), so they come first.
            vec![
                (
                    "providers[0].introspection_url",
                    vec!["required for kind = \"introspection\""],
                ),
                ("providers[0].client_id", vec!["required"]),
                ("providers[0].client_secret", vec!["required"]),
                (
                    "providers[0].jwks_url",
                    vec!["applies only to kind = \"jwt\""],
                ),
            ],
        ),
        (
            jwt_with_client,
            vec![(
                "providers[0].client_id",
                vec!["applies only to kind = \"introspection\""],
            )],
        ),
        (
            long_leeway,
            vec![("providers[0].leeway", vec!["at most 5m"])],
        ),
        (
            no_group,
            vec![("providers[0].username_regex", vec!["needs a capture group"])],
        ),
        (
            bad_regex,
            vec![("providers[0].username_regex", vec!["not a valid regex"])],
        ),
        (
            bad_claim,
            vec![(
                "providers[0].username_claim",
                vec!["`user..login` is not a dotted claim path"],
            )],
        ),
        (
            bad_jwks,
            vec![(
                "providers[0].jwks_url",
                vec!["`not a url` is not an http:// or https:// URL"],
            )],
        ),
        (
            two_intro,
            vec![("providers", vec!["at most one introspection provider"])],
        ),
        (
            bad_method,
            vec![(
                "providers[0].auth_method",
                vec!["`private_key_jwt` is not supported"],
            )],
        ),
    ];
    for (text, expected) in rows {
        let errs = errors_of(&text, &[]);
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, want, "paths for:\n{text}\ngot: {errs}");
        for (err, (_, fragments)) in errs.0.iter().zip(&expected) {
            for f in fragments {
                assert!(
                    err.message.contains(f),
                    "{}: {:?} lacks {f:?}",
                    err.path,
                    err.message
                );
            }
        }
    }
}

#[test]
fn a_valid_jwt_provider_is_typed_once() {
    let text = format!("{JWT}public_key_file = \"keys/idp.pem\"\nalgorithms = [\"ES256\"]\ngroups_claim = \"realm.groups\"\nusername_regex = '^([^@]+)@corp$'");
    let c = check_with(&text, &[]).expect("valid");
    let p = &c.providers[0];
    match &p.kind {
        ProviderKind::Jwt {
            issuer,
            algorithms,
            key,
        } => {
            assert_eq!(issuer, "https://idp");
            assert_eq!(algorithms, &vec![Algorithm::ES256]);
            assert!(
                matches!(key, KeySource::PublicKeyFile(f) if f == Path::new("/etc/authgate/keys/idp.pem"))
            );
        }
        other => panic!("not jwt: {other:?}"),
    }
    assert_eq!(
        p.groups_claim.as_deref(),
        Some(&["realm".to_string(), "groups".to_string()][..])
    );
    let re = p.username_regex.as_ref().expect("regex");
    assert_eq!(&re.captures("alice@corp").expect("match")[1], "alice");
    assert!(
        re.captures("xalice@corp.evil").is_none(),
        "the whole value must match"
    );
}
