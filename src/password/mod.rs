//! Password hashes as the System API carries them: the contract's `Hash` / `HashConfig`
//! (`../shared/system-api.md`, "Password credentials"), what a source platform gives
//! ([`PasswordInput`]), and why a hash cannot be carried ([`Uncarried`]).
//!
//! Everything here is pure. [`read()`] is the one hash reader: every source's password goes
//! through it, and what it cannot turn into a [`Hash`](struct@Hash) the service can verify is
//! never imported as if it worked. [`verify()`] checks a password against a hash as the service
//! does (the emulator's password check), and [`Hash::from_payload`] reads a stored credential
//! back.
//!
//! Nothing in this module shows a hash: [`Hash`](struct@Hash) and [`PasswordInput`] have redacted `Debug`,
//! and no [`Uncarried`] holds any part of the hash text.

pub mod read;
pub mod verify;

pub use read::read;
pub use verify::{PayloadError, verify};

use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;

/// The hash function of `pbkdf2` (its HMAC) and of `sha`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Digest {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// The contract's name: `sha1`, `sha256` or `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        }
    }

    /// The digest named so in the contract (`sha1`, `sha256`, `sha512`), any letter case.
    pub fn from_name(name: &str) -> Option<Digest> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" => Some(Digest::Sha1),
            "sha256" => Some(Digest::Sha256),
            "sha512" => Some(Digest::Sha512),
            _ => None,
        }
    }

    /// The digest's output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha512 => 64,
        }
    }
}

/// Where the salt of a `sha` or `md5` hash is.
#[derive(Clone, PartialEq, Eq)]
pub enum Salt {
    /// No salt.
    None,
    /// In `config.salt` (standard base64 of the bytes).
    Config(Vec<u8>),
    /// After the digest inside `value` (LDAP `{SSHA}` layout): this many bytes.
    AfterDigest(usize),
}

/// A hash method and its parameters: the contract's `HashConfig`.
#[derive(Clone, PartialEq, Eq)]
pub enum HashConfig {
    /// `bcrypt`: the cost is informative, the modular-crypt `value` holds cost and salt.
    Bcrypt {
        /// The cost factor (log2 of the rounds).
        cost: u32,
    },
    /// `pbkdf2` with an HMAC of `function`.
    Pbkdf2 {
        /// The HMAC's hash.
        function: Digest,
        /// The number of iterations.
        iterations: u32,
        /// The derived key's length in bytes (the decoded `value`'s length).
        key_length: u32,
        /// The salt bytes.
        salt: Vec<u8>,
    },
    /// `argon2`: argon2id, version 0x13.
    Argon2 {
        /// t: passes.
        iterations: u32,
        /// m: memory in KiB.
        memory_kib: u32,
        /// p: lanes.
        parallelism: u32,
        /// The raw hash's length in bytes.
        key_length: u32,
        /// The salt bytes.
        salt: Vec<u8>,
    },
    /// `sha`: `function(password ‖ salt)`.
    Sha {
        /// The hash.
        function: Digest,
        /// Where the salt is.
        salt: Salt,
    },
    /// `md5`: `MD5(password ‖ salt)`.
    Md5 {
        /// Where the salt is.
        salt: Salt,
    },
}

/// Method and numeric parameters only: salts are part of the secret.
impl fmt::Debug for HashConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashConfig::Bcrypt { cost } => write!(formatter, "Bcrypt {{ cost: {cost} }}"),
            HashConfig::Pbkdf2 {
                function,
                iterations,
                key_length,
                ..
            } => write!(
                formatter,
                "Pbkdf2 {{ {function:?}, iterations: {iterations}, key_length: {key_length} }}"
            ),
            HashConfig::Argon2 {
                iterations,
                memory_kib,
                parallelism,
                key_length,
                ..
            } => write!(
                formatter,
                "Argon2 {{ t: {iterations}, m: {memory_kib}, p: {parallelism}, key_length: {key_length} }}"
            ),
            HashConfig::Sha { function, .. } => write!(formatter, "Sha {{ {function:?} }}"),
            HashConfig::Md5 { .. } => formatter.write_str("Md5"),
        }
    }
}

impl HashConfig {
    /// The contract's `method`: `bcrypt`, `pbkdf2`, `argon2`, `sha` or `md5`.
    pub fn method(&self) -> &'static str {
        match self {
            HashConfig::Bcrypt { .. } => "bcrypt",
            HashConfig::Pbkdf2 { .. } => "pbkdf2",
            HashConfig::Argon2 { .. } => "argon2",
            HashConfig::Sha { .. } => "sha",
            HashConfig::Md5 { .. } => "md5",
        }
    }
}

/// A password hash the service can verify: the contract's `Hash`. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Hash {
    /// The contract's `value`: the modular-crypt string for bcrypt, else standard base64.
    pub value: String,
    /// Method and parameters.
    pub config: HashConfig,
}

impl fmt::Debug for Hash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "Hash({} {})",
            self.config.method(),
            crate::SENSITIVE
        )
    }
}

