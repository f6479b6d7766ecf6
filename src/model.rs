//! Typed model of the System API's `TenantDump` document and its records.
//!
//! Every record keeps the fields poolsync does not know in a flattened `extra` map, so reading
//! and writing a document loses nothing. Enumerations stay strings here: a value the vendor adds
//! later must survive a round trip, and [`crate::validate`] is where unknown values are reported.
//! This module does no I/O; reading files lives in [`crate::load`].
//!
//! Deserialization is written out (by the `record!` macro below) rather than derived with
//! `#[serde(flatten)]`: a flattened field makes serde buffer every record into an intermediate
//! tree before reading it, which doubled the parse time of a million-user export. The macro reads
//! known fields straight into their types, borrows keys from the input where it can, and keeps
//! the rest in `extra`. A field given twice is an error, as with derived impls.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// A JSON object, as used for free-form fields (`payload`, `metadata`, unknown fields).
pub type Object = Map<String, Value>;

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

/// The most users one import request may carry (the service answers 413 above it).
pub const MAX_USERS_PER_REQUEST: usize = 100;

/// What import does with users that already exist (the `mode` query parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// Existing users are left as they are.
    Ignore,
    /// Create only: the import stops with 409 at the first existing user.
    Fail,
    /// Existing users are replaced as a whole.
    #[default]
    Update,
}

impl ImportMode {
    /// Every mode, in the order the contract lists them.
    pub const ALL: [ImportMode; 3] = [ImportMode::Ignore, ImportMode::Fail, ImportMode::Update];

    /// The value of the `mode` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Ignore => "ignore",
            ImportMode::Fail => "fail",
            ImportMode::Update => "update",
        }
    }

    /// The mode of a `mode` parameter's value.
    pub fn from_name(name: &str) -> Option<ImportMode> {
        ImportMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == name)
    }
}

/// The whole tenant document served by export and accepted by import.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pool {
    /// Pool id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Display name (required by the spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-text description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Every other pool setting (authentication mechanisms, password policy...), kept verbatim.
    #[serde(flatten)]
    pub extra: Object,
}

/// A JSON schema for user payloads or metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Schema {
    /// Schema id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Schema name (required by the spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other field, kept verbatim.
    #[serde(flatten)]
    pub extra: Object,
}

/// A user record, without its sub-records.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct User {
    /// User id (a UUID in practice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool the user belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// `active`, `inactive`, `deleted` or `new`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Profile data, validated by the pool's payload schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Object>,
    /// Administrative metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
    /// Business metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_metadata: Option<Object>,
    /// Server-managed creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Server-managed time of the last status change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_updated_at: Option<String>,
    /// Every other field (schema ids, user type, fields added by the vendor later).
    #[serde(flatten)]
    pub extra: Object,
}

/// A login identifier of a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UserIdentifier {
    /// Sub-record id; derived when left out of a desired file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Owning user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `email`, `mobile`, `uid`, `external` or `federated`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The identifier as entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Lower-cased identifier (derived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier_lc: Option<String>,
    /// Server-managed creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field (metadata...).
    #[serde(flatten)]
    pub extra: Object,
}

/// A verifiable address (e-mail or phone) of a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UserVerifiableAddress {
    /// Sub-record id; derived when left out of a desired file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Owning user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `email` or `mobile`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The address as entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Lower-cased address (derived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_lc: Option<String>,
    /// `active` or `inactive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the address was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Server-managed verification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// Server-managed creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field (metadata, preferred contact method...).
    #[serde(flatten)]
    pub extra: Object,
}

/// A credential of a user. Its payload is a secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UserCredential {
    /// Sub-record id; derived when left out of a desired file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Owning user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `password`, `webauthn` or `totp`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The secret itself (e.g. a password hash and its parameters): never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<SecretValue>,
    /// `valid`, `must_be_reset` or `must_be_changed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Expiry time of the credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Server-managed creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-managed modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Object,
}

/// A transient one-time code. Never diffed, never imported.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Code {
    /// Code id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Pool of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// The code value: a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<SecretValue>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Object,
}

/// A group within a pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InternalGroup {
    /// Group id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Pool of the group (required by the spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Group name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other field (description, path...).
    #[serde(flatten)]
    pub extra: Object,
}

