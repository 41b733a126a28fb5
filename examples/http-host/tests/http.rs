//! End to end: the `wasmod-http-host` binary started on 127.0.0.1 with free ports, real
//! HTTP requests, the example module `acme/hello` (built by `cargo xtask build-fixtures`
//! into `target/examples/`) and handlers from WAT: routes, the embedder group, kv,
//! failures and quarantine, `/metrics`, reloads and signals.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::*;

#[test]
fn routes_are_served_by_the_module_that_claims_them() -> Result<()> {
    let dir = site(&[("hello.zip", hello_package()?)], r#"{ "acme/hello": { "greeting": "Hi" } }"#)?;
    let server = start(dir.path(), &[])?;

    let world = server.get("/hello")?;
    assert_eq!((world.status, world.served_by.as_deref()), (200, Some("acme/hello@1.0.0")));
    // The greeting comes from the application's config, the server's name from the
    // embedder group `http.host`, which counted the requests before.
    assert!(
        world.body.starts_with("Hi, world! (wasmod-http-host/") && world.body.contains(" has served 0 requests"),
        "{}",
        world.body
    );
    // kv keeps the visits between calls; every call still starts from a fresh instance.
    assert_eq!(server.get("/hello/ann")?.body, "Hi, ann! Visit number 1.\n");
    assert_eq!(server.get("/hello/ann")?.body, "Hi, ann! Visit number 2.\n");
    assert!(server.get("/hello")?.body.contains(" has served 3 requests"));

    let head = server.head("/hello")?;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let posted = server.post("/hello", b"x")?;
    assert_eq!((posted.status, posted.allow.as_deref()), (405, Some("GET, HEAD")), "{}", posted.body);
    let nowhere = server.get("/elsewhere")?;
    assert_eq!((nowhere.status, nowhere.served_by), (404, None));
    assert_eq!(nowhere.body, "no module serves /elsewhere\n");
    Ok(())
}

#[test]
fn the_application_config_can_move_a_module_to_other_routes() -> Result<()> {
    let dir = site(&[("hello.zip", hello_package()?)], r#"{ "acme/hello": { "routes": "/greet/*" } }"#)?;
    let server = start(dir.path(), &[])?;
    // The handler reads what the route leaves of the path, not the path.
    assert_eq!(server.get("/greet/bo")?.body, "Hello, bo! Visit number 1.\n");
    assert_eq!(server.get("/hello/bo")?.status, 404);
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
        assert_eq!(failed.body, "test/boom@1.0.0 (handle) failed (trap)\n");
    }
    let refused = server.get("/boom")?;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body, "test/boom@1.0.0 (handle) is quarantined after 3 failures in a row; try again later\n");
    let seconds: u64 = refused.retry_after.as_deref().context("no Retry-After")?.parse()?;
    assert!((590..=600).contains(&seconds), "Retry-After: {seconds}");
    // The other module is not affected.
    assert_eq!(server.get("/hello")?.status, 200);

    let metrics = server.metrics()?;
    let boom = r#"module="test/boom",version="1.0.0",function="handle""#;
    let hello = r#"module="acme/hello",version="1.0.0",function="handle""#;
    assert_eq!(sample(&metrics, "wasmod_function_calls_total", boom).as_deref(), Some("4"), "{metrics}");
    let trap = format!("{boom},kind=\"trap\"");
    assert_eq!(sample(&metrics, "wasmod_function_errors_total", &trap).as_deref(), Some("3"));
    let quarantined = format!("{boom},kind=\"quarantined\"");
    assert_eq!(sample(&metrics, "wasmod_function_errors_total", &quarantined).as_deref(), Some("1"));
    assert_eq!(sample(&metrics, "wasmod_function_quarantined", boom).as_deref(), Some("1"));
    assert_eq!(sample(&metrics, "wasmod_function_succeeded_total", hello).as_deref(), Some("1"));
    for line in ["wasmod_http_requests_total 5", "wasmod_http_routes 3", "wasmod_http_generation 1"] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in {metrics}");
    }
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
        refused.body.contains("acme/hello@1.2.0 asks for more than acme/hello@1.0.0 was granted: handle: +log"),
        "{}",
        refused.body
    );
    assert_eq!(server.get("/hello")?.served_by.as_deref(), Some("acme/hello@1.0.0"));

    // A config the module's schema refuses fails the activation, not the server.
    std::fs::remove_file(dir.path().join("packages/hello-1.2.0.zip"))?;
    std::fs::write(dir.path().join("config.ron"), r#"{ "acme/hello": { "greeting": 7 } }"#)?;
    let refused = server.reload()?;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("`acme/hello`.`greeting` must be a String, got 7"), "{}", refused.body);
    assert_eq!(server.get("/hello")?.status, 200);
    let metrics = server.metrics()?;
    assert!(metrics.lines().any(|l| l == "wasmod_http_failed_reloads_total 2"), "{metrics}");
    Ok(())
}

