//! Checking a password against a stored hash, as the service does: a credential's payload →
//! [`Hash`](struct@Hash) ([`Hash::from_payload`]), then [`verify()`] for every method of the contract's table
//! (`../shared/system-api.md`, "Password credentials").
//!
//! Pure and synchronous: no I/O, no clock, no async. Hashing is slow on purpose (bcrypt,
//! pbkdf2, argon2), so a server calls [`verify()`] on a blocking thread. What a hostile payload
//! can cost is bounded: a hash over the limits below never verifies, whatever the password.
//!
//! | method | limit |
//! |---|---|
//! | bcrypt | cost ≤ [`MAX_BCRYPT_COST`] (2¹⁶ rounds) |
//! | pbkdf2 | iterations × blocks of output ≤ [`MAX_PBKDF2_WORK`] |
//! | argon2 | memory ≤ [`MAX_ARGON2_MEMORY_KIB`] (1 GiB), memory × iterations ≤ [`MAX_ARGON2_WORK_KIB`] |
//! | sha, md5 | none needed (one digest) |
//!
//! Digests are compared in constant time (`subtle`).

use super::read::{Argon2Costs, SaltGiven, argon2, pbkdf2, read_text, salted_digest};
use super::{Digest, Hash, HashConfig, Salt};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

/// The highest bcrypt cost that is verified.
pub const MAX_BCRYPT_COST: u32 = 16;

/// The most pbkdf2 work verified: iterations times the blocks of output (a key as long as the
/// HMAC's digest is one block).
pub const MAX_PBKDF2_WORK: u64 = 10_000_000;

/// The most memory an argon2 hash may ask for, in KiB (1 GiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;

/// The most argon2 work verified: memory in KiB times iterations (4 GiB passed over).
pub const MAX_ARGON2_WORK_KIB: u64 = 1 << 22;

/// Why a credential payload is not a [`Hash`](struct@Hash). None holds any part of the payload's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the payload is not a hash of the contract: {why}")]
pub struct PayloadError {
    /// What is wrong, without any of the payload's values.
    pub why: String,
}

fn payload_error(why: impl Into<String>) -> PayloadError {
    PayloadError { why: why.into() }
}

impl Hash {
    /// A stored `password` credential's payload (`{"hashed_password": {"value", "config"}}`) as
    /// a [`Hash`](struct@Hash): strict on types and encodings (standard padded base64), and the same checks
    /// as the hash reader; never panics. What [`Hash::to_payload`] writes reads back equal.
    pub fn from_payload(payload: &Value) -> Result<Hash, PayloadError> {
        let hashed = object(payload, "the payload")?;
        let hashed = object(field(hashed, "hashed_password")?, "`hashed_password`")?;
        let value = string(hashed, "value")?;
        let config = object(field(hashed, "config")?, "`config`")?;
        let method = string(config, "method")?;
        let parameters = object(field(config, method)?, "the method's parameters")?;
        match method {
            "bcrypt" => {
                // The cost is informative; the value holds it.
                optional_integer(parameters, "cost")?;
                match read_text(value) {
                    Ok(hash) if hash.config.method() == "bcrypt" => Ok(hash),
                    _ => Err(payload_error("the value is not a bcrypt string")),
                }
            }
            "pbkdf2" => {
                let function = function(parameters)?;
                let iterations = integer(parameters, "number_of_iterations")?;
                let key_length = integer(parameters, "key_length")?;
                let salt = base64(string(parameters, "salt")?, "salt")?;
                let key = base64(value, "value")?;
                if key_length != key.len() as u64 {
                    return Err(payload_error("`key_length` is not the value's length"));
                }
                pbkdf2("pbkdf2", function, Some(iterations), salt, key).map_err(reason)
            }
            "argon2" => {
                let costs = Argon2Costs {
                    iterations: Some(integer(parameters, "iterations")?),
                    memory_kib: Some(integer(parameters, "memory_in_kb")?),
                    parallelism: Some(integer(parameters, "parallelism")?),
                };
                let key_length = integer(parameters, "key_length")?;
                let salt = base64(string(parameters, "salt")?, "salt")?;
                let key = base64(value, "value")?;
                if key_length != key.len() as u64 {
                    return Err(payload_error("`key_length` is not the value's length"));
                }
                argon2("argon2", costs, salt, key).map_err(reason)
            }
            "sha" => {
                let function = function(parameters)?;
                digest_payload(Some(function), value, parameters)
            }
            "md5" => digest_payload(None, value, parameters),
            _ => Err(payload_error("an unknown `method`")),
        }
    }
}

