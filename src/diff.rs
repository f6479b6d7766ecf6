//! Desired vs current: compares whole users (and pools and groups) and produces a [`Plan`].
//!
//! Users are matched by (pool id, user id) and compared in normalized form (see
//! [`crate::normalize`]), so array order, key order, server-managed fields and `null` vs absent
//! make no difference. Only users that differ get a JSON patch; the rest cost one comparison.
//! Pure: no I/O, no clock.

use crate::SENSITIVE;
use crate::index::{Problem, TenantIndex, UserAggregate, UserKey};
use crate::model::TenantDump;
use crate::normalize::{self, IgnorePath, normalize_record, normalize_user};
use crate::plan::{
    Action, FORMAT_VERSION, FieldChange, Plan, RecordChange, RecordChanges, Summary, UserChange,
    UserRef,
};
use json_patch::{Patch, PatchOperation};
use rayon::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What a plan covers, as given on the command line: recorded as it is in saved plans and
/// journals, and turned into [`DiffOptions`] by [`PlanScope::diff_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanScope {
    /// `--ignore` paths.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// `--pool` filters (all pools when empty).
    #[serde(default)]
    pub pools: Vec<String>,
    /// `--prune`: delete users that are in the tenant but not in the desired file.
    #[serde(default)]
    pub prune: bool,
    /// `--protect` glob patterns.
    #[serde(default)]
    pub protect: Vec<String>,
}

/// A [`PlanScope`] that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// An `--ignore` path is not a path into a user.
    #[error("{0}")]
    Ignore(String),
    /// A `--protect` pattern is not a glob.
    #[error("`--protect {pattern}` is not a valid pattern: {error}")]
    Protect {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        error: glob::PatternError,
    },
}

