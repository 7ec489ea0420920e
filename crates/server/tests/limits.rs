//! `serve`'s limits against slow and idle clients: a header deadline closes a slowloris or idle
//! connection, a connection cap answers 503 instead of running out of descriptors, and the
//! shutdown grace period ends however the clients behave. Deadlines in this file only bound a
//! hang; nothing asserts how fast anything is.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use creative_feedback_core::Config;
use creative_feedback_server::{router, serve, ServeOptions, Served, Service, ServiceConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn start(
    options: ServeOptions,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Served>,
) {
    let service = Service::start(ServiceConfig::new(Config::default())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, router(service), options, async {
            let _ = stopped.await;
        })
        .await
        .unwrap()
    });
    (addr, stop, task)
}

/// What the server answers on this connection, until it closes it (bounded).
async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn healthz(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_all(&mut s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_clients_are_closed_and_the_cap_answers_503() {
    let (addr, stop, task) = start(ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        max_connections: 4,
        shutdown_timeout: Duration::from_secs(5),
    })
    .await;
    // Four clients take every slot: two idle, two sending half a request (slowloris).
    let mut held = Vec::new();
    for i in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0")
                .await
                .unwrap();
        }
        held.push(s);
    }
    // The server accepts in its own time: a fifth client is refused once all four are in.
    let mut refusal = String::new();
    for _ in 0..100 {
        let answer = healthz(addr).await;
        if answer.starts_with("HTTP/1.1 503") {
            refusal = answer;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refusal.contains("Retry-After: 1"), "{refusal}");
    assert!(
        refusal.contains("\"error\": \"too many open connections"),
        "{refusal}"
    );
    // The header deadline closes all four, and the server serves again.
    for s in &mut held {
        let leftover = read_all(s).await;
        assert!(!leftover.contains("200 OK"), "{leftover}");
    }
    let answer = healthz(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    stop.send(()).unwrap();
    let served = task.await.unwrap();
    assert!(served.refused >= 1, "{served:?}");
    assert_eq!(served.cut_off, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_after_the_grace_period_whatever_clients_do() {
    let (addr, stop, task) = start(ServeOptions {
        header_read_timeout: Duration::from_secs(60),
        max_connections: 16,
        shutdown_timeout: Duration::from_millis(200),
    })
    .await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server has the connection once a full request on another one is answered.
    assert!(healthz(addr).await.starts_with("HTTP/1.1 200"));
    stop.send(()).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("serve returned after its grace period")
        .unwrap();
    assert_eq!(served.cut_off, 1, "{served:?}");
}

/// A declared body over the limit is answered 413 at once: the server does not wait for the
/// body it will refuse (the request timeout here is far beyond the test's deadline).
#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_without_waiting_for_it() {
    let mut settings = ServiceConfig::new(Config::default());
    settings.request_timeout = Duration::from_secs(3_600);
    let service = Service::start(settings).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = serve(
            listener,
            router(service),
            ServeOptions::default(),
            std::future::pending(),
        )
        .await;
    });
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /v1/update HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), s.read_exact(&mut head))
        .await
        .expect("an answer before the body")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}
