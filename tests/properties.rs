//! Property tests of the diff: a document equals itself in any order, and carrying out a plan
//! (through the same import bodies apply sends) reaches the desired state.

use poolsync::diff::{DiffOptions, diff};
use poolsync::import::{Batch, BatchBuilder, build_batches, merge_update};
use poolsync::index::UserKey;
use poolsync::markdown::MarkdownOptions;
use poolsync::model::{
    GroupMember, Pool, SecretValue, TenantDump, User, UserCredential, UserIdentifier,
};
use poolsync::plan::Action;
use poolsync::render::TextOptions;
use poolsync::sieve::{Detail, SieveOptions, Source};
use proptest::prelude::*;
use serde_json::json;

fn arb_user(
    pool: usize,
    number: usize,
) -> impl Strategy<
    Value = (
        User,
        Vec<UserIdentifier>,
        Option<UserCredential>,
        Vec<String>,
    ),
> {
    (
        prop::sample::select(vec!["active", "inactive", "new"]),
        prop::option::of("[a-z]{1,6}"),
        prop::collection::vec(("[a-z]{1,4}", prop::bool::ANY), 0..3),
        prop::option::of("[a-f0-9]{8}"),
        prop::collection::vec(prop::sample::select(vec!["g1", "g2"]), 0..2),
    )
        .prop_map(move |(status, name, identifiers, hash, groups)| {
            let user_id = format!("user-{pool}-{number}");
            let user = User {
                id: Some(user_id.clone()),
                user_pool_id: Some(format!("pool-{pool}")),
                status: Some(status.to_string()),
                payload: name.map(|n| json!({"name": n}).as_object().unwrap().clone()),
                ..User::default()
            };
            let identifiers = identifiers
                .into_iter()
                .map(|(local, upper)| {
                    let value = format!("{local}.{user_id}@x.io");
                    UserIdentifier {
                        user_id: Some(user_id.clone()),
                        kind: Some("email".into()),
                        identifier: Some(if upper { value.to_uppercase() } else { value }),
                        ..UserIdentifier::default()
                    }
                })
                .collect::<Vec<_>>();
            let credential = hash.map(|hash| UserCredential {
                user_id: Some(user_id.clone()),
                kind: Some("password".into()),
                payload: Some(SecretValue(json!({"hashed_password": {"value": hash}}))),
                ..UserCredential::default()
            });
            (
                user,
                identifiers,
                credential,
                groups.into_iter().map(String::from).collect(),
            )
        })
}

fn arb_dump() -> impl Strategy<Value = TenantDump> {
    prop::collection::vec((0..2usize, 0..12usize), 0..10).prop_flat_map(|slots| {
        let mut seen = std::collections::BTreeSet::new();
        let slots: Vec<(usize, usize)> = slots
            .into_iter()
            .filter(|slot| seen.insert(*slot))
            .collect();
        slots
            .into_iter()
            .map(|(pool, number)| arb_user(pool, number))
            .collect::<Vec<_>>()
            .prop_map(|users| {
                let mut dump = TenantDump {
                    pools: (0..2)
                        .map(|n| Pool {
                            id: Some(format!("pool-{n}")),
                            name: Some(format!("Pool {n}")),
                            ..Pool::default()
                        })
                        .collect(),
                    ..TenantDump::default()
                };
                for (user, identifiers, credential, groups) in users {
                    // Identifiers are unique per user by natural key.
                    let mut keys = std::collections::BTreeSet::new();
                    for identifier in identifiers {
                        if keys.insert(identifier.identifier.clone().unwrap().to_lowercase()) {
                            dump.user_identifiers.push(identifier);
                        }
                    }
                    for group in groups {
                        dump.group_members.push(GroupMember {
                            group_id: Some(group),
                            user_id: user.id.clone(),
                            ..GroupMember::default()
                        });
                    }
                    dump.user_credentials.extend(credential);
                    dump.users.push(user);
                }
                dump
            })
    })
}

