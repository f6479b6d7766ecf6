//! Turns a [`Plan`] into text for people (in the style of `terraform plan`) or JSON for machines.
//!
//! Renderers write into any `io::Write` and take color as a plain flag: deciding whether the
//! output is a terminal is the binary's job. Without color the text stays complete: changed
//! words are marked `[-old-]{+new+}`. Renderers never see secrets: the plan holds none.

use crate::SENSITIVE;
use crate::index::{shorten, shorten_to};
use crate::plan::{Action, FieldChange, Plan, RecordChange, UserChange, UserRef};
use crate::report::ApplyReport;
use owo_colors::{OwoColorize, Style};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Settings of the text renderer.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Use ANSI colors.
    pub color: bool,
    /// Show every changed user even in large plans.
    pub full: bool,
    /// Above this many changed users, group users with the same kind of change.
    pub summary_threshold: usize,
    /// How many users each group shows in full when grouping.
    pub examples_per_group: usize,
}

/// Above this many changed users, a text plan groups similar changes unless told otherwise.
pub const SUMMARY_THRESHOLD: usize = 50;

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            color: false,
            full: false,
            summary_threshold: SUMMARY_THRESHOLD,
            examples_per_group: 3,
        }
    }
}

/// Strings longer than this are shown as an inline word diff rather than as two values.
const LONG_STRING: usize = 60;

pub use crate::index::thousands;

/// `1 user`, `2 users`, with thousands separators.
pub fn count_noun(count: usize, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(count),
        if count == 1 { singular } else { plural }
    )
}

struct Painter {
    color: bool,
}

impl Painter {
    fn sign(&self, action: Action) -> String {
        let sign = action.sign().to_string();
        if !self.color {
            return sign;
        }
        match action {
            Action::Create => sign.green().to_string(),
            Action::Update => sign.yellow().to_string(),
            Action::Delete => sign.red().to_string(),
        }
    }
    fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }
    fn added(&self, text: &str) -> String {
        self.paint(text, Style::new().green())
    }
    fn removed(&self, text: &str) -> String {
        self.paint(text, Style::new().red())
    }
    fn changed(&self, text: &str) -> String {
        self.paint(text, Style::new().yellow())
    }
    fn bold(&self, text: &str) -> String {
        self.paint(text, Style::new().bold())
    }
    fn dim(&self, text: &str) -> String {
        self.paint(text, Style::new().dimmed())
    }
}

/// Writes the human-readable plan.
pub fn render_text(plan: &Plan, out: &mut dyn Write, options: &TextOptions) -> io::Result<()> {
    let painter = Painter {
        color: options.color,
    };
    for warning in &plan.warnings {
        writeln!(out, "{} {warning}", painter.changed("warning:"))?;
    }
    if !plan.warnings.is_empty() {
        writeln!(out)?;
    }
    for (title, kind, changes) in [
        ("Pools", "pool", &plan.pools.changes),
        ("Groups", "group", &plan.groups.changes),
    ] {
        if changes.is_empty() {
            continue;
        }
        writeln!(out, "{}:", painter.bold(title))?;
        for change in changes {
            write_record_change(out, &painter, kind, change)?;
        }
        writeln!(out)?;
    }

    let mut by_pool: BTreeMap<&str, (Vec<&UserChange>, Vec<&UserRef>)> = BTreeMap::new();
    for change in &plan.changes {
        by_pool
            .entry(change.pool_id.as_str())
            .or_default()
            .0
            .push(change);
    }
    for delete in &plan.deletes {
        by_pool
            .entry(delete.pool_id.as_str())
            .or_default()
            .1
            .push(delete);
    }
    let changed_users = plan.changes.len() + plan.deletes.len();
    let grouped = !options.full && changed_users > options.summary_threshold;
    for (pool_id, (changes, deletes)) in &by_pool {
        let creates = changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count();
        let updates = changes.len() - creates;
        let deleting = if plan.prune {
            format!(", {} to delete", thousands(deletes.len()))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{}: {} to create, {} to update{deleting}",
            painter.bold(&format!("Pool `{}`", shorten(pool_id))),
            thousands(creates),
            thousands(updates)
        )?;
        writeln!(out)?;
        if grouped {
            write_grouped(out, &painter, changes, options)?;
        } else {
            for change in changes {
                write_user_change(out, &painter, change)?;
            }
        }
        let shown = if grouped {
            options.examples_per_group
        } else {
            deletes.len()
        };
        if grouped && !deletes.is_empty() {
            writeln!(
                out,
                "  {} {} to delete",
                painter.sign(Action::Delete),
                count_noun(deletes.len(), "user", "users")
            )?;
            writeln!(out)?;
        }
        for delete in deletes.iter().take(shown) {
            let label = delete
                .label
                .as_ref()
                .map(|l| format!(" ({})", shorten(l)))
                .unwrap_or_default();
            writeln!(
                out,
                "  {} user `{}`{label} {}",
                painter.sign(Action::Delete),
                shorten(&delete.user_id),
                verb(Action::Delete)
            )?;
        }
        if deletes.len() > shown {
            writeln!(
                out,
                "  {}",
                painter.dim(&format!(
                    "... and {} more",
                    thousands(deletes.len() - shown)
                ))
            )?;
        }
        if !deletes.is_empty() {
            writeln!(out)?;
        }
    }
    if grouped {
        writeln!(
            out,
            "{}",
            painter.dim(&format!(
                "Showing {} of each kind of change; run with `--full` to see all {}.",
                count_noun(options.examples_per_group, "user", "users"),
                count_noun(changed_users, "changed user", "changed users"),
            ))
        )?;
        writeln!(out)?;
    }
    if !plan.has_changes() {
        writeln!(out, "No changes: the tenant matches the desired file.")?;
    }
    write_footer(out, &painter, plan)
}