impl PlanScope {
    /// The diff settings of this scope: ignore paths and patterns parsed.
    pub fn diff_options(&self) -> Result<DiffOptions, ScopeError> {
        let ignore = self
            .ignore
            .iter()
            .map(|path| IgnorePath::parse(path))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ScopeError::Ignore)?;
        let protect = self
            .protect
            .iter()
            .map(|pattern| {
                glob::Pattern::new(pattern).map_err(|error| ScopeError::Protect {
                    pattern: pattern.clone(),
                    error,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DiffOptions {
            ignore,
            pools: self.pools.clone(),
            prune: self.prune,
            protect,
        })
    }
}

/// Settings of a diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Paths inside a user to leave out of the comparison, besides the server-managed fields.
    pub ignore: Vec<IgnorePath>,
    /// Only these pools (all when empty).
    pub pools: Vec<String>,
    /// Delete users that are in the tenant but not in the desired file.
    pub prune: bool,
    /// Never delete users whose id or an identifier matches one of these glob patterns.
    pub protect: Vec<glob::Pattern>,
}

/// A diff could not be computed because a document is inconsistent.
#[derive(Debug, thiserror::Error)]
#[error("the {side} document has {} problem{}", problems.len(), if problems.len() == 1 { "" } else { "s" })]
pub struct DiffError {
    /// `current` or `desired`.
    pub side: &'static str,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// Computes the plan that takes `current` to `desired`.
pub fn diff(
    current: &TenantDump,
    desired: &TenantDump,
    options: &DiffOptions,
) -> Result<Plan, DiffError> {
    diff_matching(current, desired, options).map(|(plan, _)| plan)
}

/// The warnings for the ignore paths that matched nothing (`matched[i]` for `ignore[i]`).
pub fn ignore_warnings(ignore: &[IgnorePath], matched: &[bool]) -> Vec<String> {
    ignore
        .iter()
        .zip(matched)
        .filter(|(_, matched)| !**matched)
        .map(|(path, _)| {
            format!(
                "ignore path `{}` matched nothing in any user",
                path.as_str()
            )
        })
        .collect()
}

/// [`diff`], and which of the ignore paths matched something.
pub fn diff_matching(
    current: &TenantDump,
    desired: &TenantDump,
    options: &DiffOptions,
) -> Result<(Plan, Vec<bool>), DiffError> {
    let current_index = TenantIndex::build(current);
    if !current_index.problems.is_empty() {
        return Err(DiffError {
            side: "current",
            problems: current_index.problems,
        });
    }
    let desired_index = TenantIndex::build(desired);
    let mut desired_problems = desired_index.problems.clone();
    let mut current_problems = Vec::new();
    let in_scope =
        |pool_id: &str| options.pools.is_empty() || options.pools.iter().any(|p| p == pool_id);

    let known_pools: BTreeSet<&str> = current
        .pools
        .iter()
        .chain(&desired.pools)
        .filter_map(|pool| pool.id.as_deref())
        .collect();

    // Each user is compared on its own, so the work is spread over every core; results are
    // collected in key order, so the plan is the same whatever the scheduling.
    let users: Vec<(&UserKey, &UserAggregate<'_>)> = desired_index
        .users
        .iter()
        .filter(|(key, _)| in_scope(&key.pool_id))
        .collect();
    let outcomes: Vec<UserOutcome> = users
        .par_iter()
        .map(|(key, desired_user)| {
            compare_user(key, desired_user, &current_index, &known_pools, options)
        })
        .collect();
    let mut ignore_matched = vec![false; options.ignore.len()];
    let mut summary = Summary::default();
    let mut changes = Vec::new();
    for outcome in outcomes {
        desired_problems.extend(outcome.desired_problems);
        current_problems.extend(outcome.current_problems);
        for position in outcome.ignore_matched {
            ignore_matched[position] = true;
        }
        match outcome.change {
            Compared::Unchanged => summary.unchanged += 1,
            Compared::Changed(change) => {
                if change.action == Action::Create {
                    summary.create += 1;
                } else {
                    summary.update += 1;
                }
                changes.push(*change);
            }
            Compared::Skipped => {}
        }
    }
    if !current_problems.is_empty() {
        return Err(DiffError {
            side: "current",
            problems: current_problems,
        });
    }
    if !desired_problems.is_empty() {
        return Err(DiffError {
            side: "desired",
            problems: desired_problems,
        });
    }

    let mut unmanaged = Vec::new();
    let mut deletes = Vec::new();
    for (key, user) in &current_index.users {
        if !in_scope(&key.pool_id) || desired_index.users.contains_key(key) {
            continue;
        }
        let reference = UserRef {
            pool_id: key.pool_id.clone(),
            user_id: key.user_id.clone(),
            label: user.label(),
        };
        if options.prune && !is_protected(user, &options.protect) {
            deletes.push(reference);
        } else {
            unmanaged.push(reference);
        }
    }
    summary.unmanaged = unmanaged.len();
    summary.delete = deletes.len();

    let pools = diff_records(
        current
            .pools
            .iter()
            .map(|p| (p.id.as_deref(), p.name.as_deref(), normalize_record(p))),
        desired
            .pools
            .iter()
            .map(|p| (p.id.as_deref(), p.name.as_deref(), normalize_record(p))),
        |id| in_scope(id),
    );
    // A group belongs to its pool's scope: with `--pool`, the groups of other pools are
    // neither created nor compared.
    let group_in_scope =
        |group: &&crate::model::InternalGroup| group.user_pool_id.as_deref().is_none_or(in_scope);
    let groups = diff_records(
        current
            .groups
            .iter()
            .filter(group_in_scope)
            .map(|g| (g.id.as_deref(), g.name.as_deref(), normalize_record(g))),
        desired
            .groups
            .iter()
            .filter(group_in_scope)
            .map(|g| (g.id.as_deref(), g.name.as_deref(), normalize_record(g))),
        |_| true,
    );

    let warnings = ignore_warnings(&options.ignore, &ignore_matched);

    let plan = Plan {
        format_version: FORMAT_VERSION.into(),
        summary,
        pools,
        groups,
        changes,
        unmanaged,
        prune: options.prune,
        deletes,
        warnings,
    };
    Ok((plan, ignore_matched))
}

/// Whether a user's id or one of its identifiers matches a `--protect` pattern.
pub fn is_protected(user: &UserAggregate<'_>, patterns: &[glob::Pattern]) -> bool {
    let matches = |value: &str| patterns.iter().any(|pattern| pattern.matches(value));
    user.user.id.as_deref().is_some_and(matches)
        || user
            .identifiers
            .iter()
            .filter_map(|identifier| identifier.identifier.as_deref())
            .any(matches)
}

/// What comparing one desired user found.
enum Compared {
    Unchanged,
    Changed(Box<UserChange>),
    Skipped,
}

struct UserOutcome {
    change: Compared,
    desired_problems: Vec<Problem>,
    current_problems: Vec<Problem>,
    /// Positions of the ignore paths that matched something in this user.
    ignore_matched: Vec<usize>,
}

/// Normalizes one desired user and its current state (if any) and compares them.
fn compare_user(
    key: &UserKey,
    desired_user: &UserAggregate<'_>,
    current_index: &TenantIndex<'_>,
    known_pools: &BTreeSet<&str>,
    options: &DiffOptions,
) -> UserOutcome {
    let mut outcome = UserOutcome {
        change: Compared::Skipped,
        desired_problems: Vec::new(),
        current_problems: Vec::new(),
        ignore_matched: Vec::new(),
    };
    if !known_pools.contains(key.pool_id.as_str()) {
        outcome.desired_problems.push(Problem {
            record: format!("user `{}`", key.user_id),
            field: Some("user_pool_id".into()),
            message: format!(
                "pool `{}` is neither in the tenant nor in the desired file's `pools`",
                key.pool_id
            ),
        });
        return outcome;
    }
    let mut strip_ignored = |value: &mut Value| {
        for (position, path) in options.ignore.iter().enumerate() {
            if path.remove_from(value) && !outcome.ignore_matched.contains(&position) {
                outcome.ignore_matched.push(position);
            }
        }
    };
    let current_user = current_index.users.get(key);
    let desired = normalize_user(desired_user, current_user);
    let mut desired_value = desired.value;
    strip_ignored(&mut desired_value);
    let change = match current_user {
        None => Compared::Changed(Box::new(user_change(
            Action::Create,
            key,
            desired_user,
            None,
            &desired_value,
        ))),
        Some(current_user) => {
            let current = normalize_user(current_user, None);
            let mut current_value = current.value;
            strip_ignored(&mut current_value);
            outcome.current_problems = current.problems;
            if current_value == desired_value {
                Compared::Unchanged
            } else {
                Compared::Changed(Box::new(user_change(
                    Action::Update,
                    key,
                    desired_user,
                    Some(&current_value),
                    &desired_value,
                )))
            }
        }
    };
    outcome.desired_problems = desired.problems;
    outcome.change = change;
    outcome
}

/// SHA-256 (hex) of a normalized value; keys are sorted, so equal values hash equal.
pub fn fingerprint(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

fn user_change(
    action: Action,
    key: &UserKey,
    desired_user: &UserAggregate<'_>,
    current: Option<&Value>,
    desired: &Value,
) -> UserChange {
    let empty = Value::Object(Map::new());
    let before = current.unwrap_or(&empty);
    UserChange {
        action,
        pool_id: key.pool_id.clone(),
        user_id: key.user_id.clone(),
        label: desired_user.label(),
        patch: redacted_patch(json_patch::diff(before, desired)),
        fields: field_changes(current, Some(desired)),
        current_sha256: current.map(fingerprint),
    }
}

type RecordEntry<'a> = (Option<&'a str>, Option<&'a str>, Value);

fn diff_records<'a>(
    current: impl Iterator<Item = RecordEntry<'a>>,
    desired: impl Iterator<Item = RecordEntry<'a>>,
    in_scope: impl Fn(&str) -> bool,
) -> RecordChanges {
    let current: BTreeMap<&str, Value> = current
        .filter_map(|(id, _, value)| Some((id?, value)))
        .filter(|(id, _)| in_scope(id))
        .collect();
    let desired: BTreeMap<&str, (Option<&str>, Value)> = desired
        .filter_map(|(id, name, value)| Some((id?, (name, value))))
        .filter(|(id, _)| in_scope(id))
        .collect();
    let mut result = RecordChanges {
        unmanaged: current
            .keys()
            .filter(|id| !desired.contains_key(*id))
            .count(),
        ..RecordChanges::default()
    };
    let empty = Value::Object(Map::new());
    for (id, (name, value)) in &desired {
        let before = current.get(id);
        let action = match before {
            None => Action::Create,
            Some(before) if before == value => {
                result.unchanged += 1;
                continue;
            }
            Some(_) => Action::Update,
        };
        if action == Action::Create {
            result.create += 1;
        } else {
            result.update += 1;
        }
        result.changes.push(RecordChange {
            action,
            id: (*id).to_string(),
            name: name.map(str::to_string),
            patch: json_patch::diff(before.unwrap_or(&empty), value),
            fields: field_changes(before, Some(value)),
        });
    }
    result
}

fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Whether a JSON-pointer path (as segments) is a credential payload or inside one.
fn is_secret_path(segments: &[&str]) -> bool {
    segments.len() >= 3 && segments[0] == normalize::CREDENTIALS && segments[2] == "payload"
}

/// Lists the changed leaves between two values. Objects are walked key by key; arrays and
/// scalars are leaves; a credential payload is one leaf whose values are redacted.
pub fn field_changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    fn walk(
        segments: &mut Vec<String>,
        before: Option<&Value>,
        after: Option<&Value>,
        out: &mut Vec<FieldChange>,
    ) {
        let borrowed: Vec<&str> = segments.iter().map(String::as_str).collect();
        let secret = is_secret_path(&borrowed);
        let before_object = before.and_then(Value::as_object);
        let after_object = after.and_then(Value::as_object);
        let walk_into = !secret
            && (before_object.is_some() || after_object.is_some())
            && before.is_none_or(Value::is_object)
            && after.is_none_or(Value::is_object);
        if walk_into {
            let keys: BTreeSet<&String> = before_object
                .into_iter()
                .chain(after_object)
                .flat_map(|map| map.keys())
                .collect();
            for key in keys {
                segments.push(key.clone());
                walk(
                    segments,
                    before_object.and_then(|map| map.get(key)),
                    after_object.and_then(|map| map.get(key)),
                    out,
                );
                segments.pop();
            }
            return;
        }
        if before == after {
            return;
        }
        let path: String = segments
            .iter()
            .map(|s| format!("/{}", escape_segment(s)))
            .collect();
        let shown = |value: Option<&Value>| {
            value.map(|value| {
                if secret {
                    Value::String(SENSITIVE.into())
                } else {
                    value.clone()
                }
            })
        };
        out.push(FieldChange {
            path,
            before: shown(before),
            after: shown(after),
        });
    }
    let mut out = Vec::new();
    walk(&mut Vec::new(), before, after, &mut out);
    out
}

/// Replaces every credential payload in a patch's values by [`SENSITIVE`].
pub fn redacted_patch(patch: Patch) -> Patch {
    fn redact(segments: &mut Vec<String>, value: &mut Value) {
        let borrowed: Vec<&str> = segments.iter().map(String::as_str).collect();
        if is_secret_path(&borrowed) {
            *value = Value::String(SENSITIVE.into());
            return;
        }
        if segments.len() >= 3 {
            // Below a credential's own fields there is nothing more to find.
            return;
        }
        if let Value::Object(map) = value {
            for (key, child) in map.iter_mut() {
                segments.push(key.clone());
                redact(segments, child);
                segments.pop();
            }
        }
    }
    let operations = patch
        .0
        .into_iter()
        .map(|mut operation| {
            let (path, value) = match &mut operation {
                PatchOperation::Add(op) => (op.path.clone(), &mut op.value),
                PatchOperation::Replace(op) => (op.path.clone(), &mut op.value),
                PatchOperation::Test(op) => (op.path.clone(), &mut op.value),
                _ => return operation,
            };
            let mut segments: Vec<String> =
                path.tokens().map(|t| t.decoded().into_owned()).collect();
            redact(&mut segments, value);
            operation
        })
        .collect();
    Patch(operations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dump(value: Value) -> TenantDump {
        serde_json::from_value(value).unwrap()
    }

    fn base() -> Value {
        json!({
            "pools": [{"id": "p", "name": "Pool", "tenant_id": "t"}],
            "users": [
                {"id": "u1", "user_pool_id": "p", "status": "active", "tenant_id": "t",
                 "payload": {"name": "Ann"}, "metadata": {"last_sync": "2024-01-01"},
                 "created_at": "2024-01-01T00:00:00Z"},
                {"id": "u2", "user_pool_id": "p", "status": "active"}
            ],
            "user_identifiers": [
                {"id": "i1", "user_id": "u1", "type": "email", "identifier": "ann@x.io", "identifier_lc": "ann@x.io"},
                {"id": "i2", "user_id": "u2", "type": "email", "identifier": "bo@x.io"}
            ],
            "user_credentials": [
                {"id": "c1", "user_id": "u1", "type": "password",
                 "payload": {"hashed_password": {"value": "$2a$10$secretsecret"}}}
            ]
        })
    }

    fn plan(current: Value, desired: Value, options: &DiffOptions) -> Plan {
        diff(&dump(current), &dump(desired), options).unwrap()
    }

    #[test]
    fn groups_of_pools_out_of_scope_are_neither_created_nor_compared() {
        let with_groups = |name: &str| {
            let mut document = base();
            document["pools"]
                .as_array_mut()
                .unwrap()
                .push(json!({"id": "q", "name": "Other"}));
            document["groups"] = json!([
                {"id": "g1", "name": name, "user_pool_id": "p"},
                {"id": "g2", "name": "Elsewhere", "user_pool_id": "q"}
            ]);
            document
        };
        let mut current = with_groups("Staff");
        current["groups"].as_array_mut().unwrap().truncate(1);
        let scoped = DiffOptions {
            pools: vec!["p".into()],
            ..DiffOptions::default()
        };
        assert!(!plan(current.clone(), with_groups("Staff"), &scoped).has_changes());
        let changed = plan(current.clone(), with_groups("Team"), &scoped);
        let ids: Vec<&str> = changed
            .groups
            .changes
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["g1"],
            "the group of pool `p` changes, `q`'s is out of scope"
        );
        let unscoped = plan(current, with_groups("Staff"), &DiffOptions::default());
        let ids: Vec<&str> = unscoped
            .groups
            .changes
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["g2"], "without `--pool` the missing group is created");
    }