fn shuffled(dump: &TenantDump, seed: u64) -> TenantDump {
    fn rotate<T>(items: &mut [T], by: u64) {
        if !items.is_empty() {
            let by = (by as usize) % items.len();
            items.rotate_left(by);
            items.reverse();
        }
    }
    let mut copy = dump.clone();
    rotate(&mut copy.users, seed);
    rotate(&mut copy.user_identifiers, seed / 3 + 1);
    rotate(&mut copy.user_credentials, seed / 5 + 2);
    rotate(&mut copy.group_members, seed / 7 + 3);
    rotate(&mut copy.pools, seed);
    copy
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_document_has_no_changes_against_itself(a in arb_dump()) {
        let plan = diff(&a, &a, &DiffOptions::default()).unwrap();
        prop_assert!(!plan.has_changes());
        prop_assert_eq!(plan.summary.unchanged, a.users.len());
    }

    #[test]
    fn order_does_not_matter(a in arb_dump(), seed in 0u64..1000) {
        let plan = diff(&a, &shuffled(&a, seed), &DiffOptions::default()).unwrap();
        prop_assert!(!plan.has_changes(), "{:#?}", plan);
    }

    #[test]
    fn carrying_out_the_plan_reaches_the_desired_state(a in arb_dump(), b in arb_dump()) {
        let plan = diff(&a, &b, &DiffOptions::default()).unwrap();
        let mut tenant = a.clone();
        for batch in build_batches(&plan, &a, &b, "t", "2026-01-01T00:00:00Z", 3) {
            prop_assert!(batch.body.users.len() <= 3);
            tenant = merge_update(&tenant, &batch.body);
        }
        let after = diff(&tenant, &b, &DiffOptions::default()).unwrap();
        prop_assert!(!after.has_changes(), "{:#?}", after);
        prop_assert_eq!(after.summary.unchanged, b.users.len());
    }
}

/// Gives every sub-record an id, as the service does (the same record always gets the same id).
fn with_ids(mut dump: TenantDump) -> TenantDump {
    for identifier in &mut dump.user_identifiers {
        let value = identifier
            .identifier
            .clone()
            .unwrap_or_default()
            .to_lowercase();
        identifier.id = Some(format!(
            "ident-{}-{value}",
            identifier.user_id.as_deref().unwrap_or("")
        ));
    }
    for credential in &mut dump.user_credentials {
        credential.id = Some(format!(
            "cred-{}",
            credential.user_id.as_deref().unwrap_or("")
        ));
    }
    dump
}

/// A desired document made of `a` and `b`: each user (with its records) from `a`, from `b`, or
/// left out, by `choice`; identifier ids kept, dropped or changed by `ids`.
fn mixed(a: &TenantDump, b: &TenantDump, choice: u64, ids: u8) -> TenantDump {
    let mut keys: Vec<String> = a
        .users
        .iter()
        .chain(&b.users)
        .filter_map(|u| u.id.clone())
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = TenantDump {
        pools: a.pools.clone(),
        ..TenantDump::default()
    };
    for (position, key) in keys.iter().enumerate() {
        let pick = (choice >> ((position * 2) % 64)) & 3;
        let source = match pick {
            0 | 3 if a.users.iter().any(|u| u.id.as_ref() == Some(key)) => a,
            1 if b.users.iter().any(|u| u.id.as_ref() == Some(key)) => b,
            2 => continue,
            _ => {
                if a.users.iter().any(|u| u.id.as_ref() == Some(key)) {
                    a
                } else {
                    b
                }
            }
        };
        let mine = |user_id: &Option<String>| user_id.as_ref() == Some(key);
        out.users
            .extend(source.users.iter().filter(|u| mine(&u.id)).cloned());
        out.user_identifiers.extend(
            source
                .user_identifiers
                .iter()
                .filter(|r| mine(&r.user_id))
                .cloned(),
        );
        out.user_credentials.extend(
            source
                .user_credentials
                .iter()
                .filter(|r| mine(&r.user_id))
                .cloned(),
        );
        out.group_members.extend(
            source
                .group_members
                .iter()
                .filter(|r| mine(&r.user_id))
                .cloned(),
        );
    }
    for (position, identifier) in out.user_identifiers.iter_mut().enumerate() {
        match (ids, position % 2) {
            (1, _) | (2, 0) => identifier.id = None,
            (3, 0) => identifier.id = Some(format!("other-{position}")),
            _ => {}
        }
    }
    out
}

fn sieve_plan(
    current: &TenantDump,
    desired: &TenantDump,
    options: &DiffOptions,
) -> Result<(serde_json::Value, poolsync::sieve::SieveStats), String> {
    sieve_plan_checked(current, desired, options, false)
}

fn sieve_plan_checked(
    current: &TenantDump,
    desired: &TenantDump,
    options: &DiffOptions,
    check_desired: bool,
) -> Result<(serde_json::Value, poolsync::sieve::SieveStats), String> {
    sieve_plan_with(current, desired, options, |sieve| SieveOptions {
        check_desired,
        ..sieve
    })
    .map(|sifted| (serde_json::to_value(&sifted.plan).unwrap(), sifted.stats))
    .map_err(|error| match error {
        poolsync::sieve::PlanError::Diff(error) => format!("{error}: {:?}", error.problems),
        poolsync::sieve::PlanError::Desired { problems, .. } => format!("invalid: {problems:?}"),
        other => other.to_string(),
    })
}

