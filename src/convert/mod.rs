//! `poolsync convert`: users of another identity platform → a desired `TenantDump`.
//!
//! ```text
//! files ─source─> SourceUser ─converter─> records ─spool─> desired file
//!  (one module per platform,   (ids, identifiers, addresses,    (four arrays,
//!   read as a stream)           password through the hash reader) never held whole)
//! ```
//!
//! A [`Source`] reads one platform's export from any `BufRead` into neutral [`SourceUser`]s,
//! one at a time; [`converter::convert_user`] turns each into records; [`convert`] runs both,
//! checks what needs more than one user (two users with one identifier, a `--passwords` line
//! for no user) with compact keys (128-bit hashes, not records), counts everything for the
//! [`ConvertReport`], and hands the records to a sink (the command's [`spool::Spool`]).
//!
//! The sources are listed in [`SOURCES`], the one place a new platform is added besides its own
//! module: most are a `Records` value (a name, a layout, and a function from one record's fields
//! to a `SourceUser`); Auth0, with its password file, implements [`Source`] itself. Nothing here
//! opens a file: the command does, and passes readers and spools.
//!
//! What stops a conversion (every case is listed and nothing is written): input that is not
//! the format at all, malformed JSON, a record without an id, two users with one id or one
//! identifier, a `--passwords` line for no user. What only loses a field (the user is converted,
//! the value kept in metadata, the report counts it; `--strict` makes it an error): an e-mail
//! address or phone number that is not one, a flag that is neither true nor false, a CSV row
//! shorter than its header. A password the service cannot verify is never carried: the user is
//! converted without one and the report says why (`--strict`: an error).

pub mod converter;
pub mod json;
pub mod report;
pub mod spool;
pub mod table;
pub mod user;

mod auth0;
mod clerk;
mod cognito;
mod csv;
mod firebase;
mod keycloak;
mod kratos;
mod supabase;

pub use converter::{Converted, PasswordOutcome, USER_ID_NAMESPACE, user_id};
pub use report::ConvertReport;
pub use user::{Contact, Federated, Lost, Position, SourceUser};

use crate::index::{Problem, shorten};
use crate::migrate::CredentialPolicy;
use crate::model::Object;
use crate::password::PasswordInput;
use converter::Context;
use report::tally;
use rustc_hash::FxHashMap;
use std::io::{self, BufRead};

/// Every source platform, in the order `--help` lists them.
pub const SOURCES: &[&dyn Source] = &[
    &auth0::Auth0,
    &keycloak::KEYCLOAK,
    &firebase::FIREBASE,
    &supabase::SUPABASE,
    &kratos::KRATOS,
    &clerk::CLERK,
    &cognito::COGNITO,
    &csv::CSV,
];

/// How a source's files are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// JSON records: an array, NDJSON, or records under a wrapping object's key.
    Json,
    /// JSON records, or CSV rows when a file does not start like JSON.
    JsonOrCsv,
    /// CSV rows under a header naming `id`.
    Csv,
}

/// A source whose files are records, each read into a user by one function: what every
/// platform is, besides Auth0's password file.
pub(crate) struct Records {
    /// See [`Source::name`].
    pub(crate) name: &'static str,
    /// See [`Source::expects`].
    pub(crate) expects: &'static str,
    /// How its files are laid out.
    pub(crate) layout: Layout,
    /// The keys under which a wrapping JSON object holds the records (`users`).
    pub(crate) containers: &'static [&'static str],
    /// Reads one record (with what its CSV row lost) into a user, or says what is wrong.
    pub(crate) read_user: fn(Object, Vec<Lost>, &mut dyn Collect, Position),
}

impl Source for Records {
    fn name(&self) -> &'static str {
        self.name
    }

    fn expects(&self) -> &'static str {
        self.expects
    }

    fn read(&self, input: &mut dyn BufRead, out: &mut dyn Collect) -> io::Result<()> {
        let read_user = self.read_user;
        // `read_user` is a plain function; each layout hands it records its own way.
        match self.layout {
            Layout::Json => {
                read_json_users(input, self.containers, out, &mut |object, out, position| {
                    read_user(object, Vec::new(), out, position)
                })
            }
            Layout::JsonOrCsv => read_json_or_csv(input, out, self.containers, &mut { read_user }),
            Layout::Csv => read_csv_users(input, out, &mut |row, out| {
                read_user(row.cells, row.lost, out, Position::Line(row.line))
            }),
        }
    }
}

