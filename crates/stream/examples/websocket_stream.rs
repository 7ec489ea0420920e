//! The guide's §4 "WebSocket integration": every event and snapshot streamed to
//! `ws://127.0.0.1:PORT/creativity` as `{"type": "creativity_metric", "timestamp": …, "data": …}`.
//! A local server is started on an ephemeral port to receive them; the example then exits.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use creative_feedback_core::{Config, CreativeLoop};
use creative_feedback_sim::{Host, HostConfig};
use creative_feedback_stream::{Dispatcher, WebSocketConfig, WebSocketSink};
use futures_util::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A stand-in for the monitoring dashboard's WebSocket endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let inbox = Arc::clone(&received);
    let server = tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            if let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await {
                while let Some(Ok(frame)) = ws.next().await {
                    if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                        if let Ok(mut inbox) = inbox.lock() {
                            inbox.push(text.to_string());
                        }
                    }
                }
            }
        }
    });

    let sink = WebSocketSink::new(WebSocketConfig::new(&format!("ws://{addr}/creativity")));
    let ws = sink.stats();
    let mut dispatcher = Dispatcher::builder()
        .interval_steps(10)?
        .sink(sink)
        .build()?;
    let mut feedback = CreativeLoop::new(Config::default())?;
    let mut host = Host::new(HostConfig::seeded(5))?;
    for _ in 0..5_000 {
        let decision = feedback.update(&host.observe())?;
        host.apply(&decision);
        dispatcher.dispatch(&mut feedback);
    }
    let stats = dispatcher.shutdown(Duration::from_secs(5)).await;
    // Every message sent has been read by the server once the counts meet (bounded wait).
    let sent = ws.sent.load(Ordering::Relaxed);
    let arrived = || received.lock().map(|r| r.len() as u64).unwrap_or(0);
    for _ in 0..1_000 {
        if arrived() >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.abort();
    let got = received.lock().map(|r| r.clone()).unwrap_or_default();
    println!(
        "produced {}, sent {}, dropped {}, received {}",
        stats[0].queued,
        ws.sent.load(Ordering::Relaxed),
        ws.dropped.load(Ordering::Relaxed),
        got.len()
    );
    let dropped = ws.dropped.load(Ordering::Relaxed);
    if got.is_empty() || got.len() as u64 != sent || sent + dropped != stats[0].queued {
        return Err(format!(
            "expected every produced message sent or counted as dropped, and every sent one \
             received: produced {}, sent {sent}, dropped {dropped}, received {}",
            stats[0].queued,
            got.len()
        )
        .into());
    }
    let first = got
        .iter()
        .find(|m| m.contains("exploration_started"))
        .ok_or("no exploration_started event was streamed")?;
    println!("for example: {first}");
    Ok(())
}