/// The sieve's plan of two documents (the desired one written pretty), with `settings` made
/// of the plain settings for `options`.
fn sieve_plan_with<'o>(
    current: &TenantDump,
    desired: &TenantDump,
    options: &'o DiffOptions,
    settings: impl FnOnce(SieveOptions<'o>) -> SieveOptions<'o>,
) -> Result<poolsync::sieve::Sifted, poolsync::sieve::PlanError> {
    let current_bytes = serde_json::to_vec(current).unwrap();
    let desired_bytes = serde_json::to_vec_pretty(desired).unwrap();
    poolsync::sieve::plan(
        poolsync::sieve::Source::Memory {
            name: "current",
            bytes: &current_bytes,
        },
        poolsync::sieve::Source::Memory {
            name: "desired",
            bytes: &desired_bytes,
        },
        settings(SieveOptions::new(options)),
    )
}

fn markdown(plan: &poolsync::plan::Plan, options: &MarkdownOptions) -> String {
    let mut out = Vec::new();
    poolsync::markdown::render_markdown(plan, &mut out, options).unwrap();
    String::from_utf8(out).unwrap()
}

fn rendered(plan: &poolsync::plan::Plan, options: &TextOptions) -> String {
    let mut out = Vec::new();
    poolsync::render::render_text(plan, &mut out, options).unwrap();
    String::from_utf8(out).unwrap()
}

