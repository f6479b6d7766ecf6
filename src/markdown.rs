//! Turns a [`Plan`] into Markdown for a pull-request comment (`--format markdown`).
//!
//! The comment opens with [`MARKER`] (so a workflow can find and update its own comment), a
//! verdict line and two tables (counts by kind of record, counts by pool), then one collapsible
//! `<details>` section per pool, each user with its field changes in a fenced `diff` block.
//!
//! GitHub refuses comments over [`GITHUB_COMMENT_LIMIT`] characters, so sections are added
//! user by user only while the text stays within [`MarkdownOptions::budget`] bytes (bytes are
//! never fewer than characters); whatever does not fit is counted in a closing line that points
//! to the full plan. Long values are cut, as are the fields of a user with very many.
//!
//! User data never reaches the page as markup: in Markdown it is a code span (with `|` escaped
//! in tables), in the HTML of a `<summary>` it is entity-escaped inside `<code>`, in a `diff`
//! block every line starts with a sign and values are JSON-encoded on one line, and control
//! characters are shown escaped everywhere. Pure: writes into any `Write`, no I/O of its own.

use crate::SENSITIVE;
use crate::plan::{Action, FieldChange, Plan, RecordChange, UserChange, UserRef};
use crate::render::{count_noun, thousands, verb};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The most characters GitHub accepts in a comment.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// First line of every comment: a workflow looks for it to update the comment it posted before.
pub const MARKER: &str = "<!-- poolsync-plan -->";

/// Room kept for the closing lines when deciding whether one more user fits.
const CLOSING_RESERVE: usize = 600;

/// Settings of the Markdown renderer.
#[derive(Debug, Clone)]
pub struct MarkdownOptions {
    /// Stop adding users once the comment would pass this many bytes.
    pub budget: usize,
    /// Values longer than this many characters are cut.
    pub max_value_chars: usize,
    /// Fields shown per user; the rest are counted.
    pub max_fields_per_user: usize,
    /// Rows of the table of pools; the rest are counted.
    pub max_pool_rows: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            budget: 60_000,
            max_value_chars: 200,
            max_fields_per_user: 40,
            max_pool_rows: 50,
        }
    }
}

/// `text` on one line: line breaks, tabs and other control characters shown as escapes.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A Markdown code span showing `text` literally, whatever backticks it holds.
fn code(text: &str) -> String {
    let text = one_line(text);
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.is_empty() || text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A code span for a table cell: GitHub splits cells at every `|`, even inside code.
fn code_in_table(text: &str) -> String {
    code(text).replace('|', "\\|")
}

/// `text` for HTML (a `<summary>`), entity-escaped and on one line.
fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as compact JSON (the redaction marker bare), cut after `max_chars` characters.
fn show(value: &Value, max_chars: usize) -> String {
    let text = match value {
        Value::String(text) if text == SENSITIVE => SENSITIVE.to_string(),
        other => other.to_string(),
    };
    let text = one_line(&text);
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!(
            "{}… ({} more characters)",
            &text[..cut],
            thousands(text[cut..].chars().count())
        ),
        None => text,
    }
}

/// Lines of a `diff` block for one record's field changes.
fn field_lines(out: &mut String, fields: &[FieldChange], options: &MarkdownOptions) {
    for field in fields.iter().take(options.max_fields_per_user) {
        let path = one_line(&field.path);
        let value = |value: &Value| show(value, options.max_value_chars);
        match (&field.before, &field.after) {
            (None, Some(after)) => {
                let _ = writeln!(out, "+ {path} = {}", value(after));
            }
            (Some(before), None) => {
                let _ = writeln!(out, "- {path} = {}", value(before));
            }
            (Some(before), Some(_)) if value(before) == SENSITIVE => {
                let _ = writeln!(out, "! {path} = {SENSITIVE}");
            }
            (Some(before), Some(after)) => {
                let _ = writeln!(out, "- {path} = {}", value(before));
                let _ = writeln!(out, "+ {path} = {}", value(after));
            }
            (None, None) => {}
        }
    }
    let rest = fields.len().saturating_sub(options.max_fields_per_user);
    if rest > 0 {
        let _ = writeln!(
            out,
            "  … and {}",
            count_noun(rest, "more field", "more fields")
        );
    }
}

/// One record: a heading line, then its field changes in a `diff` block.
fn entry(
    kind: &str,
    action: Action,
    id: &str,
    label: Option<&str>,
    fields: &[FieldChange],
    options: &MarkdownOptions,
) -> String {
    let mut out = String::new();
    let label = label.map(|l| format!(" ({})", code(l))).unwrap_or_default();
    let _ = writeln!(
        out,
        "{} {kind} {}{label} {}\n",
        code(&action.sign().to_string()),
        code(id),
        verb(action)
    );
    if !fields.is_empty() {
        out.push_str("```diff\n");
        field_lines(&mut out, fields, options);
        out.push_str("```\n\n");
    }
    out
}

