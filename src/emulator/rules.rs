//! The first pass of an import: every rule that does not depend on the order of changes
//! (tenant ids, required fields, enums, date-times, the lower-cased fields, and references
//! between records of the request and the tenant). It changes nothing, so a body it refuses
//! (422) leaves the tenant as it was. One function per section of the document.

use super::api_error::ApiError;
use super::state::TenantState;
use crate::model::{
    GroupMember, InternalGroup, Object, Pool, Schema, TenantDump, User, UserCredential,
    UserIdentifier, UserVerifiableAddress,
};
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn record_name(section: &str, index: usize) -> String {
    format!("{section}[{index}]")
}

/// Where a record sits in the request, for messages.
pub(super) struct At<'a> {
    pub(super) section: &'static str,
    pub(super) index: usize,
    pub(super) id: Option<&'a str>,
}

impl At<'_> {
    fn error(
        &self,
        status: StatusCode,
        code: &'static str,
        field: &str,
        problem: impl std::fmt::Display,
    ) -> ApiError {
        ApiError::record(
            status,
            code,
            &record_name(self.section, self.index),
            self.id,
            field,
            problem,
        )
    }

    pub(super) fn invalid(&self, field: &str, problem: impl std::fmt::Display) -> ApiError {
        self.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            field,
            problem,
        )
    }

    pub(super) fn conflict(&self, field: &str, problem: impl std::fmt::Display) -> ApiError {
        self.error(StatusCode::CONFLICT, "conflict", field, problem)
    }

    /// A required string field: absent, `null` and `""` are all missing.
    pub(super) fn require<'v>(
        &self,
        value: Option<&'v str>,
        field: &str,
    ) -> Result<&'v str, ApiError> {
        match value {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(self.invalid(field, "missing required field")),
        }
    }

    fn require_present<T>(&self, value: Option<T>, field: &str) -> Result<T, ApiError> {
        value.ok_or_else(|| self.invalid(field, "missing required field"))
    }

    fn tenant(&self, value: Option<&str>, tenant_id: &str) -> Result<(), ApiError> {
        let value = self.require(value, "tenant_id")?;
        if value != tenant_id {
            return Err(self.invalid(
                "tenant_id",
                format!("`{value}` is not this tenant `{tenant_id}`"),
            ));
        }
        Ok(())
    }

    /// `tenant_id` where the spec does not require it: checked only when present.
    fn optional_tenant(&self, value: Option<&str>, tenant_id: &str) -> Result<(), ApiError> {
        match value {
            Some(_) => self.tenant(value, tenant_id),
            None => Ok(()),
        }
    }

    fn one_of(&self, field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
        if allowed.contains(&value) {
            return Ok(());
        }
        let allowed = allowed
            .iter()
            .map(|value| format!("`{value}`"))
            .collect::<Vec<_>>();
        Err(self.invalid(
            field,
            format!("`{value}` is not one of {}", allowed.join(", ")),
        ))
    }

    /// An enumeration the model knows (`crate::model::ENUMS`).
    fn model_enum(&self, field: &str, value: Option<&str>) -> Result<(), ApiError> {
        match (value, crate::model::enum_values(self.section, field)) {
            (Some(value), Some(allowed)) => self.one_of(field, value, allowed),
            _ => Ok(()),
        }
    }

    /// An optional string field kept in `extra` that must be one of `allowed`.
    fn extra_enum(&self, extra: &Object, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
        match extra.get(field) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(value)) => self.one_of(field, value, allowed),
            Some(_) => Err(self.invalid(field, "expected a string")),
        }
    }

    fn date_time(&self, field: &str, value: Option<&str>) -> Result<(), ApiError> {
        let Some(value) = value else { return Ok(()) };
        let format = time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::parse(value, &format)
            .map(|_| ())
            .map_err(|_| self.invalid(field, format!("`{value}` is not an RFC 3339 date-time")))
    }

    /// `created_at` and `updated_at` where the spec requires both.
    fn required_date_times(
        &self,
        created_at: Option<&str>,
        updated_at: Option<&str>,
    ) -> Result<(), ApiError> {
        self.date_time("created_at", Some(self.require(created_at, "created_at")?))?;
        self.date_time("updated_at", Some(self.require(updated_at, "updated_at")?))
    }

    fn lower_cased(&self, field: &str, value: &str, lower: &str) -> Result<(), ApiError> {
        if value.to_lowercase() != lower {
            return Err(self.invalid(
                field,
                format!(
                    "`{lower}` is not the lower-cased value `{}`",
                    value.to_lowercase()
                ),
            ));
        }
        Ok(())
    }
}

