// dream's AssemblyScript SDK for Taubyte functions: `import { Event } from "@taubyte/sdk";`
// Handlers are `export function name(id: u32): u32`; build with the taubyte/assembly-script-wasi image.

@external("taubyte/sdk", "getEventType") declare function getEventType(ev: u32, typePtr: usize): void;
@external("taubyte/sdk", "getHttpEventMethodSize") declare function getHttpEventMethodSize(ev: u32, size: usize): u32;
@external("taubyte/sdk", "getHttpEventMethod") declare function getHttpEventMethod(ev: u32, buf: usize, size: u32): u32;
@external("taubyte/sdk", "getHttpEventPathSize") declare function getHttpEventPathSize(ev: u32, size: usize): u32;
@external("taubyte/sdk", "getHttpEventPath") declare function getHttpEventPath(ev: u32, buf: usize, size: u32): u32;
@external("taubyte/sdk", "getHttpEventHeadersSize")
declare function getHttpEventHeadersSize(ev: u32, size: usize, key: usize, keyLen: u32): u32;
@external("taubyte/sdk", "getHttpEventHeaders")
declare function getHttpEventHeaders(ev: u32, key: usize, keyLen: u32, buf: usize, size: u32): u32;
@external("taubyte/sdk", "getHttpEventQueryValueByNameSize")
declare function getHttpEventQueryValueByNameSize(ev: u32, size: usize, key: usize, keyLen: u32): u32;
@external("taubyte/sdk", "getHttpEventQueryValueByName")
declare function getHttpEventQueryValueByName(ev: u32, key: usize, keyLen: u32, buf: usize, size: u32): u32;
@external("taubyte/sdk", "eventHttpHeaderAdd")
declare function eventHttpHeaderAdd(ev: u32, key: usize, keyLen: u32, val: usize, valLen: u32): u32;
@external("taubyte/sdk", "eventHttpRetCode") declare function eventHttpRetCode(ev: u32, code: u32): u32;
@external("taubyte/sdk", "eventHttpWrite") declare function eventHttpWrite(ev: u32, buf: usize, size: u32, n: usize): u32;

export * from "./events";

// Scratch slot for the host's u32 out-parameters.
const OUT: usize = memory.data(8);

export enum EventType { Undefined = 0, Http = 1, Pubsub = 2, P2P = 3 }

export class Event {
  constructor(public id: u32) {}

  type(): EventType {
    store<u32>(OUT, 0);
    getEventType(this.id, OUT);
    return load<u32>(OUT);
  }

  /** The HTTP view of this event, or null when it is not an HTTP event. */
  http(): HttpEvent | null {
    return this.type() == EventType.Http ? new HttpEvent(this.id) : null;
  }
}

export class HttpEvent {
  constructor(public id: u32) {}

  /** Appends a UTF-8 string to the response body; returns the host errno (0 = ok). */
  write(text: string): u32 {
    const buf = String.UTF8.encode(text);
    return eventHttpWrite(this.id, changetype<usize>(buf), <u32>buf.byteLength, OUT);
  }

  writeBytes(data: Uint8Array): u32 {
    return eventHttpWrite(this.id, data.dataStart, <u32>data.length, OUT);
  }

  returnCode(code: u32): u32 {
    return eventHttpRetCode(this.id, code);
  }

  setHeader(key: string, value: string): u32 {
    const k = String.UTF8.encode(key);
    const v = String.UTF8.encode(value);
    return eventHttpHeaderAdd(this.id, changetype<usize>(k), <u32>k.byteLength, changetype<usize>(v), <u32>v.byteLength);
  }

  method(): string {
    if (getHttpEventMethodSize(this.id, OUT) != 0) return "";
    const size = load<u32>(OUT);
    const buf = new ArrayBuffer(<i32>size);
    if (getHttpEventMethod(this.id, changetype<usize>(buf), size) != 0) return "";
    return String.UTF8.decode(buf);
  }

  path(): string {
    if (getHttpEventPathSize(this.id, OUT) != 0) return "";
    const size = load<u32>(OUT);
    const buf = new ArrayBuffer(<i32>size);
    if (getHttpEventPath(this.id, changetype<usize>(buf), size) != 0) return "";
    return String.UTF8.decode(buf);
  }

  /** First value of a request header ("" when absent). */
  header(key: string): string {
    const k = String.UTF8.encode(key);
    if (getHttpEventHeadersSize(this.id, OUT, changetype<usize>(k), <u32>k.byteLength) != 0) return "";
    const size = load<u32>(OUT);
    if (size == 0) return "";
    const buf = new ArrayBuffer(<i32>size);
    getHttpEventHeaders(this.id, changetype<usize>(k), <u32>k.byteLength, changetype<usize>(buf), size);
    return String.UTF8.decode(buf);
  }

  /** First value of a query parameter ("" when absent). */
  query(key: string): string {
    const k = String.UTF8.encode(key);
    if (getHttpEventQueryValueByNameSize(this.id, OUT, changetype<usize>(k), <u32>k.byteLength) != 0) return "";
    const size = load<u32>(OUT);
    if (size == 0) return "";
    const buf = new ArrayBuffer(<i32>size);
    getHttpEventQueryValueByName(this.id, changetype<usize>(k), <u32>k.byteLength, changetype<usize>(buf), size);
    return String.UTF8.decode(buf);
  }
}
