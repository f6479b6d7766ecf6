//! The conversion report: users read and converted by status, passwords carried and not
//! carried (by reason), values kept in metadata instead of where they belong (by field),
//! secrets left out, social-only users, records left out. Text for people, JSON for machines.
//!
//! It names records by file and line (or record) and source id, and shows values cut short;
//! it never holds a secret: password outcomes are counted by method or by the hash reader's
//! reason ([`crate::password::Uncarried`], which holds none of the hash), secret fields by name.

use crate::index::shorten;
use crate::migrate::CredentialPolicy;
use crate::render::{count_noun, thousands};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// How many records a tally names before it only counts.
pub const EXAMPLES: usize = 3;

/// What a conversion did, for `--json` and the text report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConvertReport {
    /// The report's format version.
    pub format_version: &'static str,
    /// The source platform (`auth0`, `keycloak`...).
    pub source: String,
    /// The input files, in order.
    pub files: Vec<String>,
    /// The `--passwords` file, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passwords_file: Option<String>,
    /// The pool users go into.
    pub pool: String,
    /// `--credentials`.
    pub credentials: CredentialPolicy,
    /// Users read and converted.
    pub users: UserCounts,
    /// What became of passwords.
    pub passwords: PasswordCounts,
    /// Values kept in metadata because they could not go where they belong, by field and why.
    pub kept_in_metadata: Vec<Tally>,
    /// Secret fields the source held, never carried, by field: how many users had each.
    pub secrets_left_out: BTreeMap<String, u64>,
    /// Records read but not converted, by reason (Keycloak service accounts).
    pub left_out: Vec<Tally>,
}

/// Users read and converted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserCounts {
    /// User records read (converted and left out).
    pub read: u64,
    /// Users written.
    pub converted: u64,
    /// Converted with status `active`.
    pub active: u64,
    /// Converted with status `inactive` (blocked, disabled or deleted in the source).
    pub inactive: u64,
    /// Converted without a password, with federated identities only (kept in metadata).
    pub social_only: u64,
    /// Converted with no identifier at all (nothing to sign in with).
    pub without_identifier: Tally,
}

/// What became of passwords.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PasswordCounts {
    /// Carried, by hash method.
    pub carried: BTreeMap<String, u64>,
    /// Not carried, by reason: these users must set a new password.
    pub not_carried: Vec<Tally>,
    /// Users the source has no password for (social-only users among them).
    pub none: u64,
    /// Left out by `--credentials drop`.
    pub dropped: u64,
}

/// A count of something found in several records, naming the first few.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// The field, or the reason.
    pub what: String,
    /// Why, when `what` is a field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// How many.
    pub count: u64,
    /// The first [`EXAMPLES`] records, such as ``users.json record 3 (id `auth0|abc`)``.
    pub first: Vec<String>,
}

impl Tally {
    /// Counts one more, remembering it while fewer than [`EXAMPLES`] are named.
    pub fn add(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.len() < EXAMPLES {
            self.first.push(example());
        }
    }
}

/// The tally of `what` (and `why`) in `tallies`, added at the end when new.
pub fn tally<'a>(tallies: &'a mut Vec<Tally>, what: &str, why: Option<&str>) -> &'a mut Tally {
    let position = tallies
        .iter()
        .position(|t| t.what == what && t.why.as_deref() == why);
    let position = position.unwrap_or_else(|| {
        tallies.push(Tally {
            what: what.to_string(),
            why: why.map(str::to_string),
            ..Tally::default()
        });
        tallies.len() - 1
    });
    &mut tallies[position]
}

