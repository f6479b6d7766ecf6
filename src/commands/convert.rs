//! `poolsync convert SOURCE FILE... --pool ID`: another platform's export → a desired file,
//! written atomically (mode 0600) or to stdout, with the conversion report on stderr.
//!
//! The records are spooled to unnamed temporary files (mode 0600: they hold password hashes)
//! as users are read, and the document is put together from them at the end, so memory does
//! not grow with the export. Nothing is written when the conversion has a problem.

use crate::cli::choice;
use crate::command_error::{Failure, problem_lines_of, read_failure};
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};
use poolsync::convert::spool::{IdMapFormat, Spool};
use poolsync::convert::{ConvertError, ConvertOptions, Input, SOURCES, Source, source_named};
use poolsync::exit_codes;
use poolsync::migrate::CredentialPolicy;
use poolsync::render::count_noun;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Convert another identity platform's user export into a desired file for `plan` and `apply`
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The platform the export comes from
    #[arg(value_name = "SOURCE", value_parser = sources())]
    source: String,
    /// The export: one file, or several read in order (such as one Cognito page per file)
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// The pool every user goes into; it must exist in the tenant (`plan` says when it does not)
    #[arg(long, value_name = "POOL_ID")]
    pool: String,
    /// Write the desired file here (mode 0600, written atomically) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// With `auth0`: the password export Auth0 support sends (NDJSON), joined to users by id
    #[arg(long, value_name = "FILE")]
    passwords: Option<PathBuf>,
    /// Passwords: `keep` the hashes, `force-reset` keeps them expired, `drop` leaves them out
    #[arg(long, value_parser = choice::<CredentialPolicy>(), default_value = "keep", value_name = "POLICY")]
    credentials: CredentialPolicy,
    /// Stop on values that would be kept in metadata instead and on passwords that cannot be carried
    #[arg(long)]
    strict: bool,
    /// Leave the source's other fields out of `metadata` (its id and federated identities stay)
    #[arg(long)]
    drop_extra: bool,
    /// Write `source_id,user_id` of every user, as CSV (or JSON for a `.json` name; mode 0600)
    #[arg(long, value_name = "FILE")]
    id_map_out: Option<PathBuf>,
    /// Print the conversion report as JSON (on stderr, like the text report)
    #[arg(long)]
    json: bool,
}

fn sources() -> PossibleValuesParser {
    PossibleValuesParser::new(
        SOURCES
            .iter()
            .map(|source| PossibleValue::new(source.name()).help(source.expects())),
    )
}

fn open(path: &Path) -> Result<Input<'static>, Failure> {
    let file = File::open(path).map_err(|source| read_failure(path, source))?;
    Ok(Input {
        name: path.display().to_string(),
        reader: Box::new(BufReader::with_capacity(1 << 20, file)),
    })
}

/// An unnamed temporary file: mode 0600, gone when closed.
fn spool_file() -> Result<File, Failure> {
    tempfile::tempfile().map_err(|error| {
        Failure::new(error)
            .hint("the converted users are spooled to the temporary directory (`TMPDIR`)")
    })
}

pub(crate) fn run(args: ConvertArgs) -> Result<u8, Failure> {
    let source: &dyn Source = source_named(&args.source)
        .ok_or_else(|| Failure::new(format!("`{}` is not a source poolsync knows", args.source)))?;
    let inputs = args
        .files
        .iter()
        .map(|path| open(path))
        .collect::<Result<Vec<_>, _>>()?;
    let passwords = args.passwords.as_deref().map(open).transpose()?;
    let id_map = match &args.id_map_out {
        Some(path) => {
            let is_json = path
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
            let format = if is_json {
                IdMapFormat::Json
            } else {
                IdMapFormat::Csv
            };
            Some((spool_file()?, format))
        }
        None => None,
    };
    let mut spool = Spool::new(
        [spool_file()?, spool_file()?, spool_file()?, spool_file()?],
        id_map,
    );
    let options = ConvertOptions {
        pool: args.pool.clone(),
        credentials: args.credentials,
        strict: args.strict,
        drop_extra: args.drop_extra,
    };
    let report = poolsync::convert::convert(source, inputs, passwords, &options, &mut |user| {
        spool.push(user)
    })
    .map_err(|error| convert_failure(error, source))?;

    match &args.output {
        Some(path) => poolsync::fsutil::write_atomic_with(path, |out| spool.write_document(out))
            .map_err(|error| {
                Failure::new(error).hint(format!("could not write `{}`", path.display()))
            })?,
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            spool.write_document(&mut out)?;
            out.flush()?;
        }
    }
    if let Some(path) = &args.id_map_out {
        poolsync::fsutil::write_atomic_with(path, |out| spool.write_id_map(out).map(|_| ()))
            .map_err(|error| {
                Failure::new(error).hint(format!("could not write the id map `{}`", path.display()))
            })?;
    }

    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut err, &report).map_err(Failure::new)?;
        writeln!(err)?;
        return Ok(exit_codes::SUCCESS);
    }
    report.write_text(&mut err)?;
    if let Some(path) = &args.id_map_out {
        writeln!(
            err,
            "Wrote the id map of {} to `{}`",
            count_noun(report.users.converted as usize, "user", "users"),
            path.display()
        )?;
    }
    if let Some(path) = &args.output {
        writeln!(
            err,
            "Wrote `{}`; next: `poolsync plan --desired {}`",
            path.display(),
            path.display()
        )?;
    }
    Ok(exit_codes::SUCCESS)
}

fn convert_failure(error: ConvertError, source: &dyn Source) -> Failure {
    match error {
        ConvertError::Problems {
            ref problems,
            total,
            ..
        } => {
            // The library keeps only the first problems of a very bad file; the count is all.
            let details = problem_lines_of(problems, total);
            Failure::new(error).details(details).hint(format!(
                "nothing was written; `poolsync convert {}` reads {}",
                source.name(),
                source.expects()
            ))
        }
        ConvertError::NoPasswordFile { .. } => Failure::new(error)
            .hint("only Auth0 keeps hashes apart from its user export; leave out `--passwords`"),
        ConvertError::Read { .. } | ConvertError::Write { .. } => Failure::new(error),
    }
}
