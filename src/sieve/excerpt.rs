//! Excerpts: a small document of some users of a big one, read again by byte range, for the
//! exact path to diff.

use super::rows::Rows;
use super::source::{Ranges, Source};
use crate::scan::RecordArray;

impl Rows {
    /// A document of this side's other fields whole and the chosen users (by position) with
    /// their records, read again from `source`, in their original order.
    pub(crate) fn excerpt(&self, source: Source<'_>, chosen: &[bool]) -> std::io::Result<Vec<u8>> {
        let mut places: Vec<(RecordArray, u64, u64)> = Vec::new();
        for (user, _) in self.users.iter().zip(chosen).filter(|(_, c)| **c) {
            places.push((RecordArray::Users, user.offset, user.len));
        }
        for (sub, owner) in self.subs.iter().zip(&self.owner) {
            if chosen.get(*owner as usize).copied().unwrap_or(false) {
                places.push((sub.class.array(), sub.offset, u64::from(sub.len)));
            }
        }
        self.excerpt_of(source, &places)
    }

    /// A document of this side's other fields whole and the records at `places` (array, offset,
    /// length), read again from `source`, each array's records in the order given.
    pub(crate) fn excerpt_of(
        &self,
        source: Source<'_>,
        places: &[(RecordArray, u64, u64)],
    ) -> std::io::Result<Vec<u8>> {
        let mut reader = Ranges::open(source)?;
        let mut out = Vec::new();
        out.push(b'{');
        let mut first_field = true;
        for (key, offset, len) in &self.fields {
            if !first_field {
                out.push(b',');
            }
            first_field = false;
            serde_json::to_writer(&mut out, key).map_err(std::io::Error::other)?;
            out.push(b':');
            reader.append(*offset, *len, &mut out)?;
        }
        for array in RecordArray::ALL {
            let mut first = true;
            for (_, offset, len) in places.iter().filter(|(a, _, _)| *a == array) {
                if first {
                    if !first_field {
                        out.push(b',');
                    }
                    first_field = false;
                    out.push(b'"');
                    out.extend_from_slice(array.key().as_bytes());
                    out.extend_from_slice(b"\":[");
                    first = false;
                } else {
                    out.push(b',');
                }
                reader.append(*offset, *len, &mut out)?;
            }
            if !first {
                out.push(b']');
            }
        }
        out.push(b'}');
        Ok(out)
    }
}