/// The source of that name.
pub fn source_named(name: &str) -> Option<&'static dyn Source> {
    SOURCES.iter().copied().find(|source| source.name() == name)
}

/// A platform's export format.
pub trait Source: Sync {
    /// The name on the command line and in `metadata.source.platform` (`auth0`).
    fn name(&self) -> &'static str;
    /// What FILE is, for help and hints (`an Auth0 user export: a JSON array or NDJSON`).
    fn expects(&self) -> &'static str;
    /// Reads one file's users, handing each to `out` as soon as it is read.
    fn read(&self, input: &mut dyn BufRead, out: &mut dyn Collect) -> io::Result<()>;
    /// Reads a `--passwords` file into `out`; `None` when the platform has no such file.
    fn read_passwords(
        &self,
        input: &mut dyn BufRead,
        out: &mut dyn CollectPasswords,
    ) -> Option<io::Result<()>> {
        let _ = (input, out);
        None
    }
    /// The key that joins a user to its `--passwords` line.
    fn password_key<'a>(&self, source_id: &'a str) -> &'a str {
        source_id
    }
}

/// Where a source hands what it reads.
pub trait Collect {
    /// A user.
    fn user(&mut self, position: Position, user: SourceUser);
    /// A record that is read but deliberately not converted (a Keycloak service account).
    fn left_out(&mut self, position: Position, id: &str, reason: &'static str);
    /// Something that stops the conversion.
    fn problem(
        &mut self,
        position: Position,
        id: Option<&str>,
        field: Option<&str>,
        message: String,
    );
}

/// Where a source hands the lines of a `--passwords` file.
pub trait CollectPasswords {
    /// The hash of the user with this join key (`None`: the line has an empty hash).
    fn password(&mut self, position: Position, key: &str, hash: Option<String>);
    /// Something that stops the conversion.
    fn problem(&mut self, position: Position, field: Option<&str>, message: String);
}

/// An input file: its name (for messages and the report) and its content.
pub struct Input<'a> {
    /// The file's name as given.
    pub name: String,
    /// Its content.
    pub reader: Box<dyn BufRead + 'a>,
}

/// Settings of a conversion.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// The pool every user goes into.
    pub pool: String,
    /// What happens to passwords.
    pub credentials: CredentialPolicy,
    /// Values that cannot go where they belong, and passwords that cannot be carried, are
    /// errors instead of report lines.
    pub strict: bool,
    /// Leave the source's other fields out of `metadata`.
    pub drop_extra: bool,
}

/// The longest line of an NDJSON or CSV file: no export has one near it, and a file that does
/// (`/dev/zero`, a corrupt copy) is refused there instead of filling memory.
pub const MAX_LINE_BYTES: u64 = 256 << 20;

/// How many problems a failed conversion keeps; the rest are only counted (the same cap as
/// every other command's).
pub use crate::index::MAX_KEPT_PROBLEMS as KEPT_PROBLEMS;

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A file could not be read.
    #[error("cannot read `{file}`")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The converted users could not be written.
    #[error("cannot write the converted users")]
    Write {
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `--passwords` for a platform that has no password file.
    #[error(
        "`--passwords` is for `auth0` only: `{source_name}` exports keep their hashes in the user file"
    )]
    NoPasswordFile {
        /// The source's name.
        source_name: &'static str,
    },
    /// The input has problems that stop the conversion.
    #[error("cannot convert {files}: {}", crate::render::count_noun(*total, "problem", "problems"))]
    Problems {
        /// The files, for the message.
        files: String,
        /// The first [`KEPT_PROBLEMS`] problems, in the order found.
        problems: Vec<Problem>,
        /// How many problems there are in all.
        total: usize,
    },
}

