//! Property tests of the diff: a document equals itself in any order, and carrying out a plan
//! (through the same import bodies apply sends) reaches the desired state.

use poolsync::diff::{DiffOptions, diff};
use poolsync::import::{build_batches, merge_update};
use poolsync::model::{
    GroupMember, Pool, SecretValue, TenantDump, User, UserCredential, UserIdentifier,
};
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