#[test]
fn two_modules_claiming_one_route_stop_the_start_naming_both() -> Result<()> {
    let squatter = wat_handler("test/squatter", "/hello", "unreachable")?;
    let dir = site(&[("hello.zip", hello_package()?), ("squatter.zip", squatter)], "{}")?;
    let stderr = refused_start(dir.path())?;
    assert!(
        stderr.contains("`/hello` is claimed by both acme/hello@1.0.0 (handle) and test/squatter@1.0.0 (handle)"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_handler_without_routes_stops_the_start() -> Result<()> {
    let lost = wat_package("test/lost", "", &[("handle", "unreachable")], "")?;
    let stderr = refused_start(site(&[("lost.zip", lost)], "{}")?.path())?;
    assert!(stderr.contains("test/lost@1.0.0 (handle) implements http.handle but has no `routes` string"), "{stderr}");
    Ok(())
}

#[test]
fn a_module_with_two_handlers_stops_the_start() -> Result<()> {
    let two = wat_package("test/two", &routes("/two"), &[("one", "unreachable"), ("other", "unreachable")], "")?;
    let stderr = refused_start(site(&[("two.zip", two)], "{}")?.path())?;
    assert!(stderr.contains("test/two has two functions implementing http.handle: one and other"), "{stderr}");
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
    // Idle connections (the client's, kept alive) close at once.
    let started = Instant::now();
    let status = exit_of(&mut server.child)?;
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(3), "the stop took {:?}", started.elapsed());
    Ok(())
}

/// A server with a call spinning in flight: `(server, its pid)`.
#[cfg(unix)]
fn spinning_server(dir: &std::path::Path, shutdown_ms: &str) -> Result<(Server, String)> {
    let flags = [&["--call-timeout-ms", "30000", "--shutdown-timeout-ms", shutdown_ms][..], &SPIN_FUEL].concat();
    let server = start(dir, &flags)?;
    let url = server.url("/spin");
    std::thread::spawn(move || agent(PATIENCE).get(url).call().map(|_| ()));
    server.wait_for_calls_in_flight(1)?;
    let pid = server.child.id().to_string();
    Ok((server, pid))
}

#[cfg(unix)]
#[test]
fn a_stop_waits_for_a_request_in_flight_no_longer_than_its_deadline() -> Result<()> {
    let dir = site(&[("spin.zip", spinning()?)], "{}")?;
    let (mut server, pid) = spinning_server(dir.path(), "300")?;
    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status()?.success());
    let status = exit_of(&mut server.child)?;
    assert!(status.success(), "{status}");
    // The call would spin for 30 s; the stop gave it 300 ms.
    assert!(started.elapsed() < Duration::from_secs(5), "the stop took {:?}", started.elapsed());
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_second_signal_stops_at_once() -> Result<()> {
    let dir = site(&[("spin.zip", spinning()?)], "{}")?;
    let (mut server, pid) = spinning_server(dir.path(), "60000")?;
    assert!(Command::new("kill").args(["-TERM", &pid]).status()?.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.child.try_wait()?.is_none(), "the graceful stop should still be waiting");
    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status()?.success());
    let status = exit_of(&mut server.child)?;
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(started.elapsed() < Duration::from_secs(3), "it took {:?}", started.elapsed());
    Ok(())
}
