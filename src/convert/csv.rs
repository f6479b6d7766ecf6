//! A generic CSV with a header row, for platforms without a source of their own.
//!
//! Understood columns: `id` (required), `email`, `email_verified`, `phone`, `phone_verified`,
//! `username`, `password_hash` (any hash text the hash reader knows; an optional
//! `password_hasher` names the algorithm, as Clerk's does, for bare digests), `given_name`,
//! `family_name`, `status` (`active`, or `inactive`, `disabled`, `blocked`...). A `payload.X`
//! column goes to the payload as claim `X`, a `metadata.X` column to `metadata` as `X` (cells
//! holding a JSON object or array are read as JSON); any other column is kept in
//! `metadata.csv`. Lines starting with `#` are comments.

use super::user::{Contact, Lost, json_in_string};
use super::{Collect, Layout, Position, Records, begin};
use crate::model::Object;
use serde_json::Value;

/// The generic CSV.
pub(super) const CSV: Records = Records {
    name: "csv",
    expects: "a CSV with a header row naming `id` and columns such as `email`, `phone`, `password_hash`",
    layout: Layout::Csv,
    containers: &[],
    read_user,
};

fn cell(value: Value) -> Value {
    match &value {
        Value::String(text) => json_in_string(text).unwrap_or(value),
        _ => value,
    }
}

fn read_user(cells: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let Some((mut fields, mut user)) = begin(cells, lost, "id", out, position) else {
        return;
    };
    let email_verified = fields.flag("email_verified", &mut user);
    if let Some(email) = fields.text("email", &mut user) {
        user.emails
            .push(Contact::new("email", email, email_verified));
    }
    let phone_verified = fields.flag("phone_verified", &mut user);
    if let Some(phone) = fields.text("phone", &mut user) {
        user.phones
            .push(Contact::new("phone", phone, phone_verified));
    }
    if let Some(username) = fields.text("username", &mut user) {
        user.usernames
            .push(Contact::new("username", username, None));
    }
    let hash = fields.text("password_hash", &mut user);
    let hasher = fields.text("password_hasher", &mut user);
    user.hash_text(hash, hasher);
    user.password_login = user.password.is_some();
    for claim in ["given_name", "family_name"] {
        let value = fields.take(claim);
        user.claim(claim, value);
    }
    if let Some(status) = fields.text("status", &mut user) {
        match status.trim().to_ascii_lowercase().as_str() {
            "active" | "enabled" | "confirmed" => {}
            "inactive" | "disabled" | "blocked" | "suspended" | "banned" | "locked" | "deleted" => {
                user.inactive = true
            }
            _ => user.lost.push(Lost {
                field: "status".into(),
                value: Value::String(status),
                why: "not a status poolsync knows (`active`, `inactive`, `disabled`, `blocked`)"
                    .into(),
            }),
        }
    }
    for (name, value) in fields.rest() {
        if let Some(claim) = name.strip_prefix("payload.") {
            user.profile.insert(claim.to_string(), cell(value));
        } else if let Some(key) = name.strip_prefix("metadata.") {
            user.metadata.insert(key.to_string(), cell(value));
        } else {
            user.extra.insert(name, value);
        }
    }
    out.user(position, user);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::testing::read;
    use serde_json::json;

    #[test]
    fn understood_columns_payload_and_metadata() {
        let collected = read(
            &CSV,
            "id,email,email_verified,phone,status,payload.locale,metadata.crm,metadata.tags,plan\n\
             u1,ann@example.com,yes,+4520123456,blocked,da-DK,CRM-1,\"[\"\"a\"\",\"\"b\"\"]\",pro\n\
             u2,bob@example.com,maybe,,archived\n",
        );
        let [ann, bob] = &collected.users[..] else {
            panic!("{collected:?}")
        };
        assert_eq!(ann.emails[0].verified, Some(true));
        assert!(ann.inactive);
        assert_eq!(ann.profile["locale"], "da-DK");
        assert_eq!(
            Value::Object(ann.metadata.clone()),
            json!({"crm": "CRM-1", "tags": ["a", "b"]})
        );
        assert_eq!(ann.extra["plan"], "pro");
        let lost: Vec<_> = bob.lost.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(
            lost,
            [
                "payload.locale, metadata.crm, metadata.tags and 1 more",
                "email_verified",
                "status"
            ]
        );
    }

    #[test]
    fn a_header_without_id_is_a_problem() {
        let collected = read(&CSV, "email\nann@example.com\n");
        assert_eq!(
            collected.notes,
            ["line 1: ``: the header has no `id` column"]
        );
    }
}
