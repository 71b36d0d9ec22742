//! dream's Rust SDK for Taubyte functions (std only, one file; linked as the `taubyte_sdk` crate).
//!
//! ```ignore
//! use taubyte_sdk::Event;
//! #[no_mangle]
//! pub extern "C" fn ping(event: Event) -> u32 { ... }
//! ```

/// Pub-sub and the HTTP client (`events.rs`).
pub mod events;
/// Storages and globals (`data.rs`).
pub mod data;

/// Raw host imports (module `taubyte/sdk`); results are errno codes, 0 = success.
pub mod sys {
    #[link(wasm_import_module = "taubyte/sdk")]
    extern "C" {
        pub fn getEventType(ev: u32, type_ptr: *mut u32);
        pub fn getHttpEventMethodSize(ev: u32, size: *mut u32) -> u32;
        pub fn getHttpEventMethod(ev: u32, buf: *mut u8, size: u32) -> u32;
        pub fn getHttpEventHostSize(ev: u32, size: *mut u32) -> u32;
        pub fn getHttpEventHost(ev: u32, buf: *mut u8, size: u32) -> u32;
        pub fn getHttpEventPathSize(ev: u32, size: *mut u32) -> u32;
        pub fn getHttpEventPath(ev: u32, buf: *mut u8, size: u32) -> u32;
        pub fn getHttpEventUserAgentSize(ev: u32, size: *mut u32) -> u32;
        pub fn getHttpEventUserAgent(ev: u32, buf: *mut u8, size: u32) -> u32;
        pub fn getHttpEventHeadersSize(ev: u32, size: *mut u32, key: *const u8, key_len: u32) -> u32;
        pub fn getHttpEventHeaders(ev: u32, key: *const u8, key_len: u32, buf: *mut u8, size: u32) -> u32;
        pub fn getHttpEventQueryValueByNameSize(ev: u32, size: *mut u32, key: *const u8, key_len: u32) -> u32;
        pub fn getHttpEventQueryValueByName(ev: u32, key: *const u8, key_len: u32, buf: *mut u8, size: u32) -> u32;
        pub fn readHttpEventBody(ev: u32, buf: *mut u8, size: u32, count: *mut u32) -> u32;
        pub fn closeHttpEventBody(ev: u32) -> u32;
        pub fn eventHttpHeaderAdd(ev: u32, key: *const u8, key_len: u32, val: *const u8, val_len: u32) -> u32;
        pub fn eventHttpRetCode(ev: u32, code: u32) -> u32;
        pub fn eventHttpWrite(ev: u32, buf: *const u8, size: u32, n: *mut u32) -> u32;
        pub fn eventHttpRedirect(ev: u32, url: *const u8, url_len: u32, code: u32) -> u32;
        pub fn newDatabase(name: *const u8, name_len: u32, id: *mut u32) -> u32;
        pub fn databaseGetSize(id: u32, key: *const u8, key_len: u32, size: *mut u32) -> u32;
        pub fn databaseGet(id: u32, key: *const u8, key_len: u32, buf: *mut u8) -> u32;
        pub fn databasePut(id: u32, key: *const u8, key_len: u32, buf: *const u8, len: u32) -> u32;
        pub fn databaseDelete(id: u32, key: *const u8, key_len: u32) -> u32;
        pub fn databaseListSize(id: u32, prefix: *const u8, prefix_len: u32, size: *mut u32) -> u32;
        pub fn databaseList(id: u32, prefix: *const u8, prefix_len: u32, buf: *mut u8) -> u32;
        pub fn databaseClose(id: u32) -> u32;
    }
}

/// A host error code (see the Taubyte errno table; 8 = EOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u32);

pub const EVENT_TYPE_HTTP: u32 = 1;

fn check(code: u32) -> Result<(), Errno> {
    if code == 0 { Ok(()) } else { Err(Errno(code)) }
}

/// The event id the host passes to an exported handler.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct Event(pub u32);

impl Event {
    pub fn event_type(&self) -> u32 {
        let mut t: u32 = 0;
        unsafe { sys::getEventType(self.0, &mut t) };
        t
    }