fn options_for(choice: u8) -> DiffOptions {
    let ignore = |paths: &[&str]| {
        paths
            .iter()
            .map(|p| poolsync::normalize::IgnorePath::parse(p).unwrap())
            .collect()
    };
    match choice % 9 {
        6 => DiffOptions {
            ignore: ignore(&["/*/name", "/*/*/verified", "/identifiers/*/id"]),
            ..DiffOptions::default()
        },
        7 => DiffOptions {
            ignore: ignore(&["/*", "/payload"]),
            ..DiffOptions::default()
        },
        8 => DiffOptions {
            ignore: ignore(&["/credentials/password/*", "/*/email:a@x.io", "/groups/g1"]),
            pools: vec!["p0".into(), "pool-0".into()],
            ..DiffOptions::default()
        },
        0 => DiffOptions::default(),
        1 => DiffOptions {
            ignore: ignore(&["/payload/name", "/metadata/x"]),
            ..DiffOptions::default()
        },
        2 => DiffOptions {
            ignore: ignore(&["/identifiers", "/groups"]),
            ..DiffOptions::default()
        },
        3 => DiffOptions {
            ignore: ignore(&["/credentials/password/payload", "/identifiers/*/verified"]),
            ..DiffOptions::default()
        },
        4 => DiffOptions {
            pools: vec!["pool-1".into()],
            prune: true,
            ..DiffOptions::default()
        },
        _ => DiffOptions {
            prune: true,
            protect: vec![glob::Pattern::new("user-0-*").unwrap()],
            ..DiffOptions::default()
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sifting_by_fingerprint_plans_what_the_exact_diff_plans(
        a in arb_dump(),
        b in arb_dump(),
        choice in any::<u64>(),
        ids in 0u8..4,
        seed in 0u64..1000,
        option in 0u8..9,
        current_has_ids in any::<bool>(),
    ) {
        let a = if current_has_ids { with_ids(a) } else { a };
        let b = with_ids(b);
        let desired = shuffled(&mixed(&a, &b, choice, ids), seed);
        let options = options_for(option);
        let exact = diff(&a, &desired, &options)
            .map(|plan| serde_json::to_value(&plan).unwrap())
            .map_err(|error| format!("{error}: {:?}", error.problems));
        let sifted = sieve_plan(&a, &desired, &options);
        prop_assert_eq!(sifted.as_ref().map(|(plan, _)| plan), exact.as_ref());
        // With the desired document checked first, as `plan` and `diff` do.
        let known_pools = poolsync::validate::ValidateOptions {
            known_pools: a.pools.iter().filter_map(|p| p.id.clone()).collect(),
        };
        let problems = poolsync::validate::validate(&desired, &known_pools);
        let exact_checked = if problems.is_empty() { exact } else { Err(format!("invalid: {problems:?}")) };
        let checked = sieve_plan_checked(&a, &desired, &options, true);
        prop_assert_eq!(checked.as_ref().map(|(plan, _)| plan), exact_checked.as_ref());
        // A plan made for a grouped text shows what the exact plan shows.
        if let Ok(exact) = diff(&a, &desired, &options) {
            let text = TextOptions { summary_threshold: 2, examples_per_group: 1, ..TextOptions::default() };
            let detail = Detail::Shown { threshold: 2, examples: 1 };
            let shown = sieve_plan_with(&a, &desired, &options, |sieve| SieveOptions { detail, ..sieve }).unwrap().plan;
            prop_assert_eq!(rendered(&shown, &text), rendered(&exact, &text));
            prop_assert_eq!(&shown.summary, &exact.summary);
            // A comment has room for fewer creates than it is planned for (the default budget
            // and `SHOWN_CREATES` scaled down together), so it renders as the exact plan does.
            let comment = MarkdownOptions { budget: 3_000, ..MarkdownOptions::default() };
            let detail = Detail::Shown { threshold: 2, examples: 3_000 / 30 };
            let shown = sieve_plan_with(&a, &desired, &options, |sieve| SieveOptions { detail, ..sieve }).unwrap().plan;
            prop_assert_eq!(markdown(&shown, &comment), markdown(&exact, &comment));
        }
    }

    #[test]
    fn creates_planned_without_their_records_are_sent_as_the_exact_plan_sends_them(
        a in arb_dump(),
        b in arb_dump(),
        choice in any::<u64>(),
        ids in 0u8..4,
        seed in 0u64..1000,
        option in 0u8..9,
    ) {
        let a = with_ids(a);
        let desired = shuffled(&mixed(&a, &with_ids(b), choice, ids), seed);
        let options = options_for(option);
        let current_bytes = serde_json::to_vec(&a).unwrap();
        let desired_bytes = serde_json::to_vec_pretty(&desired).unwrap();
        let current = Source::Memory { name: "current", bytes: &current_bytes };
        let desired = Source::Memory { name: "desired", bytes: &desired_bytes };
        let full = poolsync::sieve::plan(current, desired, SieveOptions::new(&options));
        let every_create_light = SieveOptions {
            detail: Detail::Shown { threshold: 0, examples: 0 },
            ..SieveOptions::new(&options)
        };
        let light = poolsync::sieve::plan(current, desired, every_create_light);
        let (Ok(full), Ok(light)) = (full, light) else {
            return Ok(());
        };
        let creates = full.plan.changes.iter().filter(|c| c.action == Action::Create).count();
        prop_assert_eq!(light.light.len() + light.desired.users.len(), full.desired.users.len());
        if full.stats.fell_back.is_none() && light.stats.fell_back.is_none() {
            prop_assert_eq!(light.light.len(), creates);
        }
        let now = "2026-01-01T00:00:00Z";
        let expected = build_batches(&full.plan, &full.current, &full.desired, "t", now, 3);
        let builder = BatchBuilder::new(&light.plan, &light.current, &light.desired, "t", now, 3);
        let mut sent: Vec<Batch> = builder.pool_batch().into_iter().collect();
        for n in 0..builder.user_batch_count() {
            let keys: Vec<UserKey> =
                builder.user_batch_changes(n).iter().map(|change| change.key()).collect();
            let more = light.light.read(desired, &keys.iter().collect::<Vec<_>>()).unwrap();
            prop_assert!(more.users.len() <= 3);
            sent.push(builder.user_batch_with(n, &more));
        }
        prop_assert_eq!(sent, expected);
    }

    #[test]
    fn a_document_against_itself_is_sifted_without_the_exact_diff(a in arb_dump(), seed in 0u64..1000) {
        let a = with_ids(a);
        let (plan, stats) = sieve_plan(&a, &shuffled(&a, seed), &DiffOptions::default()).unwrap();
        prop_assert_eq!(&stats.fell_back, &None);
        prop_assert_eq!(plan["summary"]["unchanged"].as_u64(), Some(a.users.len() as u64));
        // Only a user in one group twice (which the exact diff counts once) needs a second look.
        let twice = a.users.iter().filter(|user| {
            let groups: Vec<_> = a.group_members.iter().filter(|m| m.user_id == user.id).map(|m| &m.group_id).collect();
            groups.iter().collect::<std::collections::BTreeSet<_>>().len() < groups.len()
        }).count();
        prop_assert_eq!(stats.diffed_in_full, 2 * twice);
        prop_assert_eq!(stats.unchanged_by_fingerprint, a.users.len() - twice);
    }
}

/// serde_json's compact form with every non-ASCII character and every `e` written as a `\u`
/// escape, so that keys and sort-key values are not in the text as they read.
struct Escaping;

impl serde_json::ser::Formatter for Escaping {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for character in fragment.chars() {
            if character.is_ascii() && character != 'e' {
                writer.write_all(&[character as u8])?;
            } else {
                for unit in character.encode_utf16(&mut [0; 2]) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// An export's body: `dump` shuffled, with codes, unknown fields (at the top and in records),
/// unicode and sort-key ties, its top-level fields in any order, written compact, pretty or
/// escaped.
fn export_body(dump: &TenantDump, texts: &[String], seed: u64, style: u8) -> Vec<u8> {
    let mut dump = shuffled(dump, seed);
    for (number, user) in dump.users.iter_mut().enumerate() {
        if let Some(text) = texts.get(number % texts.len().max(1)) {
            user.extra.insert("nickname".into(), json!(text));
            user.metadata = Some(
                json!({"z": [number, text], "a": null})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
        }
        if number % 3 == 0 {
            dump.codes.push(poolsync::model::Code {
                id: Some(format!("code-{number}")),
                user_id: user.id.clone(),
                code: Some(SecretValue(json!("123456"))),
                ..poolsync::model::Code::default()
            });
        }
    }
    for (number, identifier) in dump.user_identifiers.iter_mut().enumerate() {
        // Identifiers differ by value, or tie on the whole key (then their order stands).
        if number % 2 == 0 {
            identifier.identifier_lc = identifier.identifier.as_ref().map(|i| i.to_lowercase());
        }
        if let Some(text) = texts
            .get(number % texts.len().max(1))
            .filter(|_| number % 4 == 1)
        {
            identifier.id = Some(format!("{text}-{number}"));
        }
    }
    // Records with equal sort keys but other content keep their order.
    let copies: Vec<_> = dump.user_credentials.iter().step_by(2).cloned().collect();
    for mut copy in copies {
        copy.extra.insert("copy".into(), json!(true));
        dump.user_credentials.push(copy);
    }
    if let Some(user) = dump.users.first() {
        let mut copy = user.clone();
        copy.status = Some("copy".into());
        dump.users.insert(dump.users.len() / 2, copy);
    }
    for (number, member) in dump.group_members.iter_mut().enumerate() {
        member.extra.insert("n".into(), json!(number));
    }
    let mut fields: Vec<(String, serde_json::Value)> = vec![
        ("pools".into(), json!(dump.pools)),
        ("users".into(), json!(dump.users)),
        ("user_identifiers".into(), json!(dump.user_identifiers)),
        ("user_credentials".into(), json!(dump.user_credentials)),
        ("codes".into(), json!(dump.codes)),
        ("group_members".into(), json!(dump.group_members)),
        (
            "groups".into(),
            json!([{"id": "g2", "user_pool_id": "pool-1"}, {"id": "g1", "user_pool_id": "pool-0", "name": texts.first()}]),
        ),
        ("user_verifiable_addresses".into(), serde_json::Value::Null),
        ("zeta".into(), json!({"texts": texts, "n": [1, 2.5, -3]})),
        ("alpha".into(), json!([])),
    ];
    let by = (seed as usize) % fields.len();
    fields.rotate_left(by);
    let mut body = if style == 3 {
        b"\xEF\xBB\xBF\n".to_vec()
    } else {
        Vec::new()
    };
    body.push(b'{');
    for (number, (key, value)) in fields.iter().enumerate() {
        if number > 0 {
            body.extend_from_slice(if style == 1 { b",\n  " } else { b"," });
        }
        write_json(key, &mut body, style);
        body.push(b':');
        write_json(value, &mut body, style);
    }
    body.extend_from_slice(b"}\n");
    body
}

/// Writes a value in one of the body's styles.
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>, style: u8) {
    match style {
        1 => serde_json::to_writer_pretty(out, value).unwrap(),
        2 => value
            .serialize(&mut serde_json::Serializer::with_formatter(out, Escaping))
            .unwrap(),
        _ => serde_json::to_writer(out, value).unwrap(),
    }
}

/// What `poolsync export` wrote before it streamed: the whole body parsed, filtered, sorted.
fn typed_export(body: &[u8], pools: &[String]) -> Result<(Vec<u8>, usize, usize), String> {
    let mut dump = poolsync::load::parse_dump(body, "response body").map_err(|e| e.to_string())?;
    poolsync::export::filter_pools(&mut dump, pools);
    poolsync::export::canonicalize(&mut dump);
    let mut out = Vec::new();
    poolsync::export::to_pretty_json(&dump, &mut out).unwrap();
    Ok((out, dump.pools.len(), dump.users.len()))
}

/// The export written from `body`, held in memory or spooled to a file.
fn streamed_export(
    body: &[u8],
    pools: &[String],
    spooled: bool,
) -> Result<(Vec<u8>, usize, usize), String> {
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, body).unwrap();
    let source = if spooled {
        poolsync::sieve::Source::Handle {
            name: "response body",
            file: &file,
        }
    } else {
        poolsync::sieve::Source::Memory {
            name: "response body",
            bytes: body,
        }
    };
    let export = poolsync::export::CanonicalExport::index(source, pools, &|_| {}, u64::MAX)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    export.write(&mut out, &|_| {}).unwrap();
    let counts = export.counts();
    Ok((out, counts.pools, counts.users))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_streamed_export_writes_what_the_typed_export_writes(
        dump in arb_dump(),
        texts in prop::collection::vec("\\PC{0,6}", 0..4),
        seed in 0u64..1000,
        style in 0u8..4,
        filter in 0usize..6,
        cut in prop::option::weighted(0.15, any::<prop::sample::Index>()),
    ) {
        let pools: Vec<String> = match filter {
            0 => vec![],
            1 => vec!["pool-0".into()],
            2 => vec!["pool-1".into(), "pool-0".into()],
            3 => vec!["nowhere".into()],
            4 => vec!["pool-1".into(), "".into()],
            _ => vec!["pool-1".into()],
        };
        let mut body = export_body(&dump, &texts, seed, style);
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len()));
        }
        let typed = typed_export(&body, &pools);
        let streamed = streamed_export(&body, &pools, seed % 2 == 1);
        prop_assert_eq!(
            streamed.as_ref().map(|(out, pools, users)| (String::from_utf8_lossy(out), pools, users)),
            typed.as_ref().map(|(out, pools, users)| (String::from_utf8_lossy(out), pools, users))
        );
        if cut.is_none() {
            let source = poolsync::sieve::Source::Memory { name: "response body", bytes: &body };
            let export = poolsync::export::CanonicalExport::index(source, &pools, &|_| {}, u64::MAX).unwrap();
            prop_assert!(!export.read_whole(), "an ordinary document is read a record at a time");
        }
    }
}

/// One of `values`, or absent.
fn maybe(values: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.85, prop::sample::select(values)).prop_map(|v| v.map(String::from))
}

