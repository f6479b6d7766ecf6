//! Text that starts with `$`: modular crypt (`$2b$…`, `$1$…`) and PHC strings
//! (`$argon2id$…`, `$pbkdf2-sha256$…`), plus Kratos' own `$sha1$pf=…` and `$md5$…` forms.

use super::{
    Argon2Costs, SaltGiven, argon2, base64_phc, base64_standard, malformed, number, pbkdf2,
    salted_digest, shown_name, unsupported,
};
use crate::password::{Digest, Hash, HashConfig, Uncarried};
use base64::Engine as _;

/// Reads `$id$…`.
pub(super) fn read_modular(text: &str) -> Result<Hash, Uncarried> {
    let Some(rest) = text.strip_prefix('$') else {
        return Err(Uncarried::Unknown);
    };
    let (id, tail) = rest.split_once('$').unwrap_or((rest, ""));
    match id {
        "2a" | "2b" | "2y" => bcrypt(text, tail),
        "2" | "2x" | "2z" => Err(unsupported(format!("bcrypt (${id}$)"))),
        "argon2id" => argon2_phc(tail),
        "argon2i" | "argon2d" => Err(unsupported(id)),
        "pbkdf2" | "pbkdf2-sha1" => pbkdf2_phc("pbkdf2-sha1", Digest::Sha1, tail),
        "pbkdf2-sha256" => pbkdf2_phc("pbkdf2-sha256", Digest::Sha256, tail),
        "pbkdf2-sha512" => pbkdf2_phc("pbkdf2-sha512", Digest::Sha512, tail),
        "scrypt" | "7" | "sscrypt" => Err(unsupported("scrypt")),
        "firescrypt" => Err(unsupported("scrypt (Firebase)")),
        "P" | "H" => Err(unsupported("phpass")),
        "1" | "md5-crypt" => Err(unsupported("md5-crypt")),
        "apr1" => Err(unsupported("apr1 (Apache md5-crypt)")),
        "5" | "sha256-crypt" => Err(unsupported("sha256-crypt")),
        "6" | "sha512-crypt" => Err(unsupported("sha512-crypt")),
        "y" => Err(unsupported("yescrypt")),
        "gy" => Err(unsupported("gost-yescrypt")),
        "3" => Err(unsupported("NT hash")),
        "S" => Err(unsupported("Drupal sha512")),
        "bcrypt-sha256" => Err(unsupported("bcrypt-sha256 (passlib)")),
        "wp" => Err(unsupported(
            "bcrypt pre-hashed with HMAC-SHA384 (WordPress)",
        )),
        "sha1" | "sha256" | "sha512" if tail.starts_with("pf=") => kratos_sha(id, tail),
        "sha1" => Err(unsupported("sha1-crypt")),
        "md5" if tail.starts_with("rounds=") => Err(unsupported("Sun md5-crypt")),
        "md5" => kratos_md5(tail),
        _ if id.starts_with("md5,") => Err(unsupported("Sun md5-crypt")),
        _ if id.starts_with("hmac-") => Err(unsupported("HMAC with a secret key")),
        _ if id.starts_with("pbkdf2-") => Err(unsupported(shown_name(id).unwrap_or("pbkdf2"))),
        _ => Err(Uncarried::Unknown),
    }
}

/// bcrypt's base64: its own alphabet, no padding, trailing bits zero (as the `bcrypt` crate
/// reads it, so that what is carried is what the emulator verifies).
const BCRYPT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::BCRYPT,
    base64::engine::general_purpose::NO_PAD,
);

/// `$2b$` `NN$` then 22 characters of salt and 31 of hash in bcrypt's base64.
fn bcrypt(text: &str, rest: &str) -> Result<Hash, Uncarried> {
    let malformed = |why: &str| malformed("bcrypt", why);
    let (cost, tail) = rest
        .split_once('$')
        .ok_or_else(|| malformed("no `$` after the cost"))?;
    let cost: u32 = match cost.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            u32::from((a - b'0') * 10 + (b - b'0'))
        }
        _ => return Err(malformed("the cost is not two digits")),
    };
    if !(4..=31).contains(&cost) {
        return Err(malformed("the cost is not between 04 and 31"));
    }
    if tail.len() != 53 || !tail.is_ascii() {
        return Err(malformed("salt and hash are not 53 characters"));
    }
    let (salt, hash) = tail.split_at(22);
    if BCRYPT_BASE64.decode(salt).is_err() || BCRYPT_BASE64.decode(hash).is_err() {
        return Err(malformed("salt or hash is not bcrypt's base64"));
    }
    Ok(Hash {
        value: text.to_string(),
        config: HashConfig::Bcrypt { cost },
    })
}

