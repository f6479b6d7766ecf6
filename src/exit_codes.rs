//! Process exit codes, in one place. Documented in the README.

/// Success; with `--detailed-exitcode`, also "no changes".
pub const SUCCESS: u8 = 0;
/// An error: bad input, refused request, nothing applied.
pub const ERROR: u8 = 1;
/// With `--detailed-exitcode`: the plan has changes.
pub const CHANGES: u8 = 2;
/// Apply was partial: some users applied, some not (or interrupted).
pub const PARTIAL: u8 = 3;
/// The saved plan is stale: the desired file or planned users changed since it was made.
pub const STALE_PLAN: u8 = 4;
/// A canary login failed: a known password did not verify (`check-logins`).
pub const CANARY_FAILED: u8 = 5;
