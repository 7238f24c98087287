/**
 * CURVE certificate files in the text format pyzmq's `zmq.auth.create_certificates` and czmq's
 * `zcert` write (ZPL, ZeroMQ RFC 4): comment lines, a `metadata` section, and a `curve` section
 * with `public-key = "..."` and, in the secret file only, `secret-key = "..."`. pyzmq names the
 * pair `<name>.key` and `<name>.key_secret`; czmq uses any name with `_secret` appended for the
 * secret half. Both variants are read; pyzmq's variant is written.
 */
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CertificateError, InvalidArgumentError } from "../errors.js";
import { checkObject, checkString } from "../options.js";
import { checkCurveKey, generateKeyPair, isCurveKey, type KeyPair, keyToZ85, publicKeyOf } from "./keys.js";

/** A parsed certificate: the public key, the secret key when the file holds one, and metadata. */
export interface Certificate {
  /** The public key, 40 Z85 characters. */
  publicKey: string;
  /** The secret key, present only in a secret certificate. */
  secretKey: string | undefined;
  /** The `metadata` section, name to value (names as written, values unquoted). */
  metadata: Map<string, string>;
}

/** What {@link writeCertificates} wrote. */
export interface WrittenCertificates extends KeyPair {
  /** `<directory>/<name>.key`: share this one. */
  publicFile: string;
  /** `<directory>/<name>.key_secret` (mode 0600): keep this one. */
  secretFile: string;
}

/** Options of {@link writeCertificates}. */
export interface WriteCertificatesOptions {
  /** The pair to save; a new one by default. */
  keys?: KeyPair;
  /** Written to the secret file's `metadata` section (as pyzmq does). */
  metadata?: Map<string, string> | Record<string, string>;
}

/** Certificates are a few hundred bytes; anything much larger is not one. */
const MAX_CERTIFICATE_BYTES = 64 * 1024;
/** How many certificates one directory may hold before loading it is refused. */
export const MAX_DIRECTORY_CERTIFICATES = 10_000;
const NAME = /^[A-Za-z0-9$\-_@.&+/]+$/;

const PUBLIC_BANNER = [
  "#   ZeroMQ CURVE Public Certificate",
  "#   Exchange securely, or use a secure mechanism to verify the contents",
  "#   of this file after exchange. Store public certificates in your home",
  "#   directory, in the .curve subdirectory.",
];
const SECRET_BANNER = [
  "#   ZeroMQ CURVE **Secret** Certificate",
  "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.",
];

/**
 * Formats a certificate as pyzmq writes it: the banner, `metadata` (with its entries when
 * given), then `curve` with the public key and, when `secretKey` is given, the secret key.
 *
 * @throws {InvalidArgumentError} for a bad key, or a metadata name or value ZPL cannot hold.
 * @example
 * const text = formatCertificate({ publicKey }); // the "<name>.key" text
 */
export function formatCertificate(
  cert: { publicKey: string; secretKey?: string | undefined; metadata?: Map<string, string> | Record<string, string> },
  date: Date = new Date(),
): string {
  checkObject("certificate", cert);
  checkCurveKey("publicKey", cert.publicKey);
  checkCurveKey("secretKey", cert.secretKey);
  if (typeof cert.publicKey !== "string" || (cert.secretKey !== undefined && typeof cert.secretKey !== "string")) {
    throw new InvalidArgumentError("certificate keys", cert.publicKey, "Z85 strings");
  }
  const secret = cert.secretKey !== undefined;
  const stamp = date.toISOString().replace("T", " ").replace("Z", "");
  const lines = [`#   ****  Generated on ${stamp} by zerokit  ****`, ...(secret ? SECRET_BANNER : PUBLIC_BANNER), ""];
  lines.push("metadata");
  for (const [name, value] of metadataEntries(cert.metadata)) lines.push(`    ${name} = ${quote(name, value)}`);
  lines.push("curve", `    public-key = "${cert.publicKey}"`);
  if (secret) lines.push(`    secret-key = "${cert.secretKey}"`);
  return `${lines.join("\n")}\n`;
}

