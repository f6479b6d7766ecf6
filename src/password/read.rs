//! The hash reader: a source's password ([`PasswordInput`]) → the contract's
//! [`Hash`](struct@Hash), or the reason it cannot be carried ([`Uncarried`]). Pure, total (never
//! panics), and fuzzed (`fuzz/fuzz_targets/read_hash.rs`).
//!
//! What it reads, by the text's first character or the source's own fields:
//!
//! - `$…`: modular crypt and PHC strings (`modular`): bcrypt `$2a$`/`$2b$`/`$2y$`;
//!   `$argon2id$v=19$…`; `$pbkdf2-sha256$` / `$pbkdf2-sha512$` / `$pbkdf2$` in the PHC (Kratos,
//!   RustCrypto: `i=…,l=…`) and passlib (rounds, `.` for `+`) forms; Kratos' `$sha1$pf=…`,
//!   `$md5$…`; and the names of what cannot be carried (scrypt, phpass, md5-crypt, sha-crypt, …).
//! - `{…}`: LDAP-style schemes (`prefixed`): `{SSHA}`, `{SHA256}`, `{SMD5}`, … (salt after the
//!   digest), `{CRYPT}` by what follows, `{ARGON2}`, and ForgeRock's `{PBKDF2-HMAC-SHA256}`.
//! - `name$…`: Django's forms (`pbkdf2_sha256$…`, `argon2$argon2id$…`, `bcrypt$$2b$…`) and a
//!   source's own hasher names such as Clerk's `password_hasher`, including bare hex or base64
//!   digests (`named`).
//! - Keycloak's credential fields (`keycloak`).
//!
//! Every value comes out in the contract's encodings (standard padded base64 of the bytes; the
//! modular-crypt string for bcrypt), and every parameter is checked: iterations above zero, the
//! key length equal to the decoded value's, salts that decode, sizes within [`MAX_BYTES`].
//! No [`Uncarried`] repeats any character of the hash: reasons are fixed sentences and the
//! algorithm names poolsync knows (a source's own algorithm name only when it looks like one).

mod keycloak;
mod modular;
mod named;
mod prefixed;

use super::{Digest, Hash, HashConfig, PasswordInput, Salt, Uncarried, b64};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD_INDIFFERENT, STANDARD_PAD_INDIFFERENT};

/// The most bytes a salt, a derived key or a digest may have (a real one has 8 to 128).
pub const MAX_BYTES: usize = 1024;

/// Hash text longer than this is no hash poolsync knows (the longest real ones are a few
/// hundred characters).
const MAX_TEXT: usize = 4 * MAX_BYTES;

/// Reads a source's password hash.
///
/// `Ok` only for a hash the service verifies as the contract describes; anything else is an
/// [`Uncarried`] reason that names the algorithm but never repeats the hash.
pub fn read(input: &PasswordInput) -> Result<Hash, Uncarried> {
    match input {
        PasswordInput::Text { text, hasher } => {
            let text = text.trim();
            if text.len() > MAX_TEXT {
                return Err(Uncarried::Unknown);
            }
            match hasher.as_deref().map(str::trim) {
                Some(hasher) if !hasher.is_empty() => named::read_named(text, hasher),
                _ => read_text(text),
            }
        }
        PasswordInput::Keycloak(hash) => keycloak::read_keycloak(hash),
        PasswordInput::FirebaseScrypt => Err(unsupported("scrypt (Firebase)")),
    }
}

/// Hash text that says by itself what it is.
pub(super) fn read_text(text: &str) -> Result<Hash, Uncarried> {
    if text.starts_with('$') {
        modular::read_modular(text)
    } else if text.starts_with('{') {
        prefixed::read_prefixed(text)
    } else {
        named::read_django(text)
    }
}

fn malformed(algorithm: &str, why: impl Into<String>) -> Uncarried {
    Uncarried::Malformed {
        algorithm: algorithm.into(),
        why: why.into(),
    }
}

fn unsupported(algorithm: impl Into<String>) -> Uncarried {
    Uncarried::Unsupported {
        algorithm: algorithm.into(),
    }
}

/// A source's own name of an algorithm, fit to show: short, and only letters, digits and
/// `-_.`. Anything else (which could be part of a hash pasted into the wrong field) is not
/// repeated.
fn shown_name(name: &str) -> Option<&str> {
    let fits = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    fits.then_some(name)
}

/// Standard base64, padded or not; trailing bits must be zero so that the bytes re-encode to
/// the same text.
fn base64_standard(text: &str) -> Option<Vec<u8>> {
    STANDARD_PAD_INDIFFERENT.decode(text).ok()
}

/// The PHC string format's base64 (standard alphabet, no padding), which also reads passlib's
/// adapted base64 (`.` in place of `+`).
fn base64_phc(text: &str) -> Option<Vec<u8>> {
    if text.contains('=') {
        return None;
    }
    STANDARD_NO_PAD_INDIFFERENT
        .decode(text.replace('.', "+"))
        .ok()
}

