//! The hash reader on the real export files in `../shared/real/` (read in place, see
//! `tests/support/shared.rs`): what carries, what does not, and why.

use crate::support::shared::shared_path;
use poolsync::password::{Digest, HashConfig, KeycloakHash, PasswordInput, Uncarried, read};
use serde_json::Value;
use std::collections::BTreeMap;

fn json(relative: &str, what: &str) -> Option<Value> {
    let path = shared_path(relative, what)?;
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

fn text(text: &str) -> Result<poolsync::password::Hash, Uncarried> {
    read(&PasswordInput::text(text))
}

fn unsupported(algorithm: &str) -> Result<poolsync::password::Hash, Uncarried> {
    Err(Uncarried::Unsupported {
        algorithm: algorithm.into(),
    })
}

/// Keycloak's `password` credentials of a realm export, as a source reads them: `secretData`
/// and `credentialData` are JSON inside strings, each additional parameter a list.
pub(super) fn keycloak_credentials(realm: &Value) -> Vec<(String, KeycloakHash)> {
    let mut credentials = Vec::new();
    for user in realm["users"].as_array().unwrap() {
        for credential in user["credentials"].as_array().into_iter().flatten() {
            if credential["type"] != "password" {
                continue;
            }
            let secret: Value =
                serde_json::from_str(credential["secretData"].as_str().unwrap()).unwrap();
            let data: Value =
                serde_json::from_str(credential["credentialData"].as_str().unwrap()).unwrap();
            let parameters: BTreeMap<String, String> = data["additionalParameters"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(key, values)| (key.clone(), values[0].as_str().unwrap().to_string()))
                .collect();
            credentials.push((
                user["username"].as_str().unwrap().to_string(),
                KeycloakHash {
                    algorithm: data["algorithm"].as_str().unwrap().into(),
                    iterations: data["hashIterations"].as_u64(),
                    value: secret["value"].as_str().unwrap().into(),
                    salt: secret["salt"].as_str().unwrap().into(),
                    parameters,
                },
            ));
        }
    }
    credentials
}

/// A pbkdf2 hash's HMAC, iterations, key length and salt length.
fn pbkdf2_of(hash: &poolsync::password::Hash) -> (Digest, u32, u32, usize) {
    match &hash.config {
        HashConfig::Pbkdf2 {
            function,
            iterations,
            key_length,
            salt,
        } => (*function, *iterations, *key_length, salt.len()),
        other => panic!("not pbkdf2: {other:?}"),
    }
}

#[test]
fn kratos_argon2id_phc_strings_carry() {
    for file in [
        "kratos__migratest__identity__5ff66179-c240-4703-b0d8-494592cefff5.json",
        "kratos__migratest__identity__a251ebc2-880c-4f76-a8f3-38e6940eab0e.json",
    ] {
        let Some(identity) = json(&format!("real/kratos/{file}"), "Kratos argon2id hashes") else {
            return;
        };
        let phc = identity["credentials"]["password"]["config"]["hashed_password"]
            .as_str()
            .unwrap();
        let hash = text(phc).unwrap();
        let HashConfig::Argon2 {
            iterations,
            memory_kib,
            parallelism,
            key_length,
            salt,
        } = &hash.config
        else {
            panic!("{file}: {hash:?}");
        };
        assert_eq!((*iterations, *memory_kib, *parallelism), (2, 131072, 1));
        assert_eq!((*key_length, salt.len()), (16, 16), "{file}");
        // The value is re-encoded: standard base64 with padding, where PHC has none.
        assert!(hash.value.ends_with("=="), "{file}");
        assert_eq!(
            hash.to_payload()["hashed_password"]["config"]["method"],
            "argon2"
        );
    }
}

#[test]
fn keycloak_argon2_and_pbkdf2_sha256_credentials_carry() {
    let Some(argon2_realm) = json(
        "real/keycloak/axonivy-docker-samples__ivy-keycloak__ivytestrealm.json",
        "Keycloak argon2 credentials",
    ) else {
        return;
    };
    let credentials = keycloak_credentials(&argon2_realm);
    assert_eq!(credentials.len(), 3);
    for (user, credential) in &credentials {
        let hash = read(&PasswordInput::Keycloak(credential.clone())).unwrap();
        assert_eq!(
            (hash.config.method(), hash.value.as_str()),
            ("argon2", credential.value.as_str()),
            "{user}"
        );
        assert!(matches!(
            hash.config,
            HashConfig::Argon2 {
                iterations: 5,
                memory_kib: 7168,
                parallelism: 1,
                key_length: 32,
                ..
            }
        ));
    }
    let Some(pbkdf2_realm) = json(
        "real/keycloak/axonivy-docker-samples__ivy-sso-openid-connect__realm-ivydemo-import.json",
        "Keycloak pbkdf2-sha256 credentials",
    ) else {
        return;
    };
    let credentials = keycloak_credentials(&pbkdf2_realm);
    assert_eq!(credentials.len(), 2);
    for (user, credential) in &credentials {
        let hash = read(&PasswordInput::Keycloak(credential.clone())).unwrap();
        // Keycloak 10 derived 64 bytes with HMAC-SHA256: any key length carries.
        assert_eq!(pbkdf2_of(&hash), (Digest::Sha256, 27500, 64, 16), "{user}");
        assert_eq!(hash.value, credential.value, "{user}");
    }
}

#[test]
fn forgerock_pbkdf2_hmac_sha256_carries() {
    let Some(export) = json(
        "real/other/fusionauth-import-scripts__forgerock__forgerock-user-export.json",
        "ForgeRock PBKDF2-HMAC-SHA256 hashes",
    ) else {
        return;
    };
    let users = export["result"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    for user in users {
        let stored = user["password"].as_str().unwrap();
        let hash = text(stored).unwrap();
        assert_eq!(pbkdf2_of(&hash), (Digest::Sha256, 10, 32, 16));
    }
}

#[test]
fn wordpress_phpass_is_named_and_not_carried() {
    let Some(users) = json(
        "real/other/fusionauth-import-scripts__wordpress__users.json",
        "WordPress phpass hashes",
    ) else {
        return;
    };
    let users = users.as_array().unwrap();
    assert!(!users.is_empty());
    for user in users {
        let stored = user["user_pass"].as_str().unwrap();
        assert_eq!(text(stored), unsupported("phpass"));
        let error = text(stored).unwrap_err().to_string();
        assert!(!error.contains(&stored[4..]), "{error}");
    }
}

#[test]
fn stytch_scrypt_is_named_and_not_carried() {
    let Some(path) = shared_path(
        "real/other/fusionauth-import-scripts__stytch__stytch_password_hashes.csv",
        "Stytch scrypt hashes",
    ) else {
        return;
    };
    let contents = std::fs::read_to_string(path).unwrap();
    // A preamble of parameters, then `id,hash,salt,hash_method,project_id`.
    let rows: Vec<Vec<&str>> = contents
        .lines()
        .skip_while(|line| !line.starts_with("id,hash"))
        .skip(1)
        .map(|line| line.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let input = PasswordInput::Text {
            text: row[1].into(),
            hasher: Some(row[3].into()),
        };
        assert_eq!(read(&input), unsupported("scrypt"));
        // Without the method the URL-safe base64 digest says nothing by itself.
        assert_eq!(text(row[1]), Err(Uncarried::Unknown));
    }
}

#[test]
fn firebase_scrypt_is_named_and_not_carried() {
    let Some(path) = shared_path(
        "real/firebase/firebase-scrypt__tests__02-more-values-passwords.good",
        "Firebase scrypt hashes",
    ) else {
        return;
    };
    let contents = std::fs::read_to_string(path).unwrap();
    let vectors: Vec<&str> = contents.lines().filter(|line| !line.is_empty()).collect();
    assert_eq!(vectors.len(), 13);
    for vector in vectors {
        let mut fields = vector.rsplitn(3, ',');
        let (salt, hash) = (fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(
            read(&PasswordInput::FirebaseScrypt),
            unsupported("scrypt (Firebase)")
        );
        // The same hash in Kratos' import form, with the project's parameters.
        let kratos = format!("$firescrypt$ln=14,r=8,p=1${salt}${hash}$Bw==$c2lnbmVy");
        assert_eq!(text(&kratos), unsupported("scrypt (Firebase)"));
        let clerk = PasswordInput::Text {
            text: format!("{hash}${salt}$c2lnbmVy$Bw==$8$14"),
            hasher: Some("scrypt_firebase".into()),
        };
        assert_eq!(read(&clerk), unsupported("scrypt (Firebase)"));
    }
}

#[test]
fn bcrypt_of_clerk_supabase_and_auth0_exports_carries() {
    let Some(path) = shared_path(
        "real/clerk/clerk-migration-tool__samples__clerk.csv",
        "Clerk bcrypt hashes",
    ) else {
        return;
    };
    let contents = std::fs::read_to_string(path).unwrap();
    let mut carried = 0;
    for line in contents.lines().filter(|line| line.ends_with(",bcrypt")) {
        let fields: Vec<&str> = line.split(',').collect();
        let digest = fields[fields.len() - 2];
        let hash = read(&PasswordInput::Text {
            text: digest.into(),
            hasher: Some("bcrypt".into()),
        })
        .unwrap();
        assert_eq!(hash.config, HashConfig::Bcrypt { cost: 10 });
        carried += 1;
    }
    assert_eq!(carried, 15);
    let Some(path) = shared_path(
        "real/auth0/workos-migrate-auth0-users__example-input.json",
        "Auth0 bcrypt hashes",
    ) else {
        return;
    };
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let hash = text(record["passwordHash"].as_str().unwrap()).unwrap();
        assert_eq!(hash.config.method(), "bcrypt");
    }
    let Some(rows) = json(
        "real/supabase/clerk-migration-tool__samples__supabase.json",
        "Supabase bcrypt hashes",
    ) else {
        return;
    };
    let hashes: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["encrypted_password"].as_str())
        .filter(|hash| !hash.is_empty())
        .collect();
    assert_eq!(hashes.len(), 9);
    for hash in hashes {
        assert_eq!(text(hash).unwrap().config.method(), "bcrypt");
    }
}