fn user_entry(change: &UserChange, options: &MarkdownOptions) -> String {
    entry(
        "user",
        change.action,
        &change.user_id,
        change.label.as_deref(),
        &change.fields,
        options,
    )
}

fn delete_entry(user: &UserRef, options: &MarkdownOptions) -> String {
    entry(
        "user",
        Action::Delete,
        &user.user_id,
        user.label.as_deref(),
        &[],
        options,
    )
}

fn record_entry(kind: &str, change: &RecordChange, options: &MarkdownOptions) -> String {
    entry(
        kind,
        change.action,
        &change.id,
        change.name.as_deref(),
        &change.fields,
        options,
    )
}

/// Counts of one pool's users.
#[derive(Default)]
struct PoolUsers<'a> {
    changes: Vec<&'a UserChange>,
    deletes: Vec<&'a UserRef>,
    unmanaged: usize,
}

impl PoolUsers<'_> {
    fn creates(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count()
    }
    fn updates(&self) -> usize {
        self.changes.len() - self.creates()
    }
}

/// `1 to create, 3 to update` (and `, 2 to delete` when pruning).
fn counts(create: usize, update: usize, delete: usize, prune: bool) -> String {
    let deleting = if prune || delete > 0 {
        format!(", {} to delete", thousands(delete))
    } else {
        String::new()
    };
    format!(
        "{} to create, {} to update{deleting}",
        thousands(create),
        thousands(update)
    )
}

fn write_tables(out: &mut String, plan: &Plan, pools: &BTreeMap<&str, PoolUsers>, max_rows: usize) {
    let summary = &plan.summary;
    out.push_str("| | create | update | delete | unchanged | unmanaged |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| users | {} | {} | {} | {} | {} |",
        thousands(summary.create),
        thousands(summary.update),
        thousands(summary.delete),
        thousands(summary.unchanged),
        thousands(summary.unmanaged)
    );
    for (name, records) in [("pools", &plan.pools), ("groups", &plan.groups)] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | 0 | {} | {} |",
            thousands(records.create),
            thousands(records.update),
            thousands(records.unchanged),
            thousands(records.unmanaged)
        );
    }
    out.push('\n');
    if pools.is_empty() {
        return;
    }
    out.push_str("| pool | create | update | delete | unmanaged |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for (pool_id, users) in pools.iter().take(max_rows) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code_in_table(pool_id),
            thousands(users.creates()),
            thousands(users.updates()),
            thousands(users.deletes.len()),
            thousands(users.unmanaged)
        );
    }
    if pools.len() > max_rows {
        let _ = writeln!(
            out,
            "| … and {} | | | | |",
            count_noun(pools.len() - max_rows, "more pool", "more pools")
        );
    }
    out.push('\n');
}

/// Room kept for closing one section (`… and N in this section`, `</details>`).
const SECTION_CLOSING: usize = 80;

/// Adds `<details>` sections entry by entry while they fit the budget, and counts the entries
/// left out. Each section may use its share of the room left, so that every pool of a large
/// plan shows a few users rather than the first pool all of them.
struct Sections<'a> {
    out: &'a mut String,
    budget: usize,
    left_out: usize,
}

impl Sections<'_> {
    /// One section of `total` entries; `sections_left` counts this one and those after it.
    fn section(
        &mut self,
        summary: &str,
        total: usize,
        entries: impl Iterator<Item = String>,
        sections_left: usize,
    ) {
        let room = self.budget.saturating_sub(self.out.len() + CLOSING_RESERVE);
        let limit = self.out.len() + room / sections_left.max(1);
        let mut section = format!("<details>\n<summary>{summary}</summary>\n\n");
        let mut shown = 0;
        for entry in entries {
            if self.out.len() + section.len() + entry.len() + SECTION_CLOSING > limit {
                break;
            }
            section.push_str(&entry);
            shown += 1;
        }
        self.left_out += total - shown;
        if shown == 0 {
            return;
        }
        if shown < total {
            let _ = writeln!(
                section,
                "… and {} in this section\n",
                thousands(total - shown)
            );
        }
        section.push_str("</details>\n\n");
        self.out.push_str(&section);
    }
}

/// How many creates of a pool a comment of the default budget can show at most: a create's
/// entry takes more than 30 bytes (its line and its fields), so a plan worked out for this many
/// ([`crate::sieve::Detail::Shown`]) renders as the whole plan does.
pub const SHOWN_CREATES: usize = 2_000;

