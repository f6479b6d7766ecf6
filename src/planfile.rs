//! Saved plans (`plan -o PLANFILE`): what `apply PLANFILE` must find unchanged to go ahead.
//!
//! A saved plan holds no secret and no personal data: the desired file's path and SHA-256, the
//! tenant, the diff options, and per changed user only its action, its ids and a fingerprint of
//! its current state. Applying re-plans against a fresh export and refuses if anything differs
//! from what was reviewed.

use crate::diff::PlanScope;
use crate::index::shorten;
use crate::plan::{Action, Plan, Summary};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Marks a file as a poolsync plan.
pub const KIND: &str = "poolsync-plan";
/// Version of the saved plan format.
/// Version 2 records the plan's origin (`{"kind": "desired_file" | "migration", …}`) and scope.
pub const FORMAT_VERSION: &str = "2";

/// One planned user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedUser {
    /// Create or update.
    pub action: Action,
    /// Pool.
    pub pool_id: String,
    /// User id.
    pub user_id: String,
    /// Fingerprint of the user's current state (updates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_sha256: Option<String>,
}

/// One planned pool or group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRecord {
    /// Create or update.
    pub action: Action,
    /// Its id.
    pub id: String,
}

/// What a saved plan was made from: a desired file (`poolsync plan -o`) or a migration
/// (`poolsync migrate -o`); each is applied only by the command that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanOrigin {
    /// A desired file.
    DesiredFile {
        /// The file, as given on the command line.
        path: String,
        /// SHA-256 of its bytes.
        sha256: String,
    },
    /// A migration from another tenant or a saved export.
    Migration {
        /// Where the users come from, for people.
        source: String,
        /// SHA-256 of the migration's desired state in canonical order.
        sha256: String,
    },
}

impl PlanOrigin {
    /// The SHA-256 that must still match when the plan is applied.
    pub fn sha256(&self) -> &str {
        match self {
            PlanOrigin::DesiredFile { sha256, .. } | PlanOrigin::Migration { sha256, .. } => sha256,
        }
    }
}

/// A saved plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`KIND`].
    pub kind: String,
    /// See [`FORMAT_VERSION`].
    pub format_version: String,
    /// Tenant the plan was made against.
    pub tenant: String,
    /// What the plan was made from.
    pub origin: PlanOrigin,
    /// The ignore paths, pools, pruning and protected patterns it was made with.
    #[serde(flatten)]
    pub scope: PlanScope,
    /// User counts.
    pub summary: Summary,
    /// Pools to create or update.
    #[serde(default)]
    pub pool_changes: Vec<PlannedRecord>,
    /// Groups to create or update.
    #[serde(default)]
    pub group_changes: Vec<PlannedRecord>,
    /// Users to create or update.
    pub users: Vec<PlannedUser>,
    /// Users to delete, as (pool id, user id).
    #[serde(default)]
    pub deletes: Vec<(String, String)>,
}

fn deletes_of(plan: &Plan) -> Vec<(String, String)> {
    plan.deletes
        .iter()
        .map(|d| (d.pool_id.clone(), d.user_id.clone()))
        .collect()
}

