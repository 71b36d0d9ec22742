use taubyte_sdk::data::{globals, Scope, Storage};
use taubyte_sdk::{Errno, Event};

// POST /rsdata?op=<add|read|list|delete|gput|gget>&name=<file or global>&version=<n>&scope=<project|
// application|function>: add stores the body as file `name` in /files (answers its version), read
// answers a version's bytes (0: the latest), list the file names (comma-separated), delete forgets a
// version (version 0: every one); gput stores the body as global `name`, gget answers it.
#[no_mangle]
pub extern "C" fn rsdata(event: Event) -> u32 {
    let h = match event.http() {
        Ok(h) => h,
        Err(_) => return 1,
    };
    let op = h.query("op").unwrap_or_default();
    let name = h.query("name").unwrap_or_default();
    let version: u32 = h.query("version").unwrap_or_default().parse().unwrap_or(0);
    let scope = match h.query("scope").unwrap_or_default().as_str() {
        "application" => Scope::Application,
        "function" => Scope::Function,
        _ => Scope::Project,
    };
    let answer: Result<Vec<u8>, Errno> = match op.as_str() {
        "gput" => h.body().and_then(|body| globals::put(&name, &body, scope)).map(|_| b"put".to_vec()),
        "gget" => globals::get(&name, scope),
        _ => Storage::new("/files").and_then(|files| match op.as_str() {
            "add" => h
                .body()
                .and_then(|body| files.add(&name, &body, false))
                .map(|v| format!("version {}", v).into_bytes()),
            "read" => files.read(&name, version),
            "list" => files.list().map(|names| names.join(",").into_bytes()),
            "delete" => files.delete(&name, version, version == 0).map(|_| b"deleted".to_vec()),
            _ => Err(Errno(1)),
        }),
    };
    match answer {
        Ok(body) => {
            let _ = h.write(&body);
            let _ = h.return_code(200);
        }
        Err(code) => {
            let _ = h.write(format!("errno {}", code.0).as_bytes());
            let _ = h.return_code(500);
        }
    }
    0
}
