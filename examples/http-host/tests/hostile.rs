//! End to end, one test per hostile case: clients that send too much, too slowly or what
//! is not text, handlers that loop, fail, or answer what is not a response the host may
//! send, and more requests than there are call slots. Each asserts which rule answered.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;

#[test]
fn a_body_over_the_limit_is_refused_with_413() -> Result<()> {
    let dir = site(&[("hello.zip", hello_package()?)], "{}")?;
    let server = start(dir.path(), &["--max-body-bytes", "16"])?;
    let answer = server.post("/hello", &[b'x'; 17])?;
    assert_eq!((answer.status, answer.body.as_str()), (413, "the body is larger than 16 bytes\n"));
    assert_eq!(answer.served_by, None, "no module ran");
    Ok(())
}

#[test]
fn a_body_that_is_not_utf8_is_refused_with_400() -> Result<()> {
    let server = start(site(&[("hello.zip", hello_package()?)], "{}")?.path(), &[])?;
    let answer = server.post("/hello", &[0xff, 0xfe])?;
    assert_eq!((answer.status, answer.body.as_str()), (400, "the body is not UTF-8 text\n"));
    Ok(())
}

#[test]
fn a_header_that_is_not_visible_ascii_is_refused_with_400() -> Result<()> {
    let server = start(site(&[("hello.zip", hello_package()?)], "{}")?.path(), &[])?;
    let answer = server.get_with_header("/hello", "x-name", "café".as_bytes())?;
    assert_eq!((answer.status, answer.body.as_str()), (400, "the header x-name is not visible ASCII\n"));
    Ok(())
}

#[test]
fn a_handler_past_its_deadline_answers_504() -> Result<()> {
    let server = start(site(&[("spin.zip", spinning()?)], "{}")?.path(), &["--call-timeout-ms", "100"])?;
    let answer = server.get("/spin")?;
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.body, "test/spin@1.0.0 (handle) failed (deadline_exceeded)\n");
    Ok(())
}

#[test]
fn a_handler_returning_its_own_error_answers_500_with_the_message() -> Result<()> {
    let word = (3i64 << 32 | 16) | i64::MIN;
    let failing = wat_package(
        "test/no",
        &routes("/no"),
        &[("handle", &format!("i64.const {word}"))],
        r#"(data (i32.const 16) "out")"#,
    )?;
    let server = start(site(&[("no.zip", failing)], "{}")?.path(), &[])?;
    let answer = server.get("/no")?;
    assert_eq!((answer.status, answer.body.as_str()), (500, "test/no@1.0.0 (handle) failed: out\n"));
    Ok(())
}

#[test]
fn a_handler_returning_no_response_is_a_bad_gateway() -> Result<()> {
    // `handle` returns the empty output (pointer 0, length 0): not a JSON response.
    let server = start(site(&[("mute.zip", wat_handler("test/mute", "/mute", "i64.const 0")?)], "{}")?.path(), &[])?;
    let answer = server.get("/mute")?;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(answer.body.starts_with("test/mute@1.0.0 (handle) returned no valid response: EOF"), "{}", answer.body);
    Ok(())
}

#[test]
fn a_status_outside_200_to_599_is_a_bad_gateway() -> Result<()> {
    let handler = answering("test/odd", "/odd", r#"{"status": 101}"#)?;
    let server = start(site(&[("odd.zip", handler)], "{}")?.path(), &[])?;
    let answer = server.get("/odd")?;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (502, "test/odd@1.0.0 (handle) returned no valid response: status 101 is not 200 to 599\n")
    );
    Ok(())
}

#[test]
fn a_header_that_is_not_http_is_a_bad_gateway() -> Result<()> {
    let handler = answering("test/bad", "/bad", r#"{"status": 200, "headers": [["no good", "x"]]}"#)?;
    let server = start(site(&[("bad.zip", handler)], "{}")?.path(), &[])?;
    let answer = server.get("/bad")?;
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.body,
        "test/bad@1.0.0 (handle) returned no valid response: the header `no good` is not a valid header\n"
    );
    Ok(())
}

