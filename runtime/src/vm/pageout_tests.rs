//! The swap blind spot, reproduced: a page a guest wrote is swapped out before its slot
//! is cleared, or before a warm instance's memory is restored to its image, and the next
//! call must still see only zeros there (and the image).
//!
//! To make the kernel do that on demand the test needs swap and a memory cgroup of its
//! own. It runs the scenario in a child process (this test binary, filtered to
//! [`swapped_page_child`]) placed in a fresh memory cgroup; the child writes a page,
//! pages it out with `madvise(MADV_PAGEOUT)`, then empties its cgroup
//! (`memory.force_empty` on cgroup v1, `memory.reclaim` on v2), which also drops the
//! page from the swap cache: `mincore` then reports it not resident while its bytes sit
//! in swap. While the machine is busy the write to swap can keep the page in the swap
//! cache for seconds, so each case gets a few attempts, each with a fresh slot, and
//! every attempt checks the secret is gone. Without swap on the machine the test turns
//! on a temporary swap file (as root), and turns it off afterwards. Where any of this
//! cannot be had, the test says so in its output and checks the weaker case it can
//! make (a page paged out but still in the swap cache).
#![allow(clippy::print_stdout, reason = "the test reports what the kernel did, and the child reports to the parent")]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::vm::slot::{WASM_PAGE, checkout, give_back};
use crate::vm::touched::Method;

const CHILD_ENV: &str = "WASMOD_PAGEOUT_CGROUP";
const MADV_PAGEOUT: libc::c_int = 21;
/// Where in the slot the secret goes: inside its second wasm page.
const SECRET_AT: usize = WASM_PAGE + 4096 * 3;

/// What the scenario saw of the page before the slot was cleared.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// `/proc/self/pagemap` said swapped out.
    swapped: bool,
    /// `mincore` said resident.
    resident: bool,
}

fn pagemap_entry(addr: usize) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open("/proc/self/pagemap").ok()?;
    let mut entry = [0u8; 8];
    file.read_exact_at(&mut entry, (addr / 4096 * 8) as u64).ok()?;
    Some(u64::from_le_bytes(entry))
}

/// How the slot is made clean again.
#[derive(Clone, Copy, Debug)]
enum Clean {
    /// As the pool does when a memory is dropped.
    Slot,
    /// As a warm instance's reset does: back to an image of data (at [`IMAGE_AT`]).
    Image,
}

/// Where the image's data lies: in the first wasm page.
const IMAGE_AT: usize = 4096 * 2;

/// How long one attempt waits for the kernel to drop the page from the swap cache.
const EVICT_FOR: std::time::Duration = std::time::Duration::from_secs(5);
/// How many attempts (each with a fresh slot) the child makes to get the page swapped
/// out and evicted before it reports that the kernel did not.
const ATTEMPTS: u32 = 4;

/// Writes a secret into a slot, pages it out (and empties the cgroup at `evict`, if
/// given), cleans the slot (`clean`) finding its pages by `method`, and checks that the
/// secret is gone (and, for an image, that the image's data is there).
fn scenario(evict: Option<&Path>, method: Method, clean: Clean) -> Seen {
    let mut slot = checkout(4 * WASM_PAGE).unwrap();
    let base = slot.base.as_ptr();
    let image = match clean {
        Clean::Slot => None,
        Clean::Image => {
            // SAFETY: read-write and ours.
            unsafe { std::ptr::write_bytes(base.add(IMAGE_AT), 0x3C, 100) };
            // SAFETY: as above; nothing else uses the slot.
            Some(unsafe { crate::vm::image::Image::capture(base, 4 * WASM_PAGE, method) }.unwrap())
        }
    };
    // SAFETY: the slot's first four wasm pages are read-write.
    unsafe { std::ptr::write_bytes(base.add(SECRET_AT), 0xA5, 4096) };
    let page = (base as usize + SECRET_AT) & !4095;
    // SAFETY: a range of our slot; the advice only moves pages out.
    unsafe { libc::madvise(page as *mut libc::c_void, 4096, MADV_PAGEOUT) };
    let resident = || {
        let mut vec = [0u8; 1];
        // SAFETY: a mapped page of ours and a one-byte vector.
        unsafe { libc::mincore(page as *mut libc::c_void, 4096, vec.as_mut_ptr()) };
        vec[0] & 1 == 1
    };
    if let Some(cgroup) = evict {
        // A page still being written to swap stays in the swap cache: page it out and
        // empty the cgroup again until it is gone, for up to `EVICT_FOR` (the caller then
        // tries again with a fresh slot). On a loaded machine the write-back takes seconds.
        let until = std::time::Instant::now() + EVICT_FOR;
        while std::time::Instant::now() < until {
            empty_cgroup(cgroup);
            if !resident() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            // SAFETY: as above.
            unsafe { libc::madvise(page as *mut libc::c_void, 4096, MADV_PAGEOUT) };
        }
    }
    let swapped = pagemap_entry(page).is_some_and(|e| e >> 62 & 1 == 1 && e >> 63 & 1 == 0);
    let seen = Seen { swapped, resident: resident() };
    match &image {
        None => slot.clear_by(method).unwrap(),
        // SAFETY: read-write, ours, and nothing else uses it.
        Some(image) => unsafe { image.restore(base, method, &mut Vec::new(), 1 << 20) }.unwrap(),
    }
    // SAFETY: still read-write.
    let after = unsafe { std::slice::from_raw_parts(base.add(SECRET_AT), 4096) };
    assert!(after.iter().all(|b| *b == 0), "the secret survived {clean:?} by {method:?} ({seen:?})");
    if image.is_some() {
        // SAFETY: as above.
        let data = unsafe { std::slice::from_raw_parts(base.add(IMAGE_AT), 101) };
        assert!(data[..100].iter().all(|b| *b == 0x3C) && data[100] == 0, "the image is back");
    }
    give_back(slot);
    seen
}

