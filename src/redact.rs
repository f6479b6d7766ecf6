//! Masks e-mail addresses and phone numbers in a plan or an apply report before it is shown
//! (`--redact-pii`), so that plans can go to public CI logs and pull-request comments.
//!
//! A mask is a stable pseudonym: `<email:3f9a1c2b7d0e>` or `<phone:8c2d41f07a9b>`, the first 12
//! hex digits of the SHA-256 of the lower-cased value. The same address reads the same in every
//! run and in every place (label, field path, value), whatever its letter case, so reviewers can
//! still follow one user through a plan; two different addresses get different masks (a clash
//! of the 12 digits, about one in 10^7 for a million users, lengthens the later mask). It is
//! pseudonymization, not encryption: whoever already knows an address can check whether it is
//! in the plan.
//!
//! What is masked: e-mail addresses anywhere in a string, E.164 numbers (`+` and 2 to 15
//! digits) when they are a whole value or a natural key, and within other text when they have
//! at least 7 digits (so `+10` in a note stays). Names and other profile fields are not touched.
//! Pure: no I/O; the plan given is left as it is.

use crate::plan::{FieldChange, Plan, RecordChange, UserChange, UserRef};
use crate::report::ApplyReport;
use crate::validate::{is_e164, is_email};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Hex digits of the hash shown in a mask.
const MASK_DIGITS: usize = 12;

/// Within free text, a `+` number needs this many digits to be taken for a phone number.
const MIN_PHONE_DIGITS_IN_TEXT: usize = 7;

/// Added to a changed value whose change only the mask hides (`Alice@…` → `alice@…`).
const CASE_CHANGED: &str = " (letter case changed)";

/// Masks personal data consistently: one instance gives one value one mask, and two values two.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Every mask given so far and the canonical value it stands for, to catch clashes.
    masks: HashMap<String, String>,
    /// Canonical value to mask, so a value keeps the mask it first got.
    given: HashMap<String, String>,
}

#[derive(Clone, Copy)]
enum Kind {
    Email,
    Phone,
    /// Any other sign-in identifier (a username): masked whole.
    Identifier,
}

