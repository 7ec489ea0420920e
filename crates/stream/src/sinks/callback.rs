//! The guide's `enable_metric_streaming(callback, interval_steps)`: a plain or async closure.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::dispatcher::Sink;
use crate::message::Message;
use crate::SinkError;

type AsyncFn =
    Box<dyn FnMut(Message) -> Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>> + Send>;

type PlainFn = Box<dyn FnMut(&Message) -> Result<(), SinkError> + Send>;

enum Callback {
    Plain(PlainFn),
    Async(AsyncFn),
}

/// A sink that calls a closure for every message, in its own task.
pub struct CallbackSink {
    name: String,
    callback: Callback,
}

impl std::fmt::Debug for CallbackSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CallbackSink {
    /// A sink calling a plain closure.
    #[must_use]
    pub fn new(
        name: &str,
        callback: impl FnMut(&Message) -> Result<(), SinkError> + Send + 'static,
    ) -> Self {
        Self {
            name: name.to_owned(),
            callback: Callback::Plain(Box::new(callback)),
        }
    }

    /// A sink calling an async closure (the guide's `async def handler(metric)`).
    #[must_use]
    pub fn from_async<F, Fut>(name: &str, mut callback: F) -> Self
    where
        F: FnMut(Message) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), SinkError>> + Send + 'static,
    {
        Self {
            name: name.to_owned(),
            callback: Callback::Async(Box::new(move |m| Box::pin(callback(m)))),
        }
    }
}

#[async_trait]
impl Sink for CallbackSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        match &mut self.callback {
            Callback::Plain(f) => f(message),
            Callback::Async(f) => f(message.clone()).await,
        }
    }
}
