//! The `Plan`: plain serde data handed from the diff to every renderer and to apply.
//!
//! A plan never holds a secret: credential payloads appear as [`crate::SENSITIVE`] in patches
//! and field changes. It does hold personal data (identifiers, profile fields), which is why
//! saved plan files (see `crate::planfile`) keep only fingerprints.

use crate::index::UserKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the JSON plan format; bumped on any incompatible change.
pub const FORMAT_VERSION: &str = "1";

/// What happens to a user, pool or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// In the desired file, not in the tenant.
    Create,
    /// In both, differing.
    Update,
    /// In the tenant only, and pruning was asked for.
    Delete,
}

impl Action {
    /// The terraform-style sign of the action.
    pub fn sign(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
        }
    }
}

/// Counts of users by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Users to create.
    pub create: usize,
    /// Users to update.
    pub update: usize,
    /// Users in both, equal.
    pub unchanged: usize,
    /// Users in the tenant but not in the desired file (import cannot delete them), and not
    /// deleted by this plan.
    pub unmanaged: usize,
    /// Users to delete (only with pruning).
    #[serde(default)]
    pub delete: usize,
}

/// One changed leaf of a user, pool or group: its JSON-pointer path and both values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// JSON pointer into the normalized record, such as `/payload/given_name`.
    pub path: String,
    /// The current value; absent when the field is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The desired value; absent when the field is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// A user to create or update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserChange {
    /// Create or update.
    pub action: Action,
    /// Pool of the user.
    pub pool_id: String,
    /// Id of the user.
    pub user_id: String,
    /// The user's primary identifier (first e-mail, else first identifier), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// RFC 6902 patch from the current normalized user (or `{}`) to the desired one.
    pub patch: json_patch::Patch,
    /// The same change as a list of changed leaves with before and after values.
    pub fields: Vec<FieldChange>,
    /// SHA-256 of the current normalized user, for detecting a stale saved plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_sha256: Option<String>,
}

impl UserChange {
    /// The key of the user.
    pub fn key(&self) -> UserKey {
        UserKey {
            pool_id: self.pool_id.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

/// A user present in the tenant only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// Pool of the user.
    pub pool_id: String,
    /// Id of the user.
    pub user_id: String,
    /// The user's primary identifier, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A pool or group to create or update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordChange {
    /// Create or update.
    pub action: Action,
    /// Id of the pool or group.
    pub id: String,
    /// Its name, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RFC 6902 patch from the current normalized record (or `{}`) to the desired one.
    pub patch: json_patch::Patch,
    /// The same change as changed leaves.
    pub fields: Vec<FieldChange>,
}

/// Changes to one kind of record keyed by id (pools, groups).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordChanges {
    /// How many to create.
    pub create: usize,
    /// How many to update.
    pub update: usize,
    /// How many are equal.
    pub unchanged: usize,
    /// How many exist only in the tenant.
    pub unmanaged: usize,
    /// The creates and updates, by id.
    pub changes: Vec<RecordChange>,
}

/// The result of a diff: everything a renderer or apply needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// See [`FORMAT_VERSION`].
    pub format_version: String,
    /// User counts.
    pub summary: Summary,
    /// Pool changes.
    pub pools: RecordChanges,
    /// Group changes.
    pub groups: RecordChanges,
    /// Users to create or update, ordered by pool, then user id.
    pub changes: Vec<UserChange>,
    /// Users only in the tenant and kept, ordered by pool, then user id.
    pub unmanaged: Vec<UserRef>,
    /// Whether the plan prunes: deletes the users only in the tenant (except protected ones).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    /// Users to delete, ordered by pool, then user id (only with pruning).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<UserRef>,
    /// Things worth knowing that do not stop the plan (an ignore path that matched nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    /// Whether applying the plan would write anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
            || !self.deletes.is_empty()
            || !self.pools.changes.is_empty()
            || !self.groups.changes.is_empty()
    }
}
