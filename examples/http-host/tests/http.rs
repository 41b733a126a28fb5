//! End to end: the `wasmod-http-host` binary started on 127.0.0.1 with free ports, real
//! HTTP requests, the example module `acme/hello` (built by `cargo xtask build-fixtures`
//! into `target/examples/`) and hostile handlers from WAT.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_built(path: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&path).with_context(|| format!("reading {} (built by `cargo xtask build-fixtures`)", path.display()))
}

/// The example module's package as built.
fn hello_package() -> Result<Vec<u8>> {
    read_built(root().join("target/examples/packages/hello.zip"))
}

/// The example module packed again with its manifest edited by `edit`: a new release of
/// the same code.
fn hello_release(edit: impl Fn(&str) -> String) -> Result<Vec<u8>> {
    let wasm = read_built(root().join("target/examples/wasm32-unknown-unknown/release/example_hello.wasm"))?;
    let manifest = std::fs::read_to_string(root().join("examples/hello/module.ron"))?;
    Ok(wasmod_pack::pack_build(&edit(&manifest), &wasm)?)
}

/// A handler from WAT: `handle` runs `body`; its module serves `routes`.
fn wat_handler(name: &str, routes: &str, body: &str) -> Result<Vec<u8>> {
    let wasm = wat::parse_str(format!(
        r#"(module
            (memory (export "memory") 1)
            (func (export "__wasmod_abi_v1"))
            (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "handle") (param i32 i32) (result i64) {body}))"#
    ))?;
    let manifest = format!(
        r#"(name: "{name}", version: "1.0.0",
            config: {{ "routes": (type: String, default: "{routes}", doc: "Served paths.") }},
            functions: {{ "handle": (implements: "http.handle", groups: []) }})"#
    );
    Ok(wasmod_pack::pack_files(&manifest, &[("handle.wasm".to_string(), wasm)].into())?)
}

/// A running server, killed when dropped.
struct Server {
    child: Child,
    public: String,
    admin: String,
    agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory with `packages/` holding `packages`, and `config.ron`.
fn site(packages: &[(&str, Vec<u8>)], config: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("packages"))?;
    for (file, bytes) in packages {
        std::fs::write(dir.path().join("packages").join(file), bytes)?;
    }
    std::fs::write(dir.path().join("config.ron"), config)?;
    Ok(dir)
}

fn command(dir: &Path, extra: &[&str]) -> Command {
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

/// Starts the server and waits for both of its addresses.
fn start(dir: &Path, extra: &[&str]) -> Result<Server> {
    let mut child = command(dir, extra).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut public = None;
    let mut admin = None;
    while public.is_none() || admin.is_none() {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) else {
            let _ = child.kill();
            bail!("the server did not print its addresses (exit: {:?})", child.wait()?);
        };
        if let Some(a) = line.strip_prefix("listening on ") {
            public = Some(a.to_owned());
        } else if let Some(a) = line.strip_prefix("admin on ") {
            admin = Some(a.to_owned());
        }
    }
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    Ok(Server { child, public: public.unwrap_or_default(), admin: admin.unwrap_or_default(), agent })
}

/// A response's status, `wasmod-module` header and body.
struct Answer {
    status: u16,
    served_by: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl Server {
    fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer> {
        let mut response = response?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (served_by, retry_after) = (header("wasmod-module"), header("retry-after"));
        let mut body = String::new();
        response.body_mut().as_reader().read_to_string(&mut body)?;
        Ok(Answer { status: response.status().as_u16(), served_by, retry_after, body })
    }

    fn get(&self, path: &str) -> Result<Answer> {
        Server::answer(self.agent.get(format!("{}{path}", self.public)).call())
    }

    fn post(&self, path: &str, body: &str) -> Result<Answer> {
        Server::answer(self.agent.post(format!("{}{path}", self.public)).send(body))
    }

    fn metrics(&self) -> Result<String> {
        Ok(Server::answer(self.agent.get(format!("{}/metrics", self.admin)).call())?.body)
    }

    fn reload(&self) -> Result<Answer> {
        Server::answer(self.agent.post(format!("{}/admin/reload", self.admin)).send_empty())
    }
}

/// The sample of `/metrics` named `name` with exactly `labels`.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<String> {
    let prefix = format!("{name}{{{labels}}} ");
    metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned))
}