    #[test]
    fn identical_and_reordered_documents_have_no_changes() {
        let mut shuffled = base();
        shuffled["users"].as_array_mut().unwrap().reverse();
        shuffled["user_identifiers"]
            .as_array_mut()
            .unwrap()
            .reverse();
        let result = plan(base(), shuffled, &DiffOptions::default());
        assert!(!result.has_changes());
        assert_eq!(
            result.summary,
            Summary {
                unchanged: 2,
                ..Summary::default()
            }
        );
    }

    #[test]
    fn server_managed_fields_and_sub_record_ids_may_be_left_out() {
        let desired = json!({
            "users": [
                {"id": "u1", "user_pool_id": "p", "status": "active",
                 "payload": {"name": "Ann"}, "metadata": {"last_sync": "2024-01-01"}},
                {"id": "u2", "user_pool_id": "p", "status": "active", "payload": null}
            ],
            "user_identifiers": [
                {"user_id": "u1", "type": "email", "identifier": "ann@x.io"},
                {"user_id": "u2", "type": "email", "identifier": "bo@x.io"}
            ],
            "user_credentials": [
                {"user_id": "u1", "type": "password",
                 "payload": {"hashed_password": {"value": "$2a$10$secretsecret"}}}
            ]
        });
        let result = plan(base(), desired, &DiffOptions::default());
        assert!(!result.has_changes(), "{result:#?}");
    }