fn reason(uncarried: super::Uncarried) -> PayloadError {
    match uncarried {
        super::Uncarried::Malformed { why, .. } => payload_error(why),
        other => payload_error(other.to_string()),
    }
}

fn digest_payload(
    function: Option<Digest>,
    value: &str,
    parameters: &Map<String, Value>,
) -> Result<Hash, PayloadError> {
    let bytes = base64(value, "value")?;
    let after_digest = match parameters.get("salt_after_digest_in_hash") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(payload_error(
                "`salt_after_digest_in_hash` is not a boolean",
            ));
        }
    };
    let salt = match parameters.get("salt") {
        None | Some(Value::Null) => None,
        Some(Value::String(salt)) => Some(base64(salt, "salt")?),
        Some(_) => return Err(payload_error("`salt` is not a string")),
    };
    let method = if function.is_some() { "sha" } else { "md5" };
    let given = if after_digest {
        if salt.is_some() {
            return Err(payload_error("a `salt` and a salt after the digest"));
        }
        let salt_length = integer(parameters, "salt_length")?;
        let digest_length = function.map_or(16, Digest::output_len) as u64;
        if bytes.len() as u64 != digest_length + salt_length {
            return Err(payload_error(
                "`salt_length` does not match the value's length",
            ));
        }
        SaltGiven::AfterDigest
    } else {
        optional_integer(parameters, "salt_length")?;
        match salt {
            Some(salt) => SaltGiven::Separate(salt),
            None => SaltGiven::None,
        }
    };
    salted_digest(method, function, bytes, given).map_err(reason)
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, PayloadError> {
    value
        .as_object()
        .ok_or_else(|| payload_error(format!("{what} is not an object")))
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Value, PayloadError> {
    object
        .get(name)
        .ok_or_else(|| payload_error(format!("no `{}`", shown(name))))
}

fn string<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, PayloadError> {
    field(object, name)?
        .as_str()
        .ok_or_else(|| payload_error(format!("`{name}` is not a string")))
}

fn integer(object: &Map<String, Value>, name: &str) -> Result<u64, PayloadError> {
    field(object, name)?
        .as_u64()
        .ok_or_else(|| payload_error(format!("`{name}` is not a whole number")))
}

fn optional_integer(object: &Map<String, Value>, name: &str) -> Result<(), PayloadError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(value) if value.is_u64() => Ok(()),
        Some(_) => Err(payload_error(format!("`{name}` is not a whole number"))),
    }
}

fn function(parameters: &Map<String, Value>) -> Result<Digest, PayloadError> {
    let name = string(parameters, "function")?;
    match name {
        "sha1" | "sha256" | "sha512" => Digest::from_name(name)
            .ok_or_else(|| payload_error("`function` is not sha1, sha256 or sha512")),
        _ => Err(payload_error("`function` is not sha1, sha256 or sha512")),
    }
}

fn base64(text: &str, name: &str) -> Result<Vec<u8>, PayloadError> {
    STANDARD
        .decode(text)
        .map_err(|_| payload_error(format!("`{name}` is not standard padded base64")))
}

/// A method name from the payload is shown only when it is one of the contract's.
fn shown(name: &str) -> &str {
    match name {
        "bcrypt" | "pbkdf2" | "argon2" | "sha" | "md5" | "hashed_password" | "value" | "config"
        | "method" => name,
        _ => "the method's parameters",
    }
}

/// Whether verifying `hash` stays within the limits in this module's documentation.
pub fn within_limits(hash: &Hash) -> bool {
    match &hash.config {
        HashConfig::Bcrypt { cost } => *cost <= MAX_BCRYPT_COST,
        HashConfig::Pbkdf2 {
            function,
            iterations,
            key_length,
            ..
        } => {
            let blocks = u64::from(*key_length).div_ceil(function.output_len() as u64);
            u64::from(*iterations).saturating_mul(blocks) <= MAX_PBKDF2_WORK
        }
        HashConfig::Argon2 {
            iterations,
            memory_kib,
            ..
        } => {
            *memory_kib <= MAX_ARGON2_MEMORY_KIB
                && u64::from(*memory_kib).saturating_mul(u64::from(*iterations))
                    <= MAX_ARGON2_WORK_KIB
        }
        HashConfig::Sha { .. } | HashConfig::Md5 { .. } => true,
    }
}