/// A document with every kind of problem `validate` finds, at random: missing and unknown
/// values, duplicate users and pools, users in several pools, identifiers held twice or given
/// twice, orphans, sub-records naming no pool, memberships without a group, reserved fields.
fn arb_messy_dump() -> impl Strategy<Value = TenantDump> {
    const USERS: &[&str] = &["u0", "u1", "u2", "u3", "ü4", ""];
    const POOLS: &[&str] = &["p0", "p1", "p2"];
    let pools = prop::collection::vec((maybe(POOLS), maybe(&["P"])), 0..4).prop_map(|pools| {
        pools
            .into_iter()
            .map(|(id, name)| Pool {
                id,
                name,
                ..Pool::default()
            })
            .collect::<Vec<_>>()
    });
    let users = prop::collection::vec(
        (
            maybe(USERS),
            maybe(POOLS),
            maybe(&["active", "new", "activ"]),
            prop::bool::weighted(0.05),
        ),
        0..8,
    )
    .prop_map(|users| {
        users
            .into_iter()
            .map(|(id, pool, status, reserved)| {
                let mut user = User {
                    id,
                    user_pool_id: pool,
                    status,
                    ..User::default()
                };
                if reserved {
                    user.extra.insert("groups".into(), json!(["g"]));
                }
                user
            })
            .collect::<Vec<_>>()
    });
    let identifiers = prop::collection::vec(
        (
            maybe(USERS),
            prop::option::weighted(0.3, prop::sample::select(POOLS)),
            maybe(&["email", "mobile", "uid", "fax"]),
            maybe(&[
                "a@x.io",
                "A@x.io",
                "b@x.io",
                "+4915112345678",
                "0151 1",
                "zz",
            ]),
            prop::option::weighted(0.3, prop::sample::select(vec!["i1", "i2"])),
        ),
        0..8,
    )
    .prop_map(|identifiers| {
        identifiers
            .into_iter()
            .map(|(user, pool, kind, value, id)| UserIdentifier {
                user_id: user,
                user_pool_id: pool.map(String::from),
                kind,
                identifier: value,
                id: id.map(String::from),
                ..UserIdentifier::default()
            })
            .collect::<Vec<_>>()
    });
    let addresses = prop::collection::vec(
        (
            maybe(USERS),
            maybe(&["email", "mobile", "pager"]),
            maybe(&["a@x.io", "not-mail"]),
            maybe(&["active", "gone"]),
            prop::option::weighted(0.8, any::<bool>()),
        ),
        0..4,
    )
    .prop_map(|addresses| {
        addresses
            .into_iter()
            .map(
                |(user, kind, address, status, verified)| poolsync::model::UserVerifiableAddress {
                    user_id: user,
                    kind,
                    address,
                    status,
                    verified,
                    ..Default::default()
                },
            )
            .collect::<Vec<_>>()
    });
    let credentials = prop::collection::vec(
        (
            maybe(USERS),
            maybe(&["password", "webauthn", "pin"]),
            prop::option::weighted(0.3, prop::sample::select(vec!["c1", "c2"])),
            any::<bool>(),
            prop::option::weighted(0.2, prop::sample::select(vec!["valid", "broken"])),
        ),
        0..4,
    )
    .prop_map(|credentials| {
        credentials
            .into_iter()
            .map(|(user, kind, id, payload, state)| UserCredential {
                user_id: user,
                kind,
                id: id.map(String::from),
                payload: payload.then(|| SecretValue(json!({"hashed_password": "h"}))),
                state: state.map(String::from),
                ..UserCredential::default()
            })
            .collect::<Vec<_>>()
    });
    let groups = prop::collection::vec((maybe(&["g1", "g2"]), maybe(POOLS)), 0..3);
    let members = prop::collection::vec(
        (
            maybe(&["g1", "g2"]),
            maybe(USERS),
            prop::option::weighted(0.3, prop::sample::select(POOLS)),
        ),
        0..5,
    );
    (
        pools,
        users,
        identifiers,
        addresses,
        credentials,
        groups,
        members,
    )
        .prop_map(
            |(pools, users, identifiers, addresses, credentials, groups, members)| TenantDump {
                pools,
                users,
                user_identifiers: identifiers,
                user_verifiable_addresses: addresses,
                user_credentials: credentials,
                groups: groups
                    .into_iter()
                    .map(|(id, pool)| poolsync::model::InternalGroup {
                        id,
                        user_pool_id: pool,
                        ..Default::default()
                    })
                    .collect(),
                group_members: members
                    .into_iter()
                    .map(|(group, user, pool)| GroupMember {
                        group_id: group,
                        user_id: user,
                        user_pool_id: pool.map(String::from),
                        ..GroupMember::default()
                    })
                    .collect(),
                ..TenantDump::default()
            },
        )
}

