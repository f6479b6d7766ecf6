//! Typed model of the System API's `TenantDump` document and its records.
//!
//! Every record keeps the fields poolsync does not know in a flattened `extra` map, so reading
//! and writing a document loses nothing. Enumerations stay strings here: a value the vendor adds
//! later must survive a round trip, and [`crate::validate`] is where unknown values are reported.
//! This module does no I/O; reading files lives in [`crate::load`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object, as used for free-form fields (`payload`, `metadata`, unknown fields).
pub type Object = Map<String, Value>;

/// Reads `null` (or an absent field, with `#[serde(default)]`) as an empty vector.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A value that must never be shown: credential payloads (password hashes) and one-time codes.
///
/// It serializes as itself (exports and imports need the real value) but its `Debug` output is
/// redacted, so a stray `{:?}` in a log or an error cannot leak it.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct SecretValue(pub Value);

impl fmt::Debug for SecretValue {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(crate::SENSITIVE)
    }
}

/// The whole tenant document served by export and accepted by import.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantDump {
    /// Identity pools.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pools: Vec<Pool>,
    /// JSON schemas referenced by pools.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub schemas: Vec<Schema>,
    /// User records.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub users: Vec<User>,
    /// Login identifiers (e-mail, mobile, uid...), each pointing at a user.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_identifiers: Vec<UserIdentifier>,
    /// Verifiable addresses, each pointing at a user.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_verifiable_addresses: Vec<UserVerifiableAddress>,
    /// Credentials (password hashes, webauthn, totp), each pointing at a user.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_credentials: Vec<UserCredential>,
    /// Transient one-time codes: never diffed, never imported.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub codes: Vec<Code>,
    /// Groups within pools.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<InternalGroup>,
    /// Group memberships of users.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_members: Vec<GroupMember>,
    /// Fields this version of poolsync does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Object,
}

/// An identity pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// Pool id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Display name (required by the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Every other pool setting (authentication mechanisms, password policy...), kept verbatim.
    #[serde(flatten)]
    pub extra: Object,
}

/// A JSON schema for user payloads or metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Schema id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Schema name (required by the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other field, kept verbatim.
    #[serde(flatten)]
    pub extra: Object,
}

/// A user record, without its sub-records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// User id (a UUID in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool the user belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// `active`, `inactive`, `deleted` or `new`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Profile data, validated by the pool's payload schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Object>,
    /// Administrative metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
    /// Business metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_metadata: Option<Object>,
    /// Server-managed creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Server-managed time of the last status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_updated_at: Option<String>,
    /// Every other field (schema ids, user type, fields added by the vendor later).
    #[serde(flatten)]
    pub extra: Object,
}

/// A login identifier of a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserIdentifier {
    /// Sub-record id; derived when left out of a desired file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Owning user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `email`, `mobile`, `uid`, `external` or `federated`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The identifier as entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Lower-cased identifier (derived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_lc: Option<String>,
    /// Server-managed creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field (metadata...).
    #[serde(flatten)]
    pub extra: Object,
}

/// A verifiable address (e-mail or phone) of a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserVerifiableAddress {
    /// Sub-record id; derived when left out of a desired file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Owning user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `email` or `mobile`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The address as entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Lower-cased address (derived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_lc: Option<String>,
    /// `active` or `inactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the address was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Server-managed verification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// Server-managed creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field (metadata, preferred contact method...).
    #[serde(flatten)]
    pub extra: Object,
}

/// A credential of a user. Its payload is a secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserCredential {
    /// Sub-record id; derived when left out of a desired file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Owning user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `password`, `webauthn` or `totp`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The secret itself (e.g. a password hash and its parameters): never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<SecretValue>,
    /// `valid`, `must_be_reset` or `must_be_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Expiry time of the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Server-managed creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Object,
}

/// A transient one-time code. Never diffed, never imported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Code {
    /// Code id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Pool of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// The code value: a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<SecretValue>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Object,
}

/// A group within a pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InternalGroup {
    /// Group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the group (required by the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other field (description, path...).
    #[serde(flatten)]
    pub extra: Object,
}

/// Membership of a user in a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    /// The group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Pool of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Object,
}

/// Allowed values of the enumerations the spec defines, as `(record, field, values)`.
pub const ENUMS: &[(&str, &str, &[&str])] = &[
    ("users", "status", &["active", "inactive", "deleted", "new"]),
    (
        "user_identifiers",
        "type",
        &["email", "mobile", "uid", "external", "federated"],
    ),
    ("user_verifiable_addresses", "type", &["email", "mobile"]),
    (
        "user_verifiable_addresses",
        "status",
        &["active", "inactive"],
    ),
    (
        "user_verifiable_addresses",
        "preferred_contact_method",
        &["sms", "voice"],
    ),
    (
        "user_credentials",
        "type",
        &["password", "webauthn", "totp"],
    ),
    (
        "user_credentials",
        "state",
        &["valid", "must_be_reset", "must_be_changed"],
    ),
];

/// The allowed values of `record.field`, if the spec makes it an enumeration.
pub fn enum_values(record: &str, field: &str) -> Option<&'static [&'static str]> {
    ENUMS
        .iter()
        .find(|(r, f, _)| *r == record && *f == field)
        .map(|(_, _, values)| *values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_arrays_read_as_empty_and_unknown_fields_survive_a_round_trip() {
        let input = json!({
            "users": null,
            "pools": [{"id": "p1", "name": "P", "tenant_id": "t", "otp_settings": {"length": 6}}],
            "future_section": [1, 2],
            "user_identifiers": [{"id": "i1", "user_id": "u", "type": "email",
                "identifier": "A@x.io", "new_field": true}]
        });
        let dump: TenantDump = serde_json::from_value(input.clone()).unwrap();
        assert!(dump.users.is_empty());
        assert_eq!(dump.pools[0].extra["otp_settings"], json!({"length": 6}));
        assert_eq!(dump.user_identifiers[0].extra["new_field"], json!(true));
        let back = serde_json::to_value(&dump).unwrap();
        let mut expected = input;
        expected.as_object_mut().unwrap().remove("users");
        assert_eq!(back, expected);
    }

    #[test]
    fn secret_debug_output_is_redacted() {
        let credential = UserCredential {
            payload: Some(SecretValue(
                json!({"hashed_password": {"value": "$2a$10$abc"}}),
            )),
            ..Default::default()
        };
        let shown = format!("{credential:?}");
        assert!(!shown.contains("$2a$10$abc"), "{shown}");
        assert!(shown.contains(crate::SENSITIVE));
    }
}