/// Whether `password` (its UTF-8 bytes) matches `hash` as the contract describes. A hash over
/// the limits, or one whose value does not decode, never matches.
pub fn verify(hash: &Hash, password: &[u8]) -> bool {
    if !within_limits(hash) {
        return false;
    }
    match &hash.config {
        // bcrypt's own check compares in constant time; an unreadable value is no match.
        HashConfig::Bcrypt { .. } => bcrypt::verify(password, &hash.value).unwrap_or(false),
        HashConfig::Pbkdf2 {
            function,
            iterations,
            key_length,
            salt,
        } => {
            let Ok(expected) = STANDARD.decode(&hash.value) else {
                return false;
            };
            let mut derived = vec![0u8; *key_length as usize];
            match function {
                Digest::Sha1 => {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, *iterations, &mut derived)
                }
                Digest::Sha256 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, *iterations, &mut derived)
                }
                Digest::Sha512 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, *iterations, &mut derived)
                }
            }
            same(&derived, &expected)
        }
        HashConfig::Argon2 {
            iterations,
            memory_kib,
            parallelism,
            key_length,
            salt,
        } => {
            let Ok(expected) = STANDARD.decode(&hash.value) else {
                return false;
            };
            let Ok(params) = argon2::Params::new(
                *memory_kib,
                *iterations,
                *parallelism,
                Some(*key_length as usize),
            ) else {
                return false;
            };
            let hasher =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut derived = vec![0u8; *key_length as usize];
            hasher
                .hash_password_into(password, salt, &mut derived)
                .is_ok()
                && same(&derived, &expected)
        }
        HashConfig::Sha { function, salt } => digest_matches(
            hash,
            salt,
            function.output_len(),
            |input| match function {
                Digest::Sha1 => digest::<sha1::Sha1>(input),
                Digest::Sha256 => digest::<sha2::Sha256>(input),
                Digest::Sha512 => digest::<sha2::Sha512>(input),
            },
            password,
        ),
        HashConfig::Md5 { salt } => digest_matches(hash, salt, 16, digest::<md5::Md5>, password),
    }
}

fn digest<D: sha2::Digest>(input: &[u8]) -> Vec<u8> {
    D::digest(input).to_vec()
}

/// `H(password ‖ salt)` against the digest in `value`, the salt from the config or after the
/// digest.
fn digest_matches(
    hash: &Hash,
    salt: &Salt,
    digest_length: usize,
    function: impl Fn(&[u8]) -> Vec<u8>,
    password: &[u8],
) -> bool {
    let Ok(bytes) = STANDARD.decode(&hash.value) else {
        return false;
    };
    let (expected, salt): (&[u8], &[u8]) = match salt {
        Salt::None => (&bytes, &[]),
        Salt::Config(salt) => (&bytes, salt),
        Salt::AfterDigest(length) => {
            if bytes.len() != digest_length + length {
                return false;
            }
            bytes.split_at(digest_length)
        }
    };
    let input = [password, salt].concat();
    same(&function(&input), expected)
}