/// Converts `inputs` (and Auth0's `--passwords` file), handing every converted user to `sink`
/// while no problem has been found. Returns the report, or every problem found; when it
/// returns an error, whatever the sink received must be thrown away.
pub fn convert(
    source: &dyn Source,
    inputs: Vec<Input<'_>>,
    passwords: Option<Input<'_>>,
    options: &ConvertOptions,
    sink: &mut dyn FnMut(&Converted) -> io::Result<()>,
) -> Result<ConvertReport, ConvertError> {
    let files: Vec<String> = inputs.iter().map(|input| input.name.clone()).collect();
    let mut pipeline = Pipeline {
        source,
        context: Context {
            platform: source.name(),
            pool: &options.pool,
            credentials: options.credentials,
            drop_extra: options.drop_extra,
        },
        strict: options.strict,
        file_names: files.clone(),
        file: 0,
        users_by_id: FxHashMap::default(),
        claims: FxHashMap::default(),
        origins: Vec::new(),
        passwords: None,
        report: ConvertReport {
            format_version: "1",
            source: source.name().to_string(),
            files: files.clone(),
            passwords_file: passwords.as_ref().map(|input| input.name.clone()),
            pool: options.pool.clone(),
            credentials: options.credentials,
            users: report::UserCounts {
                without_identifier: report::Tally {
                    what: "no identifier to sign in with".into(),
                    ..report::Tally::default()
                },
                ..report::UserCounts::default()
            },
            ..ConvertReport::default()
        },
        problems: Vec::new(),
        total_problems: 0,
        sink,
        write_error: None,
    };

    if let Some(mut input) = passwords {
        let mut join = PasswordJoin {
            file: input.name.clone(),
            by_key: FxHashMap::default(),
            entries: Vec::new(),
            problems: Vec::new(),
            more_problems: 0,
        };
        match source.read_passwords(&mut input.reader, &mut join) {
            None => {
                return Err(ConvertError::NoPasswordFile {
                    source_name: source.name(),
                });
            }
            Some(result) => result.map_err(|source| ConvertError::Read {
                file: input.name.clone(),
                source,
            })?,
        }
        for problem in std::mem::take(&mut join.problems) {
            pipeline.push_problem(problem);
        }
        pipeline.total_problems += std::mem::take(&mut join.more_problems);
        pipeline.passwords = Some(join);
    }

    for (index, mut input) in inputs.into_iter().enumerate() {
        pipeline.file = index;
        source
            .read(&mut input.reader, &mut pipeline)
            .map_err(|source| ConvertError::Read {
                file: input.name.clone(),
                source,
            })?;
    }

    if let Some(join) = pipeline.passwords.take() {
        // In the file's order; only the first lines for no user are worded, the rest counted.
        for entry in join.entries.iter().filter(|entry| !entry.used) {
            if pipeline.problems.len() >= KEPT_PROBLEMS {
                pipeline.total_problems += 1;
                continue;
            }
            pipeline.push_problem(Problem {
                record: place(&join.file, entry.position),
                field: Some("_id".into()),
                message: format!(
                    "`{}` is the id of no user in the user export",
                    shown(&entry.key)
                ),
            });
        }
    }
    if let Some(source) = pipeline.write_error.take() {
        return Err(ConvertError::Write { source });
    }
    if pipeline.total_problems > 0 {
        return Err(ConvertError::Problems {
            files: files
                .iter()
                .chain(&pipeline.report.passwords_file)
                .map(|file| format!("`{file}`"))
                .collect::<Vec<_>>()
                .join(", "),
            problems: pipeline.problems,
            total: pipeline.total_problems,
        });
    }
    let mut report = pipeline.report;
    report.users.converted = report.users.active + report.users.inactive;
    Ok(report)
}

/// A source's value as messages and the report show it: cut short ([`shorten`]), and never a
/// password hash or a token (a column out of place can put one anywhere).
fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    if converter::is_secret_text(value) {
        "(a secret, not shown)".into()
    } else {
        shorten(value)
    }
}

/// A place in a file: `users.ndjson:5` for line 5, `users.json record 3` for the third
/// record of a JSON array.
fn place(file: &str, position: Position) -> String {
    match position {
        Position::Line(line) => format!("{file}:{line}"),
        Position::Record(record) => format!("{file} record {record}"),
    }
}

