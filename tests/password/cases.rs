//! Hashes of known passwords for every method and parameter set of the contract's table, each
//! made by a route independent of the code under test where one exists: the `bcrypt` crate's
//! `hash`, the RustCrypto crates' own PHC strings, vectors computed with Python's `hashlib`,
//! published vectors, and real exports whose passwords are known.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::PasswordHasher as _;
use poolsync::password::{Hash, PasswordInput, read};

/// The password of every computed case.
pub(super) const PASSWORD: &str = "correct horse battery staple";
/// The salt of the Python vectors below.
const SALT: &[u8] = b"NaCl-and-pepper";

/// One hash and the password that matches it.
pub(super) struct Case {
    /// What the hash is, for messages and identifiers (`bcrypt-2a`, `pbkdf2-sha1-16`, …).
    pub(super) name: String,
    /// The hash, read through the hash reader from the text a source would give.
    pub(super) hash: Hash,
    /// The password that verifies.
    pub(super) password: String,
}

fn case(name: &str, input: PasswordInput, password: &str) -> Case {
    let hash = read(&input).unwrap_or_else(|error| panic!("{name}: {error}"));
    Case {
        name: name.into(),
        hash,
        password: password.into(),
    }
}

fn text(name: &str, text: &str) -> Case {
    case(name, PasswordInput::text(text), PASSWORD)
}

fn named(name: &str, text: &str, hasher: &str) -> Case {
    case(
        name,
        PasswordInput::Text {
            text: text.into(),
            hasher: Some(hasher.into()),
        },
        PASSWORD,
    )
}

/// `hashlib.pbkdf2_hmac(function, PASSWORD, SALT, 1000, length)`, standard base64.
const PYTHON_PBKDF2: [(&str, usize, &str); 4] = [
    ("sha1", 16, "LU4YAe8R+lBdfdPYnFRUaA=="),
    (
        "sha1",
        64,
        "LU4YAe8R+lBdfdPYnFRUaDEl66GdVlrixjc8giytBRbU1ZVk2VVIhlfCafqUaR5++k7lj40k2kJIjUysAdy6ug==",
    ),
    ("sha256", 20, "WSNl3+ThqT34PRUjFgrXu/mC2Uk="),
    ("sha512", 16, "FF6jm42PVSLKXYlQg2EXZg=="),
];

/// `hashlib.new(function, PASSWORD)` and `(PASSWORD + SALT)`, hex.
const PYTHON_DIGESTS: [(&str, &str, &str); 4] = [
    (
        "sha1",
        "abf7aad6438836dbe526aa231abde2d0eef74d42",
        "b6b02785f6ff5e34b5c08f762a7486486b95ba64",
    ),
    (
        "sha256",
        "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a",
        "cd6dfce03a744e063eeb350b6926a2bb316ee1dc3a11fc534fd818ee7a75f7bc",
    ),
    (
        "sha512",
        "be5ef7679d88ab9a9045f6267e55f5e5784b4b8cd764b5cd855a5244f91c626953cd46c43d7668873fd6efbd3b221249315580031963472a078781fe046e62ae",
        "5f1fdb40e733c3adb351aa77afab9e2e30187b6ca218daa86b715ceb350ab3aeaa6d1ea16f98904a5843ed1dda00f547de80b404f6bb0cd9e1f3a051722d0ebb",
    ),
    (
        "md5",
        "9cc2ae8a1ba7a93da39b46fc1019c481",
        "758c178eaae504d86dbebc884fbbc37a",
    ),
];

fn b64(bytes: &[u8]) -> String {
    poolsync::password::b64(bytes)
}