/// Lower- or upper-case hex.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// A decimal number of at most ten digits, no sign or spaces.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `pbkdf2` with its parameters checked.
pub(super) fn pbkdf2(
    algorithm: &str,
    function: Digest,
    iterations: Option<u64>,
    salt: Vec<u8>,
    key: Vec<u8>,
) -> Result<Hash, Uncarried> {
    let iterations = match iterations {
        None => return Err(malformed(algorithm, "no iteration count")),
        Some(0) => return Err(malformed(algorithm, "zero iterations")),
        Some(count) => {
            u32::try_from(count).map_err(|_| malformed(algorithm, "too many iterations"))?
        }
    };
    if key.is_empty() {
        return Err(malformed(algorithm, "an empty derived key"));
    }
    if key.len() > MAX_BYTES {
        return Err(malformed(algorithm, "a derived key over 1024 bytes"));
    }
    if salt.len() > MAX_BYTES {
        return Err(malformed(algorithm, "a salt over 1024 bytes"));
    }
    Ok(Hash {
        value: b64(&key),
        config: HashConfig::Pbkdf2 {
            function,
            iterations,
            key_length: key.len() as u32,
            salt,
        },
    })
}

/// argon2id's cost parameters as a source writes them.
pub(super) struct Argon2Costs {
    pub(super) iterations: Option<u64>,
    pub(super) memory_kib: Option<u64>,
    pub(super) parallelism: Option<u64>,
}

/// `argon2` (argon2id, version 0x13) with its parameters checked against the algorithm's own
/// bounds (RFC 9106): t ≥ 1, 1 ≤ p < 2²⁴, m ≥ 8·p KiB, salt ≥ 8 bytes, hash ≥ 4 bytes.
pub(super) fn argon2(
    algorithm: &str,
    costs: Argon2Costs,
    salt: Vec<u8>,
    key: Vec<u8>,
) -> Result<Hash, Uncarried> {
    let fits_u32 = |value: Option<u64>, name: &str| -> Result<u32, Uncarried> {
        let value = value.ok_or_else(|| malformed(algorithm, format!("no {name}")))?;
        u32::try_from(value).map_err(|_| malformed(algorithm, format!("the {name} is too large")))
    };
    let iterations = fits_u32(costs.iterations, "iteration count")?;
    let memory_kib = fits_u32(costs.memory_kib, "memory size")?;
    let parallelism = fits_u32(costs.parallelism, "parallelism")?;
    if iterations == 0 {
        return Err(malformed(algorithm, "zero iterations"));
    }
    if parallelism == 0 || parallelism > 0x00FF_FFFF {
        return Err(malformed(algorithm, "a parallelism outside 1 to 16777215"));
    }
    if u64::from(memory_kib) < 8 * u64::from(parallelism) {
        return Err(malformed(
            algorithm,
            "less memory than 8 KiB per lane of parallelism",
        ));
    }
    if salt.len() < 8 || salt.len() > MAX_BYTES {
        return Err(malformed(algorithm, "a salt outside 8 to 1024 bytes"));
    }
    if key.len() < 4 || key.len() > MAX_BYTES {
        return Err(malformed(algorithm, "a hash outside 4 to 1024 bytes"));
    }
    Ok(Hash {
        value: b64(&key),
        config: HashConfig::Argon2 {
            iterations,
            memory_kib,
            parallelism,
            key_length: key.len() as u32,
            salt,
        },
    })
}

/// Where a digest's salt is, as a source gives it.
pub(super) enum SaltGiven {
    /// Unsalted.
    None,
    /// Beside the digest (an empty salt is no salt).
    Separate(Vec<u8>),
    /// After the digest in the same bytes.
    AfterDigest,
}

