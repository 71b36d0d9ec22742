// Storages and globals: `import { Storage, getGlobal, putGlobal, Scope } from "@taubyte/sdk";` (the
// key/value `Database` is in index.ts). Methods return the host errno (0 = ok); those that return data
// return null on failure and set `lastError`.

@external("taubyte/sdk", "storageNew") declare function storageNew(name: usize, nameLen: u32, id: usize): u32;
@external("taubyte/sdk", "storageAddFile")
declare function storageAddFile(id: u32, name: usize, nameLen: u32, version: usize, buf: usize, len: u32, overwrite: u32): u32;
@external("taubyte/sdk", "storageGetFile")
declare function storageGetFile(id: u32, name: usize, nameLen: u32, version: u32, fd: usize): u32;
@external("taubyte/sdk", "storageReadFile")
declare function storageReadFile(id: u32, fd: u32, buf: usize, size: u32, count: usize): u32;
@external("taubyte/sdk", "storageCloseFile") declare function storageCloseFile(id: u32, fd: u32): u32;
@external("taubyte/sdk", "storageDeleteFile")
declare function storageDeleteFile(id: u32, name: usize, nameLen: u32, version: u32, all: u32): u32;
@external("taubyte/sdk", "storageListFilesSize") declare function storageListFilesSize(id: u32, size: usize): u32;
@external("taubyte/sdk", "storageListFiles") declare function storageListFiles(id: u32, buf: usize): u32;
@external("taubyte/sdk", "getGlobalValueSize")
declare function getGlobalValueSize(name: usize, nameLen: u32, application: u32, fn: u32, size: usize): u32;
@external("taubyte/sdk", "getGlobalValue")
declare function getGlobalValue(name: usize, nameLen: u32, application: u32, fn: u32, buf: usize): u32;
@external("taubyte/sdk", "putGlobalValue")
declare function putGlobalValue(name: usize, nameLen: u32, application: u32, fn: u32, buf: usize, len: u32, cap: u32): u32;

// Scratch slots for the host's u32 out-parameters.
const SLOT: usize = memory.data(8);
const COUNT: usize = memory.data(8);

/** Errno a read gets once a file has no bytes left. */
export const EOF: u32 = 8;
/** Errno of a global value that does not exist. */
export const GLOBAL_NOT_FOUND: u32 = 29;
const READ_CHUNK: i32 = 64 * 1024;

export let lastError: u32 = 0;

/** An object storage of the project, opened by a name its config's `match` fits (`/uploads`). */
export class Storage {
  constructor(public id: u32) {}

  /** The storage `name` matches, or null (`lastError` = 22 when none does). */
  static open(name: string): Storage | null {
    const n = String.UTF8.encode(name);
    lastError = storageNew(changetype<usize>(n), <u32>n.byteLength, SLOT);
    return lastError == 0 ? new Storage(load<u32>(SLOT)) : null;
  }

  /** Stores `data` as file `name`: its version, or 0 when refused (`lastError`: 31). */
  add(name: string, data: Uint8Array, overwrite: bool): u32 {
    const n = String.UTF8.encode(name);
    lastError = storageAddFile(this.id, changetype<usize>(n), <u32>n.byteLength, SLOT, data.dataStart, <u32>data.length, overwrite ? 1 : 0);
    return lastError == 0 ? load<u32>(SLOT) : 0;
  }

  /** The bytes of version `version` of file `name` (0: the latest), read in chunks until EOF. */
  read(name: string, version: u32): Uint8Array | null {
    const n = String.UTF8.encode(name);
    lastError = storageGetFile(this.id, changetype<usize>(n), <u32>n.byteLength, version, SLOT);
    if (lastError != 0) return null;
    const fd = load<u32>(SLOT);
    const chunk = new Uint8Array(READ_CHUNK);
    let out = new Uint8Array(0);
    while (true) {
      const code = storageReadFile(this.id, fd, chunk.dataStart, <u32>chunk.length, COUNT);
      const count = <i32>load<u32>(COUNT);
      if (count > 0) {
        const grown = new Uint8Array(out.length + count);
        grown.set(out);
        grown.set(chunk.subarray(0, count), out.length);
        out = grown;
      }
      if (code == EOF) break;
      if (code != 0) {
        lastError = code;
        storageCloseFile(this.id, fd);
        return null;
      }
    }
    lastError = storageCloseFile(this.id, fd);
    return lastError == 0 ? out : null;
  }

  /** Forgets version `version` of file `name` (0: the latest), or every version with `all`. */
  delete(name: string, version: u32, all: bool): u32 {
    const n = String.UTF8.encode(name);
    return storageDeleteFile(this.id, changetype<usize>(n), <u32>n.byteLength, version, all ? 1 : 0);
  }

  /** The names of the files stored, sorted, each once (empty on failure: see `lastError`). */
  list(): string[] {
    const names = new Array<string>();
    lastError = storageListFilesSize(this.id, SLOT);
    if (lastError != 0) return names;
    const size = <i32>load<u32>(SLOT);
    if (size == 0) return names;
    const buf = new Uint8Array(size);
    lastError = storageListFiles(this.id, buf.dataStart);
    if (lastError != 0) return names;
    // Each entry is `/file/<name>/<version>`, NUL-terminated.
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] != 0) continue;
      const entry = String.UTF8.decode(buf.slice(start, i).buffer);
      start = i + 1;
      if (!entry.startsWith("/file/")) continue;
      const rest = entry.substring(6);
      const name = rest.substring(0, rest.lastIndexOf("/"));
      if (name.length > 0 && !names.includes(name)) names.push(name);
    }
    names.sort();
    return names;
  }
}

/** Where a global value lives: the project's, its application's, or the function's own. */
export enum Scope { Project = 0, Application = 1, Function = 2 }

/** The value global `name` holds in `scope`, or null (`lastError` = 29 when it holds none). */
export function getGlobal(name: string, scope: Scope): Uint8Array | null {
  const n = String.UTF8.encode(name);
  const application: u32 = scope == Scope.Application ? 1 : 0;
  const fn: u32 = scope == Scope.Function ? 1 : 0;
  lastError = getGlobalValueSize(changetype<usize>(n), <u32>n.byteLength, application, fn, SLOT);
  if (lastError != 0) return null;
  const value = new Uint8Array(<i32>load<u32>(SLOT));
  if (value.length > 0) {
    lastError = getGlobalValue(changetype<usize>(n), <u32>n.byteLength, application, fn, value.dataStart);
    if (lastError != 0) return null;
  }
  return value;
}

export function putGlobal(name: string, value: Uint8Array, scope: Scope): u32 {
  const n = String.UTF8.encode(name);
  const application: u32 = scope == Scope.Application ? 1 : 0;
  const fn: u32 = scope == Scope.Function ? 1 : 0;
  return putGlobalValue(changetype<usize>(n), <u32>n.byteLength, application, fn, value.dataStart, <u32>value.length, <u32>value.length);
}