#[test]
fn routes_are_served_by_the_module_that_claims_them() -> Result<()> {
    let dir = site(&[("hello.zip", hello_package()?)], r#"{ "acme/hello": { "greeting": "Hi" } }"#)?;
    let server = start(dir.path(), &[])?;

    let world = server.get("/hello")?;
    assert_eq!((world.status, world.served_by.as_deref()), (200, Some("acme/hello@1.0.0")));
    // The greeting comes from the application's config, the server's name from the
    // embedder group `http.host`, which counted the request before.
    assert!(
        world.body.starts_with("Hi, world! (wasmod-http-host/") && world.body.contains(" has served 0 requests"),
        "{}",
        world.body
    );

    // kv keeps the visits between calls; every call still starts from a fresh instance.
    assert_eq!(server.get("/hello/ann")?.body, "Hi, ann! Visit number 1.\n");
    assert_eq!(server.get("/hello/ann")?.body, "Hi, ann! Visit number 2.\n");
    assert!(server.get("/hello")?.body.contains(" has served 3 requests"));

    let posted = server.post("/hello", "x")?;
    assert_eq!(posted.status, 405, "{}", posted.body);
    let nowhere = server.get("/elsewhere")?;
    assert_eq!((nowhere.status, nowhere.served_by), (404, None));
    assert_eq!(nowhere.body, "no module serves /elsewhere\n");
    Ok(())
}

#[test]
fn a_failing_module_is_quarantined_and_metrics_say_so() -> Result<()> {
    let boom = wat_handler("test/boom", "/boom", "unreachable")?;
    let dir = site(&[("boom.zip", boom), ("hello.zip", hello_package()?)], "{}")?;
    let server = start(dir.path(), &["--quarantine-after", "3", "--quarantine-ms", "600000"])?;

    for _ in 0..3 {
        let failed = server.get("/boom")?;
        assert_eq!((failed.status, failed.served_by.as_deref()), (502, Some("test/boom@1.0.0")));
        assert!(failed.body.contains("unreachable"), "{}", failed.body);
    }
    let refused = server.get("/boom")?;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("quarantined"), "{}", refused.body);
    let seconds: u64 = refused.retry_after.as_deref().context("no Retry-After")?.parse()?;
    assert!((590..=600).contains(&seconds), "Retry-After: {seconds}");
    // The other module is not affected.
    assert_eq!(server.get("/hello")?.status, 200);

    let metrics = server.metrics()?;
    let boom = r#"module="test/boom",version="1.0.0",function="handle""#;
    let hello = r#"module="acme/hello",version="1.0.0",function="handle""#;
    assert_eq!(sample(&metrics, "wasmod_function_calls_total", boom).as_deref(), Some("4"), "{metrics}");
    assert_eq!(
        sample(&metrics, "wasmod_function_errors_total", &format!("{boom},kind=\"trap\"")).as_deref(),
        Some("3")
    );
    assert_eq!(
        sample(&metrics, "wasmod_function_errors_total", &format!("{boom},kind=\"quarantined\"")).as_deref(),
        Some("1")
    );
    assert_eq!(sample(&metrics, "wasmod_function_quarantined", boom).as_deref(), Some("1"));
    assert_eq!(sample(&metrics, "wasmod_function_succeeded_total", hello).as_deref(), Some("1"));
    assert!(metrics.lines().any(|l| l == "wasmod_http_requests_total 5"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "wasmod_http_routes 3"), "{metrics}");
    Ok(())
}

