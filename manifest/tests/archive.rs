//! Every rule of the archive reader, and deterministic writing.

mod support;

use std::collections::BTreeMap;

use support::{MANIFEST, RawEntry, WASM, build_zip};
use wasmod_manifest::{ArchiveError, ArchiveLimits, ManifestError, Package, read_package, write_package};

fn read(entries: &[RawEntry]) -> Result<Package, ArchiveError> {
    read_package(&build_zip(entries), &ArchiveLimits::default())
}

fn valid_entries() -> Vec<RawEntry> {
    vec![RawEntry::stored("module.ron", MANIFEST.as_bytes()), RawEntry::deflated("run.wasm", WASM)]
}

#[test]
fn valid_archive_reads() {
    let p = read(&valid_entries()).unwrap();
    assert_eq!(p.manifest.name.as_str(), "acme/t");
    assert_eq!(p.function_bytes("run"), Some(WASM));
    assert_eq!(p.manifest_source, MANIFEST);
}

#[test]
fn directory_entries_are_tolerated() {
    let manifest =
        r#"(name: "acme/t", version: "1.0.0", functions: { "run": (file: "fns/run.wasm", implements: "x") })"#;
    let mut dir = RawEntry::stored("fns/", b"");
    dir.mode = 0o040755;
    let p = read(&[RawEntry::stored("module.ron", manifest.as_bytes()), dir, RawEntry::stored("fns/run.wasm", WASM)])
        .unwrap();
    assert_eq!(p.files.len(), 1);
}

#[test]
fn archive_too_large() {
    let limits = ArchiveLimits { max_archive_bytes: 10, ..ArchiveLimits::default() };
    let err = read_package(&build_zip(&valid_entries()), &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::ArchiveTooLarge { limit: 10, .. }), "{err}");
}

#[test]
fn not_a_zip() {
    let err = read_package(b"definitely not a zip archive", &ArchiveLimits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::NotAZip { .. }), "{err}");
}

#[test]
fn too_many_entries() {
    let mut entries = valid_entries();
    for i in 0..300 {
        entries.push(RawEntry::stored(&format!("x{i}.wasm"), b""));
    }
    let err = read(&entries).unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyEntries { count: 302, limit: 256 }), "{err}");
}

#[test]
fn entry_too_large() {
    let limits = ArchiveLimits { max_entry_bytes: 100, ..ArchiveLimits::default() };
    let big = vec![7u8; 1000];
    let zip = build_zip(&[RawEntry::stored("module.ron", MANIFEST.as_bytes()), RawEntry::deflated("run.wasm", &big)]);
    let err = read_package(&zip, &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::EntryTooLarge { ref name, limit: 100 } if name == "run.wasm"), "{err}");
}

#[test]
fn manifest_too_large() {
    let huge = format!("{}{}", MANIFEST, " ".repeat(300 << 10));
    let err =
        read(&[RawEntry::deflated("module.ron", huge.as_bytes()), RawEntry::stored("run.wasm", WASM)]).unwrap_err();
    assert!(matches!(err, ArchiveError::EntryTooLarge { ref name, .. } if name == "module.ron"), "{err}");
}

#[test]
fn lying_header_sizes_do_not_raise_limits() {
    // The header claims 10 bytes; the data inflates to 1000.
    let limits = ArchiveLimits { max_entry_bytes: 100, ..ArchiveLimits::default() };
    let mut entry = RawEntry::deflated("run.wasm", &[1u8; 1000]);
    entry.uncompressed_size = 10;
    let zip = build_zip(&[RawEntry::stored("module.ron", MANIFEST.as_bytes()), entry]);
    let err = read_package(&zip, &limits).unwrap_err();
    // Either the reader stops at our limit, or the zip layer notices the lie; never success.
    assert!(matches!(err, ArchiveError::EntryTooLarge { .. } | ArchiveError::CorruptEntry { .. }), "{err}");
}

#[test]
fn total_too_large() {
    let limits = ArchiveLimits { max_total_bytes: 150, ..ArchiveLimits::default() };
    let err = read_package(
        &build_zip(&[RawEntry::stored("module.ron", MANIFEST.as_bytes()), RawEntry::stored("run.wasm", &[0u8; 100])]),
        &limits,
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::TotalTooLarge { limit: 150, .. }), "{err}");
}

#[test]
fn compression_ratio() {
    let zeros = vec![0u8; 4 << 20];
    let err = read(&[RawEntry::stored("module.ron", MANIFEST.as_bytes()), RawEntry::deflated("run.wasm", &zeros)])
        .unwrap_err();
    assert!(matches!(err, ArchiveError::CompressionRatio { limit: 100, .. }), "{err}");
}