/// The lines of a `--passwords` file, in the file's order and by join key.
struct PasswordJoin {
    file: String,
    /// Hash of each join key → its line in `entries`.
    by_key: FxHashMap<u128, u32>,
    entries: Vec<PasswordEntry>,
    /// The first [`KEPT_PROBLEMS`] problems of the file.
    problems: Vec<Problem>,
    /// How many more there are.
    more_problems: usize,
}

struct PasswordEntry {
    key: Box<str>,
    hash: Option<Box<str>>,
    position: Position,
    used: bool,
}

impl PasswordJoin {
    /// Keeps a problem (worded with the file's name) while fewer than [`KEPT_PROBLEMS`] are.
    fn push_problem(&mut self, problem: impl FnOnce(&str) -> Problem) {
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(problem(&self.file));
        } else {
            self.more_problems += 1;
        }
    }

    /// The entry of a join key, marked as used.
    fn take(&mut self, key: &str) -> Option<&mut PasswordEntry> {
        let index = *self.by_key.get(&key_hash(&[key]))?;
        let entry = &mut self.entries[index as usize];
        entry.used = true;
        Some(entry)
    }
}

fn key_hash(parts: &[&str]) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    hasher.digest128()
}

impl CollectPasswords for PasswordJoin {
    fn password(&mut self, position: Position, key: &str, hash: Option<String>) {
        let index = self.entries.len() as u32;
        match self.by_key.entry(key_hash(&[key])) {
            std::collections::hash_map::Entry::Occupied(other) => {
                let other = self.entries[*other.get() as usize].position;
                let problem = |file: &str| Problem {
                    record: place(file, position),
                    field: Some("_id".into()),
                    message: format!("`{}` has a password on {other} already", shown(key)),
                };
                self.push_problem(problem);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
                self.entries.push(PasswordEntry {
                    key: key.into(),
                    hash: hash.map(String::into_boxed_str),
                    position,
                    used: false,
                });
            }
        }
    }

    fn problem(&mut self, position: Position, field: Option<&str>, message: String) {
        let problem = |file: &str| Problem {
            record: place(file, position),
            field: field.map(str::to_string),
            message,
        };
        self.push_problem(problem);
    }
}

struct Pipeline<'a, 's> {
    source: &'a dyn Source,
    context: Context<'a>,
    strict: bool,
    file_names: Vec<String>,
    file: usize,
    /// Hash of each user id → the user's place in `origins`.
    users_by_id: FxHashMap<u128, u32>,
    /// Hash of each identifier (type and lower-cased value) → its user's place in `origins`.
    claims: FxHashMap<u128, u32>,
    /// Where each user was read: file and position.
    origins: Vec<(u32, Position)>,
    passwords: Option<PasswordJoin>,
    report: ConvertReport,
    problems: Vec<Problem>,
    total_problems: usize,
    sink: &'s mut dyn FnMut(&Converted) -> io::Result<()>,
    write_error: Option<io::Error>,
}

impl Pipeline<'_, '_> {
    /// Names a record: ``users.ndjson:5 (id `auth0|abc`)`` or ``realm.json record 3``.
    fn record(&self, file: usize, position: Position, id: Option<&str>) -> String {
        let place = place(&self.file_names[file], position);
        match id {
            Some(id) => format!("{place} (id `{}`)", shown(id)),
            None => place,
        }
    }