#[test]
fn a_reload_swaps_to_a_newer_version_and_keeps_its_data() -> Result<()> {
    let dir = site(&[("hello-1.0.0.zip", hello_package()?)], "{}")?;
    let server = start(dir.path(), &[])?;
    assert_eq!(server.get("/hello/bo")?.body, "Hello, bo! Visit number 1.\n");

    let v110 = hello_release(|m| {
        m.replace(r#"version: "1.0.0""#, r#"version: "1.1.0""#).replace(r#"default: "Hello""#, r#"default: "Howdy""#)
    })?;
    std::fs::write(dir.path().join("packages/hello-1.1.0.zip"), v110)?;
    let reloaded = server.reload()?;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    let report: serde_json::Value = serde_json::from_str(&reloaded.body)?;
    assert_eq!(report["generation"], 2);
    assert_eq!(report["installed"], serde_json::json!(["acme/hello@1.1.0"]));
    assert_eq!(report["active"], serde_json::json!(["acme/hello@1.1.0"]));

    let after = server.get("/hello/bo")?;
    assert_eq!(after.served_by.as_deref(), Some("acme/hello@1.1.0"));
    assert_eq!(after.body, "Howdy, bo! Visit number 2.\n", "the kv data carried over");
    Ok(())
}

#[test]
fn a_failed_reload_keeps_serving_the_previous_activation() -> Result<()> {
    let dir = site(&[("hello.zip", hello_package()?)], "{}")?;
    let server = start(dir.path(), &[])?;

    // A release that asks for a group the installed one was not granted is refused.
    let wider = hello_release(|m| {
        m.replace(r#"version: "1.0.0""#, r#"version: "1.2.0""#)
            .replace(r#"groups: ["config", "kv", "http.host"]"#, r#"groups: ["config", "kv", "log", "http.host"]"#)
    })?;
    std::fs::write(dir.path().join("packages/hello-1.2.0.zip"), wider)?;
    let refused = server.reload()?;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("acme/hello@1.2.0 asks for groups acme/hello@1.0.0 was not granted"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("handle: +log"), "{}", refused.body);
    assert_eq!(server.get("/hello")?.served_by.as_deref(), Some("acme/hello@1.0.0"));

    // A config the module's schema refuses fails the activation, not the server.
    std::fs::remove_file(dir.path().join("packages/hello-1.2.0.zip"))?;
    std::fs::write(dir.path().join("config.ron"), r#"{ "acme/hello": { "greeting": 7 } }"#)?;
    let refused = server.reload()?;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("greeting"), "{}", refused.body);
    assert_eq!(server.get("/hello")?.status, 200);
    let metrics = server.metrics()?;
    assert!(metrics.lines().any(|l| l == "wasmod_http_failed_reloads_total 2"), "{metrics}");
    Ok(())
}

#[test]
fn two_modules_claiming_one_route_stop_the_start_naming_both() -> Result<()> {
    let squatter = wat_handler("test/squatter", "/hello", "unreachable")?;
    let dir = site(&[("hello.zip", hello_package()?), ("squatter.zip", squatter)], "{}")?;
    let out = command(dir.path(), &[]).output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`/hello` is claimed by both acme/hello@1.0.0 (handle) and test/squatter@1.0.0 (handle)"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_handler_returning_no_response_is_a_bad_gateway() -> Result<()> {
    // `handle` returns the empty output (pointer 0, length 0): not a JSON response.
    let mute = wat_handler("test/mute", "/mute", "i64.const 0")?;
    let dir = site(&[("mute.zip", mute)], "{}")?;
    let server = start(dir.path(), &[])?;
    let answer = server.get("/mute")?;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(answer.body.starts_with("test/mute@1.0.0 (handle) returned no valid response: EOF"), "{}", answer.body);
    Ok(())
}

#[cfg(unix)]
#[test]
fn sighup_reloads_and_sigterm_stops_gracefully() -> Result<()> {
    let dir = site(&[("hello.zip", hello_package()?)], "{}")?;
    let mut server = start(dir.path(), &[])?;
    let v110 = hello_release(|m| m.replace(r#"version: "1.0.0""#, r#"version: "1.1.0""#))?;
    std::fs::write(dir.path().join("packages/hello-1.1.0.zip"), v110)?;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status()?.success());
    let mut served = None;
    for _ in 0..600 {
        served = server.get("/hello")?.served_by;
        if served.as_deref() == Some("acme/hello@1.1.0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served.as_deref(), Some("acme/hello@1.1.0"));
    assert!(Command::new("kill").args(["-TERM", &pid]).status()?.success());
    let status = server.child.wait()?;
    assert!(status.success(), "{status}");
    Ok(())
}