function metadataEntries(metadata: Map<string, string> | Record<string, string> | undefined): [string, string][] {
  if (metadata === undefined) return [];
  checkObject("metadata", metadata);
  const entries = metadata instanceof Map ? [...metadata] : Object.entries(metadata);
  for (const [name, value] of entries) {
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new InvalidArgumentError("metadata name", name, "letters, digits and $-_@.&+/");
    }
    checkString(`metadata ${name}`, value);
  }
  return entries;
}

function quote(name: string, value: string): string {
  if (/[\r\n]/.test(value) || (value.includes('"') && value.includes("'"))) {
    throw new InvalidArgumentError(`metadata ${name}`, value, "one line, without both kinds of quote");
  }
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

/**
 * Parses certificate text (either variant; comments, blank lines, tabs, CRLF and any
 * indentation depth are tolerated). `file` only names the source in errors.
 *
 * @throws {CertificateError} when there is no `curve` section with a valid `public-key`, a key
 *   is not 40 Z85 characters, a key appears twice, or the secret key does not belong to the
 *   public key.
 * @example
 * const { publicKey, secretKey } = parseCertificate(text, "server.key_secret");
 */
export function parseCertificate(text: string, file = "<text>"): Certificate {
  if (typeof text !== "string") throw new CertificateError(file, "not text");
  if (text.length > MAX_CERTIFICATE_BYTES)
    throw new CertificateError(file, `larger than ${MAX_CERTIFICATE_BYTES} bytes`);
  const metadata = new Map<string, string>();
  let publicKey: string | undefined;
  let secretKey: string | undefined;
  // ZPL nests by indentation: the stack holds the indent and name of each open section.
  const sections: { indent: number; name: string }[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.replace(/\t/g, "    ");
    const body = raw.trimStart();
    if (body === "" || body.startsWith("#")) continue;
    const indent = raw.length - body.length;
    while (sections.length > 0 && sections[sections.length - 1]!.indent >= indent) sections.pop();
    const parent = sections[sections.length - 1]?.name;
    const eq = body.indexOf("=");
    if (eq < 0) {
      sections.push({ indent, name: stripComment(body).trim() });
      continue;
    }
    const name = body.slice(0, eq).trim();
    const value = parseValue(body.slice(eq + 1), file, n + 1);
    if (parent === "curve" && (name === "public-key" || name === "secret-key")) {
      if (!isCurveKey(value) || typeof value !== "string") {
        throw new CertificateError(file, `line ${n + 1}: ${name} is not 40 Z85 characters`);
      }
      if ((name === "public-key" ? publicKey : secretKey) !== undefined) {
        throw new CertificateError(file, `line ${n + 1}: ${name} appears twice`);
      }
      if (name === "public-key") publicKey = value;
      else secretKey = value;
    } else if (parent === "metadata") {
      metadata.set(name, value);
    }
    // A name=value line opens a section too (ZPL lets it have children); nothing we read lives there.
    sections.push({ indent, name: `=${name}` });
  }
  if (publicKey === undefined) throw new CertificateError(file, 'no "curve" section with a public-key');
  if (secretKey !== undefined && publicKeyOf(secretKey) !== publicKey) {
    throw new CertificateError(file, "the secret-key does not belong to the public-key");
  }
  return { publicKey, secretKey, metadata };
}

function stripComment(text: string): string {
  const hash = text.indexOf("#");
  return hash < 0 ? text : text.slice(0, hash);
}

/** A ZPL value: "double" or 'single' quoted (no escapes), or bare up to a comment. */
function parseValue(text: string, file: string, line: number): string {
  const value = text.trim();
  const q = value[0];
  if (q === '"' || q === "'") {
    const end = value.indexOf(q, 1);
    if (end < 0) throw new CertificateError(file, `line ${line}: unterminated quoted value`);
    const rest = value.slice(end + 1).trim();
    if (rest !== "" && !rest.startsWith("#"))
      throw new CertificateError(file, `line ${line}: text after the quoted value`);
    return value.slice(1, end);
  }
  return stripComment(value).trim();
}

/**
 * Reads and parses one certificate file (public or secret, pyzmq's or czmq's).
 *
 * @throws {CertificateError} when the file is missing, unreadable, too large or malformed.
 * @example
 * const { secretKey } = await readCertificate("keys/server.key_secret");
 */
export async function readCertificate(file: string): Promise<Certificate> {
  checkString("file", file, { nonEmpty: true });
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new CertificateError(file, "not a regular file");
    if (info.size > MAX_CERTIFICATE_BYTES)
      throw new CertificateError(file, `larger than ${MAX_CERTIFICATE_BYTES} bytes`);
    text = await readFile(file, "utf8");
  } catch (error) {
    if (error instanceof CertificateError) throw error;
    throw new CertificateError(file, (error as Error).message, { cause: error });
  }
  return parseCertificate(text, file);
}

