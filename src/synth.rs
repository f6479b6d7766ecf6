//! Realistic synthetic tenants and desired files, deterministic with a seed.
//!
//! Used by the benchmarks, the emulator rehearsals and a few tests. A generated user looks like
//! an export's: a record with payload and metadata, an e-mail identifier (and a mobile one for
//! about 40 % of users, so about 1.4 identifiers a user), a verifiable e-mail address and a
//! bcrypt-style password credential. Writing is streamed so a million users never need a
//! `serde_json::Value` tree.

use crate::model::{
    Object, Pool, SecretValue, TenantDump, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::io::{self, Write};

/// Shape of a generated tenant.
#[derive(Debug, Clone)]
pub struct TenantOptions {
    /// Tenant id written into every record.
    pub tenant_id: String,
    /// Number of users.
    pub users: usize,
    /// Number of pools the users are spread over.
    pub pools: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for TenantOptions {
    fn default() -> Self {
        TenantOptions {
            tenant_id: "acme".into(),
            users: 1000,
            pools: 2,
            seed: 42,
        }
    }
}

/// How a desired file departs from the tenant it is derived from.
#[derive(Debug, Clone)]
pub struct DesiredOptions {
    /// Fraction of users changed (payload, status or a new identifier).
    pub update: f64,
    /// Fraction of new users, relative to the tenant's size.
    pub create: f64,
    /// Fraction of users left out (they become unmanaged).
    pub drop: f64,
    /// Shuffle every array, as a hand-edited or differently exported file would be.
    pub shuffle: bool,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for DesiredOptions {
    fn default() -> Self {
        DesiredOptions {
            update: 0.05,
            create: 0.02,
            drop: 0.01,
            shuffle: true,
            seed: 7,
        }
    }
}

const GIVEN: &[&str] = &[
    "Ann", "Bo", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Inês", "Jamal", "Kofi",
    "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
];
const FAMILY: &[&str] = &[
    "Jensen", "Okafor", "Martin", "Volkov", "Schulz", "Haddad", "Lee", "Tanaka", "Costa", "Wright",
    "Mensah", "Novak", "García", "Adeyemi", "Khan", "Sharma", "Murphy", "Rossi",
];
const LOCALES: &[&str] = &[
    "en-US", "en-GB", "de-DE", "fr-FR", "pt-PT", "ja-JP", "es-ES",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "example.net", "mail.example"];

fn uuid_from(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn timestamp(rng: &mut ChaCha8Rng) -> String {
    format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        rng.random_range(19..26),
        rng.random_range(1..13),
        rng.random_range(1..29),
        rng.random_range(0..24),
        rng.random_range(0..60),
        rng.random_range(0..60)
    )
}

fn bcrypt_like(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let body: String = (0..53)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("$2a$10${body}")
}

/// One whole user as records, appended to `into`.
fn push_user(into: &mut TenantDump, rng: &mut ChaCha8Rng, tenant: &str, pool: &str, number: usize) {
    let user_id = uuid_from(rng);
    let created = timestamp(rng);
    let given = GIVEN[rng.random_range(0..GIVEN.len())];
    let family = FAMILY[rng.random_range(0..FAMILY.len())];
    let email = format!(
        "{}.{}{}@{}",
        given.to_lowercase(),
        family.to_lowercase(),
        number,
        DOMAINS[rng.random_range(0..DOMAINS.len())]
    );
    let payload = json!({
        "given_name": given,
        "family_name": family,
        "locale": LOCALES[rng.random_range(0..LOCALES.len())],
    });
    let metadata = json!({"crm_id": format!("CRM-{number:08}"), "segment": rng.random_range(0..5)});
    into.users.push(User {
        id: Some(user_id.clone()),
        tenant_id: Some(tenant.into()),
        user_pool_id: Some(pool.into()),
        status: Some("active".into()),
        payload: payload.as_object().cloned(),
        metadata: metadata.as_object().cloned(),
        created_at: Some(created.clone()),
        updated_at: Some(created.clone()),
        status_updated_at: Some(created.clone()),
        extra: Object::new(),
        business_metadata: None,
    });
    let sub = |rng: &mut ChaCha8Rng| (uuid_from(rng), created.clone());
    let (id, at) = sub(rng);
    into.user_identifiers.push(UserIdentifier {
        id: Some(id),
        tenant_id: Some(tenant.into()),
        user_pool_id: Some(pool.into()),
        user_id: Some(user_id.clone()),
        kind: Some("email".into()),
        identifier: Some(email.clone()),
        identifier_lc: Some(email.to_lowercase()),
        created_at: Some(at.clone()),
        updated_at: Some(at),
        extra: Object::new(),
    });
    if rng.random_bool(0.4) {
        let phone = format!("+1415{:07}", number % 10_000_000);
        let (id, at) = sub(rng);
        into.user_identifiers.push(UserIdentifier {
            id: Some(id),
            tenant_id: Some(tenant.into()),
            user_pool_id: Some(pool.into()),
            user_id: Some(user_id.clone()),
            kind: Some("mobile".into()),
            identifier: Some(phone.clone()),
            identifier_lc: Some(phone),
            created_at: Some(at.clone()),
            updated_at: Some(at),
            extra: Object::new(),
        });
    }
    let (id, at) = sub(rng);
    into.user_verifiable_addresses.push(UserVerifiableAddress {
        id: Some(id),
        tenant_id: Some(tenant.into()),
        user_pool_id: Some(pool.into()),
        user_id: Some(user_id.clone()),
        kind: Some("email".into()),
        address: Some(email.clone()),
        address_lc: Some(email.to_lowercase()),
        status: Some("active".into()),
        verified: Some(true),
        verified_at: Some(at.clone()),
        created_at: Some(at.clone()),
        updated_at: Some(at),
        extra: Object::new(),
    });
    let (id, at) = sub(rng);
    into.user_credentials.push(UserCredential {
        id: Some(id),
        tenant_id: Some(tenant.into()),
        user_pool_id: Some(pool.into()),
        user_id: Some(user_id),
        kind: Some("password".into()),
        payload: Some(SecretValue(json!({
            "hashed_password": {"value": bcrypt_like(rng), "config": {"method": "bcrypt", "cost": 10}}
        }))),
        state: Some("valid".into()),
        expires_at: None,
        created_at: Some(at.clone()),
        updated_at: Some(at),
        extra: Object::new(),
    });
}

fn pool_id(number: usize) -> String {
    format!("pool-{number}")
}

/// Generates a tenant export.
pub fn tenant(options: &TenantOptions) -> TenantDump {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let pools = options.pools.max(1);
    let mut dump = TenantDump {
        pools: (0..pools)
            .map(|n| Pool {
                id: Some(pool_id(n)),
                tenant_id: Some(options.tenant_id.clone()),
                name: Some(format!("Pool {n}")),
                description: Some("Generated by poolsync::synth".into()),
                extra: Object::new(),
            })
            .collect(),
        ..TenantDump::default()
    };
    for number in 0..options.users {
        push_user(
            &mut dump,
            &mut rng,
            &options.tenant_id,
            &pool_id(number % pools),
            number,
        );
    }
    dump
}

fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for index in (1..items.len()).rev() {
        items.swap(index, rng.random_range(0..=index));
    }
}

/// Derives a desired file from `current`: some users changed, some new, some dropped.
pub fn desired(current: &TenantDump, options: &DesiredOptions) -> TenantDump {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut dump = current.clone();
    let total = dump.users.len();
    let mut dropped = std::collections::HashSet::new();
    let mut updated_ids = std::collections::HashMap::new();
    for user in &mut dump.users {
        let roll: f64 = rng.random();
        let id = user.id.clone().unwrap_or_default();
        if roll < options.drop {
            dropped.insert(id);
        } else if roll < options.drop + options.update {
            match rng.random_range(0..3) {
                0 => {
                    if let Some(payload) = user.payload.as_mut() {
                        payload.insert("given_name".into(), Value::String("Renamed".into()));
                    }
                }
                1 => user.status = Some("inactive".into()),
                _ => {
                    updated_ids.insert(id, user.user_pool_id.clone());
                }
            }
        }
    }
    dump.users
        .retain(|u| !dropped.contains(u.id.as_deref().unwrap_or_default()));
    let keep = |user_id: &Option<String>| !dropped.contains(user_id.as_deref().unwrap_or_default());
    dump.user_identifiers.retain(|r| keep(&r.user_id));
    dump.user_verifiable_addresses.retain(|r| keep(&r.user_id));
    dump.user_credentials.retain(|r| keep(&r.user_id));
    dump.codes.clear();
    let mut new_identifiers: Vec<(String, Option<String>)> = updated_ids.into_iter().collect();
    new_identifiers.sort();
    for (user_id, pool) in new_identifiers {
        dump.user_identifiers.push(UserIdentifier {
            user_pool_id: pool,
            identifier: Some(format!("uid-{user_id}")),
            user_id: Some(user_id),
            kind: Some("uid".into()),
            ..UserIdentifier::default()
        });
    }
    let pools = dump.pools.len().max(1);
    let tenant_id = dump
        .pools
        .first()
        .and_then(|p| p.tenant_id.clone())
        .unwrap_or_else(|| "acme".into());
    let creates = (total as f64 * options.create).round() as usize;
    for number in 0..creates {
        push_user(
            &mut dump,
            &mut rng,
            &tenant_id,
            &pool_id(number % pools),
            total + number,
        );
    }
    if options.shuffle {
        shuffle(&mut dump.users, &mut rng);
        shuffle(&mut dump.user_identifiers, &mut rng);
        shuffle(&mut dump.user_verifiable_addresses, &mut rng);
        shuffle(&mut dump.user_credentials, &mut rng);
    }
    dump
}

/// Writes a document as compact JSON through a buffer.
pub fn write_dump(dump: &TenantDump, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    serde_json::to_writer(&mut out, dump)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};

    #[test]
    fn generation_is_deterministic_and_the_desired_file_differs_as_asked() {
        let options = TenantOptions {
            users: 2000,
            ..TenantOptions::default()
        };
        let current = tenant(&options);
        assert_eq!(current, tenant(&options));
        assert_eq!(current.users.len(), 2000);
        let identifiers = current.user_identifiers.len() as f64 / 2000.0;
        assert!((1.3..1.5).contains(&identifiers), "{identifiers}");
        let desired = desired(&current, &DesiredOptions::default());
        let plan = diff(&current, &desired, &DiffOptions::default()).unwrap();
        let summary = plan.summary;
        assert_eq!(summary.create, 40);
        assert!((60..140).contains(&summary.update), "{summary:?}");
        assert!((5..40).contains(&summary.unmanaged), "{summary:?}");
        assert_eq!(
            summary.create + summary.update + summary.unchanged,
            desired.users.len()
        );
    }
}
