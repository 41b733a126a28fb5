//! What the end-to-end tests share: packages (the example module as built, releases of
//! it, handlers from WAT), a site directory, and the `wasmod-http-host` binary started on
//! 127.0.0.1 with free ports, with an HTTP client whose every wait is bounded.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long any one wait of a test may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_built(path: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&path).with_context(|| format!("reading {} (built by `cargo xtask build-fixtures`)", path.display()))
}

/// The example module's package as built.
pub(crate) fn hello_package() -> Result<Vec<u8>> {
    read_built(root().join("target/examples/packages/hello.zip"))
}

/// The example module packed again with its manifest edited by `edit`: a new release of
/// the same code.
pub(crate) fn hello_release(edit: impl Fn(&str) -> String) -> Result<Vec<u8>> {
    let wasm = read_built(root().join("target/examples/wasm32-unknown-unknown/release/example_hello.wasm"))?;
    let manifest = std::fs::read_to_string(root().join("examples/hello/module.ron"))?;
    Ok(wasmod_pack::pack_build(&edit(&manifest), &wasm)?)
}

/// A package from WAT: `name` with the given manifest `config` and `functions` entries,
/// one file per function, each exporting that function with `body` (and `data`).
pub(crate) fn wat_package(name: &str, config: &str, functions: &[(&str, &str)], data: &str) -> Result<Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut entries = Vec::new();
    for (function, body) in functions {
        let wasm = wat::parse_str(format!(
            r#"(module
                (memory (export "memory") 1)
                {data}
                (func (export "__wasmod_abi_v1"))
                (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
                (func (export "{function}") (param i32 i32) (result i64) {body}))"#
        ))?;
        files.insert(format!("{function}.wasm"), wasm);
        entries.push(format!(r#""{function}": (implements: "http.handle", groups: [])"#));
    }
    let manifest = format!(
        r#"(name: "{name}", version: "1.0.0", config: {{ {config} }}, functions: {{ {} }})"#,
        entries.join(", ")
    );
    Ok(wasmod_pack::pack_files(&manifest, &files)?)
}

/// The `routes` config entry serving `routes`.
pub(crate) fn routes(routes: &str) -> String {
    format!(r#""routes": (type: String, default: "{routes}", doc: "Served paths.")"#)
}

/// A handler from WAT: `handle` runs `body`; its module serves `served`.
pub(crate) fn wat_handler(name: &str, served: &str, body: &str) -> Result<Vec<u8>> {
    wat_package(name, &routes(served), &[("handle", body)], "")
}

/// A handler that spins until its deadline (start it with `SPIN_FUEL`, so that its fuel
/// outlasts any deadline of a test).
pub(crate) fn spinning() -> Result<Vec<u8>> {
    wat_handler("test/spin", "/spin", "(loop $forever (br $forever)) unreachable")
}

/// Flags giving a call fuel for far longer than any test's deadline.
pub(crate) const SPIN_FUEL: [&str; 2] = ["--call-fuel", "1000000000000000"];

/// A handler answering `output` as it is, whatever the request.
pub(crate) fn answering(name: &str, served: &str, output: &str) -> Result<Vec<u8>> {
    let escaped = output.replace('\\', "\\\\").replace('"', "\\\"");
    let word = (output.len() << 32) | 16;
    wat_package(
        name,
        &routes(served),
        &[("handle", &format!("i64.const {word}"))],
        &format!(r#"(data (i32.const 16) "{escaped}")"#),
    )
}

/// A directory with `packages/` holding `packages`, and `config.ron`.
pub(crate) fn site(packages: &[(&str, Vec<u8>)], config: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("packages"))?;
    for (file, bytes) in packages {
        std::fs::write(dir.path().join("packages").join(file), bytes)?;
    }
    std::fs::write(dir.path().join("config.ron"), config)?;
    Ok(dir)
}

/// The server's command line on `dir`, both listeners on free ports.
pub(crate) fn command(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmod-http-host"));
    cmd.arg("--store")
        .arg(dir.join("store"))
        .arg("--packages")
        .arg(dir.join("packages"))
        .arg("--config")
        .arg(dir.join("config.ron"))
        .arg("--artifact-key")
        .arg(dir.join("artifact.key"))
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn");
    cmd
}

/// Waits for `child` to exit, at most `PATIENCE`; kills it and fails if it does not.
pub(crate) fn exit_of(child: &mut Child) -> Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            bail!("the server did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the server on `dir` expecting it to refuse to start; returns its stderr.
pub(crate) fn refused_start(dir: &Path) -> Result<String> {
    let mut child = command(dir, &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let status = exit_of(&mut child)?;
    let mut stderr = String::new();
    child.stderr.take().context("no stderr")?.read_to_string(&mut stderr)?;
    if status.success() {
        bail!("the server started: {stderr}");
    }
    Ok(stderr)
}

/// A running server, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) public: String,
    pub(crate) admin: String,
    agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that reports every status (no error for 4xx and 5xx) and waits at
/// most `timeout` for anything.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

/// Starts the server and waits for both of its addresses.
pub(crate) fn start(dir: &Path, extra: &[&str]) -> Result<Server> {
    let mut child = command(dir, extra).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut public, mut admin) = (None, None);
    while public.is_none() || admin.is_none() {
        let Ok(line) = rx.recv_timeout(PATIENCE) else {
            let _ = child.kill();
            bail!("the server did not print its addresses (exit: {:?})", child.wait()?);
        };
        if let Some(a) = line.strip_prefix("listening on ") {
            public = Some(a.to_owned());
        } else if let Some(a) = line.strip_prefix("admin on ") {
            admin = Some(a.to_owned());
        }
    }
    Ok(Server { child, public: public.unwrap_or_default(), admin: admin.unwrap_or_default(), agent: agent(PATIENCE) })
}

/// A response's status, two headers and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) served_by: Option<String>,
    pub(crate) retry_after: Option<String>,
    pub(crate) allow: Option<String>,
    pub(crate) body: String,
}

impl Answer {
    fn of(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer> {
        let mut response = response?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (served_by, retry_after, allow) = (header("wasmod-module"), header("retry-after"), header("allow"));
        let mut body = String::new();
        response.body_mut().as_reader().read_to_string(&mut body)?;
        Ok(Answer { status: response.status().as_u16(), served_by, retry_after, allow, body })
    }
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    pub(crate) fn get(&self, path: &str) -> Result<Answer> {
        Answer::of(self.agent.get(self.url(path)).call())
    }

    pub(crate) fn head(&self, path: &str) -> Result<Answer> {
        Answer::of(self.agent.head(self.url(path)).call())
    }

    pub(crate) fn post(&self, path: &str, body: &[u8]) -> Result<Answer> {
        Answer::of(self.agent.post(self.url(path)).send(body))
    }

    pub(crate) fn get_with_header(&self, path: &str, name: &str, value: &[u8]) -> Result<Answer> {
        let value = ureq::http::HeaderValue::from_bytes(value)?;
        Answer::of(self.agent.get(self.url(path)).header(name, value).call())
    }

    pub(crate) fn metrics(&self) -> Result<String> {
        Ok(Answer::of(self.agent.get(format!("{}/metrics", self.admin)).call())?.body)
    }

    pub(crate) fn reload(&self) -> Result<Answer> {
        Answer::of(self.agent.post(format!("{}/admin/reload", self.admin)).send_empty())
    }
}

impl Server {
    /// Waits until `n` module calls are running, as `/metrics` says.
    pub(crate) fn wait_for_calls_in_flight(&self, n: u64) -> Result<()> {
        let line = format!("wasmod_http_calls_in_flight {n}");
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if self.metrics()?.lines().any(|l| l == line) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("`{line}` never showed in /metrics")
    }
}

/// The sample of `/metrics` named `name` with exactly `labels`.
pub(crate) fn sample(metrics: &str, name: &str, labels: &str) -> Option<String> {
    let prefix = format!("{name}{{{labels}}} ");
    metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned))
}