/// Every case: each method of the contract and each of its parameter sets.
pub(super) fn all() -> Vec<Case> {
    let mut cases = Vec::new();

    // bcrypt: the `bcrypt` crate's own hash, written with each prefix.
    let parts = bcrypt::hash_with_salt(PASSWORD, 4, *b"sixteen byte slt").unwrap();
    for (prefix, version) in [
        ("2a", bcrypt::Version::TwoA),
        ("2b", bcrypt::Version::TwoB),
        ("2y", bcrypt::Version::TwoY),
    ] {
        cases.push(text(
            &format!("bcrypt-{prefix}"),
            &parts.format_for_version(version),
        ));
    }

    // pbkdf2 with HMAC-SHA256 and -SHA512: RustCrypto's PHC strings, two key lengths each.
    for (algorithm, name, lengths) in [
        (pbkdf2::Algorithm::Pbkdf2Sha256, "sha256", [32, 48]),
        (pbkdf2::Algorithm::Pbkdf2Sha512, "sha512", [64, 24]),
    ] {
        for length in lengths {
            let hasher = pbkdf2::Pbkdf2::new(
                algorithm,
                pbkdf2::Params::new_with_output_len(1000, length).unwrap(),
            );
            let phc = hasher
                .hash_password_with_salt(PASSWORD.as_bytes(), SALT)
                .unwrap()
                .to_string();
            cases.push(text(&format!("pbkdf2-{name}-{length}"), &phc));
        }
    }
    // pbkdf2 of Python's hashlib, in the PHC form of Kratos (HMAC-SHA1 has no RustCrypto PHC).
    for (function, length, key) in PYTHON_PBKDF2 {
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        let phc = format!(
            "$pbkdf2-{function}$i=1000,l={length}${}${}",
            STANDARD_NO_PAD.encode(SALT),
            STANDARD_NO_PAD.encode(&key)
        );
        cases.push(text(&format!("pbkdf2-{function}-{length}"), &phc));
    }

    // argon2id: RustCrypto's PHC strings with two parameter sets, and RFC 9106's reference
    // parameters as argon2-cffi prints them (password `password`, salt `somesalt`).
    for (memory, iterations, parallelism, length) in [(19 * 1024, 2, 1, 32), (4096, 3, 4, 16)] {
        let params = argon2::Params::new(memory, iterations, parallelism, Some(length)).unwrap();
        let hasher =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let phc = hasher
            .hash_password_with_salt(PASSWORD.as_bytes(), SALT)
            .unwrap()
            .to_string();
        cases.push(text(
            &format!("argon2id-m{memory}-t{iterations}-p{parallelism}"),
            &phc,
        ));
    }
    cases.push(case(
        "argon2id-reference",
        PasswordInput::text(
            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
        ),
        "password",
    ));

    // sha1/sha256/sha512 and md5 from Python's hashlib: unsalted (a bare digest with the
    // hasher's name), the salt in the config (Kratos' pattern form), after the digest (LDAP).
    for (function, unsalted, salted) in PYTHON_DIGESTS {
        cases.push(named(&format!("{function}-unsalted"), unsalted, function));
        let digest = hex::decode(salted).unwrap();
        let kratos = format!(
            "${function}$pf={}${}${}",
            b64(b"{PASSWORD}{SALT}"),
            b64(SALT),
            b64(&digest)
        );
        cases.push(text(&format!("{function}-salt-in-config"), &kratos));
        let scheme = match function {
            "sha1" => "SSHA",
            "sha256" => "SSHA256",
            "sha512" => "SSHA512",
            _ => "SMD5",
        };
        let ldap = format!("{{{scheme}}}{}", b64(&[digest.as_slice(), SALT].concat()));
        cases.push(text(&format!("{function}-salt-after-digest"), &ldap));
    }
    cases
}

/// Real exports whose passwords are known: Clerk's sample CSV says so on its first line, and
/// the users of both Keycloak realms have their names as passwords.
pub(super) fn real() -> Vec<Case> {
    use crate::support::shared::shared_path;
    let mut cases = Vec::new();
    if let Some(path) = shared_path(
        "real/clerk/clerk-migration-tool__samples__clerk.csv",
        "a real bcrypt hash of a known password",
    ) {
        let contents = std::fs::read_to_string(path).unwrap();
        let password = contents
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# Password for users with passwords: "))
            .unwrap()
            .trim();
        let line = contents
            .lines()
            .find(|line| line.ends_with(",bcrypt"))
            .unwrap();
        let fields: Vec<&str> = line.split(',').collect();
        cases.push(case(
            "clerk-bcrypt",
            PasswordInput::Text {
                text: fields[fields.len() - 2].into(),
                hasher: Some("bcrypt".into()),
            },
            password,
        ));
    }
    for (file, what) in [
        (
            "real/keycloak/axonivy-docker-samples__ivy-sso-openid-connect__realm-ivydemo-import.json",
            "real Keycloak pbkdf2-sha256 hashes of known passwords",
        ),
        (
            "real/keycloak/axonivy-docker-samples__ivy-keycloak__ivytestrealm.json",
            "real Keycloak argon2 hashes of known passwords",
        ),
    ] {
        let Some(path) = shared_path(file, what) else {
            continue;
        };
        let realm = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for (user, credential) in super::real::keycloak_credentials(&realm) {
            let name = format!("keycloak-{}-{user}", credential.algorithm);
            cases.push(case(&name, PasswordInput::Keycloak(credential), &user));
        }
    }
    cases
}