impl Redactor {
    /// A redactor with no masks given yet.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    fn mask(&mut self, kind: Kind, value: &str) -> String {
        let canonical = match kind {
            Kind::Email => format!("email:{}", value.to_lowercase()),
            Kind::Phone => format!("phone:{value}"),
            Kind::Identifier => format!("identifier:{}", value.to_lowercase()),
        };
        if let Some(mask) = self.given.get(&canonical) {
            return mask.clone();
        }
        let name = match kind {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Identifier => "identifier",
        };
        let digest = hex::encode(Sha256::digest(&canonical.as_bytes()[name.len() + 1..]));
        let mut length = MASK_DIGITS;
        let mask = loop {
            let mask = format!("<{name}:{}>", &digest[..length]);
            match self.masks.get(&mask) {
                Some(other) if *other != canonical && length < digest.len() => length += 4,
                _ => break mask,
            }
        };
        self.masks.insert(mask.clone(), canonical.clone());
        self.given.insert(canonical, mask.clone());
        mask
    }

    /// `text` with every e-mail address and phone number masked.
    pub fn text(&mut self, text: &str) -> String {
        if is_e164(text) {
            return self.mask(Kind::Phone, text);
        }
        let spans = find_spans(text);
        if spans.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut position = 0;
        for (start, end, kind) in spans {
            out.push_str(&text[position..start]);
            let mask = self.mask(kind, &text[start..end]);
            out.push_str(&mask);
            position = end;
        }
        out.push_str(&text[position..]);
        out
    }

    /// A sign-in identifier, masked whole whatever it is: an e-mail address or phone number as
    /// [`Redactor::text`] masks it, anything else (a username) as `<identifier:…>`.
    pub fn identifier(&mut self, identifier: &str) -> String {
        if is_email(identifier) {
            self.mask(Kind::Email, identifier)
        } else if is_e164(identifier) {
            self.mask(Kind::Phone, identifier)
        } else {
            self.mask(Kind::Identifier, identifier)
        }
    }

    /// A natural key such as `email:alice@example.com` or `mobile:+14155550100`: the part after
    /// the first `:` is masked as a whole value.
    fn key(&mut self, key: &str) -> String {
        match key.split_once(':') {
            Some((kind, value)) => format!("{kind}:{}", self.text(value)),
            None => self.text(key),
        }
    }

    /// A JSON pointer, segment by segment.
    pub fn pointer(&mut self, pointer: &str) -> String {
        pointer
            .split('/')
            .map(|segment| self.key(segment))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A JSON value: strings masked, and object keys as natural keys.
    pub fn value(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.text(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(key, value)| (self.key(key), self.value(value)))
                    .collect::<Map<_, _>>(),
            ),
            other => other.clone(),
        }
    }

    fn optional_text(&mut self, text: &Option<String>) -> Option<String> {
        text.as_deref().map(|text| self.text(text))
    }

    fn field(&mut self, field: &FieldChange) -> FieldChange {
        let before = field.before.as_ref().map(|v| self.value(v));
        let mut after = field.after.as_ref().map(|v| self.value(v));
        // Masks ignore letter case, so a change of case alone would read as no change at all.
        if before.is_some() && before == after && field.before != field.after {
            if let Some(Value::String(text)) = &mut after {
                text.push_str(CASE_CHANGED);
            }
        }
        FieldChange {
            path: self.pointer(&field.path),
            before,
            after,
        }
    }

    fn fields(&mut self, fields: &[FieldChange]) -> Vec<FieldChange> {
        fields.iter().map(|field| self.field(field)).collect()
    }

    fn patch(&mut self, patch: &json_patch::Patch) -> json_patch::Patch {
        // A patch is redacted as JSON: every operation's `path` and `from` are pointers, and
        // its `value` is a value like any other.
        let Ok(Value::Array(operations)) = serde_json::to_value(patch) else {
            return json_patch::Patch(Vec::new());
        };
        let operations: Vec<Value> = operations
            .into_iter()
            .map(|operation| match operation {
                Value::Object(object) => Value::Object(
                    object
                        .into_iter()
                        .map(|(name, value)| {
                            let value = match (name.as_str(), &value) {
                                ("path" | "from", Value::String(pointer)) => {
                                    Value::String(self.pointer(pointer))
                                }
                                ("value", value) => self.value(value),
                                _ => value,
                            };
                            (name, value)
                        })
                        .collect(),
                ),
                other => other,
            })
            .collect();
        serde_json::from_value(Value::Array(operations)).unwrap_or(json_patch::Patch(Vec::new()))
    }

    fn user_ref(&mut self, user: &UserRef) -> UserRef {
        UserRef {
            pool_id: self.text(&user.pool_id),
            user_id: self.text(&user.user_id),
            label: self.optional_text(&user.label),
        }
    }

    fn user_change(&mut self, change: &UserChange) -> UserChange {
        UserChange {
            action: change.action,
            pool_id: self.text(&change.pool_id),
            user_id: self.text(&change.user_id),
            label: self.optional_text(&change.label),
            patch: self.patch(&change.patch),
            fields: self.fields(&change.fields),
            current_sha256: change.current_sha256.clone(),
        }
    }

    fn record_change(&mut self, change: &RecordChange) -> RecordChange {
        RecordChange {
            action: change.action,
            id: self.text(&change.id),
            name: self.optional_text(&change.name),
            patch: self.patch(&change.patch),
            fields: self.fields(&change.fields),
        }
    }

    /// The plan with personal data masked; counts, actions and order are unchanged.
    pub fn plan(&mut self, plan: &Plan) -> Plan {
        let mut redacted = plan.clone();
        for (into, from) in [
            (&mut redacted.pools, &plan.pools),
            (&mut redacted.groups, &plan.groups),
        ] {
            into.changes = from.changes.iter().map(|c| self.record_change(c)).collect();
        }
        redacted.changes = plan.changes.iter().map(|c| self.user_change(c)).collect();
        redacted.unmanaged = plan.unmanaged.iter().map(|u| self.user_ref(u)).collect();
        redacted.deletes = plan.deletes.iter().map(|u| self.user_ref(u)).collect();
        redacted.warnings = plan.warnings.iter().map(|w| self.text(w)).collect();
        redacted
    }

    /// The apply report with personal data masked in labels, reasons and errors.
    pub fn apply_report(&mut self, report: &ApplyReport) -> ApplyReport {
        let mut redacted = report.clone();
        for user in &mut redacted.not_converged {
            user.pool_id = self.text(&user.pool_id);
            user.user_id = self.text(&user.user_id);
            user.label = self.optional_text(&user.label);
            user.reason = self.text(&user.reason);
        }
        redacted.verification_error = self.optional_text(&report.verification_error);
        for batch in &mut redacted.batches {
            batch.error = self.optional_text(&batch.error);
        }
        redacted
    }
}

