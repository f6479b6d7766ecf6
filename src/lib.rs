//! poolsync: plan and apply SecureAuth Identity Pool users the way `terraform plan` and
//! `terraform apply` handle infrastructure.
//!
//! The pipeline, with the network only at its edges:
//!
//! ```text
//! load (file) / export (HTTP) -> TenantDump -> index -> normalize -> diff -> Plan -> render
//!                                                                            \-> apply (HTTP)
//! ```
//!
//! # Code map
//!
//! ARCHITECTURE.md tells the same in more words; `tests/architecture.rs` checks that both name
//! every module, and `cargo doc` that these links hold.
//!
//! The document and its reading:
//! - [`model`]: typed records of the `TenantDump`, unknown fields kept; import modes and the
//!   per-request limit of the contract.
//! - [`load`]: bytes or a file into a `TenantDump`, errors with line, column and record.
//! - [`scan`]: a document split into top-level fields and single records, a chunk at a time.
//! - [`error`]: the library's load errors and the one error-chain helper.
//!
//! The pure core (no I/O, no clock, no network):
//! - [`index`]: flat arrays grouped into whole users; orphans and duplicates as problems.
//! - [`normalize`]: the canonical form of a user; ignore paths; derived sub-record ids.
//! - [`diff`]: current against desired into a [`plan::Plan`]; the plan's scope ([`diff::PlanScope`]).
//! - [`plan`]: the plan, the handoff from the diff to the renderers and apply.
//! - [`render`], [`markdown`], [`redact`]: the plan and the apply report for people and machines.
//! - [`report`]: what an apply did, as plain data.
//! - [`validate`]: every problem of a desired file.
//! - [`import`]: a plan into import request bodies of whole users.
//! - [`migrate`]: one tenant's export into another's desired state.
//! - [`password`]: password hashes as the contract carries them, and the one hash reader.
//!
//! Around the core:
//! - [`sieve`]: big documents a record at a time: planned holding only the users that differ,
//!   validated, migrated; problems found from per-record keys.
//! - [`export`]: an export shaped for Git, written straight from the (spooled) response body.
//! - [`convert`]: other identity platforms' exports into a desired file, read as streams.
//! - [`apply`]: a plan carried out through the client, then verified by a fresh export.
//! - [`canary`]: canary logins: known passwords checked through the tenant's password check.
//! - [`planfile`], [`journal`]: saved plans and apply journals.
//! - [`client`]: the network: settings, tokens, export, import, delete, the password check,
//!   retries.
//! - [`emulator`]: a faithful local System API, served over HTTP.
//! - [`clock`], [`fsutil`], [`secret`], [`exit_codes`], [`synth`]: the wall clock, atomic
//!   private files, redacted secrets, exit codes, synthetic tenants.
#![warn(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
pub mod canary;
pub mod client;
pub mod clock;
pub mod convert;
pub mod diff;
pub mod emulator;
pub mod error;
pub mod exit_codes;
pub mod export;
pub mod fsutil;
pub mod import;
pub mod index;
pub mod journal;
pub mod load;
pub mod markdown;
pub mod migrate;
pub mod model;
pub mod normalize;
pub mod password;
pub mod plan;
pub mod planfile;
pub mod redact;
pub mod render;
pub mod report;
pub mod scan;
pub mod secret;
pub mod sieve;
pub mod synth;
pub mod validate;

/// What poolsync shows in place of a secret value.
pub const SENSITIVE: &str = "(sensitive value)";