/// Authentication mechanisms a pool may name (spec `AuthenticationMechanisms`).
const MECHANISMS: &[&str] = &[
    "totp",
    "password",
    "otp",
    "email_otp",
    "sms_otp",
    "webauthn",
];

/// What the request holds, for the references between its records and the tenant's.
struct Request<'a> {
    state: &'a TenantState,
    pools: HashSet<&'a str>,
    groups: HashSet<&'a str>,
    /// User id → pool id of every user in the request.
    users: HashMap<&'a str, &'a str>,
}

impl<'a> Request<'a> {
    fn pool_known(&self, pool_id: &str) -> bool {
        self.pools.contains(pool_id) || self.state.pool_exists(pool_id)
    }

    /// The pool a sub-record's user belongs to, whether the user is sent or already stored.
    fn user_pool(&self, user_id: &str) -> Option<&'a str> {
        self.users
            .get(user_id)
            .copied()
            .or_else(|| self.state.stored_user_pool(user_id))
    }

    /// A sub-record's `user_id` and `user_pool_id` name a user of that pool.
    fn check_owner(
        &self,
        at: &At<'_>,
        user_id: Option<&str>,
        pool_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let user_id = at.require(user_id, "user_id")?;
        let pool_id = at.require(pool_id, "user_pool_id")?;
        let Some(user_pool_id) = self.user_pool(user_id) else {
            return Err(at.invalid(
                "user_id",
                format!("no user `{user_id}` in the request or the tenant"),
            ));
        };
        if user_pool_id != pool_id {
            return Err(at.invalid(
                "user_pool_id",
                format!("`{pool_id}` is not the pool `{user_pool_id}` of user `{user_id}`"),
            ));
        }
        Ok(())
    }
}

/// Checks a whole request against the tenant, section by section; the first broken rule is
/// the answer.
pub(super) fn check_request(state: &TenantState, dump: &TenantDump) -> Result<(), ApiError> {
    let tenant_id = state.tenant_id();
    for (index, schema) in dump.schemas.iter().enumerate() {
        check_schema(index, schema, tenant_id)?;
    }
    for (index, pool) in dump.pools.iter().enumerate() {
        check_pool(index, pool, tenant_id)?;
    }
    let mut request = Request {
        state,
        pools: dump
            .pools
            .iter()
            .filter_map(|pool| pool.id.as_deref())
            .collect(),
        groups: HashSet::new(),
        users: HashMap::with_capacity(dump.users.len()),
    };
    for (index, group) in dump.groups.iter().enumerate() {
        check_group(index, group, tenant_id, &request)?;
        request.groups.extend(group.id.as_deref());
    }
    let mut first_index: HashMap<&str, usize> = HashMap::with_capacity(dump.users.len());
    for (index, user) in dump.users.iter().enumerate() {
        let id = user.id.as_deref().unwrap_or_default();
        if let Some(first) = first_index.insert(id, index) {
            let at = At {
                section: "users",
                index,
                id: Some(id),
            };
            return Err(at.invalid("id", format!("user `{id}` is also `users[{first}]`")));
        }
        let pool_id = check_user(index, user, tenant_id, &request)?;
        request.users.insert(id, pool_id);
    }
    for (index, identifier) in dump.user_identifiers.iter().enumerate() {
        check_identifier(index, identifier, tenant_id, &request)?;
    }
    for (index, address) in dump.user_verifiable_addresses.iter().enumerate() {
        check_address(index, address, tenant_id, &request)?;
    }
    for (index, credential) in dump.user_credentials.iter().enumerate() {
        check_credential(index, credential, tenant_id, &request)?;
    }
    for (index, member) in dump.group_members.iter().enumerate() {
        check_member(index, member, tenant_id, &request)?;
    }
    Ok(())
}

