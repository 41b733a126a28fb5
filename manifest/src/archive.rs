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

mod read;
mod write;

use std::collections::{BTreeMap, BTreeSet};

pub use read::read_package;
use write::write_archive;
pub use write::write_package;

use crate::error::ManifestError;
use crate::model::Manifest;

/// The name of the manifest inside an archive.
pub const MANIFEST_FILE: &str = "module.ron";

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
#[non_exhaustive]
pub enum ArchiveError {
    /// The archive file itself is too large.
    #[error("the archive is {size} bytes, more than the limit of {limit}")]
    ArchiveTooLarge {
        /// The archive's size in bytes.
        size: u64,
        /// [`ArchiveLimits::max_archive_bytes`].
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
        /// The entry's name, as stored in the archive.
        name: String,
        /// What the zip reader said.
        reason: String,
    },
    /// More entries than allowed.
    #[error("the archive has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Entries declared by the central directory.
        count: usize,
        /// [`ArchiveLimits::max_entries`].
        limit: usize,
    },
    /// One entry inflates past its limit.
    #[error("entry `{name}` inflates to more than {limit} bytes")]
    EntryTooLarge {
        /// The entry's name, as stored in the archive.
        name: String,
        /// The limit that applied to it.
        limit: u64,
    },
    /// All entries together inflate past the limit.
    #[error("the archive inflates to more than {limit} bytes in total (reached in `{name}`)")]
    TotalTooLarge {
        /// The entry being read when the limit was passed.
        name: String,
        /// [`ArchiveLimits::max_total_bytes`].
        limit: u64,
    },
    /// An entry's compression ratio is that of a zip bomb.
    #[error("entry `{name}` inflated {ratio}x its compressed size, more than the limit of {limit}x")]
    CompressionRatio {
        /// The entry's name, as stored in the archive.
        name: String,
        /// The ratio observed when reading stopped.
        ratio: u64,
        /// [`ArchiveLimits::max_compression_ratio`].
        limit: u64,
    },
    /// An entry's path is absolute (`/a` or `C:/a`).
    #[error("entry `{name}` has an absolute path")]
    AbsolutePath {
        /// The entry's name, as stored in the archive.
        name: String,
    },
    /// An entry's path has a `..` segment.
    #[error("entry `{name}` has a `..` segment")]
    ParentDirectory {
        /// The entry's name, as stored in the archive.
        name: String,
    },
    /// An entry's name contains a backslash.
    #[error("entry `{name}` contains a backslash")]
    Backslash {
        /// The entry's name, as stored in the archive.
        name: String,
    },
    /// An entry's name breaks another path rule: not UTF-8, a control character, an empty
    /// or `.` segment.
    #[error("entry `{name}`: path {reason}")]
    InvalidPath {
        /// The entry's name, lossily decoded.
        name: String,
        /// The rule it breaks, as a phrase after "path".
        reason: String,
    },
    /// A name appears twice.
    #[error("entry `{name}` appears more than once")]
    DuplicateEntry {
        /// The entry's name, as stored in the archive.
        name: String,
    },
    /// An entry is a symbolic link.
    #[error("entry `{name}` is a symbolic link")]
    Symlink {
        /// The entry's name, as stored in the archive.
        name: String,
    },
    /// An entry is encrypted.
    #[error("entry `{name}` is encrypted")]
    Encrypted {
        /// The entry's name, as stored in the archive.
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
        /// The function whose `file` it is.
        function: String,
        /// The path the manifest gives.
        file: String,
    },
    /// A file the manifest does not reference.
    #[error("entry `{name}` is not referenced by module.ron")]
    UnreferencedFile {
        /// The entry's name, as stored in the archive.
        name: String,
    },
    /// Writing failed (only from [`write_package`]).
    #[error("could not write the archive: {reason}")]
    Write {
        /// What the zip writer said.
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

/// Checks that every file the manifest references is `present`, and nothing else is.
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