/// The plan with e-mail addresses and phone numbers masked (see the module docs).
pub fn redact_plan(plan: &Plan) -> Plan {
    Redactor::new().plan(plan)
}

fn is_local_part_char(c: char) -> bool {
    c.is_alphanumeric() || ".!#$%*+=?^_~-".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

/// Byte ranges of the e-mail addresses and phone numbers in `text`, in order, not overlapping.
fn find_spans(text: &str) -> Vec<(usize, usize, Kind)> {
    let mut spans = Vec::new();
    let mut covered = 0;
    for (at, c) in text.char_indices() {
        if at < covered {
            continue;
        }
        if c == '@' {
            let start = text[..at]
                .char_indices()
                .rev()
                .take_while(|&(_, c)| is_local_part_char(c))
                .last()
                .map_or(at, |(index, _)| index);
            let start =
                start + text[start..at].len() - text[start..at].trim_start_matches('.').len();
            let domain_end = text[at + 1..]
                .char_indices()
                .find(|&(_, c)| !is_domain_char(c))
                .map_or(text.len(), |(index, _)| at + 1 + index);
            let end = at + 1 + text[at + 1..domain_end].trim_end_matches(['.', '-']).len();
            if start >= covered && is_email(&text[start..end]) {
                spans.push((start, end, Kind::Email));
                covered = end;
            }
        } else if c == '+' {
            let after_letter = text[..at]
                .chars()
                .next_back()
                .is_some_and(|previous| previous.is_alphanumeric());
            let digits = text[at + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let end = at + 1 + digits;
            // `+1415…@example.com` or `+1415….alias@example.com` is the start of an address.
            let followed_by_address = text[end..]
                .trim_start_matches(is_local_part_char)
                .starts_with('@');
            if !after_letter
                && digits >= MIN_PHONE_DIGITS_IN_TEXT
                && is_e164(&text[at..end])
                && !followed_by_address
            {
                spans.push((at, end, Kind::Phone));
                covered = end;
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, FORMAT_VERSION, RecordChanges, Summary};
    use serde_json::json;

    fn masked(text: &str) -> String {
        Redactor::new().text(text)
    }

    #[test]
    fn identifiers_are_masked_whole_whatever_they_are() {
        let mut redactor = Redactor::new();
        assert_eq!(
            redactor.identifier("Alice@Example.com"),
            masked("alice@example.com")
        );
        assert_eq!(redactor.identifier("+14155550101"), masked("+14155550101"));
        let username = redactor.identifier("alice");
        assert!(username.starts_with("<identifier:"), "{username}");
        assert_eq!(redactor.identifier("ALICE"), username);
        assert_ne!(redactor.identifier("bob"), username);
    }

    #[test]
    fn an_address_is_masked_whatever_its_case_and_the_mask_is_stable() {
        let mask = masked("alice@example.com");
        assert!(mask.starts_with("<email:"), "{mask}");
        assert_eq!(mask.len(), "<email:>".len() + MASK_DIGITS);
        assert_eq!(masked("Alice@Example.COM"), mask);
        // The documented rule: SHA-256 of the lower-cased value, first 12 hex digits.
        let digest = hex::encode(Sha256::digest(b"alice@example.com"));
        assert_eq!(mask, format!("<email:{}>", &digest[..12]));
        assert_ne!(masked("bob@example.com"), mask);
    }

    #[test]
    fn addresses_and_numbers_inside_text_are_masked_and_the_rest_kept() {
        let text = "identifier `alice@example.com` is held by user 7 (+14155550100), score +10";
        let out = masked(text);
        assert!(!out.contains('@'), "{out}");
        assert!(!out.contains("4155550100"), "{out}");
        assert!(out.starts_with("identifier `<email:"), "{out}");
        assert!(out.contains("` is held by user 7 (<phone:"), "{out}");
        assert!(out.ends_with("), score +10"), "{out}");
        // A short number is masked when it is the whole value.
        assert!(masked("+4512").starts_with("<phone:"));
        // An address with a plus in its local part is one address, not a number and a rest.
        let tagged = masked("+14155550100.alias@example.com");
        assert!(
            tagged.starts_with("<email:") && tagged.ends_with('>'),
            "{tagged}"
        );
        for untouched in [
            "no address here",
            "a@b",
            "@example.com",
            "C++17",
            "100 + 200",
        ] {
            assert_eq!(masked(untouched), untouched);
        }
    }

    #[test]
    fn natural_keys_in_pointers_get_the_same_mask_as_the_values() {
        let mut redactor = Redactor::new();
        let label = redactor.text("Chloe.Martin@example.fr");
        let path = redactor.pointer("/identifiers/email:chloe.martin@example.fr/identifier");
        assert_eq!(path, format!("/identifiers/email:{label}/identifier"));
        let phone = redactor.pointer("/identifiers/mobile:+4512/id");
        assert!(phone.starts_with("/identifiers/mobile:<phone:"), "{phone}");
        assert_eq!(
            redactor.pointer("/payload/given_name"),
            "/payload/given_name"
        );
    }

    #[test]
    fn clashing_masks_are_lengthened_so_two_values_never_share_one() {
        let mut redactor = Redactor::new();
        let first = redactor.text("alice@example.com");
        // Pretend another value already holds the short mask.
        redactor
            .masks
            .insert(first.clone(), "email:someone@else.example".into());
        redactor.given.clear();
        let second = redactor.text("alice@example.com");
        assert_ne!(first, second);
        assert!(second.starts_with(&first[..first.len() - 1]), "{second}");
    }

    fn plan_with(change: UserChange) -> Plan {
        Plan {
            format_version: FORMAT_VERSION.into(),
            summary: Summary::default(),
            pools: RecordChanges::default(),
            groups: RecordChanges::default(),
            changes: vec![change],
            unmanaged: vec![UserRef {
                pool_id: "customers".into(),
                user_id: "u2".into(),
                label: Some("+4915112345678".into()),
            }],
            prune: false,
            deletes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_plan_keeps_its_shape_and_loses_every_address() {
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "add", "path": "/identifiers/email:new@example.com",
             "value": {"identifier": "New@example.com"}},
            {"op": "replace", "path": "/identifiers/email:old@example.com/identifier",
             "value": "OLD@example.com"}
        ]))
        .unwrap();
        let plan = plan_with(UserChange {
            action: Action::Update,
            pool_id: "customers".into(),
            user_id: "u1".into(),
            label: Some("Old@example.com".into()),
            patch,
            fields: vec![
                FieldChange {
                    path: "/identifiers/email:old@example.com/identifier".into(),
                    before: Some(json!("old@example.com")),
                    after: Some(json!("OLD@example.com")),
                },
                FieldChange {
                    path: "/payload/given_name".into(),
                    before: Some(json!("Old")),
                    after: Some(json!("New")),
                },
            ],
            current_sha256: Some("abc".into()),
        });
        let redacted = redact_plan(&plan);
        let text = serde_json::to_string(&redacted).unwrap();
        assert!(!text.contains('@'), "{text}");
        assert!(!text.contains("4915112345678"), "{text}");
        let change = &redacted.changes[0];
        assert_eq!(change.patch.0.len(), 2);
        assert_eq!(change.current_sha256.as_deref(), Some("abc"));
        let mask = change.label.clone().unwrap();
        assert_eq!(
            change.fields[0].path,
            format!("/identifiers/email:{mask}/identifier")
        );
        // A change of letter case alone still reads as a change.
        assert_eq!(change.fields[0].before, Some(json!(mask)));
        assert_eq!(
            change.fields[0].after,
            Some(json!(format!("{mask}{CASE_CHANGED}")))
        );
        assert_eq!(change.fields[1], plan.changes[0].fields[1]);
        assert_eq!(redacted.unmanaged.len(), 1);
        assert_eq!(redact_plan(&plan), redacted, "stable across runs");
    }
}
