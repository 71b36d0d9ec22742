// Pub-sub and the HTTP client: `import { publish, HttpRequest } from "@taubyte/sdk";`

@external("taubyte/sdk", "publishToChannel")
declare function publishToChannel(channel: usize, channelLen: u32, data: usize, len: u32): u32;
@external("taubyte/sdk", "setSubscriptionChannel")
declare function setSubscriptionChannel(channel: usize, channelLen: u32): u32;
@external("taubyte/sdk", "getMessageDataSize") declare function getMessageDataSize(ev: u32, size: usize): u32;
@external("taubyte/sdk", "getMessageData") declare function getMessageData(ev: u32, buf: usize): u32;
@external("taubyte/sdk", "getMessageChannelSize") declare function getMessageChannelSize(ev: u32, size: usize): u32;
@external("taubyte/sdk", "getMessageChannel") declare function getMessageChannel(ev: u32, buf: usize): u32;
@external("taubyte/sdk", "newHttpClient") declare function newHttpClient(id: usize): u32;
@external("taubyte/sdk", "newHttpRequest") declare function newHttpRequest(client: u32, id: usize): u32;
@external("taubyte/sdk", "setHttpRequestURL")
declare function setHttpRequestURL(client: u32, request: u32, url: usize, len: u32): u32;
@external("taubyte/sdk", "setHttpRequestMethod")
declare function setHttpRequestMethod(client: u32, request: u32, method: u32): u32;
@external("taubyte/sdk", "setHttpRequestBody")
declare function setHttpRequestBody(client: u32, request: u32, data: usize, len: u32): u32;
@external("taubyte/sdk", "addHttpRequestHeader")
declare function addHttpRequestHeader(client: u32, request: u32, key: usize, keyLen: u32, value: usize, valueLen: u32): u32;
@external("taubyte/sdk", "doHttpRequest") declare function doHttpRequest(client: u32, request: u32): u32;
@external("taubyte/sdk", "readHttpResponseBody")
declare function readHttpResponseBody(client: u32, request: u32, buf: usize, len: u32, count: usize): u32;
@external("taubyte/sdk", "closeHttpResponseBody") declare function closeHttpResponseBody(client: u32, request: u32): u32;

// Scratch slots for the host's u32 out-parameters.
const SLOT: usize = memory.data(16);

/** Publishes `data` on `channel` of the function's project; returns the host errno (21 when refused). */
export function publish(channel: string, data: Uint8Array): u32 {
  const c = String.UTF8.encode(channel);
  return publishToChannel(changetype<usize>(c), <u32>c.byteLength, data.dataStart, <u32>data.length);
}

/** Makes this function a subscriber of `channel` too; returns the host errno. */
export function subscribe(channel: string): u32 {
  const c = String.UTF8.encode(channel);
  return setSubscriptionChannel(changetype<usize>(c), <u32>c.byteLength);
}

/** The message of a pub-sub event (`new Message(id)` in a handler of `trigger.type: pubsub`). */
export class Message {
  constructor(public id: u32) {}

  data(): Uint8Array {
    if (getMessageDataSize(this.id, SLOT) != 0) return new Uint8Array(0);
    const out = new Uint8Array(<i32>load<u32>(SLOT));
    if (out.length > 0) getMessageData(this.id, out.dataStart);
    return out;
  }

  channel(): string {
    if (getMessageChannelSize(this.id, SLOT) != 0) return "";
    const buf = new ArrayBuffer(<i32>load<u32>(SLOT));
    if (buf.byteLength > 0) getMessageChannel(this.id, changetype<usize>(buf));
    return String.UTF8.decode(buf);
  }
}

const METHODS: string[] = ["", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT"];

/** An HTTP request from the function, bounded by its timeout. `send()` returns the host errno (13 when
 * the target refuses or times out); then `body()` reads the response. */
export class HttpRequest {
  client: u32 = 0;
  request: u32 = 0;
  method: u32 = 1;
  headers: string[] = [];
  payload: Uint8Array = new Uint8Array(0);

  constructor(public url: string) {}

  setMethod(method: string): HttpRequest {
    const index = METHODS.indexOf(method.toUpperCase());
    this.method = index > 0 ? <u32>index : 0;
    return this;
  }

  addHeader(key: string, value: string): HttpRequest {
    this.headers.push(key);
    this.headers.push(value);
    return this;
  }

  setBody(data: Uint8Array): HttpRequest {
    this.payload = data;
    return this;
  }

  send(): u32 {
    let code = newHttpClient(SLOT);
    if (code != 0) return code;
    this.client = load<u32>(SLOT);
    code = newHttpRequest(this.client, SLOT);
    if (code != 0) return code;
    this.request = load<u32>(SLOT);
    const u = String.UTF8.encode(this.url);
    code = setHttpRequestURL(this.client, this.request, changetype<usize>(u), <u32>u.byteLength);
    if (code != 0) return code;
    code = setHttpRequestMethod(this.client, this.request, this.method);
    if (code != 0) return code;
    code = setHttpRequestBody(this.client, this.request, this.payload.dataStart, <u32>this.payload.length);
    if (code != 0) return code;
    for (let i = 0; i + 1 < this.headers.length; i += 2) {
      const k = String.UTF8.encode(this.headers[i]);
      const v = String.UTF8.encode(this.headers[i + 1]);
      code = addHttpRequestHeader(this.client, this.request, changetype<usize>(k), <u32>k.byteLength, changetype<usize>(v), <u32>v.byteLength);
      if (code != 0) return code;
    }
    return doHttpRequest(this.client, this.request);
  }

  /** The whole response body (after a successful `send()`). */
  body(): Uint8Array {
    let out = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    while (true) {
      const code = readHttpResponseBody(this.client, this.request, chunk.dataStart, <u32>chunk.length, SLOT + 8);
      const n = <i32>load<u32>(SLOT + 8);
      const grown = new Uint8Array(out.length + n);
      grown.set(out);
      grown.set(chunk.subarray(0, n), out.length);
      out = grown;
      if (code != 0) break; // 8: EOF (the last bytes came with it); anything else: a failure
    }
    closeHttpResponseBody(this.client, this.request);
    return out;
  }
}