    #[test]
    fn creates_updates_and_unmanaged_users_are_classified() {
        let mut desired = base();
        desired["users"][0]["payload"]["name"] = json!("Anne");
        desired["users"].as_array_mut().unwrap().remove(1);
        desired["users"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "u3", "user_pool_id": "p", "status": "new"}));
        desired["user_identifiers"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        let result = plan(base(), desired, &DiffOptions::default());
        assert_eq!(
            result.summary,
            Summary {
                create: 1,
                update: 1,
                unchanged: 0,
                unmanaged: 1,
                delete: 0
            }
        );
        let update = &result.changes[0];
        assert_eq!(
            (update.action, update.user_id.as_str()),
            (Action::Update, "u1")
        );
        assert_eq!(update.label.as_deref(), Some("ann@x.io"));
        assert_eq!(
            serde_json::to_value(&update.patch).unwrap(),
            json!([{"op": "replace", "path": "/payload/name", "value": "Anne"}])
        );
        assert_eq!(update.fields[0].before, Some(json!("Ann")));
        assert_eq!(result.changes[1].action, Action::Create);
        assert_eq!(result.unmanaged[0].user_id, "u2");
    }

    #[test]
    fn credential_payloads_are_compared_but_never_shown() {
        let mut desired = base();
        desired["user_credentials"][0]["payload"]["hashed_password"]["value"] =
            json!("$2a$10$othersecret");
        desired["users"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "u3", "user_pool_id": "p", "status": "active"}));
        desired["user_credentials"].as_array_mut().unwrap().push(json!(
            {"user_id": "u3", "type": "password", "payload": {"hashed_password": {"value": "$2a$10$newsecret"}}}
        ));
        let result = plan(base(), desired, &DiffOptions::default());
        assert_eq!(result.summary.update, 1);
        let shown = serde_json::to_string(&result).unwrap();
        for secret in ["secretsecret", "othersecret", "newsecret"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert_eq!(
            result.changes[0].fields[0].path,
            "/credentials/password/payload"
        );
        assert_eq!(result.changes[0].fields[0].after, Some(json!(SENSITIVE)));
    }

    #[test]
    fn ignore_paths_hide_differences_and_unmatched_ones_warn() {
        let mut desired = base();
        desired["users"][0]["metadata"]["last_sync"] = json!("2025-06-01");
        let options = DiffOptions {
            ignore: vec![
                IgnorePath::parse("/metadata/last_sync").unwrap(),
                IgnorePath::parse("/payload/nothing").unwrap(),
            ],
            ..DiffOptions::default()
        };
        let result = plan(base(), desired.clone(), &options);
        assert!(!result.has_changes());
        assert_eq!(
            result.warnings,
            vec!["ignore path `/payload/nothing` matched nothing in any user"]
        );
        assert!(plan(base(), desired, &DiffOptions::default()).has_changes());
    }

    #[test]
    fn pruning_turns_unmanaged_users_into_deletes_except_protected_ones() {
        let mut desired = base();
        desired["users"] = json!([]);
        desired["user_identifiers"] = json!([]);
        desired["user_credentials"] = json!([]);
        let options = DiffOptions {
            prune: true,
            protect: vec![glob::Pattern::new("bo@*").unwrap()],
            ..DiffOptions::default()
        };
        let result = plan(base(), desired.clone(), &options);
        assert_eq!((result.summary.delete, result.summary.unmanaged), (1, 1));
        assert_eq!(result.deletes[0].user_id, "u1");
        assert_eq!(result.unmanaged[0].user_id, "u2");
        assert!(result.has_changes());
        let without = plan(base(), desired, &DiffOptions::default());
        assert!(!without.has_changes() && without.deletes.is_empty());
    }

    #[test]
    fn pools_are_diffed_and_unknown_pools_are_errors() {
        let mut desired = base();
        desired["pools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "q", "name": "New"}));
        desired["users"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "u9", "user_pool_id": "q", "status": "active"}));
        let result = plan(base(), desired.clone(), &DiffOptions::default());
        assert_eq!((result.pools.create, result.pools.unchanged), (1, 1));
        assert_eq!(result.pools.changes[0].id, "q");

        desired["users"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "u8", "user_pool_id": "nowhere"}));
        let error = diff(&dump(base()), &dump(desired), &DiffOptions::default()).unwrap_err();
        assert_eq!(error.side, "desired");
        assert!(error.problems[0].message.contains("pool `nowhere`"));
    }

    #[test]
    fn pool_filter_limits_the_plan() {
        let mut desired = base();
        desired["pools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "q", "name": "Other"}));
        desired["users"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "u9", "user_pool_id": "q"}));
        let options = DiffOptions {
            pools: vec!["p".into()],
            ..DiffOptions::default()
        };
        let result = plan(base(), desired, &options);
        assert!(!result.has_changes());
    }

    #[test]
    fn orphans_make_the_diff_fail_with_every_problem() {
        let mut desired = base();
        desired["user_identifiers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"user_id": "x", "type": "email", "identifier": "x@x"}));
        desired["user_identifiers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"user_id": "y", "type": "email", "identifier": "y@x"}));
        let error = diff(&dump(base()), &dump(desired), &DiffOptions::default()).unwrap_err();
        assert_eq!(error.problems.len(), 2);
        assert_eq!(error.to_string(), "the desired document has 2 problems");
    }
}
