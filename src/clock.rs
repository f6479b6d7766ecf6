//! The one place that reads the wall clock: timestamps written into imported records, journals,
//! backup names and the emulator's records, and the time `Retry-After` dates are measured from.
//! The pure core takes time as an argument instead.

use time::OffsetDateTime;

/// The current UTC time in RFC 3339, to the second (`2026-11-29T01:02:03Z`).
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc().replace_nanosecond(0).ok())
}

/// The current UTC time in RFC 3339 with its fraction of a second
/// (`2026-11-29T01:02:03.123456789Z`), as the service stamps the records it changes.
pub fn now_rfc3339_precise() -> String {
    rfc3339(Some(OffsetDateTime::now_utc()))
}

fn rfc3339(time: Option<OffsetDateTime>) -> String {
    time.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The current wall-clock time, for comparing with dates the service sends (`Retry-After`).
pub fn now() -> std::time::SystemTime {
    std::time::SystemTime::now()
}
