/**
 * Checks that bytes a client wants stored are exactly one well-formed value of the object codec,
 * without building it: the server stores values encoded, and a malformed one would make every
 * other client's `get`/`entries` fail. The walk counts the items still to read instead of
 * recursing, so depth costs nothing, and a claimed length longer than what is left fails at once.
 * Only values with extensions (Date, Map, Set, typed arrays...) are also decoded.
 */
import { unpackObject } from "../core/codec.js";

/**
 * Nesting a stored value may have: every reader decodes it recursively, and Python's msgpack
 * refuses deeper than 1024, so a deeper value would be unreadable for some clients.
 */
export const MAX_VALUE_DEPTH = 1000;

/** What is wrong with `bytes` as one encoded value, or undefined when they are one. */
export function encodedValueProblem(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  let offset = 0;
  let pending = 1;
  let extensions = false;
  // Items still to read in each open container, innermost last: its length is the depth.
  const open: number[] = [1];
  const need = (n: number): boolean => offset + n <= end;
  while (pending > 0) {
    if (pending > end - offset) return `it claims ${pending} more items than its ${end - offset} remaining bytes hold`;
    while (open[open.length - 1] === 0) open.pop();
    open[open.length - 1] = (open[open.length - 1] as number) - 1;
    pending--;
    const start = offset;
    const b = bytes[offset++] as number;
    let size = 0; // payload bytes to skip after the header
    let items = 0; // child items this header announces
    let ext: number | undefined; // ext type, when the item is an extension
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) size = 0;
    else if (b <= 0x8f) items = 2 * (b & 0x0f);
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) size = b & 0x1f;
    else if (b === 0xc1) return `byte ${start} is 0xc1, which MessagePack never uses`;
    else {
      const lengthOf = (width: number): number | undefined => {
        if (!need(width)) return undefined;
        const n = width === 1 ? view.getUint8(offset) : width === 2 ? view.getUint16(offset) : view.getUint32(offset);
        offset += width;
        return n;
      };
      let n: number | undefined;
      switch (b) {
        case 0xc4:
        case 0xd9:
          n = lengthOf(1);
          size = n ?? 0;
          break;
        case 0xc5:
        case 0xda:
          n = lengthOf(2);
          size = n ?? 0;
          break;
        case 0xc6:
        case 0xdb:
          n = lengthOf(4);
          size = n ?? 0;
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
          n = lengthOf(b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4);
          if (n !== undefined && need(1)) {
            ext = view.getInt8(offset++);
            size = n;
          } else n = undefined;
          break;
        case 0xca:
        case 0xcb:
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
          n = 0;
          size = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8][b - 0xca] as number;
          break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          n = need(1) ? 0 : undefined;
          if (n !== undefined) {
            ext = view.getInt8(offset++);
            size = 1 << (b - 0xd4);
          }
          break;
        case 0xdc:
          n = lengthOf(2);
          items = n ?? 0;
          break;
        case 0xdd:
          n = lengthOf(4);
          items = n ?? 0;
          break;
        case 0xde:
          n = lengthOf(2);
          items = 2 * (n ?? 0);
          break;
        case 0xdf:
          n = lengthOf(4);
          items = 2 * (n ?? 0);
          break;
      }
      if (n === undefined) return `the header at byte ${start} is cut short`;
    }
    if (!need(size)) return `the item at byte ${start} claims ${size} bytes; ${end - offset} remain`;
    offset += size;
    pending += items;
    if (items > 0) {
      open.push(items);
      if (open.length - 1 > MAX_VALUE_DEPTH) return `it nests deeper than ${MAX_VALUE_DEPTH} levels`;
    }
    if (ext !== undefined) {
      extensions = true;
      // A timestamp must be 4, 8 or 12 bytes, or other decoders (Python's msgpack) refuse it.
      if (ext === -1 && size !== 4 && size !== 8 && size !== 12)
        return `the timestamp at byte ${start} has ${size} bytes (4, 8 or 12 allowed)`;
      // The codec writes Map, Set, Error and RegExp as a 1-byte marker extension followed by
      // their contents as the next value.
      if (b === 0xd4 && ext !== 0 && bytes[offset - 1] === 0) {
        pending++;
        open[open.length - 1] = (open[open.length - 1] as number) + 1;
      }
    }
  }
  if (offset !== end) return `${end - offset} bytes follow the value`;
  // What an extension holds is the codec's to judge: decode once, as every reader will.
  if (extensions) {
    try {
      unpackObject(bytes);
    } catch (error) {
      return (error as Error).message;
    }
  }
  return undefined;
}
