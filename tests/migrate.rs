//! End-to-end tests of `migrate`: the real binary moves users between two emulated tenants,
//! each on its own 127.0.0.1:0 server with its own client, over HTTP. Both profiles live in a
//! temporary `poolsync.toml` whose secrets come from `client_secret_env` variables.

use crate::support::{poolsync, root, snapshot_output as snapshot, transcript};
use poolsync::emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use poolsync::index::TenantIndex;
use poolsync::load::read_dump;
use poolsync::model::TenantDump;
use poolsync::normalize::normalize_user;
use poolsync::synth::{self, TenantOptions};
use std::path::{Path, PathBuf};
use std::process::Output;

const SOURCE: &str = "acme";
const TARGET: &str = "acme-eu";
const SOURCE_CLIENT: &str = "migrator-src";
const TARGET_CLIENT: &str = "migrator-dst";
const SOURCE_SECRET: &str = "source-client-secret-never-shown";
const TARGET_SECRET: &str = "target-client-secret-never-shown";

/// Two emulated tenants and a config file with a profile for each.
struct Tenants {
    source: EmulatorHandle,
    target: EmulatorHandle,
    directory: tempfile::TempDir,
}

impl Tenants {
    fn new(source: TenantDump, target: TenantDump) -> Tenants {
        let start = |tenant: &str, seed: TenantDump, client: &str, secret: &str| {
            let config = EmulatorConfig::new()
                .tenant(tenant, retenant(seed, tenant))
                .client(client, secret, &[]);
            Emulator::start_in_background(config).expect("the emulator starts")
        };
        let tenants = Tenants {
            source: start(SOURCE, source, SOURCE_CLIENT, SOURCE_SECRET),
            target: start(TARGET, target, TARGET_CLIENT, TARGET_SECRET),
            directory: tempfile::tempdir().unwrap(),
        };
        let config = format!(
            "[profiles.src]\nurl = \"{}\"\ntenant = \"{SOURCE}\"\nclient_id = \"{SOURCE_CLIENT}\"\nclient_secret_env = \"MIGRATE_TEST_SRC_SECRET\"\n\n\
             [profiles.dst]\nurl = \"{}\"\ntenant = \"{TARGET}\"\nclient_id = \"{TARGET_CLIENT}\"\nclient_secret_env = \"MIGRATE_TEST_DST_SECRET\"\n",
            tenants.source.url(),
            tenants.target.url()
        );
        std::fs::write(tenants.config(), config).unwrap();
        tenants
    }

