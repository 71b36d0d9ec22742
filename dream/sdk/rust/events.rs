//! Pub-sub and the HTTP client (part of the `taubyte_sdk` crate: `taubyte_sdk::events::...`).
//!
//! ```ignore
//! use taubyte_sdk::events::{pubsub, http_client};
//! pubsub::publish("orders", b"hello")?;
//! let answer = http_client::Request::new("http://example.com/").method("POST").body(b"x").send()?;
//! let text = answer.body()?;
//! ```

use crate::{Errno, Event};

mod sys {
    #[link(wasm_import_module = "taubyte/sdk")]
    extern "C" {
        pub fn publishToChannel(channel: *const u8, channel_len: u32, data: *const u8, len: u32) -> u32;
        pub fn setSubscriptionChannel(channel: *const u8, channel_len: u32) -> u32;
        pub fn getWebSocketURLSize(channel: *const u8, channel_len: u32, size: *mut u32) -> u32;
        pub fn getWebSocketURL(channel: *const u8, channel_len: u32, buf: *mut u8) -> u32;
        pub fn getMessageDataSize(ev: u32, size: *mut u32) -> u32;
        pub fn getMessageData(ev: u32, buf: *mut u8) -> u32;
        pub fn getMessageChannelSize(ev: u32, size: *mut u32) -> u32;
        pub fn getMessageChannel(ev: u32, buf: *mut u8) -> u32;
        pub fn newHttpClient(id: *mut u32) -> u32;
        pub fn newHttpRequest(client: u32, id: *mut u32) -> u32;
        pub fn setHttpRequestURL(client: u32, request: u32, url: *const u8, len: u32) -> u32;
        pub fn setHttpRequestMethod(client: u32, request: u32, method: u32) -> u32;
        pub fn setHttpRequestBody(client: u32, request: u32, data: *const u8, len: u32) -> u32;
        pub fn addHttpRequestHeader(client: u32, request: u32, key: *const u8, key_len: u32, value: *const u8, value_len: u32) -> u32;
        pub fn doHttpRequest(client: u32, request: u32) -> u32;
        pub fn readHttpResponseBody(client: u32, request: u32, buf: *mut u8, len: u32, count: *mut u32) -> u32;
        pub fn closeHttpResponseBody(client: u32, request: u32) -> u32;
        pub fn getHttpResponseHeaderSize(client: u32, request: u32, key: *const u8, key_len: u32, size: *mut u32) -> u32;
        pub fn getHttpResponseHeader(client: u32, request: u32, key: *const u8, key_len: u32, buf: *mut u8) -> u32;
    }
}

fn check(code: u32) -> Result<(), Errno> {
    if code == 0 { Ok(()) } else { Err(Errno(code)) }
}

pub const EVENT_TYPE_PUBSUB: u32 = 2;

pub mod pubsub {
    use super::{check, sys, Errno, Event, EVENT_TYPE_PUBSUB};

    /// Publish `data` on `channel` of the function's project (errno 21 when refused).
    pub fn publish(channel: &str, data: &[u8]) -> Result<(), Errno> {
        check(unsafe { sys::publishToChannel(channel.as_ptr(), channel.len() as u32, data.as_ptr(), data.len() as u32) })
    }

    /// Make this function a subscriber of `channel` too.
    pub fn subscribe(channel: &str) -> Result<(), Errno> {
        check(unsafe { sys::setSubscriptionChannel(channel.as_ptr(), channel.len() as u32) })
    }

