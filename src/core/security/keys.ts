/**
 * CURVE keys: Z85 text (ZeroMQ RFC 32, what libzmq, pyzmq and czmq print keys as) and the
 * 32-byte raw form, and the key pairs the CURVE mechanism needs.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import * as zmq from "zeromq";
import { InvalidArgumentError } from "../errors.js";

/** A CURVE key: 40 characters of Z85, or the 32 raw bytes. */
export type CurveKey = string | Uint8Array;

/** A CURVE key pair, both halves as 40-character Z85 strings. */
export interface KeyPair {
  publicKey: string;
  secretKey: string;
}

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGITS[ALPHABET.charCodeAt(i)] = i;

/**
 * Encodes bytes as Z85 (RFC 32). The length must be a multiple of 4; 32 key bytes give 40
 * characters.
 *
 * @throws {InvalidArgumentError} when the length is not a multiple of 4.
 * @example
 * z85Encode(new Uint8Array([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])); // "HelloWorld"
 */
export function z85Encode(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length % 4 !== 0) {
    throw new InvalidArgumentError("z85 input", bytes, "bytes whose length is a multiple of 4");
  }
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    let value = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    let chunk = "";
    for (let j = 0; j < 5; j++) {
      chunk = ALPHABET[value % 85]! + chunk;
      value = Math.floor(value / 85);
    }
    out += chunk;
  }
  return out;
}

/**
 * Decodes Z85 text (RFC 32). The length must be a multiple of 5.
 *
 * @throws {InvalidArgumentError} for a wrong length, a character outside the alphabet, or a
 *   group above 2^32 - 1.
 * @example
 * z85Decode("HelloWorld"); // Uint8Array [0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]
 */
export function z85Decode(text: string): Buffer {
  if (typeof text !== "string" || text.length % 5 !== 0) {
    throw new InvalidArgumentError("z85 text", text, "a string whose length is a multiple of 5");
  }
  const out = Buffer.allocUnsafe((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const code = text.charCodeAt(i + j);
      const digit = code < 128 ? DIGITS[code]! : -1;
      if (digit < 0) throw new InvalidArgumentError("z85 text", text, "only characters of the Z85 alphabet");
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) throw new InvalidArgumentError("z85 text", text, "groups of at most 2^32 - 1");
    out.writeUInt32BE(value, (i / 5) * 4);
  }
  return out;
}

/** Whether `value` is a usable CURVE key (40 Z85 characters or 32 bytes). */
export function isCurveKey(value: unknown): value is CurveKey {
  if (value instanceof Uint8Array) return value.length === 32;
  if (typeof value !== "string" || value.length !== 40) return false;
  try {
    z85Decode(value);
    return true;
  } catch {
    return false;
  }
}

/** Fails unless `value` is a CURVE key (or undefined). */
export function checkCurveKey(name: string, value: unknown): void {
  if (value === undefined) return;
  if (!isCurveKey(value)) throw new InvalidArgumentError(name, value, "a CURVE key: 40 Z85 characters or 32 bytes");
}

/** A key as the 40-character Z85 text libzmq's options take. Check it with {@link checkCurveKey} first. */
export function keyToZ85(key: CurveKey): string {
  return typeof key === "string" ? key : z85Encode(key);
}

/** A key as its 32 raw bytes. */
export function keyToBytes(key: CurveKey): Buffer {
  return typeof key === "string" ? z85Decode(key) : Buffer.from(key);
}

/**
 * Makes a new CURVE key pair (libzmq's `zmq_curve_keypair`, as pyzmq's `zmq.curve_keypair()`).
 * Keep the secret key secret; give the public key to peers.
 *
 * @example
 * const server = generateKeyPair(); // { publicKey: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", secretKey: "..." }
 */
export function generateKeyPair(): KeyPair {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { publicKey, secretKey };
}

// PKCS#8 and SPKI framing of a raw X25519 key (RFC 8410), so node:crypto can take CURVE keys.
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");

/**
 * The public key that belongs to a secret key (libzmq's `zmq_curve_public`): CURVE keys are
 * X25519 keys, so a server needs to keep only its secret.
 *
 * @example
 * publicKeyOf(pair.secretKey) === pair.publicKey; // true
 */
export function publicKeyOf(secretKey: CurveKey): string {
  checkCurveKey("secretKey", secretKey);
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519, keyToBytes(secretKey)]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return z85Encode(spki.subarray(spki.length - 32));
}