    /// The HTTP view of this event; `Err(Errno(0))` when it is not an HTTP event.
    pub fn http(&self) -> Result<HttpEvent, Errno> {
        if self.event_type() == EVENT_TYPE_HTTP { Ok(HttpEvent(self.0)) } else { Err(Errno(0)) }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HttpEvent(pub u32);

type SizeFn = unsafe extern "C" fn(u32, *mut u32) -> u32;
type DataFn = unsafe extern "C" fn(u32, *mut u8, u32) -> u32;

impl HttpEvent {
    fn read(&self, size_fn: SizeFn, data_fn: DataFn) -> Result<String, Errno> {
        let mut size: u32 = 0;
        check(unsafe { size_fn(self.0, &mut size) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe { data_fn(self.0, buf.as_mut_ptr(), size) })?;
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    pub fn method(&self) -> Result<String, Errno> {
        self.read(sys::getHttpEventMethodSize, sys::getHttpEventMethod)
    }
    pub fn host(&self) -> Result<String, Errno> {
        self.read(sys::getHttpEventHostSize, sys::getHttpEventHost)
    }
    pub fn path(&self) -> Result<String, Errno> {
        self.read(sys::getHttpEventPathSize, sys::getHttpEventPath)
    }
    pub fn user_agent(&self) -> Result<String, Errno> {
        self.read(sys::getHttpEventUserAgentSize, sys::getHttpEventUserAgent)
    }

    /// First value of a request header ("" when absent).
    pub fn header(&self, key: &str) -> Result<String, Errno> {
        let mut size: u32 = 0;
        check(unsafe { sys::getHttpEventHeadersSize(self.0, &mut size, key.as_ptr(), key.len() as u32) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe {
                sys::getHttpEventHeaders(self.0, key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), size)
            })?;
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// First value of a query parameter ("" when absent).
    pub fn query(&self, key: &str) -> Result<String, Errno> {
        let mut size: u32 = 0;
        check(unsafe {
            sys::getHttpEventQueryValueByNameSize(self.0, &mut size, key.as_ptr(), key.len() as u32)
        })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe {
                sys::getHttpEventQueryValueByName(self.0, key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), size)
            })?;
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The whole request body.
    pub fn body(&self) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let mut n: u32 = 0;
            let code = unsafe { sys::readHttpEventBody(self.0, chunk.as_mut_ptr(), chunk.len() as u32, &mut n) };
            out.extend_from_slice(&chunk[..n as usize]);
            if code == 8 || n == 0 {
                break;
            }
            check(code)?;
        }
        unsafe { sys::closeHttpEventBody(self.0) };
        Ok(out)
    }

    pub fn write(&self, data: &[u8]) -> Result<u32, Errno> {
        let mut n: u32 = 0;
        check(unsafe { sys::eventHttpWrite(self.0, data.as_ptr(), data.len() as u32, &mut n) })?;
        Ok(n)
    }

    pub fn return_code(&self, code: u32) -> Result<(), Errno> {
        check(unsafe { sys::eventHttpRetCode(self.0, code) })
    }

    pub fn set_header(&self, key: &str, value: &str) -> Result<(), Errno> {
        check(unsafe {
            sys::eventHttpHeaderAdd(self.0, key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32)
        })
    }

    pub fn redirect(&self, url: &str, code: u32) -> Result<(), Errno> {
        check(unsafe { sys::eventHttpRedirect(self.0, url.as_ptr(), url.len() as u32, code) })
    }
}

/// Errno of a key that does not exist (`Database::get`).
pub const DATABASE_KEY_NOT_FOUND: Errno = Errno(29);

/// A key/value database of the project, opened by a name its config's `match` fits (`/users`).
#[derive(Debug, Clone, Copy)]
pub struct Database(pub u32);

impl Database {
    /// Opens the database `name` matches; `Errno(22)` when none does.
    pub fn new(name: &str) -> Result<Database, Errno> {
        let mut id: u32 = 0;
        check(unsafe { sys::newDatabase(name.as_ptr(), name.len() as u32, &mut id) })?;
        Ok(Database(id))
    }

    /// The value at `key`; `Err(DATABASE_KEY_NOT_FOUND)` when there is none.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, Errno> {
        let mut size: u32 = 0;
        check(unsafe { sys::databaseGetSize(self.0, key.as_ptr(), key.len() as u32, &mut size) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe { sys::databaseGet(self.0, key.as_ptr(), key.len() as u32, buf.as_mut_ptr()) })?;
        }
        Ok(buf)
    }

    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), Errno> {
        check(unsafe {
            sys::databasePut(self.0, key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32)
        })
    }

    pub fn delete(&self, key: &str) -> Result<(), Errno> {
        check(unsafe { sys::databaseDelete(self.0, key.as_ptr(), key.len() as u32) })
    }

    /// The keys starting with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, Errno> {
        let mut size: u32 = 0;
        check(unsafe { sys::databaseListSize(self.0, prefix.as_ptr(), prefix.len() as u32, &mut size) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe { sys::databaseList(self.0, prefix.as_ptr(), prefix.len() as u32, buf.as_mut_ptr()) })?;
        }
        Ok(buf
            .split(|b| *b == 0)
            .filter(|k| !k.is_empty())
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect())
    }

    pub fn close(self) -> Result<(), Errno> {
        check(unsafe { sys::databaseClose(self.0) })
    }
}