impl ConvertReport {
    /// The report for people.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let files = self
            .files
            .iter()
            .map(|file| format!("`{file}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let users = &self.users;
        let converted = if users.read == users.converted {
            count_noun(users.converted as usize, "user", "users")
        } else {
            format!(
                "{} of {} read",
                thousands(users.converted as usize),
                count_noun(users.read as usize, "user", "users")
            )
        };
        writeln!(
            out,
            "Converted {converted} from {} {files} into pool `{}`: {} active, {} inactive",
            self.source,
            self.pool,
            thousands(users.active as usize),
            thousands(users.inactive as usize),
        )?;

        let passwords = &self.passwords;
        let carried: u64 = passwords.carried.values().sum();
        let methods = passwords
            .carried
            .iter()
            .map(|(method, count)| format!("{method} {}", thousands(*count as usize)))
            .collect::<Vec<_>>()
            .join(", ");
        let policy = match self.credentials {
            CredentialPolicy::Keep => "",
            CredentialPolicy::ForceReset => {
                ", all marked `must_be_reset` (`--credentials force-reset`)"
            }
            CredentialPolicy::Drop => "",
        };
        if carried > 0 {
            writeln!(
                out,
                "  passwords carried: {} ({methods}){policy}",
                thousands(carried as usize)
            )?;
        } else {
            writeln!(out, "  passwords carried: none")?;
        }
        if passwords.dropped > 0 {
            writeln!(
                out,
                "  passwords left out by `--credentials drop`: {}",
                thousands(passwords.dropped as usize)
            )?;
        }
        write_section(out, &passwords.not_carried, ("user", "users"), |users| {
            format!("passwords not carried: {users} must set a new password")
        })?;
        if passwords.none > 0 {
            let social = if users.social_only > 0 {
                format!(
                    " ({} social-only: federated identities only, kept in metadata)",
                    thousands(users.social_only as usize)
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "  no password in the source: {}{social}",
                count_noun(passwords.none as usize, "user", "users")
            )?;
        }
        if users.without_identifier.count > 0 {
            writeln!(
                out,
                "  no identifier to sign in with: {}",
                count_noun(users.without_identifier.count as usize, "user", "users")
            )?;
            write_examples(out, &users.without_identifier)?;
        }
        if !self.kept_in_metadata.is_empty() {
            writeln!(
                out,
                "  fields not converted (their values are kept in `metadata.{}`):",
                self.source
            )?;
            write_tallies(out, &self.kept_in_metadata, "user", "users")?;
        }
        if !self.secrets_left_out.is_empty() {
            let fields = self
                .secrets_left_out
                .iter()
                .map(|(field, count)| {
                    format!("`{}` ({})", shorten(field), thousands(*count as usize))
                })
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(out, "  secrets left out, never carried: {fields}")?;
        }
        write_section(out, &self.left_out, ("record", "records"), |records| {
            format!("left out: {records}")
        })?;
        Ok(())
    }
}

/// A heading with the tallies' total (`nouns` singular and plural), then the tallies; nothing
/// when there are none.
fn write_section(
    out: &mut dyn Write,
    tallies: &[Tally],
    nouns: (&str, &str),
    heading: impl FnOnce(String) -> String,
) -> io::Result<()> {
    if tallies.is_empty() {
        return Ok(());
    }
    let total: u64 = tallies.iter().map(|tally| tally.count).sum();
    writeln!(
        out,
        "  {}",
        heading(count_noun(total as usize, nouns.0, nouns.1))
    )?;
    write_tallies(out, tallies, nouns.0, nouns.1)
}

/// Each tally as `what: why: N users`, with its first records under it.
fn write_tallies(out: &mut dyn Write, tallies: &[Tally], one: &str, many: &str) -> io::Result<()> {
    for tally in tallies {
        let what = match &tally.why {
            Some(why) => format!("`{}`: {why}", tally.what),
            None => tally.what.clone(),
        };
        writeln!(
            out,
            "    {what}: {}",
            count_noun(tally.count as usize, one, many)
        )?;
        write_indented(out, tally, "      ")?;
    }
    Ok(())
}

fn write_examples(out: &mut dyn Write, tally: &Tally) -> io::Result<()> {
    write_indented(out, tally, "    ")
}

fn write_indented(out: &mut dyn Write, tally: &Tally, margin: &str) -> io::Result<()> {
    for example in &tally.first {
        writeln!(out, "{margin}{example}")?;
    }
    let rest = tally.count.saturating_sub(tally.first.len() as u64);
    if rest > 0 {
        writeln!(out, "{margin}... and {} more", thousands(rest as usize))?;
    }
    Ok(())
}
