//! The package archive: a zip holding `module.ron` at its root and the wasm files it
//! references, nothing else.
//!
//! Reading an archive is an attack surface, so every rule is explicit and has its own
//! error variant; the limits are in [`ArchiveLimits`], with safe defaults:
//!
//! | rule | error |
//! |---|---|
//! | archive at most `max_archive_bytes` | [`ArchiveError::ArchiveTooLarge`] |
//! | at most `max_entries` entries (checked before any entry is parsed) | [`ArchiveError::TooManyEntries`] |
//! | each entry at most `max_entry_bytes` uncompressed, counted while inflating | [`ArchiveError::EntryTooLarge`] |
//! | `module.ron` at most `max_manifest_bytes` | [`ArchiveError::EntryTooLarge`] |
//! | all entries together at most `max_total_bytes`, counted while inflating | [`ArchiveError::TotalTooLarge`] |
//! | inflated/compressed at most `max_compression_ratio` (past 1 MiB) | [`ArchiveError::CompressionRatio`] |
//! | no absolute path | [`ArchiveError::AbsolutePath`] |
//! | no `..` segment | [`ArchiveError::ParentDirectory`] |
//! | no backslash | [`ArchiveError::Backslash`] |
//! | no empty or `.` segment, no control character, UTF-8 names | [`ArchiveError::InvalidPath`] |
//! | no name twice | [`ArchiveError::DuplicateEntry`] |
//! | no symbolic link | [`ArchiveError::Symlink`] |
//! | no encrypted entry | [`ArchiveError::Encrypted`] |
//! | `module.ron` present and valid | [`ArchiveError::MissingManifest`], [`ArchiveError::Manifest`] |
//! | every file the manifest references is present | [`ArchiveError::MissingFile`] |
//! | no file the manifest does not reference | [`ArchiveError::UnreferencedFile`] |
//!
//! Sizes in the zip headers are never trusted: every byte is counted as it is
//! inflated, and reading stops at the first byte past a limit. Directory entries are
//! allowed (zip tools add them) but their names obey the same path rules.
//!
//! Writing is deterministic: entries sorted by name after `module.ron`, a fixed
//! timestamp (1980-01-01 00:00), fixed permissions, fixed compression level, so the
//! same inputs always give a byte-identical archive.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use zip::unstable::read::ZipIterable;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipReadOptions, ZipWriter};

use crate::error::ManifestError;
use crate::model::Manifest;

/// The name of the manifest inside an archive.
pub const MANIFEST_FILE: &str = "module.ron";

/// The ratio check applies only once an entry has inflated past this many bytes, so
/// that small, highly compressible files are not refused.
const RATIO_FLOOR_BYTES: u64 = 1 << 20;

/// Limits applied while reading an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Largest archive, in bytes, as given (compressed).
    pub max_archive_bytes: u64,
    /// Most entries (files and directories).
    pub max_entries: usize,
    /// Largest single entry, uncompressed.
    pub max_entry_bytes: u64,
    /// Largest `module.ron`, uncompressed.
    pub max_manifest_bytes: u64,
    /// Largest sum of all entries, uncompressed.
    pub max_total_bytes: u64,
    /// Largest ratio of uncompressed to compressed size for one entry.
    pub max_compression_ratio: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_archive_bytes: 64 << 20,
            max_entries: 256,
            max_entry_bytes: 16 << 20,
            max_manifest_bytes: 256 << 10,
            max_total_bytes: 128 << 20,
            max_compression_ratio: 100,
        }
    }
}