/**
 * Writes a certificate pair as pyzmq's `zmq.auth.create_certificates(directory, name)` does:
 * `<name>.key` (public) and `<name>.key_secret` (secret, mode 0600), creating the directory.
 * Existing files are replaced. pyzmq's `load_certificate` and czmq's `zcert_load` read both.
 *
 * @throws {InvalidArgumentError} for a bad name, keys or metadata.
 * @example
 * const { publicKey, secretFile } = await writeCertificates("keys", "server");
 */
export async function writeCertificates(
  directory: string,
  name: string,
  options: WriteCertificatesOptions = {},
): Promise<WrittenCertificates> {
  checkString("directory", directory, { nonEmpty: true });
  checkString("name", name, { nonEmpty: true });
  if (name.includes("/") || name.includes("\\") || name === "." || name === "..") {
    throw new InvalidArgumentError("name", name, "a file name without directory separators");
  }
  checkObject("options", options);
  checkObject("options.keys", options.keys);
  const keys = options.keys ?? generateKeyPair();
  checkCurveKey("options.keys.publicKey", keys.publicKey);
  checkCurveKey("options.keys.secretKey", keys.secretKey);
  const publicKey = keyToZ85(keys.publicKey);
  const secretKey = keyToZ85(keys.secretKey);
  if (publicKeyOf(secretKey) !== publicKey) {
    throw new InvalidArgumentError("options.keys", keys, "a secretKey and the publicKey that belongs to it");
  }
  const date = new Date();
  const publicText = formatCertificate({ publicKey }, date);
  const secretText = formatCertificate({ publicKey, secretKey, metadata: options.metadata ?? {} }, date);
  await mkdir(directory, { recursive: true });
  const publicFile = join(directory, `${name}.key`);
  const secretFile = join(directory, `${name}.key_secret`);
  await writeFile(publicFile, publicText, { encoding: "utf8" });
  await writeFile(secretFile, secretText, { encoding: "utf8", mode: 0o600 });
  return { publicKey, secretKey, publicFile, secretFile };
}

/** What {@link readPublicKeys} found in a directory. */
export interface DirectoryKeys {
  /** Every public key found, Z85. */
  keys: Set<string>;
  /** Files that looked like certificates but could not be read; they are skipped. */
  errors: CertificateError[];
}

/**
 * Reads the public keys of every certificate in a directory, as an allowlist: each regular file
 * except secret ones (names ending in `_secret`) and hidden ones, so pyzmq's `*.key` files and
 * czmq's certificate store both work. A file that does not parse is skipped and reported.
 *
 * @throws {CertificateError} when the directory cannot be read or holds more than
 *   {@link MAX_DIRECTORY_CERTIFICATES} files.
 * @example
 * const { keys } = await readPublicKeys("keys/clients");
 */
export async function readPublicKeys(directory: string): Promise<DirectoryKeys> {
  checkString("directory", directory, { nonEmpty: true });
  let names: string[];
  try {
    names = (await readdir(directory, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && !entry.name.startsWith(".") && !entry.name.endsWith("_secret"))
      .map((entry) => entry.name);
  } catch (error) {
    throw new CertificateError(directory, `cannot read the directory: ${(error as Error).message}`, { cause: error });
  }
  if (names.length > MAX_DIRECTORY_CERTIFICATES) {
    throw new CertificateError(directory, `more than ${MAX_DIRECTORY_CERTIFICATES} files`);
  }
  const keys = new Set<string>();
  const errors: CertificateError[] = [];
  for (const name of names.sort()) {
    try {
      keys.add((await readCertificate(join(directory, name))).publicKey);
    } catch (error) {
      errors.push(
        error instanceof CertificateError ? error : new CertificateError(name, String(error), { cause: error }),
      );
    }
  }
  return { keys, errors };
}