/// A create whose change carries neither patch nor fields: planned without its records.
fn is_light_create(change: &UserChange) -> bool {
    change.action == Action::Create && change.patch.0.is_empty() && change.fields.is_empty()
}

/// Writes the plan as a pull-request comment, within `options.budget` bytes.
pub fn render_markdown(
    plan: &Plan,
    out: &mut dyn Write,
    options: &MarkdownOptions,
) -> io::Result<()> {
    let mut pools: BTreeMap<&str, PoolUsers> = BTreeMap::new();
    for change in &plan.changes {
        pools
            .entry(&change.pool_id)
            .or_default()
            .changes
            .push(change);
    }
    for delete in &plan.deletes {
        pools
            .entry(&delete.pool_id)
            .or_default()
            .deletes
            .push(delete);
    }
    for user in &plan.unmanaged {
        pools.entry(&user.pool_id).or_default().unmanaged += 1;
    }

    let mut text = String::new();
    let summary = &plan.summary;
    let _ = writeln!(text, "{MARKER}\n### poolsync plan\n");
    if plan.has_changes() {
        let _ = writeln!(
            text,
            "**Plan: {}.** {} unchanged, {} unmanaged (not in the desired file).\n",
            counts(summary.create, summary.update, summary.delete, plan.prune),
            thousands(summary.unchanged),
            thousands(summary.unmanaged)
        );
    } else {
        let _ = writeln!(
            text,
            "**No changes:** the tenant matches the desired file. {} unchanged, {} unmanaged.\n",
            thousands(summary.unchanged),
            thousands(summary.unmanaged)
        );
    }
    write_tables(&mut text, plan, &pools, options.max_pool_rows);
    for warning in plan.warnings.iter().take(20) {
        let _ = writeln!(text, "> **warning:** {}\n", code(warning));
    }

    let mut sections = Sections {
        out: &mut text,
        budget: options.budget,
        left_out: 0,
    };
    let records: Vec<(&str, &RecordChange)> = [("pool", &plan.pools), ("group", &plan.groups)]
        .into_iter()
        .flat_map(|(kind, records)| records.changes.iter().map(move |c| (kind, c)))
        .collect();
    let changed_pools: Vec<(&&str, &PoolUsers)> = pools
        .iter()
        .filter(|(_, users)| !users.changes.is_empty() || !users.deletes.is_empty())
        .collect();
    let mut sections_left = changed_pools.len() + usize::from(!records.is_empty());
    if !records.is_empty() {
        sections.section(
            &format!(
                "Pools and groups: {}",
                count_noun(records.len(), "change", "changes")
            ),
            records.len(),
            records
                .iter()
                .map(|(kind, change)| record_entry(kind, change, options)),
            sections_left,
        );
        sections_left -= 1;
    }
    let records_left_out = sections.left_out;
    for (pool_id, users) in changed_pools {
        let summary = format!(
            "Pool <code>{}</code>: {}",
            html(pool_id),
            counts(
                users.creates(),
                users.updates(),
                users.deletes.len(),
                plan.prune
            )
        );
        // A create planned without its records (`sieve::Detail::Shown`) has nothing to show:
        // the section stops before it, and it is counted with the users left out.
        let entries = users
            .changes
            .iter()
            .take_while(|change| !is_light_create(change))
            .map(|change| user_entry(change, options))
            .chain(users.deletes.iter().map(|user| delete_entry(user, options)));
        sections.section(
            &summary,
            users.changes.len() + users.deletes.len(),
            entries,
            sections_left,
        );
        sections_left -= 1;
    }
    let users_left_out = sections.left_out - records_left_out;
    if users_left_out + records_left_out > 0 {
        let pools_and_groups = if records_left_out > 0 {
            format!(
                " (and {} to pools and groups)",
                count_noun(records_left_out, "change", "changes")
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "… and {}{pools_and_groups}; run `poolsync plan` locally or see the CI log for the whole plan.",
            count_noun(users_left_out, "more user", "more users")
        );
    }
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FORMAT_VERSION, RecordChanges, Summary};
    use serde_json::json;

    fn user(user_id: &str, label: &str, fields: Vec<FieldChange>) -> UserChange {
        UserChange {
            action: Action::Update,
            pool_id: "customers".into(),
            user_id: user_id.into(),
            label: Some(label.into()),
            patch: json_patch::Patch(Vec::new()),
            fields,
            current_sha256: None,
        }
    }

    fn plan(changes: Vec<UserChange>) -> Plan {
        Plan {
            format_version: FORMAT_VERSION.into(),
            summary: Summary {
                update: changes.len(),
                ..Summary::default()
            },
            pools: RecordChanges::default(),
            groups: RecordChanges::default(),
            changes,
            unmanaged: Vec::new(),
            prune: false,
            deletes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn markdown(plan: &Plan, options: &MarkdownOptions) -> String {
        let mut out = Vec::new();
        render_markdown(plan, &mut out, options).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn user_data_is_shown_literally_and_never_as_markup() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("line\nbreak"), "`line\\nbreak`");
        assert_eq!(code_in_table("a|b"), "`a\\|b`");
        assert_eq!(
            html("</summary><script>&'\""),
            "&lt;/summary&gt;&lt;script&gt;&amp;&#39;&quot;"
        );
    }

    #[test]
    fn hostile_values_stay_inside_code() {
        let hostile = "<script>alert(1)</script> | `x` **bold** @octocat\n\n# heading";
        let mut plan = plan(vec![user(
            "u1",
            hostile,
            vec![FieldChange {
                path: "/payload/given_name".into(),
                before: Some(json!("Ann")),
                after: Some(json!(hostile)),
            }],
        )]);
        plan.changes[0].pool_id = "pool|<b>x</b>".into();
        let text = markdown(&plan, &MarkdownOptions::default());
        // Outside code, nothing of the hostile text is left: no tag, heading, bold or mention.
        let prose = outside_code(&text);
        for markup in ["<script", "# heading", "**bold**", "@octocat", "<b>"] {
            assert!(
                !prose.contains(markup),
                "{markup} outside code in:\n{prose}"
            );
        }
        // The table rows keep their five cells.
        assert!(
            text.contains("<summary>Pool <code>pool|&lt;b&gt;x&lt;/b&gt;</code>"),
            "{text}"
        );
        let row = text.lines().find(|l| l.starts_with("| `pool")).unwrap();
        assert_eq!(row.matches(" | ").count(), 4, "{row}");
        assert!(
            text.contains("+ /payload/given_name = \"<script>"),
            "{text}"
        );
    }

    /// The text with fenced blocks and code spans (CommonMark: a run of n backticks up to the
    /// next run of exactly n) taken out.
    fn outside_code(text: &str) -> String {
        let mut prose = String::new();
        let mut in_block = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                continue;
            }
            let mut rest = line.replace("\\|", "|");
            while let Some(start) = rest.find('`') {
                let run = rest[start..].chars().take_while(|&c| c == '`').count();
                let fence = "`".repeat(run);
                let after = start + run;
                let close = (after..rest.len()).find(|&i| {
                    rest[i..].starts_with(&fence)
                        && !rest[i + run..].starts_with('`')
                        && !rest[..i].ends_with('`')
                });
                let Some(close) = close else { break };
                prose.push_str(&rest[..start]);
                rest = rest[close + run..].to_string();
            }
            prose.push_str(&rest);
            prose.push('\n');
        }
        prose
    }

    #[test]
    fn long_values_and_many_fields_are_cut() {
        let fields: Vec<FieldChange> = (0..50)
            .map(|n| FieldChange {
                path: format!("/metadata/f{n:02}"),
                before: None,
                after: Some(json!("x".repeat(500))),
            })
            .collect();
        let text = markdown(
            &plan(vec![user("u1", "a", fields)]),
            &MarkdownOptions::default(),
        );
        assert!(text.contains("… (302 more characters)"), "{text}");
        assert!(text.contains("… and 10 more fields"), "{text}");
        assert!(!text.contains("/metadata/f40"));
    }

    #[test]
    fn users_beyond_the_budget_are_counted_not_shown() {
        let changes: Vec<UserChange> = (0..500)
            .map(|n| {
                user(
                    &format!("user-{n:04}"),
                    &format!("u{n}@example.com"),
                    vec![FieldChange {
                        path: "/status".into(),
                        before: Some(json!("active")),
                        after: Some(json!("inactive")),
                    }],
                )
            })
            .collect();
        let options = MarkdownOptions {
            budget: 5_000,
            ..MarkdownOptions::default()
        };
        let text = markdown(&plan(changes), &options);
        assert!(text.len() <= options.budget, "{}", text.len());
        let shown = text.matches("will be updated in-place").count();
        assert!(shown > 5, "{shown}");
        assert!(
            text.contains(&format!("… and {} more users;", 500 - shown)),
            "{text}"
        );
        assert!(text.trim_end().ends_with("for the whole plan."));
    }

    #[test]
    fn an_empty_plan_says_so() {
        let text = markdown(&plan(Vec::new()), &MarkdownOptions::default());
        assert!(text.starts_with(MARKER));
        assert!(text.contains("**No changes:**"), "{text}");
        assert!(!text.contains("<details>"));
    }
}
