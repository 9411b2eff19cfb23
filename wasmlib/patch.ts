// opa_value_add_path / opa_value_remove_path: the in-place data patches OPA's Go VM (and so
// `opa` itself), the .NET and Java SDKs make for incremental data updates. Values are otherwise
// immutable (value.ts), so a patch rewrites the header of each object on the path: new entries
// array, new hash table, no source span (the span would dump the old text), no slot table.
import { alloc } from "./mem";
import { T_OBJ, T_ARR, T_STR, HASH_MIN, objIndex, bytesEq } from "./value";

export const OPA_ERR_OK: i32 = 0;
export const OPA_ERR_INVALID_TYPE: i32 = 2;
export const OPA_ERR_INVALID_PATH: i32 = 3;

/** An empty object with a parsed-object header (32 bytes), so engine.ts may use its word @28. */
function emptyObj(): usize {
  let o = alloc(32);
  store<u32>(o, T_OBJ);
  store<u32>(o, 0, 4);
  store<u32>(o, o + 32, 8);
  store<u32>(o, 0, 12);
  store<u32>(o, 0, 16);
  store<u32>(o, 0, 20);
  store<u32>(o, 0, 24);
  store<u32>(o, 0, 28);
  return o;
}

/** Index of key (kp, kl) among o's entries, or -1 (a scan: patches are rare, lookups are not). */
function entryIndex(o: usize, kp: usize, kl: u32): i32 {
  let n = load<u32>(o, 4);
  let e = <usize>load<u32>(o, 8);
  for (let i: u32 = 0; i < n; i++, e += 16) {
    if (load<u32>(e) == kl && bytesEq(load<u32>(e, 4), kp, kl)) return <i32>i;
  }
  return -1;
}

/** Drops what an object derived from its content: source span, slot table, hash table. */
function touch(o: usize): void {
  store<u32>(o, 0, 20);
  if (load<u32>(o, 8) != o + 24) store<u32>(o, 0, 28); // @28 exists only outside inline entries
}

function reindex(o: usize): void {
  store<u32>(o, 0, 12);
  store<u32>(o, 0, 16);
  if (load<u32>(o, 4) > HASH_MIN) objIndex(o);
}

/** Sets key (kp, kl) of o to v, appending the entry when absent. */
function objSet(o: usize, kp: usize, kl: u32, v: usize): void {
  let i = entryIndex(o, kp, kl);
  if (i >= 0) {
    store<u32>(<usize>load<u32>(o, 8) + (<usize>i << 4), v, 8);
    return;
  }
  let n = load<u32>(o, 4);
  let entries = alloc(<usize>(n + 1) << 4);
  memory.copy(entries, load<u32>(o, 8), <usize>n << 4);
  let e = entries + (<usize>n << 4);
  store<u32>(e, kl);
  store<u32>(e, kp, 4);
  store<u32>(e, v, 8);
  store<u32>(e, 0, 12);
  store<u32>(o, entries, 8);
  store<u32>(o, n + 1, 4);
  reindex(o);
}

/** Checks path is an array of strings; returns its length or -1. */
function pathLen(path: usize): i32 {
  if (path == 0 || load<u32>(path) != T_ARR) return -1;
  let n = load<u32>(path, 4);
  let p = <usize>load<u32>(path, 8);
  for (let i: u32 = 0; i < n; i++) {
    let s = <usize>load<u32>(p + (<usize>i << 2));
    if (s == 0 || load<u32>(s) != T_STR) return -1;
  }
  return <i32>n;
}

// @ts-ignore: decorator
@inline function seg(path: usize, i: i32): usize { return load<u32>(<usize>load<u32>(path, 8) + (<usize>i << 2)); }

/**
 * Sets base[path...] = value, creating missing objects on the way. Checks the whole path before
 * changing anything, so an error leaves base as it was.
 */
export function addPath(base: usize, path: usize, value: usize): i32 {
  let n = pathLen(path);
  if (n <= 0 || value == 0) return OPA_ERR_INVALID_PATH;
  if (base == 0 || load<u32>(base) != T_OBJ) return OPA_ERR_INVALID_TYPE;
  // Every existing prefix must be an object (a patch never replaces a scalar on its way).
  let o = base;
  for (let i = 0; i < n - 1; i++) {
    let s = seg(path, i);
    let j = entryIndex(o, load<u32>(s, 8), load<u32>(s, 4));
    if (j < 0) break;
    let next = <usize>load<u32>(<usize>load<u32>(o, 8) + (<usize>j << 4), 8);
    if (load<u32>(next) != T_OBJ) return OPA_ERR_INVALID_PATH;
    o = next;
  }
  o = base;
  for (let i = 0; i < n - 1; i++) {
    let s = seg(path, i);
    touch(o);
    let j = entryIndex(o, load<u32>(s, 8), load<u32>(s, 4));
    let next: usize;
    if (j >= 0) next = load<u32>(<usize>load<u32>(o, 8) + (<usize>j << 4), 8);
    else {
      next = emptyObj();
      objSet(o, load<u32>(s, 8), load<u32>(s, 4), next);
    }
    o = next;
  }
  touch(o);
  let last = seg(path, n - 1);
  objSet(o, load<u32>(last, 8), load<u32>(last, 4), value);
  return OPA_ERR_OK;
}

/** Removes base[path...]; a missing key anywhere on the path is an invalid path. */
export function removePath(base: usize, path: usize): i32 {
  let n = pathLen(path);
  if (n <= 0) return OPA_ERR_INVALID_PATH;
  if (base == 0 || load<u32>(base) != T_OBJ) return OPA_ERR_INVALID_TYPE;
  let o = base;
  for (let i = 0; i < n - 1; i++) {
    let s = seg(path, i);
    let j = entryIndex(o, load<u32>(s, 8), load<u32>(s, 4));
    if (j < 0) return OPA_ERR_INVALID_PATH;
    o = load<u32>(<usize>load<u32>(o, 8) + (<usize>j << 4), 8);
    if (load<u32>(o) != T_OBJ) return OPA_ERR_INVALID_PATH;
  }
  let last = seg(path, n - 1);
  let j = entryIndex(o, load<u32>(last, 8), load<u32>(last, 4));
  if (j < 0) return OPA_ERR_INVALID_PATH;
  // Only now change anything: every object on the path loses its span.
  let p = base;
  touch(p);
  for (let i = 0; i < n - 1; i++) {
    let s = seg(path, i);
    p = load<u32>(<usize>load<u32>(p, 8) + (<usize>entryIndex(p, load<u32>(s, 8), load<u32>(s, 4)) << 4), 8);
    touch(p);
  }
  let cnt = load<u32>(o, 4);
  let entries = alloc(<usize>(cnt - 1) << 4);
  let src = <usize>load<u32>(o, 8);
  let at = <usize>j << 4;
  memory.copy(entries, src, at);
  memory.copy(entries + at, src + at + 16, (<usize>(cnt - 1) << 4) - at);
  store<u32>(o, entries, 8);
  store<u32>(o, cnt - 1, 4);
  reindex(o);
  return OPA_ERR_OK;
}