/// `k=v,k=v` parameters of a PHC string, each key once, values decimal.
fn phc_parameters<'a>(
    algorithm: &str,
    text: &'a str,
    known: &[&str],
) -> Result<Vec<(&'a str, u64)>, Uncarried> {
    let mut parameters: Vec<(&str, u64)> = Vec::new();
    for parameter in text.split(',') {
        let (key, value) = parameter
            .split_once('=')
            .ok_or_else(|| malformed(algorithm, "a parameter without `=`"))?;
        if !known.contains(&key) {
            return Err(malformed(algorithm, "an unknown parameter"));
        }
        if parameters.iter().any(|(seen, _)| *seen == key) {
            return Err(malformed(algorithm, "a parameter given twice"));
        }
        let value = number(value)
            .ok_or_else(|| malformed(algorithm, "a parameter that is not a number"))?;
        parameters.push((key, value));
    }
    Ok(parameters)
}

fn parameter(parameters: &[(&str, u64)], key: &str) -> Option<u64> {
    parameters
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, value)| *value)
}

/// `v=19$m=…,t=…,p=…$salt$hash` after `$argon2id$` (a PHC string).
pub(super) fn argon2_phc(tail: &str) -> Result<Hash, Uncarried> {
    const ALGORITHM: &str = "argon2id";
    let fields: Vec<&str> = tail.split('$').collect();
    let (version, fields) = match fields.split_first() {
        Some((version, rest)) if version.starts_with("v=") => (Some(&version[2..]), rest),
        _ => (None, &fields[..]),
    };
    match version.map(|version| (version, number(version))) {
        Some((_, Some(19))) => {}
        // Without `v=` a PHC string means version 0x10.
        None => return Err(unsupported("argon2id version 16")),
        Some((_, Some(other))) => return Err(unsupported(format!("argon2id version {other}"))),
        Some((_, None)) => return Err(malformed(ALGORITHM, "the version is not a number")),
    }
    let [parameters, salt, hash] = fields else {
        return Err(malformed(
            ALGORITHM,
            "not `$argon2id$v=19$m=…,t=…,p=…$salt$hash`",
        ));
    };
    if parameters
        .split(',')
        .any(|parameter| parameter.starts_with("keyid=") || parameter.starts_with("data="))
    {
        return Err(unsupported("argon2id with a secret key or associated data"));
    }
    let parameters = phc_parameters(ALGORITHM, parameters, &["m", "t", "p"])?;
    let salt = base64_phc(salt).ok_or_else(|| malformed(ALGORITHM, "the salt is not base64"))?;
    let hash = base64_phc(hash).ok_or_else(|| malformed(ALGORITHM, "the hash is not base64"))?;
    argon2(
        ALGORITHM,
        Argon2Costs {
            iterations: parameter(&parameters, "t"),
            memory_kib: parameter(&parameters, "m"),
            parallelism: parameter(&parameters, "p"),
        },
        salt,
        hash,
    )
}

/// After `$pbkdf2-sha256$`: `i=…,l=…$salt$hash` (PHC: Kratos, RustCrypto) or `rounds$salt$hash`
/// (passlib, whose base64 writes `.` for `+`).
fn pbkdf2_phc(algorithm: &str, function: Digest, tail: &str) -> Result<Hash, Uncarried> {
    let fields: Vec<&str> = tail.split('$').collect();
    let [parameters, salt, hash] = fields[..] else {
        return Err(malformed(algorithm, "not three fields after the name"));
    };
    let (iterations, key_length) = match number(parameters) {
        Some(rounds) => (Some(rounds), None),
        None if parameters.is_empty() => (None, None),
        None if parameters.bytes().all(|byte| byte.is_ascii_digit()) => {
            return Err(malformed(algorithm, "too many iterations"));
        }
        None => {
            let parameters = phc_parameters(algorithm, parameters, &["i", "l"])?;
            (parameter(&parameters, "i"), parameter(&parameters, "l"))
        }
    };
    let salt = base64_phc(salt).ok_or_else(|| malformed(algorithm, "the salt is not base64"))?;
    let hash = base64_phc(hash).ok_or_else(|| malformed(algorithm, "the hash is not base64"))?;
    if key_length.is_some_and(|length| length != hash.len() as u64) {
        return Err(malformed(algorithm, "`l` is not the hash's length"));
    }
    pbkdf2(algorithm, function, iterations, salt, hash)
}

