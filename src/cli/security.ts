/**
 * CURVE on the command line: the `--curve-secret`, `--allow` and `--curve-server-key` flags of
 * servers and clients, turned into the `security` options of the library. Every bad key or
 * certificate is one line naming the flag (exit status 2). `zerokit keygen` is in keygen.ts,
 * with commander: a client call loads this module, and no commander.
 */
import { CertificateError } from "../core/errors.js";
import type { ClientSecurity } from "../core/security/index.js";
import type { AuthenticatorPolicy, StartServerSecurity } from "../state/security.js";

// The key and certificate code is imported when a flag needs it: a plain call loads none of it.
const certificates = () => import("../core/security/certificates.js");
const keys = () => import("../core/security/keys.js");
// node:fs/promises too (3 ms to load): only a server's --allow reads a directory.
const stat = async (path: string) => (await import("node:fs/promises")).stat(path);

/** A bad security flag: the message names the flag and why. */
export class SecurityFlagError extends Error {
  override name = "SecurityFlagError";
}

/** The security flags of a server, as commander parsed them. */
export interface ServerSecurityFlags {
  curveSecret?: string | undefined;
  allow?: string[] | undefined;
}

/** The security flags of a client, as commander parsed them. */
export interface ClientSecurityFlags {
  curveServerKey?: string | undefined;
  curveSecret?: string | undefined;
}

/** Help texts, shared by every command that takes the flags. */
export const FLAG_HELP = {
  serverSecret: "serve over CURVE with this secret certificate (from zerokit keygen, pyzmq or czmq)",
  allow:
    "with --curve-secret: who may connect, a directory of public certificates or a Z85 public key (repeatable), or `any` for encryption without client authentication",
  serverKey: "talk CURVE to a server with this public key: 40 Z85 characters, or its public certificate file",
  clientSecret: "with --curve-server-key: this client's own secret certificate (default: a fresh pair per connection)",
} as const;

async function secretCertificate(flag: string, file: string): Promise<{ publicKey: string; secretKey: string }> {
  const { readCertificate } = await certificates();
  let cert: Awaited<ReturnType<typeof readCertificate>>;
  try {
    cert = await readCertificate(file);
  } catch (error) {
    if (error instanceof CertificateError) throw new SecurityFlagError(`${flag} ${file}: ${error.message}`);
    throw error;
  }
  if (cert.secretKey === undefined)
    throw new SecurityFlagError(`${flag} ${file}: this is a public certificate; give the secret one (NAME.key_secret)`);
  return { publicKey: cert.publicKey, secretKey: cert.secretKey };
}

/**
 * The security of a server from `--curve-secret FILE` and `--allow DIR|KEY|any`, or undefined
 * when neither is given. A server with a secret must say who may connect.
 *
 * @throws {SecurityFlagError} for a missing or bad certificate, key or directory.
 */
export async function serverSecurityFrom(flags: ServerSecurityFlags): Promise<StartServerSecurity | undefined> {
  const allow = flags.allow ?? [];
  if (flags.curveSecret === undefined) {
    if (allow.length > 0)
      throw new SecurityFlagError("--allow needs --curve-secret FILE (the server's secret certificate)");
    return undefined;
  }
  const { secretKey } = await secretCertificate("--curve-secret", flags.curveSecret);
  const [{ readCertificate }, { isCurveKey }] = await Promise.all([certificates(), keys()]);
  if (allow.length === 0)
    throw new SecurityFlagError(
      "--curve-secret needs --allow: a directory of client certificates, a client key, or `any` for any client",
    );
  let curve: AuthenticatorPolicy["curve"];
  if (allow.includes("any")) {
    if (allow.length > 1) throw new SecurityFlagError("--allow any admits every client: give it alone");
    curve = "any";
  } else {
    const keys: string[] = [];
    let directory: string | undefined;
    for (const entry of allow) {
      if (isCurveKey(entry)) {
        keys.push(entry);
        continue;
      }
      const info = await stat(entry).catch(() => undefined);
      if (info?.isDirectory()) {
        if (directory !== undefined)
          throw new SecurityFlagError(`--allow ${entry}: only one certificate directory (already ${directory})`);
        directory = entry;
      } else if (info?.isFile()) {
        try {
          keys.push((await readCertificate(entry)).publicKey);
        } catch (error) {
          if (error instanceof CertificateError) throw new SecurityFlagError(`--allow ${entry}: ${error.message}`);
          throw error;
        }
      } else
        throw new SecurityFlagError(
          `--allow ${JSON.stringify(entry)}: not a directory, a certificate file, a 40-character Z85 key, or any`,
        );
    }
    curve = { ...(keys.length > 0 ? { keys } : {}), ...(directory !== undefined ? { directory } : {}) };
  }
  return { curve: { secretKey }, authenticator: { curve } };
}

/**
 * The security of a client from `--curve-server-key KEY|FILE` and `--curve-secret FILE`, or
 * undefined when neither is given.
 *
 * @throws {SecurityFlagError} for a missing or bad key or certificate.
 */
export async function clientSecurityFrom(flags: ClientSecurityFlags): Promise<ClientSecurity | undefined> {
  if (flags.curveServerKey === undefined) {
    if (flags.curveSecret !== undefined)
      throw new SecurityFlagError("--curve-secret needs --curve-server-key KEY|FILE (the server's public key)");
    return undefined;
  }
  const [{ readCertificate }, { isCurveKey }] = await Promise.all([certificates(), keys()]);
  let serverKey: string;
  if (isCurveKey(flags.curveServerKey)) serverKey = flags.curveServerKey;
  else {
    try {
      serverKey = (await readCertificate(flags.curveServerKey)).publicKey;
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      throw new SecurityFlagError(
        `--curve-server-key ${flags.curveServerKey}: neither a 40-character Z85 key nor a readable certificate (${error.message})`,
      );
    }
  }
  if (flags.curveSecret === undefined) return { curve: { serverKey } };
  const own = await secretCertificate("--curve-secret", flags.curveSecret);
  return { curve: { serverKey, ...own } };
}