/// Membership of a user in a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupMember {
    /// The group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Owning tenant (server-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Pool of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Object,
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E: de::Error>(self, value: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Implements `Deserialize` for a record: `known` fields read into their types (`Option`s:
/// `null` is `None`), `lists` (only in `TenantDump`) read as vectors with `null` as empty, and
/// every other field kept in `extra`.
macro_rules! record {
    ($name:ident, $what:literal,
     known { $($field:ident : $key:literal),* $(,)? }
     $(, lists { $($list:ident : $list_key:literal),* $(,)? })?) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct RecordVisitor;
                impl<'de> Visitor<'de> for RecordVisitor {
                    type Value = $name;
                    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                        formatter.write_str($what)
                    }
                    #[allow(non_snake_case, reason = "one flag per field, named after it")]
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut record = $name::default();
                        $( let mut $field = false; )*
                        $($( let mut $list = false; )*)?
                        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                            match key.as_ref() {
                                $( $key => {
                                    if std::mem::replace(&mut $field, true) {
                                        return Err(de::Error::duplicate_field($key));
                                    }
                                    record.$field = map.next_value()?;
                                } )*
                                $($( $list_key => {
                                    if std::mem::replace(&mut $list, true) {
                                        return Err(de::Error::duplicate_field($list_key));
                                    }
                                    record.$list = map.next_value::<Option<Vec<_>>>()?.unwrap_or_default();
                                } )*)?
                                _ => {
                                    let value: Value = map.next_value()?;
                                    let key = key.into_owned();
                                    if record.extra.contains_key(&key) {
                                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                                    }
                                    record.extra.insert(key, value);
                                }
                            }
                        }
                        Ok(record)
                    }
                }
                deserializer.deserialize_map(RecordVisitor)
            }
        }
    };
}

record!(
    TenantDump,
    "a JSON object (a `TenantDump`)",
    known {},
    lists {
        pools: "pools",
        schemas: "schemas",
        users: "users",
        user_identifiers: "user_identifiers",
        user_verifiable_addresses: "user_verifiable_addresses",
        user_credentials: "user_credentials",
        codes: "codes",
        groups: "groups",
        group_members: "group_members",
    }
);
record!(
    Pool,
    "a pool object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        name: "name",
        description: "description",
    }
);
record!(
    Schema,
    "a schema object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        name: "name"
    }
);
record!(
    User,
    "a user object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        user_pool_id: "user_pool_id",
        status: "status",
        payload: "payload",
        metadata: "metadata",
        business_metadata: "business_metadata",
        created_at: "created_at",
        updated_at: "updated_at",
        status_updated_at: "status_updated_at",
    }
);
record!(
    UserIdentifier,
    "an identifier object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        user_pool_id: "user_pool_id",
        user_id: "user_id",
        kind: "type",
        identifier: "identifier",
        identifier_lc: "identifier_lc",
        created_at: "created_at",
        updated_at: "updated_at",
    }
);
record!(
    UserVerifiableAddress,
    "a verifiable address object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        user_pool_id: "user_pool_id",
        user_id: "user_id",
        kind: "type",
        address: "address",
        address_lc: "address_lc",
        status: "status",
        verified: "verified",
        verified_at: "verified_at",
        created_at: "created_at",
        updated_at: "updated_at",
    }
);
record!(
    UserCredential,
    "a credential object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        user_pool_id: "user_pool_id",
        user_id: "user_id",
        kind: "type",
        payload: "payload",
        state: "state",
        expires_at: "expires_at",
        created_at: "created_at",
        updated_at: "updated_at",
    }
);
record!(
    Code,
    "a code object",
    known {
        id: "id",
        user_id: "user_id",
        user_pool_id: "user_pool_id",
        code: "code",
    }
);
record!(
    InternalGroup,
    "a group object",
    known {
        id: "id",
        tenant_id: "tenant_id",
        user_pool_id: "user_pool_id",
        name: "name",
    }
);
record!(
    GroupMember,
    "a group member object",
    known {
        group_id: "group_id",
        tenant_id: "tenant_id",
        user_id: "user_id",
        user_pool_id: "user_pool_id",
    }
);

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