    /// The path websocket clients of `channel` connect to (errno 38 when it has no websocket).
    pub fn websocket_url(channel: &str) -> Result<String, Errno> {
        let mut size: u32 = 0;
        check(unsafe { sys::getWebSocketURLSize(channel.as_ptr(), channel.len() as u32, &mut size) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe { sys::getWebSocketURL(channel.as_ptr(), channel.len() as u32, buf.as_mut_ptr()) })?;
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The message of a pub-sub event.
    pub struct Message(u32);

    type SizeFn = unsafe extern "C" fn(u32, *mut u32) -> u32;
    type DataFn = unsafe extern "C" fn(u32, *mut u8) -> u32;

    impl Message {
        fn read(&self, size_fn: SizeFn, data_fn: DataFn) -> Result<Vec<u8>, Errno> {
            let mut size: u32 = 0;
            check(unsafe { size_fn(self.0, &mut size) })?;
            let mut buf = vec![0u8; size as usize];
            if size > 0 {
                check(unsafe { data_fn(self.0, buf.as_mut_ptr()) })?;
            }
            Ok(buf)
        }
        pub fn data(&self) -> Result<Vec<u8>, Errno> {
            self.read(sys::getMessageDataSize, sys::getMessageData)
        }
        pub fn channel(&self) -> Result<String, Errno> {
            Ok(String::from_utf8_lossy(&self.read(sys::getMessageChannelSize, sys::getMessageChannel)?).into_owned())
        }
    }

    /// The pub-sub view of an event; `Err(Errno(0))` when it is not a message.
    pub fn message(event: &Event) -> Result<Message, Errno> {
        if event.event_type() == EVENT_TYPE_PUBSUB { Ok(Message(event.0)) } else { Err(Errno(0)) }
    }
}

pub mod http_client {
    use super::{check, sys, Errno};

    const METHODS: [&str; 10] = ["", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT"];

    /// A request being built; `send` does it (bounded by the function's timeout; errno 13 when the
    /// target refuses or times out).
    pub struct Request {
        url: String,
        method: u32,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Request {
        pub fn new(url: &str) -> Request {
            Request { url: url.to_string(), method: 1, headers: Vec::new(), body: Vec::new() }
        }
        pub fn method(mut self, method: &str) -> Request {
            self.method = METHODS.iter().position(|m| m.eq_ignore_ascii_case(method)).unwrap_or(0) as u32;
            self
        }
        pub fn header(mut self, key: &str, value: &str) -> Request {
            self.headers.push((key.to_string(), value.to_string()));
            self
        }
        pub fn body(mut self, data: &[u8]) -> Request {
            self.body = data.to_vec();
            self
        }
        pub fn send(self) -> Result<Response, Errno> {
            let (mut client, mut request) = (0u32, 0u32);
            check(unsafe { sys::newHttpClient(&mut client) })?;
            check(unsafe { sys::newHttpRequest(client, &mut request) })?;
            check(unsafe { sys::setHttpRequestURL(client, request, self.url.as_ptr(), self.url.len() as u32) })?;
            check(unsafe { sys::setHttpRequestMethod(client, request, self.method) })?;
            check(unsafe { sys::setHttpRequestBody(client, request, self.body.as_ptr(), self.body.len() as u32) })?;
            for (key, value) in &self.headers {
                check(unsafe {
                    sys::addHttpRequestHeader(client, request, key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32)
                })?;
            }
            check(unsafe { sys::doHttpRequest(client, request) })?;
            Ok(Response { client, request })
        }
    }

    /// The answer to a request.
    pub struct Response {
        client: u32,
        request: u32,
    }

    impl Response {
        /// The values of a response header.
        pub fn header(&self, key: &str) -> Result<Vec<String>, Errno> {
            let mut size: u32 = 0;
            check(unsafe { sys::getHttpResponseHeaderSize(self.client, self.request, key.as_ptr(), key.len() as u32, &mut size) })?;
            let mut buf = vec![0u8; size as usize];
            if size > 0 {
                check(unsafe { sys::getHttpResponseHeader(self.client, self.request, key.as_ptr(), key.len() as u32, buf.as_mut_ptr()) })?;
            }
            Ok(String::from_utf8_lossy(&buf).split('\0').filter(|s| !s.is_empty()).map(String::from).collect())
        }

        /// The whole body, read from the host in pieces.
        pub fn body(&self) -> Result<Vec<u8>, Errno> {
            let mut out = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let mut n: u32 = 0;
                let code = unsafe { sys::readHttpResponseBody(self.client, self.request, chunk.as_mut_ptr(), chunk.len() as u32, &mut n) };
                out.extend_from_slice(&chunk[..n as usize]);
                if code == 8 {
                    break;
                }
                check(code)?;
            }
            unsafe { sys::closeHttpResponseBody(self.client, self.request) };
            Ok(out)
        }
    }
}