    fn push_problem(&mut self, problem: Problem) {
        self.total_problems += 1;
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(problem);
        }
    }

    fn stop(&mut self, position: Position, id: Option<&str>, field: Option<&str>, message: String) {
        if self.problems.len() >= KEPT_PROBLEMS {
            self.total_problems += 1;
            return;
        }
        let record = self.record(self.file, position, id);
        self.push_problem(Problem {
            record,
            field: field.map(str::to_string),
            message,
        });
    }

    /// Checks what needs other users: the user's id and its identifiers, each held once.
    fn check_across_users(&mut self, position: Position, converted: &Converted) {
        let ordinal = self.origins.len() as u32;
        self.origins.push((self.file as u32, position));
        let user_id = converted.user.id.as_deref().unwrap_or_default();
        if let Some(&other) = self.users_by_id.get(&key_hash(&[user_id])) {
            let (file, other_position) = self.origins[other as usize];
            let other = self.record(file as usize, other_position, None);
            self.stop(
                position,
                Some(&converted.source_id),
                Some("id"),
                format!("the user at {other} has the same id (both would be user `{user_id}`)"),
            );
            return;
        }
        self.users_by_id.insert(key_hash(&[user_id]), ordinal);
        for (kind, value) in &converted.claims {
            let key = key_hash(&[kind, value]);
            match self.claims.get(&key) {
                Some(&other) => {
                    let (file, other_position) = self.origins[other as usize];
                    let other = self.record(file as usize, other_position, None);
                    self.stop(
                        position,
                        Some(&converted.source_id),
                        Some(kind),
                        format!(
                            "`{}` is also an identifier of the user at {other}; an identifier is unique in a pool",
                            shorten(value)
                        ),
                    );
                }
                None => {
                    self.claims.insert(key, ordinal);
                }
            }
        }
    }

    fn count(&mut self, position: Position, converted: &Converted) {
        let record = self.record(self.file, position, Some(&converted.source_id));
        let report = &mut self.report;
        if converted.user.status.as_deref() == Some("inactive") {
            report.users.inactive += 1;
        } else {
            report.users.active += 1;
        }
        match &converted.password {
            PasswordOutcome::Carried(method) => {
                *report
                    .passwords
                    .carried
                    .entry((*method).to_string())
                    .or_default() += 1;
            }
            PasswordOutcome::NotCarried(reason) => {
                // Reasons can name a source's own algorithms, as many as it has users.
                let reason = reason.to_string();
                let tallies = &mut report.passwords.not_carried;
                let known = tallies.iter().any(|tally| tally.what == reason);
                let what = if tallies.len() >= MAX_TALLIES && !known {
                    OTHER_REASONS
                } else {
                    &reason
                };
                tally(tallies, what, None).add(|| record.clone());
            }
            PasswordOutcome::None => report.passwords.none += 1,
            PasswordOutcome::Dropped => report.passwords.dropped += 1,
        }
        if converted.social_only {
            report.users.social_only += 1;
        }
        if converted.identifiers.is_empty() {
            report.users.without_identifier.add(|| record.clone());
        }
        for lost in &converted.lost {
            let tallies = &mut report.kept_in_metadata;
            let name = shorten(&lost.field);
            let (field, why) =
                if tallies.len() >= MAX_TALLIES && !tallies.iter().any(|t| t.what == name) {
                    // The rest are counted together, whatever their reason.
                    (OTHER_FIELDS, None)
                } else {
                    (name.as_ref(), Some(lost.why.as_str()))
                };
            tally(tallies, field, why).add(|| match &lost.value {
                serde_json::Value::Null => record.clone(),
                serde_json::Value::String(text) => format!("{record}: `{}`", shorten(text)),
                other => format!("{record}: `{}`", shorten(&other.to_string())),
            });
        }
        let mut secrets: Vec<&str> = converted.secrets.iter().map(String::as_str).collect();
        secrets.sort_unstable();
        secrets.dedup();
        for secret in secrets {
            let known = report.secrets_left_out.len();
            let secret = shorten(secret);
            let name = if known >= MAX_TALLIES && !report.secrets_left_out.contains_key(&*secret) {
                OTHER_FIELDS
            } else {
                &secret
            };
            *report.secrets_left_out.entry(name.to_string()).or_default() += 1;
        }
    }
}

/// Distinct fields a report lists before it counts the rest together.
const MAX_TALLIES: usize = 20;
/// What the rest are counted as.
const OTHER_FIELDS: &str = "(other fields)";
/// What the rest of the reasons a password is not carried are counted as.
const OTHER_REASONS: &str = "(other reasons)";

