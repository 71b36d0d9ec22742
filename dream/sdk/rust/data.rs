//! Storages and globals (part of the `taubyte_sdk` crate: `taubyte_sdk::data::...`); the key/value
//! `Database` is in the crate's root.
//!
//! ```ignore
//! use taubyte_sdk::data::{globals, Scope, Storage};
//! let uploads = Storage::new("/uploads")?;
//! let version = uploads.add("avatar.png", &bytes, true)?;
//! let back = uploads.read("avatar.png", version)?;
//! globals::put("visits", b"1", Scope::Project)?;
//! ```

use crate::{check, Errno};

mod sys {
    #[link(wasm_import_module = "taubyte/sdk")]
    extern "C" {
        pub fn storageNew(name: *const u8, name_len: u32, id: *mut u32) -> u32;
        pub fn storageAddFile(id: u32, name: *const u8, name_len: u32, version: *mut u32, buf: *const u8, len: u32, overwrite: u32) -> u32;
        pub fn storageGetFile(id: u32, name: *const u8, name_len: u32, version: u32, fd: *mut u32) -> u32;
        pub fn storageReadFile(id: u32, fd: u32, buf: *mut u8, size: u32, count: *mut u32) -> u32;
        pub fn storageCloseFile(id: u32, fd: u32) -> u32;
        pub fn storageDeleteFile(id: u32, name: *const u8, name_len: u32, version: u32, all: u32) -> u32;
        pub fn storageListFilesSize(id: u32, size: *mut u32) -> u32;
        pub fn storageListFiles(id: u32, buf: *mut u8) -> u32;
        pub fn getGlobalValueSize(name: *const u8, name_len: u32, application: u32, function: u32, size: *mut u32) -> u32;
        pub fn getGlobalValue(name: *const u8, name_len: u32, application: u32, function: u32, buf: *mut u8) -> u32;
        pub fn putGlobalValue(name: *const u8, name_len: u32, application: u32, function: u32, buf: *const u8, len: u32, cap: u32) -> u32;
    }
}

/// Errno the host gives a read once a file has no bytes left.
pub const EOF: Errno = Errno(8);
/// Errno of a global value that does not exist (`globals::get`).
pub const GLOBAL_NOT_FOUND: Errno = Errno(29);
const READ_CHUNK: usize = 64 * 1024;

/// An object storage of the project, opened by a name its config's `match` fits (`/uploads`).
#[derive(Debug, Clone, Copy)]
pub struct Storage(pub u32);

impl Storage {
    /// Opens the storage `name` matches; `Errno(22)` when none does.
    pub fn new(name: &str) -> Result<Storage, Errno> {
        let mut id: u32 = 0;
        check(unsafe { sys::storageNew(name.as_ptr(), name.len() as u32, &mut id) })?;
        Ok(Storage(id))
    }

    /// Stores `data` as file `name`: its version (`Errno(31)` when refused: it exists without
    /// `overwrite`, or the storage is full).
    pub fn add(&self, name: &str, data: &[u8], overwrite: bool) -> Result<u32, Errno> {
        let mut version: u32 = 0;
        check(unsafe {
            sys::storageAddFile(self.0, name.as_ptr(), name.len() as u32, &mut version, data.as_ptr(), data.len() as u32, overwrite as u32)
        })?;
        Ok(version)
    }

    /// The bytes of version `version` of file `name` (0: the latest), read in chunks until EOF.
    pub fn read(&self, name: &str, version: u32) -> Result<Vec<u8>, Errno> {
        let mut fd: u32 = 0;
        check(unsafe { sys::storageGetFile(self.0, name.as_ptr(), name.len() as u32, version, &mut fd) })?;
        let mut out = Vec::new();
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let mut count: u32 = 0;
            let code = unsafe { sys::storageReadFile(self.0, fd, chunk.as_mut_ptr(), chunk.len() as u32, &mut count) };
            out.extend_from_slice(&chunk[..count as usize]);
            if code == EOF.0 {
                break;
            }
            if let Err(e) = check(code) {
                unsafe { sys::storageCloseFile(self.0, fd) };
                return Err(e);
            }
        }
        check(unsafe { sys::storageCloseFile(self.0, fd) })?;
        Ok(out)
    }

    /// Forgets version `version` of file `name` (0: the latest), or every version with `all`.
    pub fn delete(&self, name: &str, version: u32, all: bool) -> Result<(), Errno> {
        check(unsafe { sys::storageDeleteFile(self.0, name.as_ptr(), name.len() as u32, version, all as u32) })
    }

    /// The names of the files stored, sorted, each once.
    pub fn list(&self) -> Result<Vec<String>, Errno> {
        let mut size: u32 = 0;
        check(unsafe { sys::storageListFilesSize(self.0, &mut size) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe { sys::storageListFiles(self.0, buf.as_mut_ptr()) })?;
        }
        // Each entry is `/file/<name>/<version>`, NUL-terminated.
        let mut names: Vec<String> = buf
            .split(|b| *b == 0)
            .filter_map(|entry| {
                let text = String::from_utf8_lossy(entry).into_owned();
                let rest = text.strip_prefix("/file/")?;
                Some(rest.rsplit_once('/').map(|(name, _)| name.to_string()).unwrap_or_default())
            })
            .filter(|name| !name.is_empty())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// Where a global value lives: the project's, its application's, or the function's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Project,
    Application,
    Function,
}

impl Scope {
    fn flags(self) -> (u32, u32) {
        match self {
            Scope::Project => (0, 0),
            Scope::Application => (1, 0),
            Scope::Function => (0, 1),
        }
    }
}

/// Global values, kept by the cloud (durable, seen by every copy of the function).
pub mod globals {
    use super::{check, sys, Errno, Scope};

    /// The value `name` holds in `scope`; `Err(GLOBAL_NOT_FOUND)` when it holds none.
    pub fn get(name: &str, scope: Scope) -> Result<Vec<u8>, Errno> {
        let (application, function) = scope.flags();
        let mut size: u32 = 0;
        check(unsafe { sys::getGlobalValueSize(name.as_ptr(), name.len() as u32, application, function, &mut size) })?;
        let mut buf = vec![0u8; size as usize];
        if size > 0 {
            check(unsafe { sys::getGlobalValue(name.as_ptr(), name.len() as u32, application, function, buf.as_mut_ptr()) })?;
        }
        Ok(buf)
    }

    pub fn put(name: &str, value: &[u8], scope: Scope) -> Result<(), Errno> {
        let (application, function) = scope.flags();
        check(unsafe {
            sys::putGlobalValue(name.as_ptr(), name.len() as u32, application, function, value.as_ptr(), value.len() as u32, value.len() as u32)
        })
    }
}
