import { Event, HttpRequest, publish } from "@taubyte/sdk";

// GET /as?op=publish&channel=<c>&data=<d> publishes; GET /as?op=fetch&url=<u> answers with the body
// of a POST of "from assemblyscript" to the URL.
export function asevents(id: u32): u32 {
  const h = new Event(id).http();
  if (h == null) return 1;
  let code: u32 = 0;
  if (h.query("op") == "publish") {
    code = publish(h.query("channel"), Uint8Array.wrap(String.UTF8.encode(h.query("data"))));
    if (code == 0) h.write("published");
  } else {
    const request = new HttpRequest(h.query("url"))
      .setMethod("POST")
      .addHeader("X-Test", "assemblyscript")
      .setBody(Uint8Array.wrap(String.UTF8.encode("from assemblyscript")));
    code = request.send();
    if (code == 0) h.writeBytes(request.body());
  }
  if (code != 0) {
    h.write("errno " + code.toString());
    h.returnCode(502);
    return 0;
  }
  h.returnCode(200);
  return 0;
}