impl Collect for Pipeline<'_, '_> {
    fn user(&mut self, position: Position, mut user: SourceUser) {
        self.report.users.read += 1;
        if converter::is_secret_text(&user.id) {
            return self.stop(
                position,
                None,
                None,
                "the user's id is a password hash or a token (not shown): is a column out of place?"
                    .into(),
            );
        }
        if let Some(join) = &mut self.passwords {
            if let Some(entry) = join.take(self.source.password_key(&user.id)) {
                if let Some(hash) = entry.hash.take() {
                    user.password = Some(PasswordInput::text(String::from(hash)));
                }
            }
        }
        let converted = converter::convert_user(user, &self.context);
        self.check_across_users(position, &converted);
        if self.strict {
            for lost in &converted.lost {
                let message = match &lost.value {
                    serde_json::Value::String(text) => {
                        format!("`{}` is {}", shorten(text), lost.why)
                    }
                    serde_json::Value::Null => lost.why.clone(),
                    other => format!("`{}` is {}", shorten(&other.to_string()), lost.why),
                };
                self.stop(
                    position,
                    Some(&converted.source_id),
                    Some(&shorten(&lost.field)),
                    message,
                );
            }
            if let PasswordOutcome::NotCarried(reason) = &converted.password {
                self.stop(
                    position,
                    Some(&converted.source_id),
                    Some("password"),
                    format!("{reason}, so it cannot be carried"),
                );
            }
        }
        self.count(position, &converted);
        if self.total_problems == 0 && self.write_error.is_none() {
            if let Err(error) = (self.sink)(&converted) {
                self.write_error = Some(error);
            }
        }
    }

    fn left_out(&mut self, position: Position, id: &str, reason: &'static str) {
        self.report.users.read += 1;
        let record = self.record(self.file, position, Some(id));
        tally(&mut self.report.left_out, reason, None).add(|| record);
    }

    fn problem(
        &mut self,
        position: Position,
        id: Option<&str>,
        field: Option<&str>,
        message: String,
    ) {
        self.stop(position, id, field, message);
    }
}

/// Reads a JSON export's records and hands each to `user`, which returns the user or says
/// what is wrong with the record (as `(field, message)`).
pub(crate) fn read_json_users(
    input: &mut dyn BufRead,
    containers: &[&str],
    out: &mut dyn Collect,
    user: &mut dyn FnMut(Object, &mut dyn Collect, Position),
) -> io::Result<()> {
    json::read_records(input, containers, &mut |event| match event {
        json::Event::Record(position, object) => user(object, out, position),
        json::Event::Problem(position, message) => out.problem(position, None, None, message),
    })
}

/// Reads one record (its fields, and what a CSV row lost) into a user, or says what is wrong.
pub(crate) type ReadRecord = dyn FnMut(Object, Vec<Lost>, &mut dyn Collect, Position);

/// Reads JSON records, or CSV rows when the file does not start like JSON.
pub(crate) fn read_json_or_csv(
    input: &mut dyn BufRead,
    out: &mut dyn Collect,
    containers: &[&str],
    read_user: &mut ReadRecord,
) -> io::Result<()> {
    match json::sniff(input)? {
        Some(b'[' | b'{') => {
            read_json_users(input, containers, out, &mut |object, out, position| {
                read_user(object, Vec::new(), out, position)
            })
        }
        _ => read_csv_users(input, out, &mut |row, out| {
            read_user(row.cells, row.lost, out, Position::Line(row.line))
        }),
    }
}

/// Reads a CSV export's rows (the header must name `id`) and hands each to `user`.
pub(crate) fn read_csv_users(
    input: &mut dyn BufRead,
    out: &mut dyn Collect,
    user: &mut dyn FnMut(table::Row, &mut dyn Collect),
) -> io::Result<()> {
    // Problems wait for the end of the file, so that the rows' closure alone borrows `out`.
    let mut problems = Vec::new();
    let result = table::read_rows(input, &["id"], &mut |row| user(row, out), &mut |event| {
        problems.push(event)
    });
    for event in problems {
        if let json::Event::Problem(position, message) = event {
            out.problem(position, None, None, message);
        }
    }
    result.map(|_| ())
}

/// A record's fields and the user of its id (`id_field`); `None` after saying that the record
/// has no id.
pub(crate) fn begin(
    object: Object,
    lost: Vec<Lost>,
    id_field: &str,
    out: &mut dyn Collect,
    position: Position,
) -> Option<(user::Fields, SourceUser)> {
    let mut fields = user::Fields::new(object);
    let Some(id) = fields.id(id_field) else {
        missing_id(out, position, id_field);
        return None;
    };
    let mut user = SourceUser::new(id);
    user.lost = lost;
    Some((fields, user))
}

