use taubyte_sdk::events::{http_client, pubsub};
use taubyte_sdk::Event;

// GET /rs?op=publish&channel=<c>&data=<d> publishes; GET /rs?op=fetch&url=<u> answers with
// <X-Reply values>\n<body> of a GET of the URL (taubyte_sdk::events).
#[no_mangle]
pub extern "C" fn rsevents(event: Event) -> u32 {
    let h = match event.http() {
        Ok(h) => h,
        Err(_) => return 1,
    };
    let op = h.query("op").unwrap_or_default();
    let answer: Result<Vec<u8>, u32> = if op == "publish" {
        let channel = h.query("channel").unwrap_or_default();
        let data = h.query("data").unwrap_or_default();
        pubsub::publish(&channel, data.as_bytes()).map(|_| b"published".to_vec()).map_err(|e| e.0)
    } else {
        let url = h.query("url").unwrap_or_default();
        http_client::Request::new(&url)
            .method("POST")
            .header("X-Test", "rust")
            .body(b"from rust")
            .send()
            .and_then(|r| {
                let reply = r.header("X-Reply")?.join(",");
                let mut out = reply.into_bytes();
                out.push(b'\n');
                out.extend(r.body()?);
                Ok(out)
            })
            .map_err(|e| e.0)
    };
    match answer {
        Ok(body) => {
            let _ = h.write(&body);
            let _ = h.return_code(200);
        }
        Err(code) => {
            let _ = h.write(format!("errno {}", code).as_bytes());
            let _ = h.return_code(502);
        }
    }
    0
}
