//! The one integration test binary (see `Cargo.toml`): modules per area.

mod cli_offline;
mod client;
mod common;
mod emulator;
mod examples;
mod gitops;
mod live;
mod properties;
mod support;
