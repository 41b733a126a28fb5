//! Hand-built zip archives, so tests control every header field a hostile archive could.

#![allow(dead_code, unreachable_pub)]

/// One entry of a hand-built archive.
pub struct RawEntry {
    pub name: Vec<u8>,
    /// 0 = stored, 8 = deflate.
    pub method: u16,
    /// The bytes as stored (already compressed for method 8).
    pub data: Vec<u8>,
    pub crc: u32,
    pub uncompressed_size: u32,
    /// Unix mode bits (`0o100644` for a file, `0o120777` for a symlink).
    pub mode: u32,
    pub flags: u16,
}

impl RawEntry {
    /// A stored regular file with an honest header.
    pub fn stored(name: &str, data: &[u8]) -> RawEntry {
        RawEntry {
            name: name.as_bytes().to_vec(),
            method: 0,
            data: data.to_vec(),
            crc: crc32fast::hash(data),
            uncompressed_size: data.len() as u32,
            mode: 0o100644,
            flags: 0x0800,
        }
    }

    /// A deflated regular file with an honest header.
    pub fn deflated(name: &str, data: &[u8]) -> RawEntry {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        RawEntry {
            name: name.as_bytes().to_vec(),
            method: 8,
            data: enc.finish().unwrap(),
            crc: crc32fast::hash(data),
            uncompressed_size: data.len() as u32,
            mode: 0o100644,
            flags: 0x0800,
        }
    }
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Lays the entries out as a zip archive: local headers and data, central directory,
/// end record. Local and central headers agree.
pub fn build_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, 20);
        u16le(&mut out, e.flags);
        u16le(&mut out, e.method);
        u16le(&mut out, 0);
        u16le(&mut out, 0x21);
        u32le(&mut out, e.crc);
        u32le(&mut out, e.data.len() as u32);
        u32le(&mut out, e.uncompressed_size);
        u16le(&mut out, e.name.len() as u16);
        u16le(&mut out, 0);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
    }
    let cd_start = out.len() as u32;
    for (e, offset) in entries.iter().zip(&offsets) {
        u32le(&mut out, 0x0201_4b50);
        u16le(&mut out, (3 << 8) | 20);
        u16le(&mut out, 20);
        u16le(&mut out, e.flags);
        u16le(&mut out, e.method);
        u16le(&mut out, 0);
        u16le(&mut out, 0x21);
        u32le(&mut out, e.crc);
        u32le(&mut out, e.data.len() as u32);
        u32le(&mut out, e.uncompressed_size);
        u16le(&mut out, e.name.len() as u16);
        u16le(&mut out, 0);
        u16le(&mut out, 0);
        u16le(&mut out, 0);
        u16le(&mut out, 0);
        u32le(&mut out, e.mode << 16);
        u32le(&mut out, *offset);
        out.extend_from_slice(&e.name);
    }
    let cd_size = out.len() as u32 - cd_start;
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, entries.len() as u16);
    u16le(&mut out, entries.len() as u16);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_start);
    u16le(&mut out, 0);
    out
}

/// Raw deflate data that inflates to `chunks` MiB of zeros, built without ever holding
/// more than one MiB: one byte-aligned block of 1 MiB of zeros, repeated, then a final
/// empty block.
pub fn deflate_bomb(chunks: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 20);
    c.compress_vec(&zeros, &mut block, FlushCompress::Sync).unwrap();
    assert_eq!(c.total_in(), zeros.len() as u64, "one call consumes the whole MiB");
    let mut last = Vec::with_capacity(64);
    c.compress_vec(&[], &mut last, FlushCompress::Finish).unwrap();
    let mut out = Vec::with_capacity(block.len() * chunks + last.len());
    for _ in 0..chunks {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&last);
    out
}

pub const MANIFEST: &str = r#"(name: "acme/t", version: "1.0.0", functions: { "run": (implements: "x") })"#;
pub const WASM: &[u8] = b"\0asm\x01\0\0\0";