fn write_footer(out: &mut dyn Write, painter: &Painter, plan: &Plan) -> io::Result<()> {
    let summary = &plan.summary;
    let deleting = if plan.prune {
        format!(", {} to delete", thousands(summary.delete))
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} {} to create, {} to update{deleting}. {} unchanged, {} unmanaged (not in the desired file).",
        painter.bold("Plan:"),
        thousands(summary.create),
        thousands(summary.update),
        thousands(summary.unchanged),
        thousands(summary.unmanaged),
    )
}

/// What happens to a record, as the end of a sentence.
pub fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::Delete => "will be deleted",
    }
}

fn user_heading(painter: &Painter, change: &UserChange) -> String {
    let label = change
        .label
        .as_ref()
        .map(|label| format!(" ({})", shorten(label)))
        .unwrap_or_default();
    let verb = verb(change.action);
    format!(
        "  {} user `{}`{label} {verb}",
        painter.sign(change.action),
        shorten(&change.user_id)
    )
}

fn write_user_change(
    out: &mut dyn Write,
    painter: &Painter,
    change: &UserChange,
) -> io::Result<()> {
    writeln!(out, "{}", user_heading(painter, change))?;
    for field in &change.fields {
        write_field(out, painter, field)?;
    }
    writeln!(out)
}

fn write_record_change(
    out: &mut dyn Write,
    painter: &Painter,
    kind: &str,
    change: &RecordChange,
) -> io::Result<()> {
    let name = change
        .name
        .as_ref()
        .map(|name| format!(" ({})", shorten(name)))
        .unwrap_or_default();
    let verb = verb(change.action);
    writeln!(
        out,
        "  {} {kind} `{}`{name} {verb}",
        painter.sign(change.action),
        shorten(&change.id)
    )?;
    for field in &change.fields {
        write_field(out, painter, field)?;
    }
    Ok(())
}

/// Shows a value compactly: JSON (cut short with its size when long, see [`shorten`]), except
/// the redaction marker, which is shown bare.
fn show(value: &Value) -> String {
    match value {
        Value::String(text) if text == SENSITIVE => SENSITIVE.to_string(),
        other => shorten_to(&other.to_string(), PLAN_LINE).into_owned(),
    }
}

/// How many characters of a path or a value a plan line shows.
const PLAN_LINE: usize = 512;

/// Strings longer than this are shown cut, rather than diffed line by line or word by word.
const DIFFED_STRING: usize = 16 * 1024;

