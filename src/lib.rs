//! poolsync: plan and apply SecureAuth Identity Pool users the way `terraform plan` and
//! `terraform apply` handle infrastructure.
//!
//! The pipeline, with the network only at its edges:
//!
//! ```text
//! load (file) / export (HTTP) -> TenantDump -> index -> normalize -> diff -> Plan -> render
//!                                                                            \-> apply (HTTP)
//! ```
#![warn(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
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
pub mod scan;
pub mod secret;
pub mod sieve;
pub mod synth;
pub mod validate;

/// What poolsync shows in place of a secret value.
pub const SENSITIVE: &str = "(sensitive value)";
