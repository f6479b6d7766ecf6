//! The one integration test binary (see `Cargo.toml`): modules per area.

mod cli_offline;
mod examples;
mod properties;
mod support;
