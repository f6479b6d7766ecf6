//! The neutral user every source reads its format into, and the helpers sources share to take
//! fields out of a record.
//!
//! A [`SourceUser`] says what the source holds in the source's own terms (its id, e-mail
//! addresses and phone numbers with whether they were verified, a profile under OIDC claim names,
//! everything else as it was) and nothing about the target: ids, records and checks are the
//! converter's ([`super::converter`]). Nothing here reads a file.

use crate::model::Object;
use crate::password::PasswordInput;
use serde_json::Value;
use std::fmt;

/// Where a record is inside its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// A line (NDJSON and CSV files), 1-based.
    Line(u64),
    /// The record's place among the file's records (JSON arrays), 1-based.
    Record(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(line) => write!(formatter, "line {line}"),
            Position::Record(record) => write!(formatter, "record {record}"),
        }
    }
}

/// An e-mail address, phone number or user name, and where the source kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The value as the source holds it.
    pub value: String,
    /// Whether the source says it was verified (`None`: the source does not say).
    pub verified: Option<bool>,
    /// The source's field, for the report and for keeping the value in metadata when it is not
    /// a valid e-mail address or phone number.
    pub field: &'static str,
}

impl Contact {
    /// A value from `field`, its verification as given.
    pub fn new(field: &'static str, value: impl Into<String>, verified: Option<bool>) -> Contact {
        Contact {
            value: value.into(),
            verified,
            field,
        }
    }
}

/// A sign-in through another identity provider (Google, GitHub, a SAML connection...).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Federated {
    /// The provider, as the source names it (`google-oauth2`, `github`, `google.com`).
    pub provider: String,
    /// The user's id at the provider, when the source gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The source's connection or alias for the provider, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

/// A field whose value could not go where it belongs (an e-mail address that is not one, a
/// flag that is neither true nor false, a CSV row shorter than its header): the user is still
/// converted and the value is kept in metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Lost {
    /// The source's field.
    pub field: String,
    /// The value, kept in metadata (`null` when there was none, as for missing CSV cells).
    pub value: Value,
    /// Why it could not be used, such as `not an e-mail address`.
    pub why: String,
}

/// One user as a source reads it, before conversion.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceUser {
    /// The source's id of the user (never empty).
    pub id: String,
    /// Blocked, disabled, banned or deleted in the source.
    pub inactive: bool,
    /// E-mail addresses: each becomes an `email` identifier and verifiable address.
    pub emails: Vec<Contact>,
    /// Phone numbers: each becomes a `mobile` identifier and verifiable address.
    pub phones: Vec<Contact>,
    /// User names: each becomes a `uid` identifier.
    pub usernames: Vec<Contact>,
    /// Profile fields under OIDC claim names (`given_name`, `family_name`, `name`, `picture`,
    /// `locale`, ...): the user's `payload`.
    pub profile: Object,
    /// Fields that go straight into `metadata` by name (the generic CSV's `metadata.X`).
    pub metadata: Object,
    /// Everything else the source holds about the user, secrets taken out: kept in
    /// `metadata.<platform>` unless `--drop-extra`.
    pub extra: Object,
    /// Values that could not be used where they belong.
    pub lost: Vec<Lost>,
    /// Sign-ins through other identity providers.
    pub federated: Vec<Federated>,
    /// The source says the user signs in with a password (an Auth0 database connection, a
    /// Firebase `password` provider) even when it exported no hash.
    pub password_login: bool,
    /// The password hash, if the source has one (an empty hash is `None`).
    pub password: Option<PasswordInput>,
    /// Secret fields the source holds for this user besides its password (TOTP secrets,
    /// recovery codes, tokens): never carried, only counted by name.
    pub secrets: Vec<String>,
}

impl SourceUser {
    /// A user with this id and nothing else.
    pub fn new(id: impl Into<String>) -> SourceUser {
        SourceUser {
            id: id.into(),
            ..SourceUser::default()
        }
    }

    /// Counts a secret field as present and left out.
    pub fn secret(&mut self, field: impl Into<String>) {
        self.secrets.push(field.into());
    }

    /// Keeps a profile claim when the source has a value for it.
    pub fn claim(&mut self, claim: &str, value: Option<Value>) {
        if let Some(value) = value.filter(|value| !is_blank(value)) {
            self.profile.insert(claim.to_string(), value);
        }
    }

    /// The user with the fields not taken from its record added to its extra.
    pub fn with_rest(mut self, fields: Fields) -> SourceUser {
        let rest = fields.rest();
        self.extra.extend(rest);
        self
    }

    /// Sets the password from hash text; an empty hash is no password.
    pub fn hash_text(&mut self, text: Option<String>, hasher: Option<String>) {
        self.password =
            text.filter(|text| !text.trim().is_empty())
                .map(|text| PasswordInput::Text {
                    text,
                    hasher: hasher.filter(|hasher| !hasher.trim().is_empty()),
                });
    }
}

/// `null`, an empty or blank string, an empty array or object: no value.
pub fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// A source record's fields, taken out one by one; what is left at the end is the user's extra.
#[derive(Debug, Default)]
pub struct Fields {
    object: Object,
}

impl Fields {
    /// The record's fields.
    pub fn new(object: Object) -> Fields {
        Fields { object }
    }