#[test]
fn absolute_path() {
    let mut entries = valid_entries();
    entries.push(RawEntry::stored("/etc/passwd", b""));
    assert!(matches!(read(&entries).unwrap_err(), ArchiveError::AbsolutePath { .. }));
}

#[test]
fn parent_directory() {
    let mut entries = valid_entries();
    entries.push(RawEntry::stored("fns/../../evil.wasm", b""));
    assert!(matches!(read(&entries).unwrap_err(), ArchiveError::ParentDirectory { .. }));
}

#[test]
fn backslash() {
    let mut entries = valid_entries();
    entries.push(RawEntry::stored("fns\\evil.wasm", b""));
    assert!(matches!(read(&entries).unwrap_err(), ArchiveError::Backslash { .. }));
}

#[test]
fn invalid_path() {
    for name in [&b"a//b.wasm"[..], b"./a.wasm", b"bad\xffname", b"a\nb"] {
        let mut entries = valid_entries();
        entries.push(RawEntry { name: name.to_vec(), ..RawEntry::stored("x", b"") });
        let err = read(&entries).unwrap_err();
        assert!(matches!(err, ArchiveError::InvalidPath { .. }), "{name:?}: {err}");
    }
}

#[test]
fn duplicate_entry() {
    let mut entries = valid_entries();
    entries.push(RawEntry::stored("run.wasm", WASM));
    let err = read(&entries).unwrap_err();
    assert!(matches!(err, ArchiveError::DuplicateEntry { ref name } if name == "run.wasm"), "{err}");
}

#[test]
fn symlink() {
    let mut entries = valid_entries();
    let mut link = RawEntry::stored("link.wasm", b"/etc/passwd");
    link.mode = 0o120777;
    entries.push(link);
    assert!(matches!(read(&entries).unwrap_err(), ArchiveError::Symlink { .. }));
}

#[test]
fn encrypted() {
    let mut entries = valid_entries();
    entries[1].flags |= 1;
    assert!(matches!(read(&entries).unwrap_err(), ArchiveError::Encrypted { .. }));
}

#[test]
fn missing_manifest() {
    let err = read(&[RawEntry::stored("run.wasm", WASM)]).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingManifest), "{err}");
}

#[test]
fn manifest_not_utf8() {
    let err =
        read(&[RawEntry::stored("module.ron", b"(name: \"\xff\")"), RawEntry::stored("run.wasm", WASM)]).unwrap_err();
    assert!(matches!(err, ArchiveError::ManifestNotUtf8 { offset: 8 }), "{err}");
}

#[test]
fn invalid_manifest() {
    let err = read(&[RawEntry::stored("module.ron", b"(name: \"x\", version: \"1.0.0\")")]).unwrap_err();
    assert!(matches!(err, ArchiveError::Manifest(ManifestError::Invalid(_))), "{err}");
}

#[test]
fn missing_file() {
    let err = read(&[RawEntry::stored("module.ron", MANIFEST.as_bytes())]).unwrap_err();
    assert!(
        matches!(err, ArchiveError::MissingFile { ref function, ref file } if function == "run" && file == "run.wasm")
    );
}

#[test]
fn unreferenced_file() {
    let mut entries = valid_entries();
    entries.push(RawEntry::stored("notes.txt", b"hello"));
    let err = read(&entries).unwrap_err();
    assert!(matches!(err, ArchiveError::UnreferencedFile { ref name } if name == "notes.txt"), "{err}");
}

#[test]
fn corrupt_entry() {
    let mut entries = valid_entries();
    entries[1].crc ^= 1;
    let err = read(&entries).unwrap_err();
    assert!(matches!(err, ArchiveError::CorruptEntry { ref name, .. } if name == "run.wasm"), "{err}");
}

#[test]
fn writing_is_deterministic_and_reads_back() {
    let mut files = BTreeMap::new();
    files.insert("run.wasm".to_string(), WASM.to_vec());
    let a = write_package(MANIFEST, &files).unwrap();
    let b = write_package(MANIFEST, &files).unwrap();
    assert_eq!(a, b);
    let p = read_package(&a, &ArchiveLimits::default()).unwrap();
    assert_eq!(p.files, files);
    assert_eq!(p.write().unwrap(), a);
}

#[test]
fn writer_refuses_what_the_reader_would() {
    let mut files = BTreeMap::new();
    assert!(matches!(write_package(MANIFEST, &files), Err(ArchiveError::MissingFile { .. })));
    files.insert("run.wasm".to_string(), WASM.to_vec());
    files.insert("extra.wasm".to_string(), WASM.to_vec());
    assert!(matches!(write_package(MANIFEST, &files), Err(ArchiveError::UnreferencedFile { .. })));
    assert!(matches!(write_package("(", &files), Err(ArchiveError::Manifest(ManifestError::Syntax { .. }))));
}