#[test]
fn a_framing_header_from_a_handler_is_a_bad_gateway() -> Result<()> {
    // A content-length that disagrees with the body would desynchronise the connection.
    let handler =
        answering("test/frame", "/frame", r#"{"status": 200, "headers": [["Content-Length", "999"]], "body": "x"}"#)?;
    let server = start(site(&[("frame.zip", handler)], "{}")?.path(), &[])?;
    let answer = server.get("/frame")?;
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.body,
        "test/frame@1.0.0 (handle) returned no valid response: the header `content-length` frames the message and is the host's to set\n"
    );
    Ok(())
}

#[test]
fn a_request_waiting_longer_than_the_queue_timeout_gets_503() -> Result<()> {
    let dir = site(&[("spin.zip", spinning()?)], "{}")?;
    let flags =
        [&["--max-calls", "1", "--queue-timeout-ms", "100", "--call-timeout-ms", "2000"][..], &SPIN_FUEL].concat();
    let server = std::sync::Arc::new(start(dir.path(), &flags)?);
    let first = {
        let server = server.clone();
        std::thread::spawn(move || server.get("/spin").map(|a| a.status))
    };
    server.wait_for_calls_in_flight(1)?;
    let second = server.get("/spin")?;
    assert_eq!((second.status, second.retry_after.as_deref()), (503, Some("1")), "{}", second.body);
    assert_eq!(second.body, "every module call slot is busy; try again\n");
    assert_eq!(first.join().expect("the first request's thread")?, 504);
    Ok(())
}

#[test]
fn a_client_that_goes_away_keeps_its_slot_until_its_call_ends() -> Result<()> {
    use std::io::Write;
    let dir = site(&[("spin.zip", spinning()?)], "{}")?;
    let flags =
        [&["--max-calls", "1", "--queue-timeout-ms", "100", "--call-timeout-ms", "3000"][..], &SPIN_FUEL].concat();
    let server = start(dir.path(), &flags)?;
    // A client that asks, waits until its call runs, and goes away.
    let mut impatient = std::net::TcpStream::connect(server.public.trim_start_matches("http://"))?;
    impatient.write_all(b"GET /spin HTTP/1.1\r\nhost: x\r\n\r\n")?;
    server.wait_for_calls_in_flight(1)?;
    drop(impatient);
    std::thread::sleep(Duration::from_millis(200));
    // The call still holds the only slot: the next request cannot run beside it.
    let next = server.get("/spin")?;
    assert_eq!((next.status, next.body.as_str()), (503, "every module call slot is busy; try again\n"));
    Ok(())
}

#[test]
fn a_client_slower_than_the_header_timeout_is_disconnected() -> Result<()> {
    use std::io::{Read, Write};
    let server = start(site(&[("hello.zip", hello_package()?)], "{}")?.path(), &["--header-timeout-ms", "200"])?;
    let mut stream = std::net::TcpStream::connect(server.public.trim_start_matches("http://"))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n")?;
    // The headers never end; the server closes the connection without an answer.
    let mut rest = Vec::new();
    let started = std::time::Instant::now();
    let _ = stream.read_to_end(&mut rest);
    assert!(started.elapsed() < Duration::from_secs(3), "the connection stayed open {:?}", started.elapsed());
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    Ok(())
}

#[test]
fn connections_past_the_cap_are_closed_at_once() -> Result<()> {
    use std::io::{Read, Write};
    let flags = ["--max-connections", "1", "--header-timeout-ms", "60000"];
    let server = start(site(&[("hello.zip", hello_package()?)], "{}")?.path(), &flags)?;
    let address = server.public.trim_start_matches("http://");
    let _held = std::net::TcpStream::connect(address)?;
    std::thread::sleep(Duration::from_millis(200));
    let mut refused = std::net::TcpStream::connect(address)?;
    refused.set_read_timeout(Some(PATIENCE))?;
    let started = std::time::Instant::now();
    // A whole request: a connection that were served would answer it.
    let _ = refused.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut answer = Vec::new();
    match refused.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading the refused connection: {e}"),
    }
    assert!(answer.is_empty(), "a connection past the cap was served: {}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() < Duration::from_secs(2), "it stayed open {:?}", started.elapsed());
    Ok(())
}