/// `dump` as JSON with its top-level fields in a rotated order, pretty or compact.
fn written(dump: &TenantDump, rotate: usize, pretty: bool) -> Vec<u8> {
    let serde_json::Value::Object(fields) = serde_json::to_value(dump).unwrap() else {
        unreachable!("a document is an object");
    };
    let mut fields: Vec<(String, serde_json::Value)> = fields.into_iter().collect();
    if !fields.is_empty() {
        let by = rotate % fields.len();
        fields.rotate_left(by);
    }
    let mut out = b"{".to_vec();
    for (number, (key, value)) in fields.iter().enumerate() {
        if number > 0 {
            out.extend_from_slice(b",\n");
        }
        write_json(key, &mut out, 0);
        out.push(b':');
        write_json(value, &mut out, u8::from(pretty));
    }
    out.push(b'}');
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_streamed_validation_finds_what_the_whole_document_validation_finds(
        dump in arb_messy_dump(),
        rotate in 0usize..10,
        pretty in any::<bool>(),
        known in prop::sample::select(vec![vec![], vec!["p2".to_string()]]),
    ) {
        let options = poolsync::validate::ValidateOptions { known_pools: known };
        let whole = poolsync::validate::validate(&dump, &options);
        let bytes = written(&dump, rotate, pretty);
        let source = poolsync::sieve::Source::Memory { name: "desired", bytes: &bytes };
        let streamed = poolsync::sieve::validate(source, &options, u64::MAX).unwrap();
        prop_assert_eq!(&streamed.problems, &whole);
        prop_assert_eq!(streamed.users, dump.users.len());
        prop_assert_eq!(streamed.pools_with_users, poolsync::sieve::pools_with_users(&dump));
    }

    #[test]
    fn sifting_documents_with_problems_fails_as_the_exact_path_fails(
        current in arb_messy_dump(),
        desired in arb_messy_dump(),
        rotate in 0usize..10,
        option in 0u8..8,
        check in any::<bool>(),
        scope_current in any::<bool>(),
    ) {
        let options = options_for(option);
        let mut scoped = current.clone();
        if scope_current {
            poolsync::export::filter_pools(&mut scoped, &options.pools);
        }
        let exact = {
            let known = poolsync::validate::ValidateOptions {
                known_pools: scoped.pools.iter().filter_map(|p| p.id.clone()).collect(),
            };
            let problems = poolsync::validate::validate(&desired, &known);
            if check && !problems.is_empty() {
                Err(format!("invalid: {problems:?}"))
            } else {
                diff(&scoped, &desired, &options)
                    .map(|plan| serde_json::to_value(&plan).unwrap())
                    .map_err(|error| format!("{error}: {:?}", error.problems))
            }
        };
        let current_bytes = written(&current, rotate, false);
        let desired_bytes = written(&desired, rotate + 3, true);
        let sifted = poolsync::sieve::plan(
            poolsync::sieve::Source::Memory { name: "current", bytes: &current_bytes },
            poolsync::sieve::Source::Memory { name: "desired", bytes: &desired_bytes },
            poolsync::sieve::SieveOptions {
                check_desired: check,
                scope_current,
                ..poolsync::sieve::SieveOptions::new(&options)
            },
        );
        let sifted = match sifted {
            Ok(sifted) => {
                prop_assert_eq!(&sifted.stats.fell_back, &None);
                Ok(serde_json::to_value(&sifted.plan).unwrap())
            }
            Err(poolsync::sieve::PlanError::Diff(error)) => Err(format!("{error}: {:?}", error.problems)),
            Err(poolsync::sieve::PlanError::Desired { problems, .. }) => Err(format!("invalid: {problems:?}")),
            Err(other) => Err(other.to_string()),
        };
        prop_assert_eq!(sifted, exact);
    }
}

