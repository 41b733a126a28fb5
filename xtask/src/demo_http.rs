//! The demo's last part: the example HTTP host (`examples/http-host`) started on
//! 127.0.0.1 with free ports, serving `acme/hello` (packed here with the CLI) through the
//! `http.handle` extension point. A few requests show a route, the module's kv, its own
//! refusal and an unrouted path, then `/metrics` shows the statistics, and `SIGTERM`
//! stops the server gracefully.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::demo::wasmod;
use crate::util::{WASM_TARGET, root};

/// How long the demo waits for the server at any one step.
const PATIENCE: Duration = Duration::from_secs(60);

/// The server, killed if the demo stops early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the HTTP part of the demo; `cli` is the built `wasmod`, `out` the demo's directory.
pub(crate) fn http_host(cli: &Path, out: &Path) -> Result<()> {
    println!("\n== The example HTTP host: acme/hello serves /hello through the `http.handle` extension point");
    let dir = out.join("http");
    std::fs::create_dir_all(dir.join("packages"))?;
    let package = dir.join("packages/acme-hello-1.0.0.zip");
    let build = format!("target/examples/{WASM_TARGET}/release/example_hello.wasm");
    let package_arg = package.to_string_lossy().into_owned();
    let pack = ["pack", "--manifest", "examples/hello/module.ron", "--wasm", &build, "-o", &package_arg];
    wasmod(cli, &pack, true)?;

    let binary = root().join("target/debug/wasmod-http-host");
    println!(
        "\n$ wasmod-http-host --store {0}/store --packages {0}/packages --listen 127.0.0.1:0 --admin 127.0.0.1:0",
        dir.display()
    );
    let mut child = Command::new(&binary)
        .arg("--store")
        .arg(dir.join("store"))
        .arg("--packages")
        .arg(dir.join("packages"))
        .arg("--artifact-key")
        .arg(dir.join("artifact.key"))
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut server = Running(child);
    let (public, admin) = addresses(stdout)?;

    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(PATIENCE)).build().into();
    for (method, path) in
        [("GET", "/hello"), ("GET", "/hello/demo"), ("GET", "/hello/demo"), ("POST", "/hello"), ("GET", "/nowhere")]
    {
        let url = format!("{public}{path}");
        println!("\n$ curl -i -X {method} {url}");
        let response = match method {
            "GET" => agent.get(&url).call(),
            _ => agent.post(&url).send("hi"),
        };
        let mut response = response.with_context(|| format!("{method} {url}"))?;
        let served_by = response.headers().get("wasmod-module").and_then(|v| v.to_str().ok()).map(str::to_owned);
        println!("HTTP {}", response.status());
        if let Some(module) = served_by {
            println!("wasmod-module: {module}");
        }
        let mut body = String::new();
        response.body_mut().as_reader().read_to_string(&mut body)?;
        print!("{body}");
    }

    let url = format!("{admin}/metrics");
    println!("\n$ curl -s {url} | grep acme/hello");
    let mut metrics = agent.get(&url).call().with_context(|| format!("GET {url}"))?;
    let mut text = String::new();
    metrics.body_mut().as_reader().read_to_string(&mut text)?;
    let shown: Vec<&str> = text.lines().filter(|l| l.contains("acme/hello")).collect();
    if shown.is_empty() {
        bail!("/metrics has no sample of acme/hello:\n{text}");
    }
    println!("{}", shown.join("\n"));

    println!("\n$ kill -TERM <wasmod-http-host>");
    let pid = server.0.id().to_string();
    if !Command::new("kill").args(["-TERM", &pid]).status()?.success() {
        bail!("could not signal the HTTP host");
    }
    let status = exit_within(&mut server.0, PATIENCE)?;
    if !status.success() {
        bail!("the HTTP host stopped with {status}");
    }
    println!("(stopped gracefully)");
    Ok(())
}

/// Waits for `child` to exit, at most `limit`.
fn exit_within(child: &mut Child, limit: Duration) -> Result<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > limit {
            bail!("the HTTP host did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the server's stdout until it has printed both of its addresses.
fn addresses(stdout: impl Read + Send + 'static) -> Result<(String, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut public, mut admin) = (None, None);
    while public.is_none() || admin.is_none() {
        let line = rx.recv_timeout(PATIENCE).context("the HTTP host did not print its addresses")?;
        println!("{line}");
        if let Some(a) = line.strip_prefix("listening on ") {
            public = Some(a.to_owned());
        } else if let Some(a) = line.strip_prefix("admin on ") {
            admin = Some(a.to_owned());
        }
    }
    Ok((public.unwrap_or_default(), admin.unwrap_or_default()))
}
