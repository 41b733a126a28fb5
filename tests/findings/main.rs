//! Every kept fuzz finding (`tests/hostile/fuzz/<target>/<file>`, copied there by
//! `cargo xtask fuzz`) replayed through its target's body, one test per file, so that
//! one failure hides no other and one finding can be run alone
//! (`cargo test -p wasmod-tests --test findings -- warm_reset/crash-…`).

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};

/// A fuzz target's body: it panics on a finding that is not fixed.
type Body = fn(&[u8]);

/// The body of each fuzz target, by its directory name.
const TARGETS: &[(&str, Body)] = &[
    ("manifest", |b| {
        let _ = wasmod_tests::fuzz::manifest(b);
    }),
    ("archive", |b| {
        let _ = wasmod_tests::fuzz::archive(b);
    }),
    ("validate", |b| {
        let _ = wasmod_tests::fuzz::validate(b);
    }),
    ("call", |b| {
        let _ = wasmod_tests::fuzz::call(b);
    }),
    ("host_survives", |b| {
        let _ = wasmod_tests::fuzz::host_survives(b);
    }),
    ("warm_reset", |b| {
        let _ = wasmod_tests::fuzz::warm_reset(b);
    }),
];

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile/fuzz");
    // A corpus that cannot be listed is one failing test, not a silent pass.
    let trials = trials(&dir).unwrap_or_else(|e| {
        let message = format!("cannot list the fuzz findings in {}: {e}", dir.display());
        vec![Trial::test("list", move || Err(Failed::from(message)))]
    });
    libtest_mimic::run(&args, trials).exit_code()
}

/// One trial per file; a directory that names no target is a failing trial of its own.
fn trials(dir: &Path) -> std::io::Result<Vec<Trial>> {
    let mut trials = Vec::new();
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        // Nothing kept yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(trials),
        Err(e) => return Err(e),
    };
    let mut targets: Vec<_> = listing.collect::<Result<_, _>>()?;
    targets.sort_by_key(|e| e.file_name());
    for target in targets {
        let name = target.file_name().to_string_lossy().into_owned();
        let Some(&(_, body)) = TARGETS.iter().find(|(t, _)| *t == name) else {
            trials.push(Trial::test(format!("{name}/unknown-target"), move || {
                Err(Failed::from(format!("tests/hostile/fuzz/{name} is not a fuzz target")))
            }));
            continue;
        };
        let mut inputs: Vec<_> = std::fs::read_dir(target.path())?.collect::<Result<_, _>>()?;
        inputs.sort_by_key(|e| e.file_name());
        for input in inputs {
            let path = input.path();
            let file = input.file_name().to_string_lossy().into_owned();
            trials.push(Trial::test(format!("{name}/{file}"), move || {
                let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                body(&bytes);
                Ok(())
            }));
        }
    }
    Ok(trials)
}