fn check_schema(index: usize, schema: &Schema, tenant_id: &str) -> Result<(), ApiError> {
    let at = At {
        section: "schemas",
        index,
        id: schema.id.as_deref(),
    };
    at.tenant(schema.tenant_id.as_deref(), tenant_id)?;
    at.require(schema.name.as_deref(), "name")?;
    at.require_present(
        schema.extra.get("schema").filter(|value| !value.is_null()),
        "schema",
    )?;
    Ok(())
}

fn check_pool(index: usize, pool: &Pool, tenant_id: &str) -> Result<(), ApiError> {
    let at = At {
        section: "pools",
        index,
        id: pool.id.as_deref(),
    };
    at.tenant(pool.tenant_id.as_deref(), tenant_id)?;
    at.require(pool.name.as_deref(), "name")?;
    for field in [
        "preferred_authentication_mechanism",
        "second_factor_preferred_authentication_mechanism",
    ] {
        at.extra_enum(&pool.extra, field, MECHANISMS)?;
    }
    for field in [
        "authentication_mechanisms",
        "second_factor_authentication_mechanisms",
    ] {
        match pool.extra.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match item.as_str() {
                        Some(value) => at.one_of(field, value, MECHANISMS)?,
                        None => return Err(at.invalid(field, "expected an array of strings")),
                    }
                }
            }
            Some(_) => return Err(at.invalid(field, "expected an array of strings")),
        }
    }
    Ok(())
}

fn check_group(
    index: usize,
    group: &InternalGroup,
    tenant_id: &str,
    request: &Request<'_>,
) -> Result<(), ApiError> {
    let at = At {
        section: "groups",
        index,
        id: group.id.as_deref(),
    };
    at.optional_tenant(group.tenant_id.as_deref(), tenant_id)?;
    let pool_id = at.require(group.user_pool_id.as_deref(), "user_pool_id")?;
    if !request.pool_known(pool_id) {
        return Err(at.invalid("user_pool_id", format!("no pool `{pool_id}`")));
    }
    Ok(())
}

/// Checks a user and returns its pool.
fn check_user<'u>(
    index: usize,
    user: &'u User,
    tenant_id: &str,
    request: &Request<'_>,
) -> Result<&'u str, ApiError> {
    let at = At {
        section: "users",
        index,
        id: Some(user.id.as_deref().unwrap_or_default()),
    };
    at.tenant(user.tenant_id.as_deref(), tenant_id)?;
    let pool_id = at.require(user.user_pool_id.as_deref(), "user_pool_id")?;
    if !request.pool_known(pool_id) {
        return Err(at.invalid("user_pool_id", format!("no pool `{pool_id}`")));
    }
    at.model_enum(
        "status",
        Some(at.require(user.status.as_deref(), "status")?),
    )?;
    at.date_time("created_at", user.created_at.as_deref())?;
    at.date_time("updated_at", user.updated_at.as_deref())?;
    at.date_time("status_updated_at", user.status_updated_at.as_deref())?;
    Ok(pool_id)
}

fn check_identifier(
    index: usize,
    identifier: &UserIdentifier,
    tenant_id: &str,
    request: &Request<'_>,
) -> Result<(), ApiError> {
    let at = At {
        section: "user_identifiers",
        index,
        id: identifier.id.as_deref(),
    };
    at.tenant(identifier.tenant_id.as_deref(), tenant_id)?;
    request.check_owner(
        &at,
        identifier.user_id.as_deref(),
        identifier.user_pool_id.as_deref(),
    )?;
    at.model_enum(
        "type",
        Some(at.require(identifier.kind.as_deref(), "type")?),
    )?;
    let value = at.require(identifier.identifier.as_deref(), "identifier")?;
    let lower = at.require(identifier.identifier_lc.as_deref(), "identifier_lc")?;
    at.lower_cased("identifier_lc", value, lower)?;
    at.required_date_times(
        identifier.created_at.as_deref(),
        identifier.updated_at.as_deref(),
    )
}