/// The problem of a record without an id.
pub(crate) fn missing_id(out: &mut dyn Collect, position: Position, field: &str) {
    out.problem(
        position,
        None,
        Some(field),
        "missing: every user needs an id".into(),
    );
}

/// What the sources' unit tests read.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Collect, Position, Source, SourceUser};

    /// The users a source read, and everything else it said, as text.
    #[derive(Debug, Default)]
    pub(crate) struct Collected {
        pub(crate) users: Vec<SourceUser>,
        pub(crate) notes: Vec<String>,
    }

    impl Collect for Collected {
        fn user(&mut self, _: Position, user: SourceUser) {
            self.users.push(user);
        }
        fn left_out(&mut self, position: Position, id: &str, reason: &'static str) {
            self.notes
                .push(format!("{position} `{id}` left out: {reason}"));
        }
        fn problem(
            &mut self,
            position: Position,
            _: Option<&str>,
            field: Option<&str>,
            message: String,
        ) {
            self.notes.push(format!(
                "{position}: `{}`: {message}",
                field.unwrap_or_default()
            ));
        }
    }

    /// Reads `text` with `source`.
    pub(crate) fn read(source: &dyn Source, text: &str) -> Collected {
        let mut collected = Collected::default();
        source
            .read(&mut text.as_bytes(), &mut collected)
            .expect("reading from memory");
        collected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_text(source: &str, text: &str, options: &ConvertOptions) -> ConvertReport {
        let input = Input {
            name: "users".into(),
            reader: Box::new(io::Cursor::new(text.as_bytes().to_vec())),
        };
        convert(
            source_named(source).unwrap(),
            vec![input],
            None,
            options,
            &mut |_| Ok(()),
        )
        .unwrap()
    }

    #[test]
    fn every_tally_of_the_report_is_bounded_whatever_the_values() {
        // 100 users, each with a hash algorithm of its own.
        let mut text = String::from("id,password_hash,password_hasher\n");
        for n in 0..100 {
            text.push_str(&format!("u{n},x,scrypt-{n}\n"));
        }
        let report = convert_text("csv", &text, &ConvertOptions::default());
        let reasons = &report.passwords.not_carried;
        assert_eq!(reasons.len(), MAX_TALLIES + 1);
        assert_eq!(reasons[MAX_TALLIES].what, OTHER_REASONS);
        assert_eq!(reasons[MAX_TALLIES].count, 80);
        assert_eq!(reasons.iter().map(|t| t.count).sum::<u64>(), 100);

        // Rows longer than the header by one more cell each: a lost field of their own.
        let mut text = String::from("id\n");
        for n in 0..100 {
            text.push_str(&format!("u{n}{}\n", ",x".repeat(n + 1)));
        }
        let report = convert_text("csv", &text, &ConvertOptions::default());
        assert_eq!(report.kept_in_metadata.len(), MAX_TALLIES + 1);
        assert_eq!(report.kept_in_metadata[MAX_TALLIES].what, OTHER_FIELDS);
        assert_eq!(report.kept_in_metadata[MAX_TALLIES].count, 80);
        let mut shown = Vec::new();
        report.write_text(&mut shown).unwrap();
        assert!(shown.len() < 8192, "{}", String::from_utf8_lossy(&shown));

        // Users each with a secret field of their own.
        let mut text = String::new();
        for n in 0..100 {
            text.push_str(&format!("{{\"user_id\": \"u{n}\", \"token{n}\": \"t\"}}\n"));
        }
        let report = convert_text("auth0", &text, &ConvertOptions::default());
        assert_eq!(report.secrets_left_out.len(), MAX_TALLIES + 1);
        assert_eq!(report.secrets_left_out[OTHER_FIELDS], 80);
        let mut shown = Vec::new();
        report.write_text(&mut shown).unwrap();
        assert!(shown.len() < 4096, "{}", String::from_utf8_lossy(&shown));
    }
}
