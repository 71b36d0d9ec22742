import { Event, Scope, Storage, getGlobal, lastError, putGlobal } from "@taubyte/sdk";

// GET /asdata?op=<add|read|list|delete|gput|gget>&name=<file or global>&v=<text>&version=<n>&scope=
// <project|application|function>: as /rsdata, with the value in `v` (add answers the version, read a
// version's bytes (0: the latest), list the file names, delete a version (0: every one)).
export function asdata(id: u32): u32 {
  const h = new Event(id).http();
  if (h == null) return 1;
  const op = h.query("op");
  const name = h.query("name");
  const value = Uint8Array.wrap(String.UTF8.encode(h.query("v")));
  const version = <u32>U32.parseInt(h.query("version") == "" ? "0" : h.query("version"));
  const which = h.query("scope");
  const scope = which == "application" ? Scope.Application : which == "function" ? Scope.Function : Scope.Project;
  let code: u32 = 0;
  if (op == "gput") {
    code = putGlobal(name, value, scope);
    if (code == 0) h.write("put");
  } else if (op == "gget") {
    const found = getGlobal(name, scope);
    if (found == null) code = lastError;
    else h.writeBytes(found);
  } else {
    const files = Storage.open("/files");
    if (files == null) {
      code = lastError;
    } else if (op == "add") {
      const v = files.add(name, value, false); // versioned: each add is a new version
      if (v == 0) code = lastError;
      else h.write("version " + v.toString());
    } else if (op == "read") {
      const found = files.read(name, version);
      if (found == null) code = lastError;
      else h.writeBytes(found);
    } else if (op == "list") {
      h.write(files.list().join(","));
    } else if (op == "delete") {
      code = files.delete(name, version, version == 0);
      if (code == 0) h.write("deleted");
    } else {
      code = 1;
    }
  }
  if (code != 0) {
    h.write("errno " + code.toString());
    h.returnCode(500);
    return 0;
  }
  h.returnCode(200);
  return 0;
}