/// Why an archive was refused. Each rule has its own variant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file itself is too large.
    #[error("the archive is {size} bytes, more than the limit of {limit}")]
    ArchiveTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a readable zip archive.
    #[error("not a valid zip archive: {reason}")]
    NotAZip {
        /// What the zip reader said.
        reason: String,
    },
    /// An entry could not be read (corrupt data, bad checksum, unsupported method).
    #[error("entry `{name}` is corrupt or unsupported: {reason}")]
    CorruptEntry {
        /// The entry.
        name: String,
        /// What the zip reader said.
        reason: String,
    },
    /// More entries than allowed.
    #[error("the archive has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Entries declared by the central directory.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// One entry inflates past its limit.
    #[error("entry `{name}` inflates to more than {limit} bytes")]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// The limit that applied to it.
        limit: u64,
    },
    /// All entries together inflate past the limit.
    #[error("the archive inflates to more than {limit} bytes in total (reached in `{name}`)")]
    TotalTooLarge {
        /// The entry being read when the limit was passed.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// An entry's compression ratio is that of a zip bomb.
    #[error("entry `{name}` inflated {ratio}x its compressed size, more than the limit of {limit}x")]
    CompressionRatio {
        /// The entry.
        name: String,
        /// The ratio observed when reading stopped.
        ratio: u64,
        /// The limit.
        limit: u64,
    },
    /// An absolute path.
    #[error("entry `{name}` has an absolute path")]
    AbsolutePath {
        /// The entry.
        name: String,
    },
    /// A `..` segment.
    #[error("entry `{name}` has a `..` segment")]
    ParentDirectory {
        /// The entry.
        name: String,
    },
    /// A backslash.
    #[error("entry `{name}` contains a backslash")]
    Backslash {
        /// The entry.
        name: String,
    },
    /// Some other path rule.
    #[error("entry `{name}`: path {reason}")]
    InvalidPath {
        /// The entry (lossily decoded).
        name: String,
        /// Which rule.
        reason: String,
    },
    /// A name appears twice.
    #[error("entry `{name}` appears more than once")]
    DuplicateEntry {
        /// The entry.
        name: String,
    },
    /// A symbolic link.
    #[error("entry `{name}` is a symbolic link")]
    Symlink {
        /// The entry.
        name: String,
    },
    /// An encrypted entry.
    #[error("entry `{name}` is encrypted")]
    Encrypted {
        /// The entry.
        name: String,
    },
    /// No `module.ron` at the root.
    #[error("the archive has no `module.ron` at its root")]
    MissingManifest,
    /// `module.ron` is not UTF-8.
    #[error("`module.ron` is not valid UTF-8 (byte {offset})")]
    ManifestNotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// `module.ron` is invalid.
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// A file the manifest references is absent.
    #[error("function `{function}` references `{file}`, which is not in the archive")]
    MissingFile {
        /// The function.
        function: String,
        /// The file.
        file: String,
    },
    /// A file the manifest does not reference.
    #[error("entry `{name}` is not referenced by module.ron")]
    UnreferencedFile {
        /// The entry.
        name: String,
    },
    /// Writing failed (only from [`write_package`]).
    #[error("could not write the archive: {reason}")]
    Write {
        /// What failed.
        reason: String,
    },
}

impl ArchiveError {
    /// What the author should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ArchiveError::ArchiveTooLarge { .. }
            | ArchiveError::EntryTooLarge { .. }
            | ArchiveError::TotalTooLarge { .. } => {
                "make the files smaller (build in release mode, strip debug info) or raise the host's limits"
            }
            ArchiveError::TooManyEntries { .. } => "package only module.ron and the wasm files it references",
            ArchiveError::CompressionRatio { .. } => "this looks like a zip bomb; package real wasm files",
            ArchiveError::NotAZip { .. } | ArchiveError::CorruptEntry { .. } => {
                "build the archive with `wasmod pack`; zip's deflate and store methods are supported"
            }
            ArchiveError::AbsolutePath { .. }
            | ArchiveError::ParentDirectory { .. }
            | ArchiveError::Backslash { .. }
            | ArchiveError::InvalidPath { .. } => "use relative paths with `/` separators inside the archive",
            ArchiveError::DuplicateEntry { .. } => "store each file once",
            ArchiveError::Symlink { .. } => "store regular files, not links",
            ArchiveError::Encrypted { .. } => "do not encrypt entries",
            ArchiveError::MissingManifest => "put module.ron at the root of the archive",
            ArchiveError::ManifestNotUtf8 { .. } => "save module.ron as UTF-8",
            ArchiveError::Manifest(_) => "fix module.ron as described",
            ArchiveError::MissingFile { .. } => "add the file, or fix the `file` of the function",
            ArchiveError::UnreferencedFile { .. } => "remove the file, or reference it from a function",
            ArchiveError::Write { .. } => "check the destination",
        }
    }
}

/// A package read from an archive: the checked manifest, its source text, and the
/// wasm files by path.
#[derive(Clone, Debug, PartialEq)]
pub struct Package {
    /// The checked manifest.
    pub manifest: Manifest,
    /// The manifest's text as the author wrote it.
    pub manifest_source: String,
    /// Every wasm file, by its path in the archive.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Package {
    /// Builds a package from parts, with the same checks as reading an archive
    /// (manifest valid, every referenced file present, nothing else).
    pub fn new(manifest_source: &str, files: BTreeMap<String, Vec<u8>>) -> Result<Package, ArchiveError> {
        let manifest = Manifest::from_ron(manifest_source)?;
        check_references(&manifest, files.keys().map(String::as_str))?;
        Ok(Package { manifest, manifest_source: manifest_source.to_owned(), files })
    }

