/**
 * Zero-copy typed arrays, compatible with pyzmq's `send_array`/`recv_array` recipe: a JSON header
 * frame `{"dtype": "<f8", "shape": [2, 3]}` followed by the raw bytes in their own frame.
 */
import { InvalidArgumentError, ProtocolError } from "./errors.js";

/** Every typed array zerokit can send with a dtype. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** A typed array with the numpy dtype and shape it travels with. */
export interface NDArray<T extends TypedArray = TypedArray> {
  /** The elements, a view over the received frame when alignment and byte order allow. */
  readonly data: T;
  /** The numpy dtype string, e.g. `"<f8"`. */
  readonly dtype: string;
  /** The shape; its product equals `data.length`. */
  readonly shape: readonly number[];
}

type ArrayConstructor = {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): TypedArray;
  BYTES_PER_ELEMENT: number;
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const NATIVE = LITTLE_ENDIAN ? "<" : ">";

// numpy kind+size -> constructor
const BY_KIND: Record<string, ArrayConstructor> = {
  i1: Int8Array,
  u1: Uint8Array,
  b1: Uint8Array,
  i2: Int16Array,
  u2: Uint16Array,
  i4: Int32Array,
  u4: Uint32Array,
  f4: Float32Array,
  f8: Float64Array,
  i8: BigInt64Array,
  u8: BigUint64Array,
};
const NAMES: Record<string, string> = {
  int8: "i1",
  uint8: "u1",
  bool: "b1",
  int16: "i2",
  uint16: "u2",
  int32: "i4",
  uint32: "u4",
  float32: "f4",
  float64: "f8",
  int64: "i8",
  uint64: "u8",
};

/**
 * The numpy dtype string of a typed array (`Float64Array` → `"<f8"` on little-endian hosts).
 * @throws {InvalidArgumentError} for anything but a typed array or Buffer (a DataView has no dtype).
 */
export function dtypeOf(array: ArrayBufferView): string {
  if (!ArrayBuffer.isView(array)) throw new InvalidArgumentError("array", array, "a typed array or Buffer");
  switch (array.constructor.name) {
    case "Int8Array":
      return "|i1";
    case "Uint8Array":
    case "Uint8ClampedArray":
    case "Buffer":
      return "|u1";
    case "Int16Array":
      return `${NATIVE}i2`;
    case "Uint16Array":
      return `${NATIVE}u2`;
    case "Int32Array":
      return `${NATIVE}i4`;
    case "Uint32Array":
      return `${NATIVE}u4`;
    case "Float32Array":
      return `${NATIVE}f4`;
    case "Float64Array":
      return `${NATIVE}f8`;
    case "BigInt64Array":
      return `${NATIVE}i8`;
    case "BigUint64Array":
      return `${NATIVE}u8`;
    default:
      throw new InvalidArgumentError("array", array, "a typed array or Buffer (a DataView has no numpy dtype)");
  }
}

/** Parses a numpy dtype string (`"<f8"`, `"float64"`, `"|u1"` ...) into byte order and constructor. */
function parseDtype(dtype: string): { order: "<" | ">" | "|"; ctor: ArrayConstructor } {
  let order: "<" | ">" | "|" = NATIVE;
  let kind = dtype;
  const first = dtype[0];
  if (first === "<" || first === ">" || first === "|" || first === "=") {
    order = first === "=" ? NATIVE : first;
    kind = dtype.slice(1);
  }
  kind = NAMES[kind] ?? kind;
  const ctor = BY_KIND[kind];
  if (!ctor) throw new ProtocolError(`unsupported dtype ${JSON.stringify(dtype)}`);
  if (ctor.BYTES_PER_ELEMENT === 1) order = "|";
  return { order, ctor };
}

/**
 * Builds the two frames of an array message: the JSON header and a byte view over the same
 * memory (no copy; do not modify the array until the send resolves).
 *
 * @throws {InvalidArgumentError} when `array` has no dtype or `shape` does not match its length.
 */
export function encodeArray(array: ArrayBufferView, shape?: readonly number[]): [Buffer, Uint8Array] {
  const dtype = dtypeOf(array);
  const length = (array as TypedArray).length ?? array.byteLength;
  if (shape !== undefined) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new InvalidArgumentError("shape", shape, "an array of integers ≥ 0");
    }
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (count !== length) {
      throw new InvalidArgumentError(
        "shape",
        shape,
        `dimensions whose product is the array's ${length} elements (got [${shape.join(", ")}])`,
      );
    }
  }
  const dims = shape ?? [length];
  const header = Buffer.from(JSON.stringify({ dtype, shape: dims }), "utf8");
  return [header, new Uint8Array(array.buffer, array.byteOffset, array.byteLength)];
}

/**
 * Reads an array message's header and data frames. The result views the data frame without
 * copying when it is aligned and in host byte order (zeromq.js delivers frames at offset 0, so
 * this is the normal case); otherwise the bytes are copied (and swapped) once.
 *
 * @throws {ProtocolError} for a malformed header, an unknown dtype or a size mismatch.
 */
export function decodeArray(header: Uint8Array, data: Uint8Array): NDArray {
  let meta: { dtype?: unknown; shape?: unknown };
  try {
    meta = JSON.parse(Buffer.from(header.buffer, header.byteOffset, header.byteLength).toString("utf8"));
  } catch (error) {
    throw new ProtocolError("array header is not JSON", { cause: error });
  }
  if (typeof meta?.dtype !== "string") throw new ProtocolError("array header has no dtype string");
  const shape = meta.shape === undefined ? undefined : meta.shape;
  if (shape !== undefined && !(Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0))) {
    throw new ProtocolError("array header shape must be a list of non-negative integers");
  }
  const { order, ctor } = parseDtype(meta.dtype);
  const size = ctor.BYTES_PER_ELEMENT;
  if (data.byteLength % size !== 0) {
    throw new ProtocolError(`array data of ${data.byteLength} bytes is not a whole number of ${meta.dtype} elements`);
  }
  const length = data.byteLength / size;
  const dims: number[] = (shape as number[] | undefined) ?? [length];
  if (dims.reduce((a, b) => a * b, 1) !== length) {
    throw new ProtocolError(`shape [${dims.join(", ")}] does not match ${length} elements of ${meta.dtype}`);
  }
  let array: TypedArray;
  const swap = order !== "|" && order !== NATIVE;
  if (!swap && data.byteOffset % size === 0) {
    array = new ctor(data.buffer as ArrayBuffer, data.byteOffset, length);
  } else {
    const copy = new Uint8Array(data);
    if (swap) {
      for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
    }
    array = new ctor(copy.buffer, 0, length);
  }
  return { data: array, dtype: meta.dtype, shape: dims };
}