/// Kratos' salted digests: `pf=<base64 pattern>$<base64 salt>$<base64 hash>` after `$sha1$`,
/// where the pattern says how password and salt were joined. The contract's `sha` is
/// `H(password ‖ salt)`, so only `{PASSWORD}{SALT}` (and the unsalted `{PASSWORD}`) carry.
fn kratos_sha(id: &str, tail: &str) -> Result<Hash, Uncarried> {
    let function = Digest::from_name(id).ok_or(Uncarried::Unknown)?;
    kratos_salted(id, Some(function), tail)
}

/// Kratos' `$md5$<base64 hash>` or `$md5$pf=…$salt$hash`.
fn kratos_md5(tail: &str) -> Result<Hash, Uncarried> {
    if tail.starts_with("pf=") {
        return kratos_salted("md5", None, tail);
    }
    let digest = base64_standard(tail).ok_or_else(|| malformed("md5", "the hash is not base64"))?;
    salted_digest("md5", None, digest, SaltGiven::None)
}

fn kratos_salted(algorithm: &str, function: Option<Digest>, tail: &str) -> Result<Hash, Uncarried> {
    let fields: Vec<&str> = tail.split('$').collect();
    let [pattern, salt, hash] = fields[..] else {
        return Err(malformed(algorithm, "not `pf=…$salt$hash`"));
    };
    let pattern = pattern
        .strip_prefix("pf=")
        .and_then(base64_standard)
        .ok_or_else(|| malformed(algorithm, "the salt pattern is not base64"))?;
    let salt =
        base64_standard(salt).ok_or_else(|| malformed(algorithm, "the salt is not base64"))?;
    let hash =
        base64_standard(hash).ok_or_else(|| malformed(algorithm, "the hash is not base64"))?;
    match pattern.as_slice() {
        b"{PASSWORD}{SALT}" => salted_digest(algorithm, function, hash, SaltGiven::Separate(salt)),
        b"{PASSWORD}" => salted_digest(algorithm, function, hash, SaltGiven::None),
        _ => Err(unsupported(format!(
            "{algorithm} with the salt elsewhere than after the password"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{PasswordInput, Salt, b64, read};

    fn text(text: &str) -> Result<Hash, Uncarried> {
        read(&PasswordInput::text(text))
    }

    fn unsupported_named(text_: &str) -> String {
        match text(text_) {
            Err(Uncarried::Unsupported { algorithm }) => algorithm,
            other => panic!("{text_}: {other:?}"),
        }
    }

    #[test]
    fn every_bcrypt_prefix_carries() {
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let hash = format!("{prefix}04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy");
            assert_eq!(text(&hash).unwrap().config, HashConfig::Bcrypt { cost: 4 });
        }
        assert_eq!(
            unsupported_named("$2x$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
            "bcrypt ($2x$)"
        );
    }

    #[test]
    fn bcrypt_checks_cost_length_and_alphabet() {
        let salt_hash = "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        for broken in [
            format!("$2b$03${salt_hash}"),
            format!("$2b$32${salt_hash}"),
            format!("$2b$1${salt_hash}"),
            format!("$2b$10${}", &salt_hash[1..]),
            format!("$2b$10${}+", &salt_hash[1..]),
            // The last character carries bits that a real bcrypt never sets.
            format!("$2b$10${}x", &salt_hash[..52]),
            "$2b$10".to_string(),
            format!("$2b$10${}é", &salt_hash[2..]),
        ] {
            assert!(
                matches!(text(&broken), Err(Uncarried::Malformed { .. })),
                "{broken}"
            );
        }
    }

    // What argon2-cffi and RustCrypto print for password `password`, salt `somesalt`.
    const ARGON2ID: &str =
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";

    #[test]
    fn argon2id_phc_carries_its_parameters() {
        let hash = text(ARGON2ID).unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Argon2 {
                iterations: 2,
                memory_kib: 65536,
                parallelism: 1,
                key_length: 32,
                salt: b"somesalt".to_vec(),
            }
        );
        assert_eq!(
            hash.value,
            b64(&base64_phc("CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc").unwrap())
        );
        // Parameters in another order are the same parameters.
        let reordered = ARGON2ID.replace("m=65536,t=2,p=1", "p=1,t=2,m=65536");
        assert_eq!(text(&reordered).unwrap(), hash);
    }

    #[test]
    fn other_argon2_variants_and_versions_are_unsupported() {
        for (from, to, algorithm) in [
            ("argon2id", "argon2i", "argon2i"),
            ("argon2id", "argon2d", "argon2d"),
            ("v=19", "v=16", "argon2id version 16"),
            ("$v=19", "", "argon2id version 16"),
            (
                "p=1",
                "p=1,keyid=AAAA",
                "argon2id with a secret key or associated data",
            ),
        ] {
            assert_eq!(unsupported_named(&ARGON2ID.replace(from, to)), algorithm);
        }
    }

    #[test]
    fn broken_argon2id_is_malformed() {
        for broken in [
            ARGON2ID.replace("t=2", "t=0"),
            ARGON2ID.replace("p=1", "p=0"),
            ARGON2ID.replace("m=65536", "m=7"),
            ARGON2ID.replace("m=65536", "m=99999999999"),
            ARGON2ID.replace(",p=1", ""),
            ARGON2ID.replace("p=1", "p=1,x=2"),
            ARGON2ID.replace("p=1", "p=1,p=1"),
            ARGON2ID.replace("t=2", "t=two"),
            ARGON2ID.replace("c29tZXNhbHQ", "c29tZQ"),
            ARGON2ID.replace("c29tZXNhbHQ", "c29t!XNhbHQ"),
            ARGON2ID.replace("$c29tZXNhbHQ", ""),
            ARGON2ID.replace("CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "CTFh"),
            ARGON2ID.replace("v=19", "v=x"),
        ] {
            assert!(
                matches!(text(&broken), Err(Uncarried::Malformed { .. })),
                "{broken}"
            );
        }
    }

    #[test]
    fn pbkdf2_in_kratos_and_passlib_forms() {
        // Kratos / RustCrypto: `i=…,l=…`, standard base64 without padding.
        let kratos =
            "$pbkdf2-sha256$i=1000,l=32$c29tZXNhbHQ$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let hash = text(kratos).unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Pbkdf2 {
                function: Digest::Sha256,
                iterations: 1000,
                key_length: 32,
                salt: b"somesalt".to_vec(),
            }
        );
        assert_eq!(hash.value, b64(&(0..32).collect::<Vec<u8>>()));
        // passlib: rounds alone, `.` for `+`.
        let passlib = "$pbkdf2-sha512$25000$3.s9Z8w5J0Tovd1bi/FiLA$Ebx9h4.qAq3m7e7mS71H1Xk6WXhBQSDPNiqwNtMo4d6wk9hZAy3NqHl0d/ltnhfXv7a4mO0gLJLZu70ghoo3Zg";
        let hash = text(passlib).unwrap();
        let HashConfig::Pbkdf2 {
            function,
            iterations,
            key_length,
            salt,
        } = &hash.config
        else {
            panic!("{hash:?}")
        };
        assert_eq!(
            (*function, *iterations, *key_length),
            (Digest::Sha512, 25000, 64)
        );
        assert_eq!(salt, &base64_phc("3+s9Z8w5J0Tovd1bi/FiLA").unwrap());
        // `$pbkdf2$` is passlib's PBKDF2-HMAC-SHA1.
        let sha1 = "$pbkdf2$1212$OB.dtnSEXZK8U5cgxU/GYQ$y5LKPOplRmok7CZp/aqVDVg8zGI";
        let HashConfig::Pbkdf2 {
            function,
            key_length,
            ..
        } = text(sha1).unwrap().config
        else {
            panic!()
        };
        assert_eq!((function, key_length), (Digest::Sha1, 20));
    }

    #[test]
    fn broken_pbkdf2_is_malformed() {
        let good =
            "$pbkdf2-sha256$i=1000,l=32$c29tZXNhbHQ$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert!(text(good).is_ok());
        for broken in [
            good.replace("i=1000", "i=0"),
            good.replace("l=32", "l=31"),
            good.replace("i=1000,", ""),
            good.replace("c29tZXNhbHQ", "c29t*XNhbHQ"),
            good.replace("$c29tZXNhbHQ", ""),
            good.replace("AAECAwQF", "AAECAwQF="),
            good.replace("i=1000,l=32", "99999999999"),
            good.replace("i=1000,l=32", "4294967296"),
            good.replace("i=1000,l=32", ""),
            format!("{good}$extra"),
        ] {
            assert!(
                matches!(text(&broken), Err(Uncarried::Malformed { .. })),
                "{broken}"
            );
        }
        assert_eq!(
            unsupported_named(&good.replace("sha256", "sha384")),
            "pbkdf2-sha384"
        );
    }

    #[test]
    fn kratos_salted_digests_carry_when_the_salt_follows_the_password() {
        let pattern = b64(b"{PASSWORD}{SALT}");
        let digest = b64(&[9u8; 20]);
        let salt = b64(b"pepper");
        let hash = text(&format!("$sha1$pf={pattern}${salt}${digest}")).unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Sha {
                function: Digest::Sha1,
                salt: Salt::Config(b"pepper".to_vec())
            }
        );
        assert_eq!(hash.value, digest);
        let before = b64(b"{SALT}{PASSWORD}");
        assert_eq!(
            unsupported_named(&format!("$sha256$pf={before}${salt}${}", b64(&[1; 32]))),
            "sha256 with the salt elsewhere than after the password"
        );
        let md5 = text(&format!("$md5${}", b64(&[3; 16]))).unwrap();
        assert_eq!(md5.config, HashConfig::Md5 { salt: Salt::None });
        let md5_salted = text(&format!("$md5$pf={pattern}${salt}${}", b64(&[3; 16]))).unwrap();
        assert_eq!(
            md5_salted.config,
            HashConfig::Md5 {
                salt: Salt::Config(b"pepper".to_vec())
            }
        );
        assert!(matches!(
            text(&format!("$sha512$pf={pattern}${salt}${digest}")),
            Err(Uncarried::Malformed { .. })
        ));
    }

    #[test]
    fn what_cannot_be_carried_is_named() {
        for (hash, algorithm) in [
            ("$P$BVrdsW/NUuXDi0Od0uUdk2SnJHHmQ01", "phpass"),
            ("$H$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0", "phpass"),
            ("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "md5-crypt"),
            (
                "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
                "apr1 (Apache md5-crypt)",
            ),
            (
                "$5$rounds=5000$usesomesillystri$KqJWpanXZHKq2BOB43TSaYhEWsQ1Lr5QNyPCDH/Tp.6",
                "sha256-crypt",
            ),
            ("$6$saltstring$svn8UoSVapNtRsbgL", "sha512-crypt"),
            ("$sha512-crypt$x", "sha512-crypt"),
            ("$md5-crypt$x", "md5-crypt"),
            (
                "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
                "scrypt",
            ),
            (
                "$firescrypt$ln=14,r=8,p=1$salt$hash$sep$key",
                "scrypt (Firebase)",
            ),
            ("$sscrypt$x", "scrypt"),
            (
                "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D",
                "scrypt",
            ),
            ("$hmac-sha256$aGFzaA==$a2V5", "HMAC with a secret key"),
            ("$y$j9T$salt$hash", "yescrypt"),
            (
                "$sha1$19703$iVdJqfSE$v4qYKl1zqYThwpjJAoKX6UvlHq/a",
                "sha1-crypt",
            ),
            (
                "$md5,rounds=5000$GUBv0xjJ$$mSwgIswdjlTY0YxV7HBVm0",
                "Sun md5-crypt",
            ),
            (
                "$wp$2y$10$abc",
                "bcrypt pre-hashed with HMAC-SHA384 (WordPress)",
            ),
            (
                "$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2",
                "bcrypt-sha256 (passlib)",
            ),
        ] {
            assert_eq!(unsupported_named(hash), algorithm, "{hash}");
        }
    }
}
