//! The state file: every tenant's document in one JSON file, written atomically.
//!
//! A write goes through [`crate::fsutil`] (mode 0600: it holds password hashes; a temporary file
//! renamed over the old one, then the folder synced): a crash at any point leaves either the old
//! file or the new one, never a torn one.
//!
//! The server writes the whole file a short while after a change (`state_write_delay`, 200 ms by
//! default, so a burst of imports costs one write) and once more at a clean shutdown. A crash, as
//! opposed to Ctrl-C, therefore loses at most the changes of that last short while, never the
//! file: a per-request write would make a million-user tenant rewrite gigabytes per import.

use super::error::EmulatorError;
use crate::model::TenantDump;
use serde::Deserialize;
use std::io::Write;
use std::path::Path;

/// Version of the state file's layout.
const VERSION: u32 = 1;

#[derive(Deserialize)]
struct StateFile {
    version: u32,
    tenants: Vec<StoredTenant>,
}

#[derive(Deserialize)]
struct StoredTenant {
    tenant_id: String,
    dump: TenantDump,
}

/// Reads the tenants of a state file, in order; `None` if there is no file yet.
pub(crate) fn load(path: &Path) -> Result<Option<Vec<(String, TenantDump)>>, EmulatorError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(EmulatorError::StateLoad {
                path: path.to_path_buf(),
                message: error.to_string(),
            });
        }
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let state: StateFile =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            EmulatorError::StateLoad {
                path: path.to_path_buf(),
                message: format!("at `{}`: {}", error.path(), error.inner()),
            }
        })?;
    if state.version != VERSION {
        return Err(EmulatorError::StateLoad {
            path: path.to_path_buf(),
            message: format!(
                "version {} is not the supported version {VERSION}",
                state.version
            ),
        });
    }
    Ok(Some(
        state
            .tenants
            .into_iter()
            .map(|tenant| (tenant.tenant_id, tenant.dump))
            .collect(),
    ))
}

/// Writes the state file from each tenant's id and its already serialized document, atomically
/// with mode 0600 ([`crate::fsutil::write_atomic_with`]).
pub(crate) fn write(path: &Path, tenants: &[(String, Vec<u8>)]) -> Result<(), EmulatorError> {
    crate::fsutil::write_atomic_with(path, |out| {
        write!(out, "{{\"version\":{VERSION},\"tenants\":[")?;
        for (index, (tenant_id, dump)) in tenants.iter().enumerate() {
            let separator = if index == 0 { "" } else { "," };
            let tenant_id = serde_json::to_string(tenant_id).map_err(std::io::Error::other)?;
            write!(out, "{separator}{{\"tenant_id\":{tenant_id},\"dump\":")?;
            out.write_all(dump)?;
            out.write_all(b"}")?;
        }
        out.write_all(b"]}\n")
    })
    .map_err(|source| EmulatorError::StateWrite {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_reads_back_with_mode_0600() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("state.json");
        assert!(load(&path).unwrap().is_none());
        let dump = br#"{"users":[{"id":"u1"}]}"#.to_vec();
        write(&path, &[("a\"b".to_string(), dump)]).unwrap();
        let tenants = load(&path).unwrap().unwrap();
        assert_eq!(tenants[0].0, "a\"b");
        assert_eq!(tenants[0].1.users[0].id.as_deref(), Some("u1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(
            &path,
            b"{\"version\": 1, \"tenants\": [{\"tenant_id\": 3}]}",
        )
        .unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("tenants[0].tenant_id"), "{message}");
    }
}