    /// The value of `key`, removed; blank values are `None`.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.object.remove(key).filter(|value| !is_blank(value))
    }

    /// A text value (numbers are written as text); blank is `None`. Any other type is lost.
    pub fn text(&mut self, key: &str, user: &mut SourceUser) -> Option<String> {
        match self.take(key)? {
            Value::String(text) => Some(text),
            Value::Number(number) => Some(number.to_string()),
            other => {
                user.lost.push(Lost {
                    field: key.to_string(),
                    value: other,
                    why: "not text".into(),
                });
                None
            }
        }
    }

    /// A text value that is the record's id: numbers are written as text.
    pub fn id(&mut self, key: &str) -> Option<String> {
        match self.take(key)? {
            Value::String(text) => Some(text),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }

    /// A flag: JSON `true`/`false`, or text such as `true`, `false`, `t`, `f`, `1`, `0`, `yes`,
    /// `no` (any letter case). Anything else is lost.
    pub fn flag(&mut self, key: &str, user: &mut SourceUser) -> Option<bool> {
        let value = self.take(key)?;
        let flag = match &value {
            Value::Bool(flag) => Some(*flag),
            Value::String(text) => parse_flag(text),
            Value::Number(number) => match number.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            _ => None,
        };
        if flag.is_none() {
            user.lost.push(Lost {
                field: key.to_string(),
                value,
                why: "neither true nor false".into(),
            });
        }
        flag
    }

    /// Whether the record has a non-blank value for `key` (left in place).
    pub fn has(&self, key: &str) -> bool {
        self.object.get(key).is_some_and(|value| !is_blank(value))
    }

    /// Removes a secret field; counts it on `user` when it had a value.
    pub fn secret(&mut self, key: &str, user: &mut SourceUser) {
        if self.take(key).is_some() {
            user.secret(key);
        }
    }

    /// The fields not taken, blank ones dropped.
    pub fn rest(self) -> Object {
        self.object
            .into_iter()
            .filter(|(_, value)| !is_blank(value))
            .collect()
    }
}

/// `true`, `false`, `t`, `f`, `1`, `0`, `yes`, `no`, `y`, `n`, `on`, `off`, any letter case.
pub fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "f" | "0" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// A list of text values: a JSON array, or text with items separated by `|` (Clerk's CSV) or
/// `,`. Blank items are dropped.
pub fn text_list(value: Option<Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(text) => Some(text),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
            .filter(|text| !text.trim().is_empty())
            .collect(),
        Some(Value::String(text)) => text
            .split(['|', ','])
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The objects of an array (other items are ignored); nothing for any other value.
pub fn objects(value: Option<Value>) -> Vec<Object> {
    match value {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Object(object) => Some(object),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// JSON written inside a string (Supabase's `raw_app_meta_data`, Keycloak's `secretData`,
/// Cognito's `identities`), also with the quotes backslashed as some CSV exports write them;
/// `None` when the text is no JSON object or array.
pub fn json_in_string(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str(trimmed).ok().or_else(|| {
        let unescaped = trimmed.replace("\\\"", "\"").replace("\\\\", "\\");
        serde_json::from_str(&unescaped).ok()
    })
}

/// A value that may be JSON inside a string: the parsed JSON when it is, else the value.
pub fn unwrap_json(value: Value) -> Value {
    match &value {
        Value::String(text) => json_in_string(text).unwrap_or(value),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_inside_strings_is_read_also_with_backslashed_quotes() {
        assert_eq!(
            json_in_string(r#"{"provider":"email"}"#),
            Some(json!({"provider": "email"}))
        );
        assert_eq!(
            json_in_string(r#"{\"provider\":\"email\",\"providers\":[\"email\"]}"#),
            Some(json!({"provider": "email", "providers": ["email"]}))
        );
        assert_eq!(json_in_string("plain text"), None);
        assert_eq!(json_in_string("{not json"), None);
    }

    #[test]
    fn flags_accept_the_usual_spellings_and_lose_the_rest() {
        let mut user = SourceUser::new("u");
        let mut fields = Fields::new(
            json!({"a": true, "b": "t", "c": "No", "d": 1, "e": "maybe"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(fields.flag("a", &mut user), Some(true));
        assert_eq!(fields.flag("b", &mut user), Some(true));
        assert_eq!(fields.flag("c", &mut user), Some(false));
        assert_eq!(fields.flag("d", &mut user), Some(true));
        assert_eq!(fields.flag("e", &mut user), None);
        assert_eq!(fields.flag("missing", &mut user), None);
        assert_eq!(user.lost.len(), 1);
        assert_eq!(user.lost[0].field, "e");
    }

    #[test]
    fn lists_come_as_arrays_or_separated_text() {
        assert_eq!(
            text_list(Some(json!("a@x.io|b@x.io"))),
            vec!["a@x.io", "b@x.io"]
        );
        assert_eq!(text_list(Some(json!(["a", "", "b"]))), vec!["a", "b"]);
        assert!(text_list(Some(Value::Null)).is_empty());
    }

    #[test]
    fn empty_hashes_are_no_password() {
        let mut user = SourceUser::new("u");
        user.hash_text(Some("  ".into()), Some("bcrypt".into()));
        assert_eq!(user.password, None);
    }
}