fn check_address(
    index: usize,
    address: &UserVerifiableAddress,
    tenant_id: &str,
    request: &Request<'_>,
) -> Result<(), ApiError> {
    let at = At {
        section: "user_verifiable_addresses",
        index,
        id: address.id.as_deref(),
    };
    at.tenant(address.tenant_id.as_deref(), tenant_id)?;
    request.check_owner(
        &at,
        address.user_id.as_deref(),
        address.user_pool_id.as_deref(),
    )?;
    let value = at.require(address.address.as_deref(), "address")?;
    let lower = at.require(address.address_lc.as_deref(), "address_lc")?;
    at.lower_cased("address_lc", value, lower)?;
    at.model_enum("type", Some(at.require(address.kind.as_deref(), "type")?))?;
    at.model_enum(
        "status",
        Some(at.require(address.status.as_deref(), "status")?),
    )?;
    at.require_present(address.verified, "verified")?;
    let contact_methods =
        crate::model::enum_values(at.section, "preferred_contact_method").unwrap_or(&[]);
    at.extra_enum(&address.extra, "preferred_contact_method", contact_methods)?;
    at.required_date_times(address.created_at.as_deref(), address.updated_at.as_deref())?;
    at.date_time("verified_at", address.verified_at.as_deref())
}

fn check_credential(
    index: usize,
    credential: &UserCredential,
    tenant_id: &str,
    request: &Request<'_>,
) -> Result<(), ApiError> {
    let at = At {
        section: "user_credentials",
        index,
        id: credential.id.as_deref(),
    };
    at.tenant(credential.tenant_id.as_deref(), tenant_id)?;
    request.check_owner(
        &at,
        credential.user_id.as_deref(),
        credential.user_pool_id.as_deref(),
    )?;
    at.model_enum(
        "type",
        Some(at.require(credential.kind.as_deref(), "type")?),
    )?;
    at.model_enum("state", credential.state.as_deref())?;
    match credential.payload.as_ref().map(|payload| &payload.0) {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(at.invalid("payload", "missing required field")),
        // Never echo the payload: it is a secret.
        Some(_) => return Err(at.invalid("payload", "expected an object")),
    }
    at.required_date_times(
        credential.created_at.as_deref(),
        credential.updated_at.as_deref(),
    )?;
    at.date_time("expires_at", credential.expires_at.as_deref())
}

fn check_member(
    index: usize,
    member: &GroupMember,
    tenant_id: &str,
    request: &Request<'_>,
) -> Result<(), ApiError> {
    let at = At {
        section: "group_members",
        index,
        id: member.group_id.as_deref(),
    };
    at.optional_tenant(member.tenant_id.as_deref(), tenant_id)?;
    let group_id = at.require(member.group_id.as_deref(), "group_id")?;
    let user_id = at.require(member.user_id.as_deref(), "user_id")?;
    if !request.groups.contains(group_id) && !request.state.group_exists(group_id) {
        return Err(at.invalid("group_id", format!("no group `{group_id}`")));
    }
    let Some(user_pool_id) = request.user_pool(user_id) else {
        return Err(at.invalid(
            "user_id",
            format!("no user `{user_id}` in the request or the tenant"),
        ));
    };
    if let Some(pool_id) = member.user_pool_id.as_deref() {
        if pool_id != user_pool_id {
            return Err(at.invalid(
                "user_pool_id",
                format!("`{pool_id}` is not the pool `{user_pool_id}` of user `{user_id}`"),
            ));
        }
    }
    Ok(())
}
