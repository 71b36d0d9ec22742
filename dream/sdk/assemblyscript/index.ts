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
export * from "./data";

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

@external("taubyte/sdk", "newDatabase") declare function newDatabase(name: usize, nameLen: u32, id: usize): u32;
@external("taubyte/sdk", "databaseGetSize")
declare function databaseGetSize(id: u32, key: usize, keyLen: u32, size: usize): u32;
@external("taubyte/sdk", "databaseGet") declare function databaseGet(id: u32, key: usize, keyLen: u32, buf: usize): u32;
@external("taubyte/sdk", "databasePut")
declare function databasePut(id: u32, key: usize, keyLen: u32, buf: usize, len: u32): u32;
@external("taubyte/sdk", "databaseDelete") declare function databaseDelete(id: u32, key: usize, keyLen: u32): u32;
@external("taubyte/sdk", "databaseListSize")
declare function databaseListSize(id: u32, prefix: usize, prefixLen: u32, size: usize): u32;
@external("taubyte/sdk", "databaseList") declare function databaseList(id: u32, prefix: usize, prefixLen: u32, buf: usize): u32;
@external("taubyte/sdk", "databaseClose") declare function databaseClose(id: u32): u32;

/** Errno of a key that does not exist. */
export const DATABASE_KEY_NOT_FOUND: u32 = 29;

/** A key/value database of the project, opened by a name its config's `match` fits (`/users`). Methods
 * return the host errno (0 = ok); `get` returns null and sets `Database.lastError` when it fails. */
export class Database {
  static lastError: u32 = 0;

  constructor(public id: u32) {}

  /** The database `name` matches, or null (`Database.lastError` = 22 when none does). */
  static open(name: string): Database | null {
    const n = String.UTF8.encode(name);
    Database.lastError = newDatabase(changetype<usize>(n), <u32>n.byteLength, OUT);
    return Database.lastError == 0 ? new Database(load<u32>(OUT)) : null;
  }

  get(key: string): Uint8Array | null {
    const k = String.UTF8.encode(key);
    Database.lastError = databaseGetSize(this.id, changetype<usize>(k), <u32>k.byteLength, OUT);
    if (Database.lastError != 0) return null;
    const value = new Uint8Array(<i32>load<u32>(OUT));
    if (value.length > 0) {
      Database.lastError = databaseGet(this.id, changetype<usize>(k), <u32>k.byteLength, value.dataStart);
      if (Database.lastError != 0) return null;
    }
    return value;
  }

  getString(key: string): string | null {
    const value = this.get(key);
    return value == null ? null : String.UTF8.decode(value.buffer);
  }

  put(key: string, value: Uint8Array): u32 {
    const k = String.UTF8.encode(key);
    return databasePut(this.id, changetype<usize>(k), <u32>k.byteLength, value.dataStart, <u32>value.length);
  }

  putString(key: string, value: string): u32 {
    return this.put(key, Uint8Array.wrap(String.UTF8.encode(value)));
  }

  delete(key: string): u32 {
    const k = String.UTF8.encode(key);
    return databaseDelete(this.id, changetype<usize>(k), <u32>k.byteLength);
  }

  /** The keys starting with `prefix`, sorted (empty when listing fails: see `Database.lastError`). */
  list(prefix: string): string[] {
    const p = String.UTF8.encode(prefix);
    const keys = new Array<string>();
    Database.lastError = databaseListSize(this.id, changetype<usize>(p), <u32>p.byteLength, OUT);
    if (Database.lastError != 0) return keys;
    const size = load<u32>(OUT);
    if (size == 0) return keys;
    const buf = new Uint8Array(<i32>size);
    Database.lastError = databaseList(this.id, changetype<usize>(p), <u32>p.byteLength, buf.dataStart);
    if (Database.lastError != 0) return keys;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] == 0) {
        keys.push(String.UTF8.decode(buf.slice(start, i).buffer));
        start = i + 1;
      }
    }
    return keys;
  }

  close(): u32 {
    return databaseClose(this.id);
  }
}