/// `sha` (`function` given) or `md5` (`None`) over `bytes`: the digest alone, or the digest and
/// then the salt ([`SaltGiven::AfterDigest`]).
pub(super) fn salted_digest(
    algorithm: &str,
    function: Option<Digest>,
    bytes: Vec<u8>,
    salt: SaltGiven,
) -> Result<Hash, Uncarried> {
    let digest_length = function.map_or(16, Digest::output_len);
    let salt = match salt {
        SaltGiven::None => Salt::None,
        SaltGiven::Separate(salt) if salt.is_empty() => Salt::None,
        SaltGiven::Separate(salt) if salt.len() > MAX_BYTES => {
            return Err(malformed(algorithm, "a salt over 1024 bytes"));
        }
        SaltGiven::Separate(salt) => Salt::Config(salt),
        SaltGiven::AfterDigest => {
            if bytes.len() <= digest_length {
                return Err(malformed(algorithm, "no salt after the digest"));
            }
            if bytes.len() - digest_length > MAX_BYTES {
                return Err(malformed(algorithm, "a salt over 1024 bytes"));
            }
            Salt::AfterDigest(bytes.len() - digest_length)
        }
    };
    if !matches!(salt, Salt::AfterDigest(_)) && bytes.len() != digest_length {
        return Err(malformed(
            algorithm,
            format!("{} bytes where the digest has {digest_length}", bytes.len()),
        ));
    }
    let config = match function {
        Some(function) => HashConfig::Sha { function, salt },
        None => HashConfig::Md5 { salt },
    };
    Ok(Hash {
        value: b64(&bytes),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::KeycloakHash;

    const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

    fn text(text: &str) -> Result<Hash, Uncarried> {
        read(&PasswordInput::text(text))
    }

    #[test]
    fn bcrypt_carries_its_text_and_cost() {
        let hash = text(BCRYPT).unwrap();
        assert_eq!(hash.value, BCRYPT);
        assert_eq!(hash.config, HashConfig::Bcrypt { cost: 10 });
        assert_eq!(
            hash.to_payload(),
            serde_json::json!({"hashed_password": {"value": BCRYPT, "config": {"method": "bcrypt", "bcrypt": {"cost": 10}}}})
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(text(&format!("  {BCRYPT}\n")).unwrap().value, BCRYPT);
    }

    #[test]
    fn broken_bcrypt_is_malformed_and_never_echoed() {
        let broken = &BCRYPT[..BCRYPT.len() - 1];
        let error = text(broken).unwrap_err();
        assert!(matches!(error, Uncarried::Malformed { .. }));
        assert!(!error.to_string().contains(&broken[7..]));
    }

    #[test]
    fn firebase_scrypt_is_never_carried() {
        assert_eq!(
            read(&PasswordInput::FirebaseScrypt),
            Err(unsupported("scrypt (Firebase)"))
        );
    }

    #[test]
    fn debug_hides_the_hash() {
        let input = PasswordInput::text(BCRYPT);
        assert!(!format!("{input:?}").contains("N9qo8"));
        let hash = read(&input).unwrap();
        assert!(!format!("{hash:?}").contains("N9qo8"));
    }

    #[test]
    fn unknown_and_empty_text_is_unknown() {
        for unknown in [
            "",
            "hunter2",
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "{NOPE}abc",
            "$zz$x",
        ] {
            assert_eq!(text(unknown), Err(Uncarried::Unknown), "{unknown}");
        }
        assert_eq!(text(&"a".repeat(MAX_TEXT + 1)), Err(Uncarried::Unknown));
    }

    #[test]
    fn names_from_a_source_are_shown_only_when_they_look_like_names() {
        assert_eq!(shown_name("pbkdf2-sha384"), Some("pbkdf2-sha384"));
        assert_eq!(shown_name("a/b+c="), None);
        assert_eq!(shown_name(&"x".repeat(33)), None);
        let error = read(&PasswordInput::Keycloak(KeycloakHash {
            algorithm: "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p9/+".into(),
            ..KeycloakHash::default()
        }))
        .unwrap_err();
        assert!(!error.to_string().contains("N9qo8"), "{error}");
    }

    #[test]
    fn base64_readers_keep_to_their_alphabets() {
        assert_eq!(base64_standard("AAEC").unwrap(), [0, 1, 2]);
        assert_eq!(base64_standard("AAE=").unwrap(), [0, 1]);
        assert_eq!(base64_standard("AAE").unwrap(), [0, 1]);
        // Trailing bits that are not zero would not re-encode to the same text.
        assert_eq!(base64_standard("AAF="), None);
        assert_eq!(base64_standard("AA-_"), None);
        assert_eq!(base64_phc("a.8").unwrap(), base64_phc("a+8").unwrap());
        assert_eq!(base64_phc("AAE="), None);
        assert_eq!(number("0012"), Some(12));
        assert_eq!(number("+12"), None);
        assert_eq!(number("12345678901"), None);
    }

    #[test]
    fn digest_lengths_and_salts_are_checked() {
        let sha1 = vec![7u8; 20];
        let hash =
            salted_digest("sha1", Some(Digest::Sha1), sha1.clone(), SaltGiven::None).unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Sha {
                function: Digest::Sha1,
                salt: Salt::None
            }
        );
        assert!(salted_digest("sha1", Some(Digest::Sha1), vec![7; 19], SaltGiven::None).is_err());
        assert!(
            salted_digest(
                "sha1",
                Some(Digest::Sha1),
                sha1.clone(),
                SaltGiven::AfterDigest
            )
            .is_err()
        );
        let mut with_salt = sha1.clone();
        with_salt.extend([1, 2, 3, 4]);
        let hash = salted_digest(
            "sha1",
            Some(Digest::Sha1),
            with_salt.clone(),
            SaltGiven::AfterDigest,
        )
        .unwrap();
        assert_eq!(hash.value, b64(&with_salt));
        assert_eq!(
            hash.config,
            HashConfig::Sha {
                function: Digest::Sha1,
                salt: Salt::AfterDigest(4)
            }
        );
        let md5 = salted_digest("md5", None, vec![1; 16], SaltGiven::Separate(vec![])).unwrap();
        assert_eq!(md5.config, HashConfig::Md5 { salt: Salt::None });
    }
}