    fn config(&self) -> PathBuf {
        self.directory.path().join("poolsync.toml")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// `poolsync --config FILE migrate --to dst ARGS` (plus `--from src` unless `--from-file`).
    fn migrate(&self, args: &[&str]) -> Output {
        let mut command = poolsync();
        command
            .env("MIGRATE_TEST_SRC_SECRET", SOURCE_SECRET)
            .env("MIGRATE_TEST_DST_SECRET", TARGET_SECRET)
            .arg("--config")
            .arg(self.config())
            .args(["migrate", "--to", "dst"]);
        if !args.contains(&"--from-file") {
            command.args(["--from", "src"]);
        }
        let output = command.args(args).output().expect("poolsync runs");
        assert_no_secrets(&transcript(&output));
        output
    }

    fn target_dump(&self) -> TenantDump {
        self.target.tenant_dump(TARGET).unwrap()
    }

    /// Import requests the target received, as (mode, users, status).
    fn imports(&self) -> Vec<(Option<String>, Option<usize>, u16)> {
        self.target
            .request_log()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .map(|r| (r.mode, r.users_in_body, r.status))
            .collect()
    }
}

fn retenant(mut dump: TenantDump, tenant: &str) -> TenantDump {
    let id = Some(tenant.to_string());
    dump.pools.iter_mut().for_each(|r| r.tenant_id = id.clone());
    dump.schemas
        .iter_mut()
        .for_each(|r| r.tenant_id = id.clone());
    dump.users.iter_mut().for_each(|r| r.tenant_id = id.clone());
    dump.user_identifiers
        .iter_mut()
        .for_each(|r| r.tenant_id = id.clone());
    dump.user_verifiable_addresses
        .iter_mut()
        .for_each(|r| r.tenant_id = id.clone());
    dump.user_credentials
        .iter_mut()
        .for_each(|r| r.tenant_id = id.clone());
    dump.groups
        .iter_mut()
        .for_each(|r| r.tenant_id = id.clone());
    dump.group_members
        .iter_mut()
        .for_each(|r| r.tenant_id = id.clone());
    dump
}

fn assert_no_secrets(text: &str) {
    for secret in [SOURCE_SECRET, TARGET_SECRET, "$2a$"] {
        assert!(!text.contains(secret), "`{secret}` leaked:\n{text}");
    }
}

fn acme() -> TenantDump {
    read_dump(&root().join("examples/acme/export.json")).unwrap()
}

/// The pools and schemas of acme, without users: a target ready to receive them.
fn acme_pools_only() -> TenantDump {
    let acme = acme();
    TenantDump {
        pools: acme.pools,
        schemas: acme.schemas,
        ..TenantDump::default()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", transcript(output));
}

/// A user of a dump in normalized form (what the diff compares), by pool and id.
fn normalized(dump: &TenantDump, pool: &str, user: &str) -> serde_json::Value {
    let index = TenantIndex::build(dump);
    let (_, aggregate) = index
        .users
        .iter()
        .find(|(key, _)| key.pool_id == pool && key.user_id == user)
        .unwrap_or_else(|| panic!("user `{user}` in pool `{pool}`"));
    let mut value = normalize_user(aggregate, None).value;
    // Sub-record ids are the target's business; the content must match.
    for section in ["identifiers", "verifiable_addresses", "credentials"] {
        if let Some(records) = value.get_mut(section).and_then(|v| v.as_object_mut()) {
            for record in records.values_mut() {
                record.as_object_mut().unwrap().remove("id");
            }
        }
    }
    value
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn five_thousand_users_across_two_mapped_pools_converge_and_a_second_run_writes_nothing() {
    let source = synth::tenant(&TenantOptions {
        tenant_id: SOURCE.into(),
        users: 5000,
        pools: 2,
        seed: 11,
    });
    let tenants = Tenants::new(source.clone(), TenantDump::default());
    let output = tenants.migrate(&[
        "--pool-map",
        "pool-0=eu-customers",
        "--pool-map",
        "pool-1=eu-staff",
        "--auto-approve",
    ]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(
        text.contains("Plan: 5,000 to create, 0 to update. 0 unchanged, 0 unmanaged"),
        "{text}"
    );
    assert!(
        text.contains("Apply complete: 5,000 created, 0 updated, verified."),
        "{text}"
    );
    assert!(
        tenants
            .imports()
            .iter()
            .all(|(mode, _, status)| mode.as_deref() == Some("fail") && *status == 204)
    );

    let target = tenants.target_dump();
    let mut pools: Vec<_> = target.pools.iter().map(|p| p.id.clone().unwrap()).collect();
    pools.sort();
    assert_eq!(pools, ["eu-customers", "eu-staff"]);
    assert_eq!(target.users.len(), 5000);
    for user in source.users.iter().step_by(397) {
        let pool = user.user_pool_id.as_deref().unwrap();
        let target_pool = if pool == "pool-0" {
            "eu-customers"
        } else {
            "eu-staff"
        };
        let id = user.id.as_deref().unwrap();
        assert_eq!(
            normalized(&target, target_pool, id),
            normalized(&source, pool, id)
        );
    }

    tenants.target.clear_request_log();
    let again = tenants.migrate(&[
        "--pool-map",
        "pool-0=eu-customers",
        "--pool-map",
        "pool-1=eu-staff",
        "--auto-approve",
    ]);
    assert_exit(&again, 0);
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    assert!(
        tenants.imports().is_empty(),
        "a second run must write nothing"
    );
}

#[test]
fn a_small_migration_shows_its_plan_and_converges() {
    let tenants = Tenants::new(acme(), TenantDump::default());
    let output = tenants.migrate(&["--pool-map", "customers=shop", "--auto-approve"]);
    assert_exit(&output, 0);
    snapshot("migrate_plan_and_summary", &output);
    let target = tenants.target_dump();
    assert_eq!(target.users.len(), 8);
    assert!(target.codes.is_empty(), "one-time codes never move");
    let members: Vec<_> = target
        .group_members
        .iter()
        .map(|m| (m.group_id.clone().unwrap(), m.user_pool_id.clone().unwrap()))
        .collect();
    assert_eq!(
        members,
        acme()
            .group_members
            .iter()
            .map(|m| (m.group_id.clone().unwrap(), m.user_pool_id.clone().unwrap()))
            .collect::<Vec<_>>()
    );
    assert_eq!(target.groups.len(), acme().groups.len());
}

#[test]
fn without_a_terminal_migrate_refuses_unless_auto_approved() {
    let tenants = Tenants::new(acme(), acme_pools_only());
    let output = tenants.migrate(&[]);
    assert_exit(&output, 1);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("refusing to apply without confirmation"),
        "{}",
        transcript(&output)
    );
    assert!(tenants.imports().is_empty());
}

/// acme as a target that already holds two users of the source, changed there.
fn target_with_changed_users() -> TenantDump {
    let mut target = acme();
    for user in &mut target.users {
        match user.id.as_deref() {
            Some("6b01877f-3ce9-5fd1-9363-59bcfe4334f4") => {
                user.payload
                    .as_mut()
                    .unwrap()
                    .insert("family_name".into(), "Jensen-Holm".into());
            }
            Some("a9786b56-52ba-5b36-b2a2-1589d049430c") => user.status = Some("inactive".into()),
            _ => {}
        }
    }
    // Two source users are not in the target yet.
    let missing = [
        "30727807-6137-5102-bf6a-60712d6ec654",
        "26169c3a-33ae-540f-8906-4588fa829b16",
    ];
    let keep = |id: &Option<String>| !missing.contains(&id.as_deref().unwrap_or_default());
    target.users.retain(|u| keep(&u.id));
    target.user_identifiers.retain(|r| keep(&r.user_id));
    target
        .user_verifiable_addresses
        .retain(|r| keep(&r.user_id));
    target.user_credentials.retain(|r| keep(&r.user_id));
    target.group_members.retain(|r| keep(&r.user_id));
    target.codes.clear();
    target
}

#[test]
fn conflicts_are_listed_and_left_alone_under_mode_fail_and_replaced_under_mode_update() {
    let tenants = Tenants::new(acme(), target_with_changed_users());
    let before = tenants.target_dump();
    let output = tenants.migrate(&["--auto-approve"]);
    assert_exit(&output, 0);
    snapshot("migrate_conflicts_mode_fail", &output);
    assert!(
        tenants
            .imports()
            .iter()
            .all(|(mode, _, status)| mode.as_deref() == Some("fail") && *status == 204)
    );
    let after = tenants.target_dump();
    assert_eq!(after.users.len(), 8, "the two missing users were created");
    for (pool, id) in [
        ("customers", "6b01877f-3ce9-5fd1-9363-59bcfe4334f4"),
        ("partners", "a9786b56-52ba-5b36-b2a2-1589d049430c"),
    ] {
        assert_eq!(
            normalized(&after, pool, id),
            normalized(&before, pool, id),
            "`{id}` must not be overwritten"
        );
    }

    tenants.target.clear_request_log();
    let update = tenants.migrate(&["--mode", "update", "--auto-approve"]);
    assert_exit(&update, 0);
    assert!(
        stdout(&update).contains("Apply complete: 0 created, 2 updated, verified."),
        "{}",
        stdout(&update)
    );
    let replaced = tenants.target_dump();
    for (pool, id) in [
        ("customers", "6b01877f-3ce9-5fd1-9363-59bcfe4334f4"),
        ("partners", "a9786b56-52ba-5b36-b2a2-1589d049430c"),
    ] {
        assert_eq!(
            normalized(&replaced, pool, id),
            normalized(&acme(), pool, id)
        );
    }

    tenants.target.clear_request_log();
    let again = tenants.migrate(&["--mode", "update", "--auto-approve"]);
    assert_exit(&again, 0);
    assert!(tenants.imports().is_empty(), "{}", transcript(&again));
}

/// acme's customers as a target where three of them exist under other ids (the same people,
/// signed up separately), and nothing else.
fn target_with_the_same_people_under_other_ids() -> (TenantDump, Vec<(String, String)>) {
    let acme = acme();
    let people = [
        (
            "6b01877f-3ce9-5fd1-9363-59bcfe4334f4",
            "11111111-0000-4000-8000-000000000001",
        ),
        (
            "5f4aabb8-3c0e-551b-bf67-d30092287844",
            "11111111-0000-4000-8000-000000000002",
        ),
        (
            "48e90a9e-3ea2-5ce9-bdda-78fc13059ab4",
            "11111111-0000-4000-8000-000000000003",
        ),
    ];
    let new_id = |id: &Option<String>| {
        people
            .iter()
            .find(|(old, _)| Some(*old) == id.as_deref())
            .map(|(_, new)| new.to_string())
    };
    let mut target = acme_pools_only();
    target.users = acme
        .users
        .iter()
        .filter_map(|u| {
            let mut u = u.clone();
            u.id = Some(new_id(&u.id)?);
            Some(u)
        })
        .collect();
    let mut counter = 0;
    let mut fresh = || {
        counter += 1;
        Some(format!("22222222-0000-4000-8000-{counter:012}"))
    };
    // Each sub-record of those people, under the new user id and an id of its own.
    macro_rules! copy_records {
        ($($field:ident),*) => {$(
            for record in &acme.$field {
                if let Some(user) = new_id(&record.user_id) {
                    let mut record = record.clone();
                    record.user_id = Some(user);
                    record.id = fresh();
                    target.$field.push(record);
                }
            }
        )*};
    }
    copy_records!(
        user_identifiers,
        user_verifiable_addresses,
        user_credentials
    );
    let pairs = people
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    (target, pairs)
}

const MATCH_CUSTOMERS: &[&str] = &["--match-by", "identifier", "--pool", "customers"];

#[test]
fn matching_by_identifier_reuses_target_ids_and_writes_the_id_map() {
    let (target, people) = target_with_the_same_people_under_other_ids();
    let tenants = Tenants::new(acme(), target);

    // First the plan alone, saved, with the id map as JSON: nothing is sent.
    let planfile = tenants.path("migration-plan.json");
    let json_map = tenants.path("ids.json");
    let planned = tenants.migrate(
        &[
            MATCH_CUSTOMERS,
            &[
                "--id-map-out",
                json_map.to_str().unwrap(),
                "-o",
                planfile.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_exit(&planned, 0);
    snapshot("migrate_match_by_identifier_plan", &planned);
    assert!(tenants.imports().is_empty(), "`-o` only saves the plan");
    let saved = std::fs::read_to_string(&planfile).unwrap();
    assert_eq!(mode_of(&planfile), 0o600);
    assert_no_secrets(&saved);
    for personal in ["@example", "Jensen", "+45"] {
        assert!(
            !saved.contains(personal),
            "`{personal}` in the saved plan:\n{saved}"
        );
    }
    let mappings: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json_map).unwrap()).unwrap();
    assert_eq!(mappings.len(), 6);

    // The saved plan refuses to stand for a migration with other options.
    let other = tenants.migrate(
        &[
            MATCH_CUSTOMERS,
            &[
                "--credentials",
                "drop",
                "--plan",
                planfile.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_exit(&other, 4);
    assert!(tenants.imports().is_empty());

    // `apply` does not take it for one of its own plans.
    let mut apply = poolsync();
    apply.args(["apply", planfile.to_str().unwrap()]);
    let apply = apply.output().unwrap();
    assert_exit(&apply, 1);
    assert!(
        String::from_utf8_lossy(&apply.stderr).contains("is a plan of `poolsync migrate`"),
        "{}",
        transcript(&apply)
    );

    // Applying the saved plan needs no confirmation.
    let csv_map = tenants.path("ids.csv");
    let output = tenants.migrate(
        &[
            MATCH_CUSTOMERS,
            &[
                "--id-map-out",
                csv_map.to_str().unwrap(),
                "--plan",
                planfile.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("Apply complete: 3 created, 0 updated, verified."),
        "{}",
        stdout(&output)
    );
    assert_eq!(mode_of(&csv_map), 0o600);
    let csv = std::fs::read_to_string(&csv_map).unwrap();
    assert_no_secrets(&csv);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("source_pool,source_user_id,target_pool,target_user_id,matched_by")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    for (source_id, target_id) in &people {
        let row = rows.iter().find(|r| r[1] == source_id).unwrap();
        assert_eq!(
            row,
            &[
                "customers",
                source_id.as_str(),
                "customers",
                target_id.as_str(),
                "email"
            ]
        );
    }
    for row in rows
        .iter()
        .filter(|r| !people.iter().any(|(s, _)| s == r[1]))
    {
        assert_eq!((row[1], row[3], row[4]), (row[1], row[1], "new"), "{row:?}");
    }
    // The matched people kept their target ids: no duplicates were created.
    let after = tenants.target_dump();
    assert_eq!(after.users.len(), 6);
    assert_eq!(
        after.user_identifiers.len(),
        acme()
            .user_identifiers
            .iter()
            .filter(|i| i.user_pool_id.as_deref() == Some("customers"))
            .count()
    );

    tenants.target.clear_request_log();
    let again = tenants.migrate(&[MATCH_CUSTOMERS, &["--auto-approve"]].concat());
    assert_exit(&again, 0);
    assert!(tenants.imports().is_empty(), "{}", transcript(&again));
}

#[test]
fn two_source_users_claiming_one_target_identifier_is_an_error_listing_both() {
    let mut source = acme();
    // A partner signed up as a customer too, with the same e-mail address.
    let grace = source
        .user_identifiers
        .iter_mut()
        .find(|i| i.identifier.as_deref() == Some("grace.lee@reseller.example"))
        .unwrap();
    grace.identifier = Some("Alice.Jensen@example.com".into());
    grace.identifier_lc = Some("alice.jensen@example.com".into());
    let (target, _) = target_with_the_same_people_under_other_ids();
    let tenants = Tenants::new(source, target);
    let output = tenants.migrate(&[
        "--match-by",
        "identifier",
        "--pool-map",
        "partners=customers",
        "--auto-approve",
    ]);
    assert_exit(&output, 1);
    snapshot("migrate_identifier_claimed_twice", &output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`6b01877f-3ce9-5fd1-9363-59bcfe4334f4` (pool `customers`) and `a9786b56-52ba-5b36-b2a2-1589d049430c` (pool `partners`)"),
        "{stderr}"
    );
    assert!(tenants.imports().is_empty(), "nothing may be sent");
}

fn passwords(dump: &TenantDump) -> Vec<&poolsync::model::UserCredential> {
    dump.user_credentials
        .iter()
        .filter(|c| c.kind.as_deref() == Some("password"))
        .collect()
}

#[test]
fn force_reset_keeps_hashes_expired_and_drop_leaves_passwords_out() {
    let tenants = Tenants::new(acme(), acme_pools_only());
    let output = tenants.migrate(&["--credentials", "force-reset", "--auto-approve"]);
    assert_exit(&output, 0);
    let target = tenants.target_dump();
    let source = acme();
    assert_eq!(passwords(&target).len(), passwords(&source).len());
    for credential in passwords(&target) {
        assert_eq!(credential.state.as_deref(), Some("must_be_reset"));
        assert_eq!(
            credential.expires_at.as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        let original = passwords(&source)
            .into_iter()
            .find(|c| c.user_id == credential.user_id)
            .unwrap();
        assert_eq!(credential.payload, original.payload, "the hash is kept");
    }
    tenants.target.clear_request_log();
    let again = tenants.migrate(&["--credentials", "force-reset", "--auto-approve"]);
    assert_exit(&again, 0);
    assert!(tenants.imports().is_empty(), "{}", transcript(&again));

    let fresh = Tenants::new(acme(), acme_pools_only());
    let dropped = fresh.migrate(&["--credentials", "drop", "--auto-approve"]);
    assert_exit(&dropped, 0);
    let target = fresh.target_dump();
    assert_eq!(target.users.len(), 8);
    assert!(
        passwords(&target).is_empty(),
        "{:?}",
        target.user_credentials
    );
}

#[test]
fn a_saved_export_migrates_offline_from_file() {
    let tenants = Tenants::new(TenantDump::default(), acme_pools_only());
    let export = root().join("examples/acme/export.json");
    let output = tenants.migrate(&["--from-file", export.to_str().unwrap(), "--auto-approve"]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("Apply complete: 8 created, 0 updated, verified."),
        "{}",
        stdout(&output)
    );
    assert!(
        tenants.source.request_log().is_empty(),
        "the source tenant is not asked"
    );
    let again = tenants.migrate(&["--from-file", export.to_str().unwrap(), "--auto-approve"]);
    assert_exit(&again, 0);
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
}

#[test]
fn profiles_naming_the_same_tenant_are_refused() {
    let tenants = Tenants::new(acme(), TenantDump::default());
    let output = poolsync()
        .env("MIGRATE_TEST_SRC_SECRET", SOURCE_SECRET)
        .arg("--config")
        .arg(tenants.config())
        .args(["migrate", "--from", "src", "--to", "src", "--auto-approve"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("profiles `src` and `src` name the same tenant `acme`"),
        "{}",
        transcript(&output)
    );
    assert!(
        tenants
            .source
            .request_log()
            .iter()
            .all(|r| r.method != "PUT")
    );

    // A single `--profile` cannot name two tenants.
    let output = tenants.migrate(&["--profile", "dst", "--auto-approve"]);
    assert_exit(&output, 1);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("`--profile dst` does not apply to `migrate`"),
        "{}",
        transcript(&output)
    );
}

#[test]
fn users_whose_identifier_the_target_gives_to_another_user_are_listed_and_left_out() {
    let (target, people) = target_with_the_same_people_under_other_ids();
    let tenants = Tenants::new(acme(), target);
    let output = tenants.migrate(&["--pool", "customers", "--auto-approve"]);
    assert_exit(&output, 0);
    snapshot("migrate_identifier_taken", &output);
    let after = tenants.target_dump();
    assert_eq!(after.users.len(), 6, "3 created, the 3 people left out");
    for (source_id, _) in &people {
        assert!(
            after
                .users
                .iter()
                .all(|u| u.id.as_deref() != Some(source_id))
        );
    }
}

#[test]
fn migrate_checks_the_canaries_in_the_target_and_a_failed_one_exits_5() {
    use crate::password::check_logins::{bad_canaries, canary_file, good_canaries, tenant};
    let tenants = Tenants::new(tenant(), acme_pools_only());
    // Every canary row names its pool: the migration keeps pool ids and moves two pools.
    let good = good_canaries().replace(",\n", ",customers\n");
    let good = canary_file(tenants.directory.path(), "good.csv", &good, 0o600);
    let bad = canary_file(tenants.directory.path(), "bad.csv", &bad_canaries(), 0o600);
    let output = tenants.migrate(&["--auto-approve", "--canaries", good.to_str().unwrap()]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let applied = text.find("Apply complete").expect(&text);
    let checked = text.find("all 3 canaries passed").expect(&text);
    assert!(applied < checked, "{text}");
    let verifies = tenants
        .target
        .request_log()
        .into_iter()
        .filter(|record| record.path.ends_with("/verify"))
        .count();
    assert_eq!(verifies, 3);

    // Nothing left to migrate; rows without a pool take the one target pool of `--pool`.
    let output = tenants.migrate(&[
        "--auto-approve",
        "--pool",
        "customers",
        "--canaries",
        bad.to_str().unwrap(),
    ]);
    assert_exit(&output, 5);
    assert!(
        stdout(&output).contains("4 of 5 canaries failed"),
        "{}",
        transcript(&output)
    );
    // A plan saved with `-o` checks nothing: `--canaries` belongs to the run that applies.
    let refused = tenants.migrate(&["-o", "plan.json", "--canaries", bad.to_str().unwrap()]);
    assert_exit(&refused, 1);
}