/// Constant-time equality (lengths are not secret).
fn same(left: &[u8], right: &[u8]) -> bool {
    left.ct_eq(right).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{PasswordInput, b64, read};
    use serde_json::json;

    fn from(text: &str) -> Hash {
        read(&PasswordInput::text(text)).unwrap()
    }

    #[test]
    fn what_to_payload_writes_reads_back_equal() {
        let hashes = [
            from("$2b$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
            from(
                "$pbkdf2-sha256$i=1000,l=32$c29tZXNhbHQ$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            ),
            from(
                "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            ),
            from(&format!("{{SSHA256}}{}", b64(&[7; 40]))),
            from(&format!("{{MD5}}{}", b64(&[7; 16]))),
            from(&format!(
                "$sha1$pf={}${}${}",
                b64(b"{PASSWORD}{SALT}"),
                b64(b"s"),
                b64(&[1; 20])
            )),
        ];
        for hash in hashes {
            assert_eq!(
                Hash::from_payload(&hash.to_payload()),
                Ok(hash.clone()),
                "{hash:?}"
            );
        }
    }

    #[test]
    fn payloads_are_read_strictly() {
        let good = json!({"hashed_password": {"value": b64(&[1; 32]), "config": {"method": "pbkdf2", "pbkdf2": {
            "function": "sha256", "number_of_iterations": 10, "key_length": 32, "salt": b64(b"salt")}}}});
        assert!(Hash::from_payload(&good).is_ok());
        let mut broken = Vec::new();
        for (pointer, replacement) in [
            (
                "/hashed_password/value",
                json!(b64(&[1; 32]).trim_end_matches('=')),
            ),
            ("/hashed_password/value", json!(32)),
            ("/hashed_password/config/method", json!("scrypt")),
            ("/hashed_password/config/pbkdf2/function", json!("SHA256")),
            ("/hashed_password/config/pbkdf2/function", json!("md5")),
            (
                "/hashed_password/config/pbkdf2/number_of_iterations",
                json!("10"),
            ),
            (
                "/hashed_password/config/pbkdf2/number_of_iterations",
                json!(0),
            ),
            (
                "/hashed_password/config/pbkdf2/number_of_iterations",
                json!(-1),
            ),
            (
                "/hashed_password/config/pbkdf2/number_of_iterations",
                json!(1.5),
            ),
            ("/hashed_password/config/pbkdf2/key_length", json!(31)),
            ("/hashed_password/config/pbkdf2/salt", json!("c2FsdA")),
            ("/hashed_password/config/pbkdf2/salt", json!(null)),
            ("/hashed_password/config", json!([])),
            ("/hashed_password", json!("x")),
        ] {
            let mut payload = good.clone();
            *payload.pointer_mut(pointer).unwrap() = replacement;
            broken.push(payload);
        }
        broken.push(json!(null));
        broken.push(json!({"hashed_password": {"value": "x"}}));
        for payload in broken {
            let error = Hash::from_payload(&payload).unwrap_err();
            assert!(!error.to_string().contains(&b64(&[1; 32])), "{error}");
        }
    }

    #[test]
    fn digest_payloads_say_where_the_salt_is() {
        let value = b64(&[9; 24]);
        let after = json!({"hashed_password": {"value": value, "config": {"method": "sha", "sha": {
            "function": "sha1", "salt_after_digest_in_hash": true, "salt_length": 4}}}});
        assert_eq!(
            Hash::from_payload(&after).unwrap().config,
            HashConfig::Sha {
                function: Digest::Sha1,
                salt: Salt::AfterDigest(4)
            }
        );
        for (pointer, replacement) in [
            ("/hashed_password/config/sha/salt_length", json!(5)),
            ("/hashed_password/config/sha/salt_length", json!(null)),
            (
                "/hashed_password/config/sha/salt_after_digest_in_hash",
                json!("yes"),
            ),
        ] {
            let mut payload = after.clone();
            *payload.pointer_mut(pointer).unwrap() = replacement;
            assert!(Hash::from_payload(&payload).is_err(), "{pointer}");
        }
        let md5 = json!({"hashed_password": {"value": b64(&[9; 16]), "config": {"method": "md5", "md5": {"salt": b64(b"pepper")}}}});
        assert_eq!(
            Hash::from_payload(&md5).unwrap().config,
            HashConfig::Md5 {
                salt: Salt::Config(b"pepper".to_vec())
            }
        );
    }

    #[test]
    fn work_over_the_limits_never_verifies() {
        let over = |config: HashConfig| {
            let hash = Hash {
                value: b64(&[0; 32]),
                config,
            };
            assert!(!within_limits(&hash));
            assert!(!verify(&hash, b"password"));
        };
        over(HashConfig::Pbkdf2 {
            function: Digest::Sha1,
            iterations: 10_000_000,
            key_length: 21,
            salt: vec![],
        });
        over(HashConfig::Argon2 {
            iterations: 1,
            memory_kib: MAX_ARGON2_MEMORY_KIB + 1,
            parallelism: 1,
            key_length: 32,
            salt: vec![0; 8],
        });
        over(HashConfig::Argon2 {
            iterations: 5,
            memory_kib: MAX_ARGON2_MEMORY_KIB,
            parallelism: 1,
            key_length: 32,
            salt: vec![0; 8],
        });
        // bcrypt at cost 31 would run for days: it is refused before any work.
        let bcrypt = from("$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy");
        assert!(!within_limits(&bcrypt) && !verify(&bcrypt, b"password"));
        let at_limit = Hash {
            value: b64(&[0; 64]),
            config: HashConfig::Pbkdf2 {
                function: Digest::Sha512,
                iterations: 10_000_000,
                key_length: 64,
                salt: vec![],
            },
        };
        assert!(within_limits(&at_limit));
    }

    #[test]
    fn a_value_that_does_not_decode_never_verifies() {
        for config in [
            HashConfig::Md5 { salt: Salt::None },
            HashConfig::Sha {
                function: Digest::Sha1,
                salt: Salt::AfterDigest(4),
            },
            HashConfig::Pbkdf2 {
                function: Digest::Sha1,
                iterations: 1,
                key_length: 20,
                salt: vec![],
            },
            HashConfig::Argon2 {
                iterations: 1,
                memory_kib: 8,
                parallelism: 1,
                key_length: 32,
                salt: vec![0; 8],
            },
            HashConfig::Bcrypt { cost: 4 },
        ] {
            let hash = Hash {
                value: "not base64 at all!".into(),
                config,
            };
            assert!(!verify(&hash, b""), "{hash:?}");
        }
    }
}