fn write_field(out: &mut dyn Write, painter: &Painter, field: &FieldChange) -> io::Result<()> {
    const INDENT: &str = "      ";
    match (&field.before, &field.after) {
        (None, Some(after)) => writeln!(
            out,
            "{INDENT}{} {} = {}",
            painter.added("+"),
            shorten_to(&field.path, PLAN_LINE),
            show(after)
        ),
        (Some(before), None) => writeln!(
            out,
            "{INDENT}{} {} = {}",
            painter.removed("-"),
            shorten_to(&field.path, PLAN_LINE),
            show(before)
        ),
        (Some(Value::String(before)), Some(Value::String(after)))
            if (before.contains('\n') || after.contains('\n'))
                && before.len().max(after.len()) <= DIFFED_STRING =>
        {
            writeln!(
                out,
                "{INDENT}{} {}:",
                painter.changed("~"),
                shorten_to(&field.path, PLAN_LINE)
            )?;
            let diff = TextDiff::configure()
                .algorithm(similar::Algorithm::Patience)
                .diff_lines(before, after);
            for (position, group) in diff.grouped_ops(2).iter().enumerate() {
                if position > 0 {
                    writeln!(out, "{INDENT}    {}", painter.dim("..."))?;
                }
                for operation in group {
                    for change in diff.iter_changes(operation) {
                        let line = change.value().trim_end_matches('\n');
                        let text = match change.tag() {
                            ChangeTag::Delete => painter.removed(&format!("- {line}")),
                            ChangeTag::Insert => painter.added(&format!("+ {line}")),
                            ChangeTag::Equal => format!("  {line}"),
                        };
                        writeln!(out, "{INDENT}    {text}")?;
                    }
                }
            }
            Ok(())
        }
        (Some(Value::String(before)), Some(Value::String(after)))
            if (before.len() > LONG_STRING || after.len() > LONG_STRING)
                && before.len().max(after.len()) <= DIFFED_STRING =>
        {
            let diff = TextDiff::configure()
                .algorithm(similar::Algorithm::Patience)
                .diff_words(before, after);
            let mut inline = String::new();
            for change in diff.iter_all_changes() {
                match change.tag() {
                    ChangeTag::Equal => inline.push_str(change.value()),
                    ChangeTag::Delete => {
                        inline.push_str(&painter.removed(&format!("[-{}-]", change.value())))
                    }
                    ChangeTag::Insert => {
                        inline.push_str(&painter.added(&format!("{{+{}+}}", change.value())))
                    }
                }
            }
            writeln!(
                out,
                "{INDENT}{} {}: \"{inline}\"",
                painter.changed("~"),
                shorten_to(&field.path, PLAN_LINE)
            )
        }
        (Some(before), Some(after)) => {
            if show(before) == SENSITIVE {
                writeln!(
                    out,
                    "{INDENT}{} {} = {SENSITIVE}",
                    painter.changed("~"),
                    shorten_to(&field.path, PLAN_LINE)
                )
            } else {
                writeln!(
                    out,
                    "{INDENT}{} {}: {} -> {}",
                    painter.changed("~"),
                    shorten_to(&field.path, PLAN_LINE),
                    painter.removed(&show(before)),
                    painter.added(&show(after))
                )
            }
        }
        (None, None) => Ok(()),
    }
}

/// A path with the natural key of a sub-record replaced by `*`, so that the same kind of
/// change to different identifiers falls into one group.
fn general_path(path: &str) -> String {
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.len() > 2
        && matches!(
            segments[1],
            "identifiers" | "verifiable_addresses" | "credentials"
        )
    {
        segments[2] = "*";
    }
    segments.join("/")
}

