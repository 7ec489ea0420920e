//! The WebSocket sink against a real local server that is stopped mid-run and restarted on the
//! same port: it reconnects, streaming resumes, nothing panics, and sent + dropped = produced.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use creative_feedback_core::{Event, Mode};
use creative_feedback_stream::{Dispatcher, WebSocketConfig, WebSocketSink};
use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Received = Arc<Mutex<Vec<String>>>;

/// A WebSocket server that records every text frame; abort the handle to stop it.
async fn serve(listener: TcpListener, received: Received) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let received = Arc::clone(&received);
            connections.spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(frame)) = ws.next().await {
                    if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                        received.lock().unwrap().push(text.to_string());
                    }
                }
            });
        }
    })
}

fn event(step: u64) -> Event {
    Event::ModeChanged {
        step,
        from: Mode::Stable,
        to: Mode::Exploring,
        cumulative_gain: 0.0,
    }
}

/// Waits for a condition; the deadline only bounds a hang.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reconnects_after_the_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let first: Received = Arc::default();
    let server = serve(listener, Arc::clone(&first)).await;

    let mut config = WebSocketConfig::new(&format!("ws://{addr}/creativity"));
    config.initial_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    config.buffer = 64;
    config.timeout = Duration::from_millis(500);
    config.seed = 7;
    let sink = WebSocketSink::new(config);
    let ws_stats = sink.stats();
    let dispatcher = Dispatcher::builder()
        .queue_capacity(100_000)
        .unwrap()
        .sink(sink)
        .build()
        .unwrap();

    for step in 1..=100 {
        dispatcher.publish_event(event(step));
    }
    wait_for("the first 100 messages", || {
        first.lock().unwrap().len() == 100
    })
    .await;
    let frame: serde_json::Value = serde_json::from_str(&first.lock().unwrap()[0]).unwrap();
    assert_eq!(frame["type"], "creativity_metric");
    assert!(frame["timestamp"].as_f64().is_some_and(|t| t > 1.0e9));
    assert_eq!(frame["data"]["event"], "mode_changed");
    assert_eq!(frame["data"]["step"], 1);

    // The server goes away; messages keep coming.
    server.abort();
    let _ = server.await;
    for step in 101..=250 {
        dispatcher.publish_event(event(step));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // The server comes back on the same port.
    let listener = TcpListener::bind(addr).await.unwrap();
    let second: Received = Arc::default();
    let server = serve(listener, Arc::clone(&second)).await;
    for step in 251..=400 {
        dispatcher.publish_event(event(step));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    wait_for("streaming to resume", || {
        second
            .lock()
            .unwrap()
            .iter()
            .any(|t| t.contains("\"step\":400"))
    })
    .await;

    let stats = dispatcher.shutdown(Duration::from_secs(5)).await;
    let (sent, dropped) = (
        ws_stats.sent.load(Ordering::Relaxed),
        ws_stats.dropped.load(Ordering::Relaxed),
    );
    assert_eq!(stats[0].queued, 400);
    assert_eq!(sent + dropped, 400, "sent {sent} + dropped {dropped}");
    assert!(ws_stats.connections.load(Ordering::Relaxed) >= 2);
    assert!(ws_stats.failures.load(Ordering::Relaxed) >= 1);
    assert!(dropped > 0, "a 64-message buffer cannot hold 150 messages");
    // In order after the restart.
    let steps: Vec<u64> = second
        .lock()
        .unwrap()
        .iter()
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(t).unwrap()["data"]["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    server.abort();
}
