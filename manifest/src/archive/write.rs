//! Writing an archive, deterministically: `module.ron` first, then the files in name
//! order, each with the same timestamp, permissions and compression level.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::{ArchiveError, MANIFEST_FILE, check_references};
use crate::model::Manifest;

/// Writes a package archive from a manifest's text and its files, after the same checks
/// as [`read_package`](super::read_package) (apart from the size limits). Deterministic.
pub fn write_package(manifest_source: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ArchiveError> {
    let manifest = Manifest::from_ron(manifest_source)?;
    check_references(&manifest, files.keys().map(String::as_str))?;
    write_archive(manifest_source, files)
}

/// Writes the archive without checking the manifest or the references ([`write_package`]
/// and [`Package::new`](super::Package::new) do).
pub(super) fn write_archive(manifest_source: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, ArchiveError> {
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
