//! The `gw_` token format (docs/tokens.md): `gw_` + 40 base62 characters from the OS CSPRNG
//! (238 random bits) + 6 base62 characters of the CRC-32 of those 40.
//!
//! Owns: making a token ([`generate`]), checking its shape and checksum ([`parse`]) so a typo
//! or a truncated paste is refused before any database lookup, hashing it for storage
//! ([`hash`]) and making token ids ([`new_id`]). Nothing here touches the network or the
//! database, and nothing here logs.

use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Every token starts with this (a `_` is outside base64, so it is never mistaken for a PAT).
pub const PREFIX: &str = "gw_";
/// Random base62 characters after the prefix.
pub const RANDOM_LEN: usize = 40;
/// Base62 characters of the CRC-32 checksum (62^6 > 2^32).
pub const CHECK_LEN: usize = 6;
/// Whole token length: 3 + 40 + 6.
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECK_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a well-formed gateway token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// It does not start with `gw_`.
    #[error("the token does not start with gw_")]
    Prefix,
    /// Too short or too long (a truncated paste).
    #[error("the token has {0} characters, not {TOKEN_LEN}")]
    Length(usize),
    /// A character outside `0-9A-Za-z` after the prefix.
    #[error("the token has a character outside base62")]
    Alphabet,
    /// The checksum does not match the random part (a typo).
    #[error("the token checksum does not match")]
    Checksum,
}

/// A fresh token: 40 characters from the OS CSPRNG plus their checksum. Shown once, never
/// stored or logged.
pub fn generate() -> String {
    // `Alphanumeric` samples uniformly from the 62 characters (rejection sampling), so the
    // 40 characters carry 40·log2(62) ≈ 238 bits.
    let random = Alphanumeric.sample_string(&mut OsRng, RANDOM_LEN);
    let mut token = String::with_capacity(TOKEN_LEN);
    token.push_str(PREFIX);
    token.push_str(&random);
    token.push_str(&checksum(random.as_bytes()));
    token
}

/// Checks prefix, length, alphabet and checksum. `Ok` means "worth a database lookup".
pub fn parse(token: &str) -> Result<(), FormatError> {
    let rest = token.strip_prefix(PREFIX).ok_or(FormatError::Prefix)?;
    if token.len() != TOKEN_LEN {
        return Err(FormatError::Length(token.chars().count()));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::Alphabet);
    }
    let (random, check) = rest.split_at(RANDOM_LEN);
    // Not a secret comparison: the checksum is derived from the random part the caller sent.
    if checksum(random.as_bytes()) != check {
        return Err(FormatError::Checksum);
    }
    Ok(())
}

/// The 6-character base62 checksum (CRC-32, most significant digit first, zero-padded).
pub fn checksum(random: &[u8]) -> String {
    let mut n = u64::from(crc32fast::hash(random));
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// What is stored: the SHA-256 of the whole token, lowercase hex.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new public token id: 16 lowercase hex characters (64 random bits). Ids are not
/// secrets; they name a token in lists, logs and audit rows.
pub fn new_id() -> String {
    let bytes: [u8; 8] = rand::Rng::gen(&mut OsRng);
    hex::encode(bytes)
}

/// True when `s` has the shape of a token id ([`new_id`]): 16 lowercase hex characters.
pub fn is_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        for _ in 0..200 {
            let t = generate();
            assert_eq!(t.len(), TOKEN_LEN);
            assert_eq!(TOKEN_LEN, 49);
            assert!(t.starts_with("gw_"));
            assert!(t[3..].bytes().all(|b| b.is_ascii_alphanumeric()), "{t}");
            assert_eq!(parse(&t), Ok(()));
        }
    }

    #[test]
    fn generated_tokens_differ() {
        let a: std::collections::HashSet<String> = (0..1000).map(|_| generate()).collect();
        assert_eq!(a.len(), 1000);
    }

    #[test]
    fn checksum_is_the_base62_crc32_of_the_random_part() {
        let random = "a".repeat(40);
        let crc = crc32fast::hash(random.as_bytes());
        let sum = checksum(random.as_bytes());
        let mut back = 0u64;
        for c in sum.bytes() {
            back = back * 62 + BASE62.iter().position(|&x| x == c).unwrap() as u64;
        }
        assert_eq!(back, u64::from(crc));
        assert_eq!(sum.len(), 6);
        // The empty input has CRC 0: all zero digits.
        assert_eq!(checksum(b""), "000000");
        // u32::MAX fits in six digits.
        assert!(62u64.pow(6) > u64::from(u32::MAX));
    }

    #[test]
    fn a_one_character_typo_is_caught() {
        let t = generate();
        for i in 3..TOKEN_LEN {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'x' { b'y' } else { b'x' };
            let typo = String::from_utf8(b).unwrap();
            assert_eq!(parse(&typo), Err(FormatError::Checksum), "position {i}");
        }
    }

    #[test]
    fn swapped_neighbours_are_caught() {
        let t = "gw_".to_string() + "abcdefghijABCDEFGHIJ0123456789klmnopqrst";
        let good = format!("{t}{}", checksum(&t.as_bytes()[3..]));
        assert_eq!(parse(&good), Ok(()));
        let swapped = format!("gw_bacdefghijABCDEFGHIJ0123456789klmnopqrst{}", &good[43..]);
        assert_eq!(parse(&swapped), Err(FormatError::Checksum));
    }

    #[test]
    fn truncated_or_padded_tokens_are_refused_by_length() {
        let t = generate();
        assert_eq!(parse(&t[..48]), Err(FormatError::Length(48)));
        assert_eq!(parse(&t[..3]), Err(FormatError::Length(3)));
        assert_eq!(parse(&format!("{t}A")), Err(FormatError::Length(50)));
    }

    #[test]
    fn prefix_and_alphabet_are_checked() {
        let t = generate();
        assert_eq!(parse(&format!("GW_{}", &t[3..])), Err(FormatError::Prefix));
        assert_eq!(parse(&t[3..]), Err(FormatError::Prefix));
        let mut b = t.into_bytes();
        b[10] = b'-';
        assert_eq!(
            parse(&String::from_utf8(b).unwrap()),
            Err(FormatError::Alphabet)
        );
        // Multi-byte characters keep the byte length honest.
        let odd = format!("gw_{}é{}", "a".repeat(38), "b".repeat(6));
        assert_eq!(odd.len(), TOKEN_LEN);
        assert_eq!(parse(&odd), Err(FormatError::Alphabet));
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_whole_token() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = generate();
        assert_eq!(hash(&t).len(), 64);
        assert!(!hash(&t).contains(&t[3..43]));
    }

    #[test]
    fn ids_are_16_hex() {
        let id = new_id();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(is_id(&id));
        for not in [
            "",
            "nope",
            "0123456789ABCDEF",
            "0123456789abcdef0",
            "0123456789abcde-",
        ] {
            assert!(!is_id(not), "{not}");
        }
    }
}
