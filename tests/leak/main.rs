//! 100,000 sequential fresh-instance calls keep RSS within a fixed bound. Alone in its
//! test binary so that no other test's allocations move the measurement.

use wasmod_runtime::{NoCache, Runtime};
use wasmod_tests::groups::{Journal, doubles};
use wasmod_tests::{package, validated};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_hundred_thousand_fresh_instances_do_not_leak() {
    let journal = Journal::quiet();
    let rt = doubles(&journal).into_iter().fold(Runtime::builder(), |b, g| b.group(g)).build();
    // uses_kv makes two host calls per call, one of which calls back into the guest.
    let f = rt.load(&validated(&package("three")), "uses_kv", &NoCache).unwrap();
    for _ in 0..5_000 {
        rt.call(&f, b"warm up").unwrap();
    }
    let before = rss_bytes();
    for i in 0..100_000u32 {
        let out = rt.call(&f, &i.to_le_bytes()).unwrap();
        assert!(out.output.len() == 4 || i == 0);
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 8 << 20, "RSS grew by {} KiB over 100,000 calls", grown >> 10);
}