    /// The wasm bytes of a function, by function name.
    pub fn function_bytes(&self, function: &str) -> Option<&[u8]> {
        let f = self.manifest.functions.get(function)?;
        self.files.get(&f.file).map(Vec::as_slice)
    }

    /// Reads a package from archive bytes. See the [module docs](self) for the rules.
    pub fn read(bytes: &[u8], limits: &ArchiveLimits) -> Result<Package, ArchiveError> {
        read_package(bytes, limits)
    }

    /// Writes this package as a deterministic archive.
    pub fn write(&self) -> Result<Vec<u8>, ArchiveError> {
        write_archive(&self.manifest_source, &self.files)
    }
}

fn check_references<'a>(manifest: &Manifest, present: impl Iterator<Item = &'a str>) -> Result<(), ArchiveError> {
    let present: BTreeSet<&str> = present.collect();
    for (function, f) in &manifest.functions {
        if !present.contains(f.file.as_str()) {
            return Err(ArchiveError::MissingFile { function: function.clone(), file: f.file.clone() });
        }
    }
    let referenced: BTreeSet<&str> = manifest.functions.values().map(|f| f.file.as_str()).collect();
    if let Some(extra) = present.iter().find(|p| !referenced.contains(*p)) {
        return Err(ArchiveError::UnreferencedFile { name: (*extra).to_owned() });
    }
    Ok(())
}

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

/// Reads and checks a package archive. See the [module docs](self) for the rules.
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
    let mut total: u64 = 0;
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
        let limit = if name == MANIFEST_FILE { limits.max_manifest_bytes } else { limits.max_entry_bytes };
        let mut data = Vec::with_capacity(declared.min(limit).min(1 << 20) as usize);
        let mut chunk = [0u8; 64 << 10];
        loop {
            let n = entry
                .read(&mut chunk)
                .map_err(|e| ArchiveError::CorruptEntry { name: name.clone(), reason: e.to_string() })?;
            if n == 0 {
                break;
            }
            let len = data.len() as u64 + n as u64;
            if len > limit {
                return Err(ArchiveError::EntryTooLarge { name, limit });
            }
            total += n as u64;
            if total > limits.max_total_bytes {
                return Err(ArchiveError::TotalTooLarge { name, limit: limits.max_total_bytes });
            }
            // The ratio is measured against the compressed bytes actually consumed so far,
            // not the header's claim, so a bomb is caught after its first MiB.
            let consumed = consumed.get().max(1);
            if len > RATIO_FLOOR_BYTES && len / consumed > limits.max_compression_ratio {
                return Err(ArchiveError::CompressionRatio {
                    name,
                    ratio: len / consumed,
                    limit: limits.max_compression_ratio,
                });
            }
            data.extend_from_slice(&chunk[..n]);
        }
        contents.insert(name, data);
    }

    let manifest_bytes = contents.remove(MANIFEST_FILE).ok_or(ArchiveError::MissingManifest)?;
    let manifest_source = String::from_utf8(manifest_bytes)
        .map_err(|e| ArchiveError::ManifestNotUtf8 { offset: e.utf8_error().valid_up_to() })?;
    Package::new(&manifest_source, contents)
}

/// Writes a package archive from a manifest's text and its files, after the same checks
/// as [`read_package`] (apart from the size limits). Deterministic.
pub fn write_package(manifest_source: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ArchiveError> {
    let manifest = Manifest::from_ron(manifest_source)?;
    check_references(&manifest, files.keys().map(String::as_str))?;
    write_archive(manifest_source, files)
}

fn write_archive(manifest_source: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ArchiveError> {
    let write_err = |e: &dyn std::fmt::Display| ArchiveError::Write { reason: e.to_string() };
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let entries = std::iter::once((MANIFEST_FILE, manifest_source.as_bytes()))
        .chain(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())));
    for (name, bytes) in entries {
        zip.start_file(name, options).map_err(|e| write_err(&e))?;
        zip.write_all(bytes).map_err(|e| write_err(&e))?;
    }
    Ok(zip.finish().map_err(|e| write_err(&e))?.into_inner())
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