fn empty_cgroup(cgroup: &Path) {
    let v1 = cgroup.join("memory.force_empty");
    let result =
        if v1.exists() { std::fs::write(&v1, "0") } else { std::fs::write(cgroup.join("memory.reclaim"), "1G") };
    // v2's reclaim reports EAGAIN when it freed less than asked, which is expected here.
    if let Err(e) = result
        && e.raw_os_error() != Some(libc::EAGAIN)
    {
        panic!("emptying {}: {e}", cgroup.display());
    }
}

/// The scenario, in this process: the child the parent test starts (in its own cgroup),
/// or, run on its own, the weaker case (paged out, maybe still in the swap cache).
#[test]
fn swapped_page_child() {
    let cgroup = std::env::var_os(CHILD_ENV).map(PathBuf::from);
    if let Some(cgroup) = &cgroup {
        std::fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string()).unwrap();
    }
    // Both ways of finding the pages: the kernel's page-table scan, where it has one,
    // and the fallback.
    let mut methods = vec![Method::Mincore];
    if let best @ Method::PagemapScan(_) = Method::best() {
        methods.push(best);
    }
    for method in methods {
        for clean in [Clean::Slot, Clean::Image] {
            // Every attempt checks that the secret is gone; the case this is about is
            // made when one attempt gets the page swapped out and evicted first.
            let mut attempt = 1;
            let seen = loop {
                let seen = scenario(cgroup.as_deref(), method, clean);
                if cgroup.is_none() || (seen.swapped && !seen.resident) || attempt == ATTEMPTS {
                    break seen;
                }
                attempt += 1;
            };
            println!(
                "PAGEOUT {}/{clean:?} attempts={attempt} swapped={} resident={}",
                name(method),
                seen.swapped,
                seen.resident
            );
        }
    }
}

fn name(method: Method) -> &'static str {
    match method {
        Method::PagemapScan(_) => "pagemap-scan",
        Method::Mincore => "mincore",
    }
}

/// Swap for the duration of a test: none if some is on already, else a temporary swap
/// file turned on now and off when dropped.
struct Swap {
    file: Option<(tempfile::TempDir, PathBuf)>,
}

impl Swap {
    fn ensure() -> Result<Swap, String> {
        let swaps = std::fs::read_to_string("/proc/swaps").map_err(|e| format!("/proc/swaps: {e}"))?;
        if swaps.lines().count() > 1 {
            return Ok(Swap { file: None });
        }
        let dir = tempfile::tempdir_in(std::env::temp_dir()).map_err(|e| e.to_string())?;
        let path = dir.path().join("swap");
        let run = |cmd: &str, args: &[&str]| -> Result<(), String> {
            let out = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
            }
        };
        let file = path.to_str().ok_or("a temporary path that is not UTF-8")?;
        run("fallocate", &["-l", "64M", file])?;
        run("chmod", &["600", file])?;
        run("mkswap", &[file])?;
        run("swapon", &[file])?;
        Ok(Swap { file: Some((dir, path)) })
    }
}

impl Drop for Swap {
    fn drop(&mut self) {
        if let Some((_, path)) = &self.file {
            let _ = Command::new("swapoff").arg(path).status();
        }
    }
}

/// A fresh memory cgroup under this process's own, removed when dropped.
struct Cgroup(PathBuf);

impl Cgroup {
    fn create() -> Result<Cgroup, String> {
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let name = format!("wasmod-pageout-{}", std::process::id());
        // cgroup v1: "<n>:memory:<path>"; v2: "0::<path>".
        let dir = if let Some(path) = own.lines().find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned())) {
            Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')).join(name)
        } else if let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) {
            Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')).join(name)
        } else {
            return Err("no memory cgroup in /proc/self/cgroup".into());
        };
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cgroup = Cgroup(dir);
        if !cgroup.0.join("memory.force_empty").exists() && !cgroup.0.join("memory.reclaim").exists() {
            return Err(format!("{} has neither memory.force_empty nor memory.reclaim", cgroup.0.display()));
        }
        Ok(cgroup)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_page_swapped_out_before_its_slot_is_cleared_cannot_leak() {
    let prepared = Swap::ensure().and_then(|swap| Cgroup::create().map(|cgroup| (swap, cgroup)));
    let (_swap, cgroup) = match prepared {
        Ok(p) => p,
        Err(why) => {
            println!("the kernel cannot page out here ({why}): checking only a page paged out in this process");
            for clean in [Clean::Slot, Clean::Image] {
                let seen = scenario(None, Method::best(), clean);
                println!("PAGEOUT {clean:?} swapped={} resident={}", seen.swapped, seen.resident);
            }
            return;
        }
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "vm::pageout_tests::swapped_page_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &cgroup.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // (libtest prints the test's own output on the line of its name.)
    let lines: Vec<&str> = stdout.lines().filter_map(|l| l.find("PAGEOUT ").map(|at| &l[at..])).collect();
    println!("{}", lines.join("\n"));
    assert!(!lines.is_empty(), "the child reports what it saw:\n{stdout}");
    // The case this is about: swapped out, and not resident by `mincore`'s account (the
    // pool used to skip such pages), cleared and restored by every method.
    for line in &lines {
        assert!(
            line.ends_with(" swapped=true resident=false"),
            "the kernel did not swap the page out and evict it: {line}"
        );
    }
    let pagemap = lines.iter().any(|l| l.contains("pagemap-scan"));
    assert_eq!(pagemap, matches!(Method::best(), Method::PagemapScan(_)));
}