/// SHA-256 (hex) of a file, read in chunks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => hasher.update(&buffer[..count]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 (hex) of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PlanFile {
    /// Records `plan`, made from `origin` within `scope`, for later application.
    pub fn new(plan: &Plan, tenant: &str, origin: PlanOrigin, scope: &PlanScope) -> PlanFile {
        let records = |changes: &[crate::plan::RecordChange]| {
            changes
                .iter()
                .map(|c| PlannedRecord {
                    action: c.action,
                    id: c.id.clone(),
                })
                .collect()
        };
        PlanFile {
            kind: KIND.into(),
            format_version: FORMAT_VERSION.into(),
            tenant: tenant.into(),
            origin,
            scope: scope.clone(),
            summary: plan.summary.clone(),
            pool_changes: records(&plan.pools.changes),
            group_changes: records(&plan.groups.changes),
            users: plan
                .changes
                .iter()
                .map(|c| PlannedUser {
                    action: c.action,
                    pool_id: c.pool_id.clone(),
                    user_id: c.user_id.clone(),
                    current_sha256: c.current_sha256.clone(),
                })
                .collect(),
            deletes: deletes_of(plan),
        }
    }

    /// Everything that differs between this saved plan and `fresh`, a plan made now from the
    /// same desired file against the tenant as it is now. Empty means the plan still holds.
    pub fn stale_reasons(&self, fresh: &Plan) -> Vec<String> {
        let mut reasons = Vec::new();
        let saved: BTreeMap<(&str, &str), &PlannedUser> = self
            .users
            .iter()
            .map(|u| ((u.pool_id.as_str(), u.user_id.as_str()), u))
            .collect();
        let now: BTreeMap<(&str, &str), &crate::plan::UserChange> = fresh
            .changes
            .iter()
            .map(|c| ((c.pool_id.as_str(), c.user_id.as_str()), c))
            .collect();
        for (key, planned) in &saved {
            match now.get(key) {
                None => reasons.push(format!(
                    "user `{}` in pool `{}` no longer needs a change",
                    shorten(key.1),
                    shorten(key.0)
                )),
                Some(change) if change.action != planned.action => reasons.push(format!(
                    "user `{}` in pool `{}` was planned as {:?} but now needs {:?}",
                    shorten(key.1),
                    shorten(key.0),
                    planned.action,
                    change.action
                )),
                Some(change) if change.current_sha256 != planned.current_sha256 => {
                    reasons.push(format!(
                        "user `{}` in pool `{}` changed in the tenant since the plan",
                        shorten(key.1),
                        shorten(key.0)
                    ))
                }
                Some(_) => {}
            }
        }
        for key in now.keys().filter(|key| !saved.contains_key(*key)) {
            reasons.push(format!(
                "user `{}` in pool `{}` changed in the tenant since the plan",
                shorten(key.1),
                shorten(key.0)
            ));
        }
        let fresh_pools: Vec<PlannedRecord> = fresh
            .pools
            .changes
            .iter()
            .map(|c| PlannedRecord {
                action: c.action,
                id: c.id.clone(),
            })
            .collect();
        if deletes_of(fresh) != self.deletes {
            reasons.push("the users to delete are not the ones planned".into());
        }
        if fresh_pools != self.pool_changes {
            reasons.push("the pools to create or update are not the ones planned".into());
        }
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};
    use crate::model::TenantDump;
    use serde_json::json;

    fn plan(current: serde_json::Value, desired: serde_json::Value) -> Plan {
        let current: TenantDump = serde_json::from_value(current).unwrap();
        let desired: TenantDump = serde_json::from_value(desired).unwrap();
        diff(&current, &desired, &DiffOptions::default()).unwrap()
    }

    #[test]
    fn a_saved_plan_holds_no_personal_data_and_detects_tenant_drift() {
        let current = json!({"pools": [{"id": "p", "name": "P"}],
            "users": [{"id": "u1", "user_pool_id": "p", "status": "active", "payload": {"name": "Ann"}}],
            "user_identifiers": [{"id": "i", "user_id": "u1", "type": "email", "identifier": "ann@x.io"}]});
        let desired = json!({"pools": [{"id": "p", "name": "P"}],
            "users": [{"id": "u1", "user_pool_id": "p", "status": "active", "payload": {"name": "Anne"}}],
            "user_identifiers": [{"id": "i", "user_id": "u1", "type": "email", "identifier": "ann@x.io"}]});
        let original = plan(current.clone(), desired.clone());
        let origin = PlanOrigin::DesiredFile {
            path: "desired.json".into(),
            sha256: sha256_hex(b"{}"),
        };
        let saved = PlanFile::new(&original, "acme", origin, &PlanScope::default());
        let text = serde_json::to_string(&saved).unwrap();
        assert!(
            !text.contains("ann@x.io") && !text.contains("Ann"),
            "{text}"
        );
        assert!(saved.stale_reasons(&original).is_empty());

        let mut drifted = current;
        drifted["users"][0]["status"] = json!("inactive");
        let reasons = saved.stale_reasons(&plan(drifted, desired.clone()));
        assert_eq!(
            reasons,
            vec!["user `u1` in pool `p` changed in the tenant since the plan"]
        );
    }
}
