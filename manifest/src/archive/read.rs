//! Reading an archive: every rule of the [module docs](super), checked on metadata first
//! and then on the bytes as they inflate.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

use zip::ZipReadOptions;
use zip::unstable::read::ZipIterable;

use super::{ArchiveError, ArchiveLimits, MANIFEST_FILE, Package};

/// The ratio check applies only once an entry has inflated past this many bytes, so
/// that small, highly compressible files are not refused.
const RATIO_FLOOR_BYTES: u64 = 1 << 20;

/// Checks an entry name; directories may end with `/`.
fn check_entry_name(raw: &[u8], is_dir: bool) -> Result<String, ArchiveError> {
    let lossy = String::from_utf8_lossy(raw).into_owned();
    let name = std::str::from_utf8(raw)
        .map_err(|_| ArchiveError::InvalidPath { name: lossy.clone(), reason: "is not valid UTF-8".into() })?;
    if name.contains('\\') {
        return Err(ArchiveError::Backslash { name: lossy });
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Err(ArchiveError::AbsolutePath { name: lossy });
    }
    if name.chars().any(char::is_control) {
        return Err(ArchiveError::InvalidPath { name: lossy, reason: "contains a control character".into() });
    }
    let trimmed = if is_dir { name.strip_suffix('/').unwrap_or(name) } else { name };
    for segment in trimmed.split('/') {
        match segment {
            ".." => return Err(ArchiveError::ParentDirectory { name: lossy }),
            "" | "." => {
                return Err(ArchiveError::InvalidPath { name: lossy, reason: "has an empty or `.` segment".into() });
            }
            _ => {}
        }
    }
    Ok(name.to_owned())
}

/// Counts the bytes the zip layer pulls from the archive, to measure compression ratios
/// on real data rather than on header fields.
struct CountingReader<'c, R> {
    inner: R,
    read: &'c Cell<u64>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for CountingReader<'_, R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn not_a_zip(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::NotAZip { reason: e.to_string() }
}

/// Reads and checks a package archive. See the [module docs](crate::archive) for the rules.
pub fn read_package(bytes: &[u8], limits: &ArchiveLimits) -> Result<Package, ArchiveError> {
    let size = bytes.len() as u64;
    if size > limits.max_archive_bytes {
        return Err(ArchiveError::ArchiveTooLarge { size, limit: limits.max_archive_bytes });
    }
    let mut archive = ZipIterable::try_new(Cursor::new(bytes), zip::read::Config::default())
        .map_err(not_a_zip)?
        .enforce_header_consistency(true);
    if archive.len() > limits.max_entries {
        return Err(ArchiveError::TooManyEntries { count: archive.len(), limit: limits.max_entries });
    }

    let consumed = Cell::new(0u64);
    let mut body = CountingReader { inner: Cursor::new(bytes), read: &consumed };
    let mut seen = BTreeSet::new();
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut inflation = Inflation { limits, total: 0, consumed: &consumed };
    for entry in archive.files().map_err(not_a_zip)? {
        // Metadata first: every rule that needs no data is checked before any is read.
        let entry = entry.map_err(not_a_zip)?;
        let is_dir = entry.is_dir();
        let name = check_entry_name(entry.name_raw(), is_dir)?;
        if !seen.insert(name.clone()) {
            return Err(ArchiveError::DuplicateEntry { name });
        }
        if entry.is_symlink() {
            return Err(ArchiveError::Symlink { name });
        }
        if entry.encrypted() {
            return Err(ArchiveError::Encrypted { name });
        }
        if is_dir {
            continue;
        }
        let declared = entry.size();
        consumed.set(0);
        let mut entry = entry
            .with_reader(&mut body, ZipReadOptions::new())
            .map_err(|e| ArchiveError::CorruptEntry { name: name.clone(), reason: e.to_string() })?;
        let data = inflation.entry(&mut entry, &name, declared)?;
        contents.insert(name, data);
    }

    let manifest_bytes = contents.remove(MANIFEST_FILE).ok_or(ArchiveError::MissingManifest)?;
    let manifest_source = String::from_utf8(manifest_bytes)
        .map_err(|e| ArchiveError::ManifestNotUtf8 { offset: e.utf8_error().valid_up_to() })?;
    Package::new(&manifest_source, contents)
}

/// The inflation of an archive's entries, one after another, against its limits.
struct Inflation<'a> {
    limits: &'a ArchiveLimits,
    /// Bytes inflated so far, all entries together.
    total: u64,
    /// Compressed bytes the zip layer has read for the current entry.
    consumed: &'a Cell<u64>,
}

impl Inflation<'_> {
    /// Inflates one entry, stopping at the first byte past its own limit, the archive's
    /// total or the compression ratio. `declared` (the header's size) only sizes the
    /// first allocation.
    fn entry(&mut self, entry: &mut impl Read, name: &str, declared: u64) -> Result<Vec<u8>, ArchiveError> {
        let limits = self.limits;
        let limit = if name == MANIFEST_FILE { limits.max_manifest_bytes } else { limits.max_entry_bytes };
        let mut data = Vec::with_capacity(declared.min(limit).min(1 << 20) as usize);
        let mut chunk = [0u8; 64 << 10];
        loop {
            let n = entry
                .read(&mut chunk)
                .map_err(|e| ArchiveError::CorruptEntry { name: name.to_owned(), reason: e.to_string() })?;
            if n == 0 {
                return Ok(data);
            }
            let len = data.len() as u64 + n as u64;
            if len > limit {
                return Err(ArchiveError::EntryTooLarge { name: name.to_owned(), limit });
            }
            self.total += n as u64;
            if self.total > limits.max_total_bytes {
                return Err(ArchiveError::TotalTooLarge { name: name.to_owned(), limit: limits.max_total_bytes });
            }
            // The ratio is measured against the compressed bytes actually consumed so far,
            // not the header's claim, so a bomb is caught after its first MiB.
            let consumed = self.consumed.get().max(1);
            if len > RATIO_FLOOR_BYTES && len / consumed > limits.max_compression_ratio {
                return Err(ArchiveError::CompressionRatio {
                    name: name.to_owned(),
                    ratio: len / consumed,
                    limit: limits.max_compression_ratio,
                });
            }
            data.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(check_entry_name(b"a/b.wasm", false).unwrap(), "a/b.wasm");
        assert_eq!(check_entry_name(b"a/", true).unwrap(), "a/");
        assert!(matches!(check_entry_name(b"/a", false), Err(ArchiveError::AbsolutePath { .. })));
        assert!(matches!(check_entry_name(b"C:/a", false), Err(ArchiveError::AbsolutePath { .. })));
        assert!(matches!(check_entry_name(b"a/../b", false), Err(ArchiveError::ParentDirectory { .. })));
        assert!(matches!(check_entry_name(b"a\\b", false), Err(ArchiveError::Backslash { .. })));
        assert!(matches!(check_entry_name(b"a//b", false), Err(ArchiveError::InvalidPath { .. })));
        assert!(matches!(check_entry_name(b"./a", false), Err(ArchiveError::InvalidPath { .. })));
        assert!(matches!(check_entry_name(b"\xff", false), Err(ArchiveError::InvalidPath { .. })));
    }
}