/// A migration's outcome, comparable: the desired state in canonical order with the migration's
/// decisions, or the error.
fn migrated_outcome(
    result: Result<(poolsync::migrate::Migration, TenantDump), String>,
) -> Result<serde_json::Value, String> {
    result.map(|(migration, mut desired)| {
        poolsync::export::canonicalize(&mut desired);
        json!({
            "desired": desired,
            "id_map": migration.id_map,
            "held_back": migration.held_back,
            "target_pools": migration.target_pools,
            "pool_mapping": migration.pool_mapping,
            "warnings": migration.warnings,
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_streamed_migration_migrates_what_the_in_memory_transform_migrates(
        source in arb_dump(),
        target in arb_dump(),
        choice in any::<u64>(),
        settings in 0u8..16,
        leave in any::<bool>(),
    ) {
        use poolsync::migrate::{CredentialPolicy, MatchBy, MigrateOptions};
        let mut target = mixed(&target, &source, choice, settings % 4);
        let mut source = source;
        // Identifiers that users share (by their local part alone), so that users claim each
        // other's: held back, matched twice, claimed twice.
        if choice % 3 == 0 {
            for identifier in source.user_identifiers.iter_mut().chain(&mut target.user_identifiers) {
                if let Some(value) = &mut identifier.identifier {
                    *value = format!("{}@x.io", value.split('.').next().unwrap_or_default());
                }
            }
        }
        let mut options = MigrateOptions {
            target_tenant: "dst".into(),
            credentials: match settings % 3 {
                0 => CredentialPolicy::Keep,
                1 => CredentialPolicy::ForceReset,
                _ => CredentialPolicy::Drop,
            },
            match_by: if settings & 4 == 0 { MatchBy::Id } else { MatchBy::Identifier },
            ..MigrateOptions::default()
        };
        if settings & 8 != 0 {
            options.pool_map.insert("pool-0".into(), "pool-1".into());
        }
        if settings == 3 {
            options.pools = vec!["pool-1".into()];
        }
        // A few users left out afterwards, as `--mode fail` leaves out those that differ.
        let gone: std::collections::BTreeSet<poolsync::index::UserKey> = if leave {
            target.users.iter().take(2).filter_map(|u| Some(poolsync::index::UserKey {
                pool_id: u.user_pool_id.clone()?,
                user_id: u.id.clone()?,
            })).collect()
        } else {
            Default::default()
        };
        let in_memory = poolsync::migrate::transform(&source, &target, &options)
            .map(|(mut migration, mut desired)| {
                migration.leave_out(&gone);
                poolsync::migrate::leave_out(&mut desired, &gone);
                (migration, desired)
            })
            .map_err(|error| format!("{error}: {error:?}"));
        let source_bytes = written(&source, choice as usize, false);
        let target_bytes = written(&target, (choice >> 8) as usize, true);
        let streamed = poolsync::sieve::migrate(
            poolsync::sieve::Source::Memory { name: "source", bytes: &source_bytes },
            poolsync::sieve::Source::Memory { name: "target", bytes: &target_bytes },
            &options,
            u64::MAX,
        )
        .map_err(|error| match error {
            poolsync::sieve::MigrationError::Migrate(error) => format!("{error}: {error:?}"),
            other => other.to_string(),
        })
        .and_then(|mut spooled| {
            spooled.leave_out(&gone).map_err(|error| error.to_string())?;
            let mut text = Vec::new();
            let poolsync::sieve::Source::Handle { file, .. } = spooled.desired() else {
                unreachable!("the desired document is spooled");
            };
            std::io::Read::read_to_end(&mut std::io::Seek::seek(&mut &*file, std::io::SeekFrom::Start(0)).map(|_| file).unwrap(), &mut text).unwrap();
            let desired = poolsync::load::parse_dump(&text, "spooled").map_err(|error| error.to_string())?;
            Ok((spooled.migration.clone(), desired))
        });
        prop_assert_eq!(migrated_outcome(streamed), migrated_outcome(in_memory));
    }
}