fn write_grouped(
    out: &mut dyn Write,
    painter: &Painter,
    changes: &[&UserChange],
    options: &TextOptions,
) -> io::Result<()> {
    let mut groups: BTreeMap<(Action, Vec<String>), Vec<&UserChange>> = BTreeMap::new();
    for change in changes {
        let signature = match change.action {
            Action::Create | Action::Delete => Vec::new(),
            Action::Update => {
                let mut paths: Vec<String> = change
                    .fields
                    .iter()
                    .map(|f| general_path(&f.path))
                    .collect();
                paths.sort();
                paths.dedup();
                paths
            }
        };
        groups
            .entry((change.action, signature))
            .or_default()
            .push(change);
    }
    for ((action, paths), members) in &groups {
        let what = match action {
            Action::Create => "to create".to_string(),
            Action::Update => format!("to update: {} changed", paths.join(", ")),
            Action::Delete => "to delete".to_string(),
        };
        writeln!(
            out,
            "  {} {} {what}",
            painter.sign(*action),
            count_noun(members.len(), "user", "users"),
        )?;
        writeln!(out)?;
        for change in members.iter().take(options.examples_per_group) {
            write_user_change(out, painter, change)?;
        }
        let rest = members.len().saturating_sub(options.examples_per_group);
        if rest > 0 {
            writeln!(
                out,
                "  {}",
                painter.dim(&format!("... and {} more like these", thousands(rest)))
            )?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `Apply complete: …, verified`, or what did not converge and why.
pub fn render_apply_report(report: &ApplyReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    if report.retries > 0 {
        writeln!(
            out,
            "{} sent, {} of them retries.",
            count_noun(report.requests as usize, "request", "requests"),
            thousands(report.retries as usize)
        )?;
    }
    let deleted = if report.deleted > 0 {
        format!(", {} deleted", thousands(report.deleted))
    } else {
        String::new()
    };
    if report.is_complete() {
        return writeln!(
            out,
            "Apply complete: {} created, {} updated{deleted}, verified.",
            thousands(report.created),
            thousands(report.updated)
        );
    }
    if report.interrupted {
        writeln!(
            out,
            "Apply interrupted: no new batches were sent after Ctrl-C."
        )?;
    }
    if let Some(error) = &report.verification_error {
        writeln!(out, "Apply not verified: {error}")?;
    }
    writeln!(
        out,
        "Apply incomplete: {} created, {} updated{deleted}; {} did not converge:",
        thousands(report.created),
        thousands(report.updated),
        count_noun(report.not_converged.len(), "user", "users")
    )?;
    for user in &report.not_converged {
        let label = user
            .label
            .as_ref()
            .map(|l| format!(" ({})", shorten(l)))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} user `{}`{label} in pool `{}`: {}",
            user.action.sign(),
            shorten(&user.user_id),
            shorten(&user.pool_id),
            user.reason
        )?;
    }
    writeln!(
        out,
        "Run `poolsync plan` to see what is left; applying again is safe."
    )
}

/// Writes the versioned machine-readable plan, pretty-printed, with a final newline.
pub fn render_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, plan)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators_and_plurals() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(count_noun(1, "user", "users"), "1 user");
        assert_eq!(count_noun(1204, "user", "users"), "1,204 users");
    }

    #[test]
    fn sub_record_keys_are_generalized_for_grouping() {
        assert_eq!(
            general_path("/identifiers/email:a@x/identifier"),
            "/identifiers/*/identifier"
        );
        assert_eq!(general_path("/payload/given_name"), "/payload/given_name");
        assert_eq!(general_path("/groups"), "/groups");
    }

    #[test]
    fn long_and_multi_line_strings_are_shown_as_diffs() {
        let mut out = Vec::new();
        let painter = Painter { color: false };
        let field = FieldChange {
            path: "/payload/bio".into(),
            before: Some(Value::String("line one\nline two\nline three\n".into())),
            after: Some(Value::String("line one\nline 2\nline three\n".into())),
        };
        write_field(&mut out, &painter, &field).unwrap();
        let long = FieldChange {
            path: "/payload/note".into(),
            before: Some(Value::String(
                "the quick brown fox jumps over the lazy dog again and again and again".into(),
            )),
            after: Some(Value::String(
                "the quick red fox jumps over the lazy dog again and again and again".into(),
            )),
        };
        write_field(&mut out, &painter, &long).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("- line two\n"), "{text}");
        assert!(text.contains("+ line 2\n"), "{text}");
        assert!(text.contains("[-brown-]{+red+}"), "{text}");
    }
}