/// Standard base64 with padding, as the contract encodes bytes.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Hash {
    /// The contract's `Hash` object: `{"value": …, "config": {"method": M, M: {…}}}`.
    pub fn to_json(&self) -> Value {
        let (method, parameters) = match &self.config {
            HashConfig::Bcrypt { cost } => ("bcrypt", json!({ "cost": cost })),
            HashConfig::Pbkdf2 {
                function,
                iterations,
                key_length,
                salt,
            } => (
                "pbkdf2",
                json!({
                    "function": function.name(),
                    "number_of_iterations": iterations,
                    "key_length": key_length,
                    "salt": b64(salt),
                }),
            ),
            HashConfig::Argon2 {
                iterations,
                memory_kib,
                parallelism,
                key_length,
                salt,
            } => (
                "argon2",
                json!({
                    "iterations": iterations,
                    "memory_in_kb": memory_kib,
                    "parallelism": parallelism,
                    "key_length": key_length,
                    "salt": b64(salt),
                }),
            ),
            HashConfig::Sha { function, salt } => {
                let mut parameters = salt_json(salt);
                parameters.insert("function".into(), json!(function.name()));
                ("sha", Value::Object(parameters))
            }
            HashConfig::Md5 { salt } => ("md5", Value::Object(salt_json(salt))),
        };
        json!({
            "value": self.value,
            "config": { "method": method, method: parameters },
        })
    }

    /// A `password` credential's payload: `{"hashed_password": <Hash>}`.
    pub fn to_payload(&self) -> Value {
        json!({ "hashed_password": self.to_json() })
    }
}

fn salt_json(salt: &Salt) -> serde_json::Map<String, Value> {
    let mut parameters = serde_json::Map::new();
    match salt {
        Salt::None => {}
        Salt::Config(bytes) => {
            parameters.insert("salt".into(), json!(b64(bytes)));
        }
        Salt::AfterDigest(length) => {
            parameters.insert("salt_after_digest_in_hash".into(), json!(true));
            parameters.insert("salt_length".into(), json!(length));
        }
    }
    parameters
}

/// A Keycloak `password` credential, its `secretData` and `credentialData` decoded (or the old
/// export's `hashedSaltedValue`, `salt`, `hashIterations` and `algorithm` fields).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeycloakHash {
    /// `credentialData.algorithm`: `pbkdf2`, `pbkdf2-sha256`, `pbkdf2-sha512`, `argon2`, …
    pub algorithm: String,
    /// `credentialData.hashIterations`.
    pub iterations: Option<u64>,
    /// `secretData.value`: base64 of the derived key.
    pub value: String,
    /// `secretData.salt`: base64 of the salt.
    pub salt: String,
    /// `credentialData.additionalParameters`, each list's first value (`type`, `memory`,
    /// `parallelism`, `hashLength`, `version` for argon2).
    pub parameters: BTreeMap<String, String>,
}

/// A password hash as a source platform gives it. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordInput {
    /// Hash text: modular crypt (`$2b$…`), PHC strings (`$argon2id$…`, `$pbkdf2-sha256$…`),
    /// `{SSHA}`-style prefixes, and the like; `hasher` is the source's own name for the
    /// algorithm where it gives one (Clerk's `password_hasher`).
    Text {
        /// The hash text.
        text: String,
        /// The source's name of the algorithm, if any.
        hasher: Option<String>,
    },
    /// A Keycloak credential.
    Keycloak(KeycloakHash),
    /// Firebase's modified scrypt (`passwordHash` and `salt` of `firebase auth:export`): it
    /// needs the project's signer key and has no `HashConfig`.
    FirebaseScrypt,
}

impl PasswordInput {
    /// Hash text without a hasher name.
    pub fn text(text: impl Into<String>) -> PasswordInput {
        PasswordInput::Text {
            text: text.into(),
            hasher: None,
        }
    }
}

impl fmt::Debug for PasswordInput {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordInput::Text { hasher, .. } => {
                write!(formatter, "Text({:?}, {})", hasher, crate::SENSITIVE)
            }
            PasswordInput::Keycloak(hash) => {
                write!(
                    formatter,
                    "Keycloak({:?}, {})",
                    hash.algorithm,
                    crate::SENSITIVE
                )
            }
            PasswordInput::FirebaseScrypt => formatter.write_str("FirebaseScrypt"),
        }
    }
}

/// Why a hash cannot be carried. None of these holds any part of the hash itself, so they can
/// be shown, logged and counted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum Uncarried {
    /// A known algorithm the service cannot verify (scrypt, phpass, md5-crypt, argon2i, an
    /// HMAC with a secret key, …).
    #[error("{algorithm} hashes cannot be verified by the service")]
    Unsupported {
        /// The algorithm, as people know it (`scrypt (Firebase)`, `phpass`, `argon2i`).
        algorithm: String,
    },
    /// A known algorithm whose text or parameters are broken.
    #[error("a malformed {algorithm} hash: {why}")]
    Malformed {
        /// The algorithm.
        algorithm: String,
        /// What is wrong, without any of the hash's own characters.
        why: String,
    },
    /// Text that is no hash format poolsync knows.
    #[error("not a hash format poolsync knows")]
    Unknown,
}
